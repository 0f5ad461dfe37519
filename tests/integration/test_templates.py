"""--env NAME=TEMPLATE (filters) and --file DEST=TEMPLATE / DEST=@FILE
(content, mode, atomic replacement, errors, --check)."""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import stat
import urllib.parse

import pytest

from vxlib import conn

UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%")


@pytest.fixture
def app(bao, vx):
    name = vx.name("tpl")
    data = {
        "username": "user" + secrets.token_hex(6),
        "password": vx.secret("p"),
        "padded": " \t " + vx.secret("pad") + " \n\t ",
        "mixed": "MiXeD-" + secrets.token_hex(6) + "-CaSe",
    }
    bao.put_kv2(name, data)
    return name, data


def tok(bao):
    return {"VAULT_TOKEN": bao.token}


# ---------------------------------------------------------------------------
# --env templates
# ---------------------------------------------------------------------------


def test_env_template_dsn_urlencode(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--env", "DSN=postgresql://{{ username }}:{{ password | urlencode }}@h:5432/db"),
        env=tok(bao),
    )
    r.ok()
    dsn = r.env["DSN"]
    prefix, suffix = f"postgresql://{data['username']}:", "@h:5432/db"
    assert dsn.startswith(prefix) and dsn.endswith(suffix), dsn
    enc = dsn[len(prefix) : -len(suffix)]
    assert set(enc) <= UNRESERVED, f"urlencode left reserved characters: {sorted(set(enc) - UNRESERVED)}"
    assert urllib.parse.unquote(enc, errors="strict") == data["password"]
    # and the DSN parses back to the same credentials
    u = urllib.parse.urlsplit(dsn)
    assert urllib.parse.unquote(u.password) == data["password"] and u.hostname == "h" and u.port == 5432


def test_env_template_plain_value_not_reexpanded(bao, vx, app):
    """The hostile password contains '{{x}}' and '%s': it is inserted as is."""
    name, data = app
    r = vx.run(conn(bao, "10s", "--service", name, "--env", "V=<{{ password }}>", "--env", "W={{password}}"), env=tok(bao))
    r.ok()
    assert r.env["V"] == f"<{data['password']}>"
    assert r.env["W"] == data["password"]


@pytest.mark.parametrize(
    "tmpl,check",
    [
        ("{{ password | base64 }}", lambda v, d: base64.b64decode(v, validate=True) == d["password"].encode()),
        ("{{ password | json }}", lambda v, d: json.loads(v) == d["password"] and v.startswith('"')),
        ("{{ padded | trim }}", lambda v, d: v == d["padded"].strip(" \t\n")),
        ("{{ mixed | upper }}", lambda v, d: v == d["mixed"].upper()),
        ("{{ mixed | lower }}", lambda v, d: v == d["mixed"].lower()),
        ("{{ nosuch | default \"fallback\" }}", lambda v, d: v == "fallback"),
        ("{{ username | default \"fallback\" }}", lambda v, d: v == d["username"]),
        ("{{ padded | trim | base64 }}", lambda v, d: base64.b64decode(v) == d["padded"].strip(" \t\n").encode()),
        ("{{ mixed | lower | urlencode }}", lambda v, d: v == d["mixed"].lower()),
        ("[{{username}}|{{ mixed|upper }}]", lambda v, d: v == f"[{d['username']}|{d['mixed'].upper()}]"),
        ("no placeholders at all", lambda v, d: v == "no placeholders at all"),
        ("{{ password | urlencode | json }}", lambda v, d: urllib.parse.unquote(json.loads(v)) == d["password"]),
    ],
    ids=["base64", "json", "trim", "upper", "lower", "default-missing", "default-present", "trim|base64",
         "lower|urlencode", "tight", "literal", "urlencode|json"],
)
def test_env_template_filters(bao, vx, app, tmpl, check):
    name, data = app
    r = vx.run(conn(bao, "10s", "--service", name, "--env", f"OUT={tmpl}"), env=tok(bao))
    r.ok()
    assert check(r.env["OUT"], data), f"{tmpl!r} rendered {r.env['OUT']!r}"


def test_env_template_missing_field_65(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--env", "OUT=x{{ nosuch }}y"), env=tok(bao))
    r.failed(65)


def test_env_template_missing_field_allow_missing(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--allow-missing", "--service", name, "--env", "OUT=x{{ nosuch }}y", "--map", "username=U"), env=tok(bao))
    r.ok()
    assert "OUT" not in r.env
    assert any("OUT" in l for l in r.log_lines("warn")), r.describe()


# ---------------------------------------------------------------------------
# --file
# ---------------------------------------------------------------------------


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_file_inline_template(bao, vx, app, tmp_path):
    name, data = app
    d = tmp_path / "out"
    d.mkdir()
    dest = d / "password.txt"
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}={{{{ password }}}}"), env=tok(bao))
    r.ok()
    assert dest.read_bytes() == data["password"].encode()
    assert _mode(dest) == 0o600
    assert os.listdir(d) == ["password.txt"], "temporary files left behind"


def test_file_from_template_file(bao, vx, app, tmp_path):
    name, data = app
    tpl = tmp_path / "app.conf.tpl"
    tpl.write_text("user = {{ username }}\npass = {{ password | json }}\n# literal {x}\n")
    d = tmp_path / "out"
    d.mkdir()
    dest = d / "app.conf"
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}=@{tpl}"), env=tok(bao))
    r.ok()
    text = dest.read_text()
    assert text.endswith("\n") and text.count("\n") == 3, repr(text)
    lines = dest.read_text().splitlines()
    assert lines[0] == f"user = {data['username']}" and lines[2] == "# literal {x}"
    assert json.loads(lines[1][len("pass = "):]) == data["password"]
    assert _mode(dest) == 0o600
    assert sorted(os.listdir(d)) == ["app.conf"]


@pytest.mark.parametrize("mode,umask", [("0640", 0o077), ("0400", 0o022), ("644", 0o077)])
def test_file_mode_exact(bao, vx, app, tmp_path, mode, umask):
    name, _ = app
    dest = tmp_path / "f"
    r = vx.run(
        conn(bao, "10s", "--service", name, "--file-mode", mode, "--file", f"{dest}={{{{ password }}}}"),
        env=tok(bao),
        umask=umask,
    )
    r.ok()
    assert _mode(dest) == int(mode, 8)


def test_file_default_mode_under_loose_umask(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "f"
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}={{{{ password }}}}"), env=tok(bao), umask=0)
    r.ok()
    assert _mode(dest) == 0o600


def test_file_mode_env_var(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "f"
    r = vx.run(
        conn(bao, "10s", "--service", name, "--file", f"{dest}={{{{ password }}}}"),
        env={**tok(bao), "VAULTEXEC_FILE_MODE": "0640"},
        umask=0o077,
    )
    r.ok()
    assert _mode(dest) == 0o640


def test_file_replaces_existing_atomically(bao, vx, app, tmp_path):
    name, data = app
    d = tmp_path / "out"
    d.mkdir()
    dest = d / "cfg"
    dest.write_text("old content that is longer than the new one " * 20)
    dest.chmod(0o644)
    old_ino = os.stat(dest).st_ino
    # a hard link to the old file shows the old inode was never written in place
    (d / "old-link").unlink(missing_ok=True)
    os.link(dest, d / "old-link")
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}={{{{ username }}}}"), env=tok(bao))
    r.ok()
    assert dest.read_text() == data["username"]
    assert os.stat(dest).st_ino != old_ino, "not replaced by rename(2)"
    assert (d / "old-link").read_text().startswith("old content"), "the old file was modified in place"
    assert _mode(dest) == 0o600
    assert sorted(os.listdir(d)) == ["cfg", "old-link"]


def test_several_files_and_env(bao, vx, app, tmp_path):
    name, data = app
    f1, f2 = tmp_path / "a", tmp_path / "b"
    r = vx.run(
        conn(
            bao, "10s", "--service", name,
            "--file", f"{f1}={{{{ username }}}}",
            "--file", f"{f2}={{{{ password | base64 }}}}",
            "--map", "username=U",
        ),
        env=tok(bao),
    )
    r.ok()
    assert f1.read_text() == data["username"]
    assert base64.b64decode(f2.read_text()) == data["password"].encode()
    assert r.env["U"] == data["username"]


@pytest.mark.parametrize("kind", ["parent-is-file", "parent-missing"])
def test_file_unwritable_74(bao, vx, app, tmp_path, kind):
    name, _ = app
    if kind == "parent-is-file":
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        dest = blocker / "secret.txt"
    else:
        dest = tmp_path / "no" / "such" / "dir" / "secret.txt"
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}={{{{ password }}}}"), env=tok(bao))
    r.failed(74)
    assert r.log_lines("error"), r.describe()


def test_second_file_unwritable_74_no_success_line(bao, vx, app, tmp_path):
    """When a later file cannot be written the run fails with 74, and the
    log does not claim success (the single info line is for a run that
    execs)."""
    name, _ = app
    good = tmp_path / "good"
    bad = tmp_path / "missing-dir" / "bad"
    r = vx.run(
        conn(bao, "10s", "--service", name, "--file", f"{good}={{{{ username }}}}", "--file", f"{bad}={{{{ password }}}}"),
        env=tok(bao),
    )
    r.failed(74)
    assert r.log_lines("info") == [], f"an info (success) line was logged for a failed run\n{r.describe()}"
    # all files or none: the first one is not left behind, nor any temp file
    assert not good.exists(), "the first --file was written although the run failed"
    assert list(tmp_path.glob(".*vaultexec*")) == [], list(tmp_path.glob(".*vaultexec*"))


def test_file_destination_is_directory_74(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "isdir"
    dest.mkdir()
    (dest / "inside").write_text("x")
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}={{{{ password }}}}"), env=tok(bao))
    r.failed(74)
    assert (dest / "inside").read_text() == "x"
    leftovers = [p for p in os.listdir(tmp_path) if p not in ("isdir", "home")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_file_template_file_missing_fails(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "out"
    r = vx.run(conn(bao, "10s", "--service", name, "--file", f"{dest}=@{tmp_path / 'nope.tpl'}"), env=tok(bao))
    r.failed()
    assert not dest.exists()


def test_file_missing_field_not_written(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "out"
    r = vx.run(conn(bao, "5s", "--service", name, "--file", f"{dest}=x{{{{ nosuch }}}}"), env=tok(bao))
    r.failed(65)
    assert not dest.exists()


def test_file_check_does_not_write(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "out"
    r = vx.run(conn(bao, "10s", "--check", "--service", name, "--file", f"{dest}={{{{ password }}}}"), env=tok(bao))
    assert r.rc == 0 and not r.started, r.describe()
    assert not dest.exists()
    assert [l for l in r.stdout.splitlines() if l.strip()] == [f"file {dest}"]
    assert sorted(os.listdir(tmp_path)) == ["home"], "--check left files behind"

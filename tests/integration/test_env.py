"""The child's environment (scrubbing, --keep-env, overrides), env
references (vault:PATH#FIELD), configuration precedence (flag > VAULTEXEC_ >
BAO_ > VAULT_), token sources and --check."""
from __future__ import annotations

import os

import pytest

import vxlib
from vxlib import conn


@pytest.fixture
def app(bao, vx):
    name = vx.name("env")
    data = {"username": vx.secret("u"), "password": vx.secret("p"), "db": "appdb"}
    bao.put_kv2(name, data)
    return name, data


def closed_addr():
    return f"http://127.0.0.1:{vxlib.free_port()}"


# ---------------------------------------------------------------------------
# scrubbing
# ---------------------------------------------------------------------------


@pytest.mark.every_binary
def test_child_env_is_inherited_minus_scrubbed_plus_mapped(bao, vx, app):
    name, data = app
    inherited = {
        "VAULT_TOKEN": bao.token,
        "BAO_TOKEN": bao.token,
        "VAULT_ADDR": bao.addr,
        "BAO_ADDR": bao.addr,
        "VAULTEXEC_LOG_LEVEL": "info",
        "VAULTEXEC_WAIT": "10s",
        "VAULTEXEC_SERVICE": name,
        "MY_VAR": "keep me = yes",
        "EMPTY_VAR": "",
    }
    r = vx.run(["--map", "password=P", "--map", "username=U"], env=inherited)
    r.ok()
    expected = vx.base_env()
    expected.update({"VAULT_ADDR": bao.addr, "BAO_ADDR": bao.addr, "MY_VAR": "keep me = yes", "EMPTY_VAR": ""})
    expected.update({"P": data["password"], "U": data["username"]})
    assert r.env == expected


def test_keep_env(bao, vx, app):
    name, _ = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=P", "--keep-env", "VAULT_TOKEN", "--keep-env", "VAULTEXEC_LOG_LEVEL"),
        env={"VAULT_TOKEN": bao.token, "BAO_TOKEN": bao.token, "VAULTEXEC_LOG_LEVEL": "info", "VAULTEXEC_KV_MOUNT": "secret"},
    )
    r.ok()
    assert r.env.get("VAULT_TOKEN") == bao.token
    assert r.env.get("VAULTEXEC_LOG_LEVEL") == "info"
    assert "BAO_TOKEN" not in r.env and "VAULTEXEC_KV_MOUNT" not in r.env


def test_keep_env_via_env_var(bao, vx, app):
    name, _ = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=P"),
        env={"BAO_TOKEN": bao.token, "VAULTEXEC_KEEP_ENV": "BAO_TOKEN"},
    )
    r.ok()
    assert r.env.get("BAO_TOKEN") == bao.token
    assert "VAULTEXEC_KEEP_ENV" not in r.env


def test_mapped_variable_overrides_inherited_with_warning(bao, vx, app):
    name, data = app
    old = vx.secret("old")
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=REDIS_PASSWORD"),
        env={"VAULT_TOKEN": bao.token, "REDIS_PASSWORD": old},
    )
    r.ok()
    assert r.env["REDIS_PASSWORD"] == data["password"]
    assert any("REDIS_PASSWORD" in l for l in r.log_lines("warn")), f"no warning naming the variable\n{r.describe()}"


def test_no_override_no_warning(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), env={"VAULT_TOKEN": bao.token})
    r.ok()
    assert r.log_lines("warn") == [], r.describe()


# ---------------------------------------------------------------------------
# env references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["vault:secret/data/{}#password", "vault:secret/{}#password"])
def test_env_ref_whole_value(bao, vx, app, form):
    name, data = app
    r = vx.run(conn(bao, "10s"), env={"VAULT_TOKEN": bao.token, "DB_PASS": form.format(name)})
    r.ok()
    assert r.env["DB_PASS"] == data["password"]


def test_env_ref_versioned(bao, vx):
    name = vx.name("ref")
    v1, v2 = vx.secret("1"), vx.secret("2")
    bao.put_kv2(name, {"password": v1})
    bao.put_kv2(name, {"password": v2})
    r = vx.run(
        conn(bao, "10s"),
        env={
            "VAULT_TOKEN": bao.token,
            "OLD": f"vault:secret/data/{name}#password#1",
            "NEW": f"vault:secret/data/{name}#password",
        },
    )
    r.ok()
    assert (r.env["OLD"], r.env["NEW"]) == (v1, v2)


def test_env_ref_interpolation(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "10s"),
        env={
            "VAULT_TOKEN": bao.token,
            "URL": f"pg://${{vault:secret/data/{name}#username}}@h/${{vault:secret/{name}#db}}?x=1",
        },
    )
    r.ok()
    assert r.env["URL"] == f"pg://{data['username']}@h/appdb?x=1"


def test_env_refs_combined_with_map(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "username=U"),
        env={"VAULT_TOKEN": bao.token, "P": f"vault:secret/{name}#password"},
    )
    r.ok()
    assert (r.env["U"], r.env["P"]) == (data["username"], data["password"])


def test_no_env_refs(bao, vx, app):
    name, _ = app
    whole = f"vault:secret/data/{name}#password"
    inner = f"x${{vault:secret/{name}#password}}y"
    r = vx.run(
        conn(bao, "10s", "--no-env-refs", "--service", name, "--map", "username=U"),
        env={"VAULT_TOKEN": bao.token, "WHOLE": whole, "INNER": inner},
    )
    r.ok()
    assert (r.env["WHOLE"], r.env["INNER"]) == (whole, inner)


def test_env_ref_lookalikes_untouched(bao, vx, app):
    name, _ = app
    env = {
        "A": f"xvault:secret/data/{name}#password",
        "B": f"see vault:secret/data/{name}#password",
        "C": f"VAULT:secret/data/{name}#password",
        "D": "$vault:nothing",
        "E": "{vault:secret/x#y}",
    }
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "username=U"), env={"VAULT_TOKEN": bao.token, **env})
    r.ok()
    for k, v in env.items():
        assert r.env[k] == v


def test_env_ref_missing_field_65(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s"), env={"VAULT_TOKEN": bao.token, "X": f"vault:secret/data/{name}#nosuch"})
    r.failed(65)


def test_env_ref_missing_secret_65(bao, vx):
    r = vx.run(conn(bao, "5s"), env={"VAULT_TOKEN": bao.token, "X": f"vault:secret/data/{vx.name('gone')}#a"})
    r.failed(65)


# ---------------------------------------------------------------------------
# precedence: flag > VAULTEXEC_ > BAO_ > VAULT_
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["VAULT_ADDR", "BAO_over_VAULT", "VAULTEXEC_over_BAO", "flag_over_VAULTEXEC"],
)
def test_addr_precedence(bao, vx, app, case):
    name, data = app
    bad = closed_addr()
    env = {"VAULT_TOKEN": bao.token}
    opts = ["--wait", "2s", "--service", name, "--map", "password=P"]
    if case == "VAULT_ADDR":
        env["VAULT_ADDR"] = bao.addr
    elif case == "BAO_over_VAULT":
        env.update(VAULT_ADDR=bad, BAO_ADDR=bao.addr)
    elif case == "VAULTEXEC_over_BAO":
        env.update(VAULT_ADDR=bad, BAO_ADDR=bad, VAULTEXEC_ADDR=bao.addr)
    else:
        env.update(VAULT_ADDR=bad, BAO_ADDR=bad, VAULTEXEC_ADDR=bad)
        opts = ["--addr", bao.addr] + opts
    r = vx.run(opts, env=env)
    r.ok()
    assert r.env["P"] == data["password"]


@pytest.mark.parametrize("var", ["VAULT_AGENT_ADDR", "BAO_AGENT_ADDR"])
def test_agent_addr_beats_addr(bao, vx, app, var):
    name, _ = app
    bad = closed_addr()
    r = vx.run(
        ["--wait", "2s", "--service", name, "--map", "password=P"],
        env={"VAULT_TOKEN": bao.token, "VAULT_ADDR": bad, "BAO_ADDR": bad, var: bao.addr},
    )
    r.ok()


def test_bao_token_beats_vault_token(bao, vx, app):
    name, _ = app
    bogus = vx.token()
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env={"BAO_TOKEN": bao.token, "VAULT_TOKEN": bogus})
    r.ok()


def test_vaultexec_single_valued_beats_flagless_default(bao, vx, app):
    name, data = app
    r = vx.run(
        ["--map", "password=P"],
        env={"VAULT_TOKEN": bao.token, "VAULTEXEC_ADDR": bao.addr, "VAULTEXEC_SERVICE": name, "VAULTEXEC_WAIT": "10s"},
    )
    r.ok()
    assert r.env["P"] == data["password"]


def test_service_flag_beats_env(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "5s", "--service", name, "--map", "password=P"),
        env={"VAULT_TOKEN": bao.token, "VAULTEXEC_SERVICE": vx.name("wrong")},
    )
    r.ok()
    assert r.env["P"] == data["password"]


def test_repeatable_env_and_flags_combine(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "db=DB", "--env", "E2=b-{{ db }}"),
        env={
            "VAULT_TOKEN": bao.token,
            "VAULTEXEC_MAP": "password=P\nusername=U",
            "VAULTEXEC_ENV": "E1=a-{{ db }}",
        },
    )
    r.ok()
    e = r.env
    assert (e["P"], e["U"], e["DB"], e["E1"], e["E2"]) == (data["password"], data["username"], "appdb", "a-appdb", "b-appdb")


# ---------------------------------------------------------------------------
# token sources
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "\n", "\r\n"], ids=["bare", "LF", "CRLF"])
def test_token_file(bao, vx, app, tmp_path, suffix):
    name, data = app
    f = tmp_path / "token"
    f.write_bytes((bao.token + suffix).encode())
    r = vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"), env={})
    r.ok()
    assert r.env["P"] == data["password"]


@pytest.mark.parametrize("var", ["VAULT_TOKEN_FILE", "VAULTEXEC_TOKEN_FILE"])
def test_token_file_env(bao, vx, app, tmp_path, var):
    name, _ = app
    f = tmp_path / "token"
    f.write_text(bao.token + "\n")
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env={var: str(f)})
    r.ok()


def test_token_file_flag_beats_token_env(bao, vx, app, tmp_path):
    name, _ = app
    f = tmp_path / "token"
    f.write_text(bao.token + "\n")
    r = vx.run(
        conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"),
        env={"VAULT_TOKEN": vx.token()},
    )
    r.ok()


@pytest.mark.parametrize(
    "content",
    [b"abc\x01def\n", b"abc\ndef\n", b"abc\x1b[0m\n", b"abc\rdef", b"\tabc\n", b"abc\x00def\n", b"abc\x7f\n"],
    ids=["SOH", "inner-LF", "ESC", "inner-CR", "TAB", "NUL", "DEL"],
)
def test_token_file_control_characters_78(bao, vx, app, tmp_path, content):
    name, _ = app
    f = tmp_path / "token"
    # make it a real token with junk, so acceptance would actually work if
    # the junk were stripped
    f.write_bytes(content.replace(b"abc", bao.token.encode(), 1))
    r = vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"), env={})
    r.failed(78)


@pytest.mark.parametrize("kind", ["missing", "empty", "newline-only", "directory"])
def test_token_file_unusable_78(bao, vx, app, tmp_path, kind):
    name, _ = app
    f = tmp_path / "token"
    if kind == "empty":
        f.write_text("")
    elif kind == "newline-only":
        f.write_text("\n")
    elif kind == "directory":
        f.mkdir()
    r = vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"), env={"VAULT_TOKEN": None})
    r.failed(78)


# ---------------------------------------------------------------------------
# --check
# ---------------------------------------------------------------------------


@pytest.mark.every_binary
def test_check_lists_items_and_does_not_exec(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "secret.conf"
    r = vx.run(
        conn(
            bao, "10s", "--check", "--service", name,
            "--map", "password=P", "--map", "username=U",
            "--env", "DSN=pg://{{ username }}:{{ password | urlencode }}@h/db",
            "--file", f"{dest}=pass={{{{ password }}}}",
        ),
        env={"VAULT_TOKEN": bao.token},
    )
    assert r.rc == 0, r.describe()
    assert not r.started, "--check must not start the child"
    assert not dest.exists(), "--check must not write files"
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert sorted(lines) == sorted(["env P", "env U", "env DSN", f"file {dest}"]), r.describe()


def test_check_map_all(bao, vx):
    name = vx.name("chk")
    bao.put_kv2(name, {"a-b": vx.secret(), "c": vx.secret()})
    r = vx.run(conn(bao, "10s", "--check", "--service", name, "--map-all=X_"), env={"VAULT_TOKEN": bao.token})
    assert r.rc == 0 and not r.started, r.describe()
    assert sorted(l for l in r.stdout.splitlines() if l.strip()) == ["env X_A_B", "env X_C"], r.describe()


def test_check_via_env_var(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), env={"VAULT_TOKEN": bao.token, "VAULTEXEC_CHECK": "true"})
    assert r.rc == 0 and not r.started, r.describe()
    assert r.stdout.split() == ["env", "P"], r.describe()


def test_check_still_fails_on_missing_field(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--check", "--service", name, "--map", "nosuch=X"), env={"VAULT_TOKEN": bao.token})
    r.failed(65)


def test_check_still_fails_when_unreachable(vx):
    r = vx.run(["--addr", closed_addr(), "--wait", "1s", "--check", "--service", "x", "--map", "a=A"], env={"VAULT_TOKEN": "x" * 12})
    r.failed(69)


def test_check_does_not_list_values_with_env_refs(bao, vx, app):
    name, _ = app
    r = vx.run(
        conn(bao, "10s", "--check", "--service", name, "--map", "password=P"),
        env={"VAULT_TOKEN": bao.token, "REF": f"vault:secret/{name}#username"},
    )
    assert r.rc == 0 and not r.started, r.describe()
    assert "env P" in r.stdout.splitlines()
    # every line is "env NAME" or "file PATH"
    for l in r.stdout.splitlines():
        if l.strip():
            kind, _, rest = l.partition(" ")
            assert kind in ("env", "file") and rest and " " not in rest, r.describe()


def test_env_ref_overridden_by_map_is_not_read(bao, vx, app):
    """A --map of the same name wins, so its inherited reference is not
    read: a secret it names need not exist."""
    name, data = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=DB_PASS"),
        env={"VAULT_TOKEN": bao.token, "DB_PASS": f"vault:secret/data/{vx.name('absent')}#password"},
    )
    r.ok()
    assert r.env["DB_PASS"] == data["password"]


@pytest.mark.parametrize(
    "value,reason",
    [("x${vault:secret/data/app}y", "no '#FIELD'"), ("x${vault:secret/../x#f}y", "'..' segment")],
    ids=["no-field", "dotdot"],
)
def test_bad_inline_env_ref_says_why(bao, vx, value, reason):
    r = vx.run(conn(bao, "10s"), env={"VAULT_TOKEN": bao.token, "DSN": value})
    r.failed(64)
    assert "DSN: bad ${vault:PATH#FIELD} reference at column 2" in r.stderr, r.describe()
    assert reason in r.stderr, r.describe()

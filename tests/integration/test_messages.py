"""Issue 13: every failure says what to do, and --check never says yes to a
run that would fail.

One table per class of mistake, each row run against a real OpenBao (the
session dev server, its TLS twin, or no server at all).  Every row asserts
the exit code, the substance of the one-line message (the flag, path or
field it names and the hint), that the child was not started, and -- through
the conftest's leak registry -- that no secret value reached the output.
Rows marked `json` run with --log-format json and check every stderr line
is one JSON object.  tests/FAULTS.md rows 40-47 list these cases.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest

from fakevault import R
import vxlib
from vxlib import conn

NOBODY = 65534


def tok(token):
    return {"VAULT_TOKEN": token}


def error_lines(r, json_log=False):
    """The error lines of R; with json_log every stderr line must be one
    JSON object and the messages of the error ones are returned."""
    if not json_log:
        lines = r.log_lines("error")
    else:
        lines = []
        for l in r.stderr_lines():
            doc = json.loads(l)  # raises on a line that is not JSON
            assert set(doc) >= {"time", "level", "msg"}, l
            if doc["level"] == "error":
                lines.append(doc["msg"])
    assert lines, f"no error line\n{r.describe()}"
    for l in lines:
        # Vault's multi-line text is cleaned into the line, not pasted in.
        assert "\t" not in l and "error occurred" not in l and "errors occurred" not in l, l
    return " | ".join(lines)


def expect(r, rc, *phrases, json_log=False):
    r.failed(rc)
    text = error_lines(r, json_log)
    for p in phrases:
        assert p.lower() in text.lower(), f"{p!r} not in the error\n{r.describe()}"
    return text


@pytest.fixture(scope="module")
def world(bao):
    """Secrets, mounts, policies and a namespace for the tables (module-wide:
    each row only reads)."""
    w = {}
    name = "msg-" + secrets.token_hex(4)
    w["name"] = name
    w["password"] = "pw" + secrets.token_hex(12)
    bao.put_kv2(name, {"password": w["password"], "username": "u1"})
    w["kv1"] = "kv1m-" + secrets.token_hex(3)
    bao.enable_kv1(w["kv1"])
    bao.put_kv1(w["kv1"], name, {"password": w["password"]})
    bao.put_policy(f"{name}-other", f'path "secret/data/{name}-other" {{ capabilities = ["read"] }}')
    w["nocap"] = bao.create_token([f"{name}-other"])
    w["ns"] = "team-" + secrets.token_hex(3)
    bao.api("POST", f"sys/namespaces/{w['ns']}", {})
    ns_api(bao, w["ns"], "POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    return w


def ns_api(bao, ns, method, path, body=None):
    req = urllib.request.Request(
        f"{bao.addr}/v1/{path}", data=json.dumps(body).encode() if body is not None else None, method=method
    )
    req.add_header("X-Vault-Token", bao.token)
    req.add_header("X-Vault-Namespace", ns)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


# ---------------------------------------------------------------------------
# permission
# ---------------------------------------------------------------------------

PERMISSION = [
    # id, token, json, phrases
    ("wrong-token", "wrong", False, ["secret/data/{name}", "permission denied", "token is not valid", "VAULT_TOKEN"]),
    ("wrong-token-json", "wrong", True, ["secret/data/{name}", "token is not valid"]),
    (
        "missing-capability",
        "nocap",
        False,
        ["secret/data/{name}", "token is valid", "{name}-other", "'read'", 'path "secret/data/{name}"'],
    ),
    ("missing-capability-json", "nocap", True, ["token is valid", "'read'", 'path "secret/data/{name}"']),
]


@pytest.mark.parametrize("row", PERMISSION, ids=[r[0] for r in PERMISSION])
def test_permission(bao, vx, world, row):
    _, which, json_log, phrases = row
    token = "s.wrong" + secrets.token_hex(10) if which == "wrong" else world[which]
    vx.register(token, world["password"])
    opts = conn(bao, "5s", "--map", f"secret/{world['name']}#password=P")
    if json_log:
        opts += ["--log-format", "json"]
    r = vx.run(opts, env=tok(token))
    expect(r, 77, *[p.format(**world) for p in phrases], json_log=json_log)


# ---------------------------------------------------------------------------
# field not found
# ---------------------------------------------------------------------------

FIELDS = [
    ("typo", ["--map", "secret/{name}#pasword=P"], ["--map secret/{name}#pasword=P", "no field 'pasword'", "did you mean 'password'", "password, username"]),
    ("case", ["--map", "secret/{name}#Password=P"], ["did you mean 'password'"]),
    ("unrelated", ["--map", "secret/{name}#database=P"], ["no field 'database'", "fields: password, username"]),
    ("template", ["--env", "DSN=x{{{{ secret/{name}#usrname }}}}"], ["--env DSN", "did you mean 'username'"]),
]


@pytest.mark.parametrize("row", FIELDS, ids=[r[0] for r in FIELDS])
def test_field_not_found(bao, vx, world, row):
    _, opts, phrases = row
    vx.register(world["password"])
    r = vx.run(conn(bao, "5s", *[o.format(**world) for o in opts]), env=tok(bao.token))
    text = expect(r, 65, *[p.format(**world) for p in phrases])
    assert "did you mean" not in text or row[0] != "unrelated"


# ---------------------------------------------------------------------------
# wrong KV version or mount
# ---------------------------------------------------------------------------

KV_FOUND = [
    # the read misses, one mounts lookup finds the other version, the read is redone
    # (a mount outside --kv-mount has its version looked up before the read;
    # under --kv-mount the default v2 is tried first)
    ("v1-mount-read-as-v2", ["--kv-mount", "{kv1}"], "{kv1}/{name}", ["{kv1} is a KV v1 mount, not v2", "--kv-version 1"]),
    ("v2-mount-read-as-v1", ["--kv-version", "1"], "secret/{name}", ["secret is a KV v2 mount, not v1", "--kv-version 2"]),
]


@pytest.mark.parametrize("row", KV_FOUND, ids=[r[0] for r in KV_FOUND])
def test_kv_version_found_after_a_miss(bao, vx, world, row):
    _, opts, path, phrases = row
    vx.register(world["password"])
    opts = [o.format(**world) for o in opts]
    r = vx.run(conn(bao, "5s", *opts, "--map", f"{path.format(**world)}#password=P"), env=tok(bao.token))
    r.ok()
    assert r.env["P"] == world["password"]
    warn = " | ".join(r.log_lines("warn"))
    for p in phrases:
        assert p.format(**world) in warn, r.describe()


KV_MISSES = [
    ("missing-secret", [], "secret/{name}-nope", "bao", 65, ["secret/data/{name}-nope: no such secret"]),
    ("no-such-mount", [], "nomount-{name}/x", "bao", 65, ["no secrets engine is mounted there"]),
]


@pytest.mark.parametrize("row", KV_MISSES, ids=[r[0] for r in KV_MISSES])
def test_kv_version_misses(bao, vx, world, row):
    _, opts, path, who, rc, phrases = row
    vx.register(world["password"])
    token = bao.token if who == "bao" else world[who]
    r = vx.run(conn(bao, "5s", *opts, "--map", f"{path.format(**world)}#password=P"), env=tok(token))
    expect(r, rc, *[p.format(**world) for p in phrases])


# OpenBao answers sys/internal/ui/mounts for any path a token may touch
# (even with a deny on sys/internal/ui/mounts/*), so a miss followed by a
# refused lookup is scripted: the fake answers the lookup 403 as OpenBao
# does for a mount it does not know.
WARNING = ["Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use."]
LOOKUP_REFUSED = [
    ("v1-mount-read-as-v2", [], "/v1/secret/data/app", R(404, {"errors": []}), ["secret/data/app: no such secret", "if secret is a KV v1 mount, give --kv-version 1"]),
    (
        "v2-mount-read-as-v1-warning-kept",
        ["--kv-version", "1"],
        "/v1/secret/app",
        R(404, {"data": None, "warnings": WARNING}),
        ["OpenBao says: Invalid path for a versioned K/V secrets engine", "if secret is a KV v2 mount, give --kv-version 2"],
    ),
]


@pytest.mark.parametrize("row", LOOKUP_REFUSED, ids=[r[0] for r in LOOKUP_REFUSED])
def test_kv_version_lookup_refused_names_the_flag(vx, fake, row):
    _, opts, path, answer, phrases = row
    fake.mounts.clear()  # every lookup is refused
    fake.script(path, answer)
    r = vx.run(conn(fake, "5s", *opts, "--map", "secret/app#password=P"), env=tok("t" * 16))
    expect(r, 65, *phrases)


# ---------------------------------------------------------------------------
# address
# ---------------------------------------------------------------------------


def test_address_with_v1(bao, vx, world):
    r = vx.run(["--addr", bao.addr + "/v1/", "--wait", "5s", "--map", f"secret/{world['name']}#password=P"], env=tok(bao.token))
    expect(r, 78, "--addr", "leave out the /v1", f"give {bao.addr})")
    assert r.elapsed < 4


@pytest.mark.parametrize("json_log", [False, True], ids=["text", "json"])
def test_plain_http_to_a_tls_listener(bao_tls, vx, world, json_log):
    addr = bao_tls.addr.replace("https://", "http://")
    opts = ["--addr", addr, "--wait", "10s", "--secret", "secret/x", "--map", "f=F"]
    if json_log:
        opts += ["--log-format", "json"]
    r = vx.run(opts, env=tok(bao_tls.token))
    expect(r, 78, "the server speaks TLS", "use https://", json_log=json_log)
    assert r.elapsed < 5, "a configuration error is not waited out"


def test_default_address_is_said(vx):
    r = vx.run(["--wait", "1s", "--secret", "secret/x", "--map", "f=F"], env={"VAULT_TOKEN": "t" * 12, "VAULT_ADDR": None})
    info = " | ".join(r.log_lines("info"))
    assert "no --addr, VAULT_ADDR or BAO_ADDR given; using the default https://127.0.0.1:8200" in info, r.describe()
    if r.rc == 69:  # nothing listens on 8200 here (the usual case)
        expect(r, 69, "no address was given", "set --addr or VAULT_ADDR")
    else:
        r.failed()


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------

OPTIONS = [
    ("typo", ["--sevice", "app"], False, ["--sevice: unknown option", "did you mean --service?"]),
    ("typo-with-value", ["--kv-verison=2"], False, ["did you mean --kv-version?"]),
    ("nothing-near", ["--frobnicate"], False, ["--frobnicate: unknown option (see --help)"]),
    ("wait-over-limit", ["--wait", "48h"], False, ["--wait", "'48h' is over the limit of 24h"]),
    ("timeout-over-limit", ["--request-timeout", "25h"], False, ["--request-timeout", "over the limit of 24h"]),
    ("not-a-duration", ["--wait", "soon"], False, ["'soon' is not a duration"]),
    ("json-after-the-error", ["--sevice", "app", "--log-format", "json"], True, ["did you mean --service?"]),
    ("json-equals-after", ["--wait", "48h", "--log-format=json"], True, ["over the limit of 24h"]),
]


@pytest.mark.parametrize("row", OPTIONS, ids=[r[0] for r in OPTIONS])
def test_options(vx, row):
    _, opts, json_log, phrases = row
    r = vx.run(opts)
    expect(r, 64, *phrases, json_log=json_log)


def test_child_args_do_not_switch_to_json(vx):
    """Only our own options (before --) choose the format."""
    r = vx.run(["--sevice", "x", "--"], "--log-format", "json", sep=False)
    r.failed(64)
    assert re.match(rf"{vxlib.TS}vaultexec: error: ", r.stderr), r.stderr


# ---------------------------------------------------------------------------
# values the exec cannot pass, and --check telling the truth about them
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(bao):
    core = secrets.token_hex(8)
    v500 = core + "x" * 500_000
    name = "big-" + secrets.token_hex(4)
    bao.put_kv2(name, {"blob": v500, "a": core + "a" * 120_000, "b": core + "b" * 120_000, "small": core + "s" * 100_000})
    return {"name": name, "v500": v500, "core": core}


LIMITS = [
    # 500 KB into one variable: over the kernel's 128 KiB for one string
    ("one-string", lambda n: ["--map", f"secret/{n}#blob=BLOB"], ["variable BLOB is 500016 bytes", "over the kernel's limit", "--file"]),
    # 20 variables of 120 KB: each fits, together they pass a quarter of the 8 MiB stack
    (
        "total",
        lambda n: [a for i in range(20) for a in ("--map", f"secret/{n}#{'ab'[i % 2]}=V{i}")],
        ["environment and arguments of the command come to", "largest variable is V", "--file"],
    ),
]


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("row", LIMITS, ids=[r[0] for r in LIMITS])
def test_values_the_exec_cannot_pass(bao, vx, big, row, check, tmp_path):
    _, opts, phrases = row
    vx.register(big["v500"], big["core"])
    out = tmp_path / "out"
    out.mkdir()
    all_opts = conn(bao, "5s", *opts(big["name"]), "--file", f"{out}/f={{{{ secret/{big['name']}#small }}}}")
    if check:
        all_opts.append("--check")
    r = vx.run(all_opts, env=tok(bao.token))
    expect(r, 65, *phrases)
    assert list(out.iterdir()) == [], "no file is written when the exec would fail"


def test_value_under_the_limit_passes(bao, vx, big):
    vx.register(big["core"])
    r = vx.run(conn(bao, "5s", "--map", f"secret/{big['name']}#small=S"), env=tok(bao.token))
    r.ok()
    assert len(r.env["S"]) == 100_016


@pytest.fixture
def open_tmp():
    """A temporary directory others may enter (for runs as nobody)."""
    d = Path(tempfile.mkdtemp(prefix="vx-i13-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


CHECK_FILES = [
    # id, destination (relative to a fresh directory), set-up, uid, phrases
    ("missing-directory", "nodir/f", None, None, ["--file", "nodir/f", "No such file or directory", "create the directory"]),
    ("not-a-directory", "afile/f", "file", None, ["--file", "Not a directory"]),
    ("destination-is-a-directory", "adir", "dir", None, ["--file", "adir", "is a directory"]),
    ("not-writable", "ro/f", "ro", NOBODY, ["--file", "Permission denied", "make it writable"]),
]


@pytest.mark.parametrize("check", [True, False], ids=["check", "run"])
@pytest.mark.parametrize("row", CHECK_FILES, ids=[r[0] for r in CHECK_FILES])
def test_check_agrees_on_file_destinations(bao, vx, world, open_tmp, row, check):
    _, dest, setup, uid, phrases = row
    vx.register(world["password"])
    if setup == "file":
        (open_tmp / "afile").write_text("x")
    elif setup == "dir":
        (open_tmp / "adir").mkdir()
    elif setup == "ro":
        (open_tmp / "ro").mkdir(mode=0o755)  # root's; nobody may not write
    before = sorted(str(p) for p in open_tmp.rglob("*"))
    opts = conn(bao, "5s", "--file", f"{open_tmp}/{dest}={{{{ secret/{world['name']}#password }}}}")
    if check:
        opts.append("--check")
    r = vx.run(opts, env=tok(bao.token), user=uid, cmd=["/bin/true"])
    assert r.rc == 74, r.describe()
    text = error_lines(r)
    for p in phrases:
        assert p in text, r.describe()
    assert sorted(str(p) for p in open_tmp.rglob("*")) == before, "something was left behind"


def test_check_probe_leaves_nothing_and_passes(bao, vx, world, open_tmp):
    vx.register(world["password"])
    (open_tmp / "rw").mkdir()
    os.chmod(open_tmp / "rw", 0o777)
    r = vx.run(
        conn(bao, "5s", "--check", "--file", f"{open_tmp}/rw/f={{{{ secret/{world['name']}#password }}}}"),
        env=tok(bao.token),
        user=NOBODY,
        cmd=["/bin/true"],
    )
    assert r.rc == 0, r.describe()
    assert list((open_tmp / "rw").iterdir()) == []


@pytest.mark.parametrize("check", [True, False], ids=["check", "run"])
def test_check_agrees_on_the_token_sink(bao, vx, world, open_tmp, check):
    vx.register(world["password"])
    opts = conn(bao, "5s", "--token-sink", f"{open_tmp}/nodir/token", "--map", f"secret/{world['name']}#password=P")
    if check:
        opts.append("--check")
    r = vx.run(opts, env=tok(bao.token), cmd=["/bin/true"])
    assert r.rc == 74, r.describe()
    assert "--token-sink" in error_lines(r)
    assert list(open_tmp.iterdir()) == []


# ---------------------------------------------------------------------------
# namespace
# ---------------------------------------------------------------------------

NAMESPACE = [
    ("missing-secret", "{ns}", "secret/nope#f=F", "bao", 65, ["secret/data/nope (namespace {ns}): no such secret"]),
    ("no-such-namespace", "{ns}-nope", "secret/nope#f=F", "bao", 65, ["(namespace {ns}-nope)", "namespace {ns}-nope does not exist"]),
    ("permission", "{ns}", "secret/x#f=F", "wrong", 77, ["secret/data/x (namespace {ns}): permission denied"]),
    ("field", "{ns}", "secret/have#pasword=F", "bao", 65, ["secret/data/have (namespace {ns}): no field 'pasword'"]),
]


@pytest.mark.parametrize("row", NAMESPACE, ids=[r[0] for r in NAMESPACE])
def test_namespace_is_named(bao, vx, world, row):
    _, ns, ref, who, rc, phrases = row
    ns_api(bao, world["ns"], "POST", "secret/data/have", {"data": {"password": world["password"]}})
    vx.register(world["password"])
    token = bao.token if who == "bao" else "s.wrong" + secrets.token_hex(10)
    vx.register(token)
    r = vx.run(conn(bao, "5s", "--namespace", ns.format(**world), "--map", ref), env=tok(token))
    expect(r, rc, *[p.format(**world) for p in phrases])


# ---------------------------------------------------------------------------
# --check exits with what the run would, on every fault row that does not
# need the command to run (tests/FAULTS.md)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agree(bao):
    name = "agree-" + secrets.token_hex(4)
    w = {"name": name, "value": "av" + secrets.token_hex(12)}
    bao.put_kv2(name, {"password": w["value"], "nul": "a\x00b", "nothing": None})
    bao.put_kv2(name + "-del", {"password": w["value"]})
    bao.delete_kv2_latest(name + "-del")
    return w


def _agree_rows():
    m = "--map"
    return [
        # id, expected exit, options (formatted with the fixture's names), setup
        ("missing-secret", 65, [m, "secret/{name}-nope#password=P"], None),
        ("missing-field", 65, [m, "secret/{name}#pasword=P"], None),
        ("null-field", 65, [m, "secret/{name}#nothing=P"], None),
        ("nul-in-field", 65, [m, "secret/{name}#nul=P"], None),
        ("deleted-version", 65, [m, "secret/{name}-del#password=P"], None),
        ("value-too-large", 65, [m, "secret/{big}#blob=B"], None),
        ("wrong-token", 77, [m, "secret/{name}#password=P"], "wrong-token"),
        ("token-file-empty", 78, ["--token-file", "{tmp}/empty", m, "secret/{name}#password=P"], "empty-token-file"),
        ("addr-with-v1", 78, ["--addr", "{addr}/v1", m, "secret/{name}#password=P"], None),
        ("tls-unknown-ca", 78, ["--addr", "{tls_addr}", m, "secret/{name}#password=P"], None),
        ("plain-http-to-tls", 78, ["--addr", "{tls_plain}", m, "secret/{name}#password=P"], None),
        ("vault-down", 69, ["--addr", "http://127.0.0.1:{closed}", "--wait", "1s", m, "secret/{name}#password=P"], None),
        ("unknown-option", 64, ["--sevice", "x"], None),
        ("wait-over-limit", 64, ["--wait", "48h", m, "secret/{name}#password=P"], None),
        ("file-dir-missing", 74, ["--file", "{tmp}/nodir/f={{{{ secret/{name}#password }}}}"], None),
        ("token-sink-dir-missing", 74, ["--token-sink", "{tmp}/nodir/t", m, "secret/{name}#password=P"], None),
        ("command-missing", 127, [m, "secret/{name}#password=P"], "no-command"),
        ("command-not-executable", 126, [m, "secret/{name}#password=P"], "not-executable"),
    ]


AGREE = _agree_rows()


@pytest.mark.parametrize("row", AGREE, ids=[r[0] for r in AGREE])
def test_check_agrees_with_the_run(bao, bao_tls, vx, agree, big, row, tmp_path):
    _, rc, opts, setup = row
    vx.register(agree["value"], big["v500"], big["core"])
    env = tok(bao.token)
    cmd = ["/bin/true"]
    if setup == "wrong-token":
        env = tok("s.wrong" + secrets.token_hex(10))
    elif setup == "empty-token-file":
        (tmp_path / "empty").write_text("")
        env = {}
    elif setup == "no-command":
        cmd = [str(tmp_path / "no-such-command")]
    elif setup == "not-executable":
        f = tmp_path / "not-exec"
        f.write_text("#!/bin/sh\n")
        f.chmod(0o644)
        cmd = [str(f)]
    with_addr = any(o == "--addr" for o in opts)
    names = dict(
        name=agree["name"],
        big=big["name"],
        tmp=tmp_path,
        addr=bao.addr,
        tls_addr=bao_tls.addr,
        tls_plain=bao_tls.addr.replace("https://", "http://"),
        closed=vxlib.free_port(),
    )
    full = [o.format(**names) for o in opts]
    if not with_addr:
        full = conn(bao, "5s") + full
    elif "--wait" not in full:
        full += ["--wait", "5s"]
    before = sorted(p.name for p in tmp_path.iterdir())
    run = vx.run(full, env=env, cmd=cmd)
    check = vx.run(full + ["--check"], env=env, cmd=cmd)
    assert run.rc == rc, f"the run:\n{run.describe()}"
    assert check.rc == rc, f"--check disagrees with the run ({run.rc}):\n{check.describe()}"
    assert not check.stdout, "--check printed what it would do although the run fails"
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "something was left behind"


def test_namespace_named_in_login_messages(bao, vx, world, tmp_path):
    sid = tmp_path / "sid"
    sid.write_text("sid-" + secrets.token_hex(12))
    vx.register(sid.read_text())
    r = vx.run(
        conn(bao, "5s", "--namespace", world["ns"], "--auth", "approle", "--role-id", "r-" + secrets.token_hex(6),
             "--secret-id-file", str(sid), "--map", "secret/x#f=F"),
        env={},
    )
    r.failed((77, 78))
    assert f"login with approle at auth/approle (namespace {world['ns']})" in error_lines(r), r.describe()

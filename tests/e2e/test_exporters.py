"""The examples' exporters, started through vaultexec with the flags of
examples/*/compose.yml (read from those files), against real Redis,
PostgreSQL and MariaDB servers and FerretDB (a MongoDB-protocol server, with
SCRAM) whose passwords exist only in OpenBao.

The tests run in file order and share one stack (module fixture).  Every
password is random per run, full of characters that break naive quoting,
and registered with the leak scanner (test_zz_leaks.py).
"""
from __future__ import annotations

import json
import os
import re
import stat
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

import e2elib as E

STACK = E.Compose("", "docker-compose.yml")
REDIS = E.Compose("redis")
POSTGRES = E.Compose("postgres")
MYSQL = E.Compose("mysql")
MONGODB = E.Compose("mongodb")
SQLX = E.Compose("sql_exporter")

DEBIAN_MYSQLD = E.DEBIAN_BIN["mysqld_exporter"]
CURRENT_MYSQLD = str(E.CURRENT_MYSQLD_EXPORTER)
# Percona's mongodb_exporter, the version examples/mongodb names, built from
# the Go module proxy (tests/e2e/mongodb-install.sh); the recorder stands in
# where the test wants the exact environment the exporter was given.
MONGODB_EXPORTER = str(E.cached_build("mongodb_exporter"))
RECORDER = str(E.HERE / "recorder.py")

MONGO_DROP = "😀ℵ"  # see the stack fixture

# Server tokens of the stack (openbao-setup in docker-compose.yml): the
# database servers read their password with the exporter's policy.
SERVER_TOKENS = {f"redis-{n}-server": f"redis-exporter-{n}" for n in (1, 2, 3)}


def version_of(binary: str) -> str:
    cp = E.run([binary, "--version"])
    return (cp.stdout + cp.stderr).decode(errors="replace").splitlines()[0].strip()


def mongodb_exporter_version() -> str:
    out = E.run([MONGODB_EXPORTER, "--version"]).stdout.decode()
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Version:")), out[:60])


def debian_version(pkg: str) -> str:
    return E.run(["dpkg-query", "-W", "-f=${Version}", pkg]).stdout.decode()


class Stack:
    def __init__(self, world):
        self.world = world
        self.bao = world.bao
        self.root = world.root
        self.tokens = self.root / "tokens"
        self.tokens.mkdir(mode=0o700)
        self.home = self.root / "home"
        self.home.mkdir()
        self.hosts: dict[str, str] = {}
        self.running: dict[str, tuple[E.Proc, int]] = {}  # service -> (proc, metrics port)
        self.secrets: dict[str, dict] = {}

    # --- secrets ---------------------------------------------------------
    def put(self, name: str, data: dict):
        for k, v in data.items():
            if k == "password":
                self.world.leaks.register(f"{name}.{k}", v)
        self.bao.kv_put(name, data)

    def set_secret(self, name: str, data: dict):
        self.secrets[name] = dict(data)
        self.put(name, data)

    def restore(self, name: str):
        self.put(name, self.secrets[name])

    def load_policies(self):
        for hcl in sorted(E.EXAMPLES.glob("*/policies/*.hcl")):
            self.bao.policy(hcl.stem, hcl.read_text())
            self.write_token(hcl.stem, hcl.stem)
        for tok, pol in SERVER_TOKENS.items():
            self.write_token(tok, pol)

    def write_token(self, name: str, policy: str):
        p = self.tokens / f"{name}.token"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.bao.token_for(policy) + "\n")

    # --- processes -------------------------------------------------------
    def binaries(self, mysqld=CURRENT_MYSQLD, mongodb=MONGODB_EXPORTER) -> dict:
        vx = E.vaultexec_bin()
        return {
            "/opt/vaultexec/vaultexec": vx,
            "/vaultexec": vx,
            "/redis_exporter": E.DEBIAN_BIN["redis_exporter"],
            "/bin/postgres_exporter": E.DEBIAN_BIN["postgres_exporter"],
            "/bin/mysqld_exporter": mysqld,
            "/usr/bin/sql_exporter": E.DEBIAN_BIN["sql_exporter"],
            "/mongodb_exporter": mongodb,
            "redis-server": "/usr/bin/redis-server",
            "docker-entrypoint.sh": "",
        }

    def spec(self, compose: E.Compose, service: str, mysqld=CURRENT_MYSQLD, extra_args=None,
             mongodb=MONGODB_EXPORTER) -> E.RunSpec:
        return compose.run_spec(
            service, hosts=self.hosts, binaries=self.binaries(mysqld, mongodb), tokens_dir=self.tokens,
            tmp=self.world.shm, vault_addr=self.bao.addr, extra_args=extra_args,
        )

    def start(self, compose, service, label=None, mysqld=CURRENT_MYSQLD, extra_env=None, extra_args=None,
              mongodb=MONGODB_EXPORTER):
        spec = self.spec(compose, service, mysqld, extra_args, mongodb)
        for a in spec.argv:  # files vaultexec renders may hold a password (mode checked at the end)
            if a.startswith("--file="):
                self.world.allowed_files.add(Path(a[len("--file="):].split("=", 1)[0]))
        env = E.minimal_env(HOME=str(self.home), **spec.env, **(extra_env or {}))
        proc = self.world.procs.start(label or service, spec.argv, env=env)
        return proc, spec

    def describe(self, proc: E.Proc) -> str:
        return self.world.leaks.scrub(
            f"{proc.name}: exit {proc.popen.poll()}\nargv: {proc.argv}\n--- log ---\n{proc.output()[-3000:]}"
        )

    def wait_metric(self, proc, port, name, want, timeout=25.0):
        """Scrape until metric NAME is WANT; returns the last scrape."""
        last = {"text": "", "v": None}

        def check():
            if not proc.alive():
                raise AssertionError("exporter exited\n" + self.describe(proc))
            if not E.port_open(port):
                return False
            last["text"] = E.scrape(port)
            last["v"] = E.metric(last["text"], name)
            return last["v"] == want

        try:
            E.wait_for(check, timeout, f"{name} == {want}", interval=0.25)
        except E.E2EError as e:
            if "exporter exited" in str(e):
                raise AssertionError(str(e).split("(last error: ", 1)[-1]) from None
            raise AssertionError(f"{e}; last value {last['v']}\n" + self.describe(proc)) from None
        return last["text"]

    def run_until_exit(self, compose, service, timeout=20.0, **kw):
        proc, spec = self.start(compose, service, **kw)
        try:
            rc = proc.wait(timeout)
        except Exception:
            proc.stop()
            raise AssertionError(f"{service} did not exit within {timeout}s\n" + self.describe(proc)) from None
        return proc, spec, rc

    def check_rendered_file(self, path: Path, must_hold: str):
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600, f"{path}: mode {oct(stat.S_IMODE(st.st_mode))}, want 0600"
        assert must_hold.encode() in path.read_bytes(), f"{path} does not hold the password"
        self.world.allowed_files.add(path)


@pytest.fixture(scope="module")
def stack(world):
    s = Stack(world)
    bao = world.bao
    # Passwords: random per run, hostile.  A tab only where every consumer
    # takes one (lib/pq splits on it); postgres-exporter's own password has
    # no space (postgres_exporter cannot take one in a DSN: see
    # test_postgres_password_with_space); the MySQL one no "?" or "$" (see
    # test_mysql_password_pitfalls).
    for n in (1, 2, 3):
        s.set_secret(f"redis-{n}", {"password": E.password(f"redis{n}", add="\t")})
    s.set_secret("postgres", {"username": "postgres_exporter", "password": E.password("pg", drop=" ")})
    s.set_secret("sql-exporter", {"username": "sql_exporter", "password": E.password("sqlx")})
    s.set_secret("mysql", {"username": "exporter", "password": E.password("mysql", drop="?$")})
    # MongoDB's SCRAM-SHA-256 SASLprep (RFC 4013) of the password, in the
    # server and in every driver, refuses a tab (a control character), 😀
    # (unassigned in Unicode 3.2) and ℵ (NFKC makes it a Hebrew letter, and
    # right-to-left letters may not mix with the rest): a MongoDB password
    # cannot hold them, whoever delivers it.
    s.set_secret("mongodb", {"username": "monitor@ops:a/b c", "password": E.password("mongo", drop=MONGO_DROP)})
    s.load_policies()

    # Redis: started through vaultexec with the stack's own redis-N services
    # (docker-compose.yml): vaultexec renders redis.conf with the password
    # from OpenBao; only the port, bind address and data dir are added here.
    s.hosts["openbao:8200"] = bao.addr.split("//", 1)[1]
    for n in (1, 2, 3):
        port = E.free_port()
        d = world.root / f"redis-{n}"
        d.mkdir()
        proc, spec = s.start(
            STACK, f"redis-{n}",
            extra_args=["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--dir", str(d), "--protected-mode", "yes"],
        )
        E.wait_for(lambda: E.port_open(port) or not proc.alive(), 20, f"redis-{n}")
        assert proc.alive(), s.describe(proc)
        s.check_rendered_file(spec.tmpfs["/run/redis"] / "redis.conf", "requirepass")
        s.hosts[f"redis-{n}:6379"] = f"127.0.0.1:{port}"

    pg = E.Postgres(world.procs, world.root / "postgres").start()
    pg.set_login("postgres_exporter", s.secrets["postgres"]["password"])
    pg.set_login("sql_exporter", s.secrets["sql-exporter"]["password"])
    s.hosts["postgres:5432"] = f"127.0.0.1:{pg.port}"
    s.pg = pg

    my = E.MariaDB(world.procs, world.root / "mariadb").start()
    my.set_login("exporter", s.secrets["mysql"]["password"])
    s.hosts["mysql:3306"] = f"127.0.0.1:{my.port}"
    s.my = my

    fdb = E.FerretDB(world.procs, world.root / "ferretdb").start(
        s.secrets["mongodb"]["username"], s.secrets["mongodb"]["password"])
    s.hosts["mongodb:27017"] = f"127.0.0.1:{fdb.port}"
    world.note(f"OpenBao: {E.run([E.bao_bin(), 'version']).stdout.decode().strip()}")
    world.note(f"MongoDB: FerretDB {version_of(str(E.cached_build('ferretdb'))).split()[-1]} (SQLite, SCRAM); "
               f"exporter: Percona's mongodb_exporter {mongodb_exporter_version()} (Go module proxy)")
    world.note(f"mysqld_exporter: Debian {debian_version('prometheus-mysqld-exporter')}; "
               f"current: {version_of(CURRENT_MYSQLD)}")
    for pkg in ("prometheus-redis-exporter", "prometheus-postgres-exporter", "prometheus-sql-exporter",
                "prometheus", "redis-server", "postgresql-15", "mariadb-server"):
        world.note(f"{pkg}: {debian_version(pkg)} (Debian)")
    yield s


def test_redis_servers_got_their_password_from_openbao(stack):
    """The passwords exist only in OpenBao: the servers got them from the
    rendered redis.conf; a wrong one is refused, the right one works."""
    for n in (1, 2, 3):
        host, port = stack.hosts[f"redis-{n}:6379"].split(":")
        cp = E.run(["redis-cli", "-h", host, "-p", port, "--no-auth-warning", "PING"])
        assert b"NOAUTH" in cp.stdout + cp.stderr, f"redis-{n} accepts commands without a password"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_redis_exporter(stack, n):
    svc = f"redis-exporter-{n}"
    proc, spec = stack.start(REDIS, svc)
    stack.wait_metric(proc, spec.listen_port, "redis_up", 1)
    stack.running[svc] = (proc, spec.listen_port)


def test_postgres_exporter(stack):
    proc, spec = stack.start(POSTGRES, "postgres-exporter")
    stack.wait_metric(proc, spec.listen_port, "pg_up", 1)
    stack.running["postgres-exporter"] = (proc, spec.listen_port)


def test_postgres_exporter_pgpassword_variant(stack):
    proc, spec = stack.start(POSTGRES, "postgres-exporter-pgpassword")
    stack.wait_metric(proc, spec.listen_port, "pg_up", 1)
    proc.stop()


def test_mysqld_exporter_legacy_dsn_with_debian_0_14(stack):
    """mysqld_exporter 0.14 still reads DATA_SOURCE_NAME."""
    proc, spec = stack.start(MYSQL, "mysqld-exporter-legacy", label="mysqld-exporter-legacy-0.14",
                             mysqld=DEBIAN_MYSQLD)
    stack.wait_metric(proc, spec.listen_port, "mysql_up", 1)
    proc.stop()


def test_current_mysqld_exporter_reproduces_the_seed_failure(stack):
    """The seed's way (DATA_SOURCE_NAME alone) with a current mysqld_exporter:
    it ignores the variable and exits."""
    proc, spec, rc = stack.run_until_exit(MYSQL, "mysqld-exporter-legacy", label="mysqld-exporter-legacy-current",
                                          mysqld=CURRENT_MYSQLD)
    assert rc != 0, stack.describe(proc)
    assert "no user specified in section or parent" in proc.output(), stack.describe(proc)


def test_mysqld_exporter_with_rendered_my_cnf(stack):
    proc, spec = stack.start(MYSQL, "mysqld-exporter")
    stack.wait_metric(proc, spec.listen_port, "mysql_up", 1)
    stack.check_rendered_file(spec.tmpfs["/run/mysqld_exporter"] / ".my.cnf", stack.secrets["mysql"]["password"])
    assert str(spec.tmpfs["/run/mysqld_exporter"]).startswith("/dev/shm/"), "the .my.cnf must be on a tmpfs"
    stack.running["mysqld-exporter"] = (proc, spec.listen_port)


def test_mysqld_exporter_with_username_flag_and_env_password(stack):
    proc, spec = stack.start(MYSQL, "mysqld-exporter-env")
    stack.wait_metric(proc, spec.listen_port, "mysql_up", 1)
    proc.stop()


def test_sql_exporter(stack):
    proc, spec = stack.start(SQLX, "sql-exporter")
    text = stack.wait_metric(proc, spec.listen_port, "sql_postgres_up", 1)
    failed = E.samples(text, "sql_exporter_last_scrape_failed")
    assert failed and all(v == 0 for _, v in failed), f"sql_exporter reports failed queries: {failed}"
    stack.running["sql-exporter"] = (proc, spec.listen_port)


def test_mongodb_exporter(stack):
    """Percona's mongodb_exporter logs in to FerretDB with SCRAM through the
    MONGODB_URI vaultexec composed (both parts URL-encoded)."""
    proc, spec = stack.start(MONGODB, "mongodb-exporter")
    stack.wait_metric(proc, spec.listen_port, "mongodb_up", 1)
    stack.running["mongodb-exporter"] = (proc, spec.listen_port)


def test_mongodb_uri(stack):
    """The exporter replaced by a recorder: the MONGODB_URI vaultexec
    composed is compared with the URI built here, and parsed back to the
    username and password."""
    rec = stack.root / "mongodb-record.json"
    proc, spec, rc = stack.run_until_exit(
        MONGODB, "mongodb-exporter", extra_env={"RECORD_TO": str(rec), "RECORD_VARS": "MONGODB_URI"},
        mongodb=RECORDER,
    )
    assert rc == 0, stack.describe(proc)
    try:
        got = json.loads(rec.read_text())
    finally:
        rec.unlink(missing_ok=True)
    sec = stack.secrets["mongodb"]
    q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
    want = f"mongodb://{q(sec['username'])}:{q(sec['password'])}@{stack.hosts['mongodb:27017']}/admin"
    uri = got["env"]["MONGODB_URI"]
    assert uri == want, "MONGODB_URI differs from the expected URL-encoded URI: " + stack.world.leaks.scrub(
        f"got {uri!r}, want {want!r}"
    )
    u = urllib.parse.urlsplit(uri)
    assert urllib.parse.unquote(u.username) == sec["username"]
    assert urllib.parse.unquote(u.password) == sec["password"]
    assert got["argv"][1:] == [f"--web.listen-address=127.0.0.1:{spec.listen_port}"]


class KubeContainer(E.Compose):
    """The exporter container of examples/kubernetes/postgres-exporter.yaml
    as a compose-like service (command -> entrypoint, args -> command)."""

    def __init__(self):
        self.dir = E.EXAMPLES / "kubernetes"
        self.path = self.dir / "postgres-exporter.yaml"
        self.docs = [d for d in yaml.safe_load_all(self.path.read_text()) if d]
        dep = next(d for d in self.docs if d["kind"] == "Deployment")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        self.sa = next(d for d in self.docs if d["kind"] == "ServiceAccount")["metadata"]
        self.container = c
        self.services = {"postgres-exporter-k8s": {
            "entrypoint": c["command"], "command": c["args"],
            # VAULT_CACERT names the cluster's CA: the test's OpenBao is plain HTTP.
            "environment": {e["name"]: e["value"] for e in c.get("env", []) if e["name"] != "VAULT_CACERT"},
        }}


def test_kubernetes_pod_command_with_kubernetes_auth(stack, world, tmp_path):
    """The pod's exporter command, run as is (plus --jwt-file: no kubelet
    here), logging in to OpenBao's kubernetes auth method with a service
    account token that a stand-in for the Kubernetes TokenReview API vouches
    for.  The role is bound to the manifest's service account and grants the
    example's postgres-exporter policy."""
    import sys

    sys.path.insert(0, str(E.REPO / "tests" / "integration"))
    import auth_helpers as ah  # TokenReviewServer, unsigned_sa_jwt

    kube = KubeContainer()
    cmd = kube.container["command"]
    role = next(a.split("=", 1)[1] for a in cmd if a.startswith("--role="))
    assert "--auth=kubernetes" in cmd
    ns, sa = kube.sa["namespace"], kube.sa["name"]
    reviewer = "reviewer-" + E.secrets.token_hex(8)
    trs = ah.TokenReviewServer(reviewer)
    try:
        ca = tmp_path / "ca.pem"
        cp = E.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / "ca.key",
                    "-out", ca, "-subj", "/CN=k8s-ca", "-days", "1"])
        assert cp.returncode == 0, cp.stderr.decode()
        stack.bao.api("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
        stack.bao.api("POST", "auth/kubernetes/config", {
            "kubernetes_host": trs.url, "kubernetes_ca_cert": ca.read_text(),
            "disable_local_ca_jwt": True, "token_reviewer_jwt": reviewer,
        })
        stack.bao.api("POST", f"auth/kubernetes/role/{role}", {
            "bound_service_account_names": [sa], "bound_service_account_namespaces": [ns],
            "token_policies": ["postgres-exporter"], "token_ttl": "10m",
        })
        uid = "uid-" + E.secrets.token_hex(6)
        jwt = ah.unsigned_sa_jwt(ns, sa, uid)
        trs.accept(jwt, ns, sa, uid)
        world.leaks.register("kubernetes service account token", jwt)
        jfile = tmp_path / "token"
        jfile.write_text(jwt)
        spec = kube.run_spec(
            "postgres-exporter-k8s", hosts=stack.hosts,
            binaries={**stack.binaries(), "/vaultexec-bin/vaultexec": E.vaultexec_bin()},
            tokens_dir=stack.tokens, tmp=world.shm, vault_addr=stack.bao.addr,
        )
        argv = [spec.argv[0], f"--jwt-file={jfile}", *spec.argv[1:]]
        proc = world.procs.start("postgres-exporter-k8s", argv, env=E.minimal_env(HOME=str(stack.home), **spec.env))
        stack.wait_metric(proc, spec.listen_port, "pg_up", 1)
        proc.stop()
        assert any(r["spec"].get("token") == jwt for r in trs.reviews), "OpenBao never asked the TokenReview API"
    finally:
        trs.close()


def test_prometheus_scrapes_every_exporter(stack, world):
    """A real Prometheus with the stack's scrape config (targets pointed at
    the local ports)."""
    cfg = yaml.safe_load(STACK.doc["configs"]["prometheus"]["content"])
    cfg["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    # Percona's mongodb_exporter gives its MongoDB connection Prometheus's
    # scrape timeout minus --web.timeout-offset (1 s): at 1 s nothing is left.
    for job in cfg["scrape_configs"]:
        if job["job_name"] == "mongodb":
            job.update(scrape_interval="3s", scrape_timeout="3s")
    targets = {}
    for job in cfg["scrape_configs"]:
        for sc in job["static_configs"]:
            local = []
            for t in sc["targets"]:
                svc = t.split(":")[0]
                if svc in stack.running:
                    local.append(f"127.0.0.1:{stack.running[svc][1]}")
                    targets[local[-1]] = (job["job_name"], svc)
                else:
                    raise AssertionError(f"the stack scrapes {t}, which the suite did not start")
            sc["targets"] = local
    d = stack.root / "prometheus"
    d.mkdir()
    (d / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = E.free_port()
    prom = world.procs.start(
        "prometheus",
        [E.DEBIAN_BIN["prometheus"], f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
    )
    last = {}

    def all_up():
        if not prom.alive():
            raise AssertionError("prometheus exited\n" + stack.describe(prom))
        st, raw = E.http("GET", f"http://127.0.0.1:{port}/api/v1/query?query=up")
        if st != 200:
            return False
        res = json.loads(raw)["data"]["result"]
        last["up"] = {r["metric"]["instance"]: r["value"][1] for r in res}
        return set(last["up"]) == set(targets) and all(v == "1" for v in last["up"].values())

    E.wait_for(all_up, 45, "up == 1 on every target", interval=0.5)
    for q, want in (("redis_up", 3), ("pg_up", 1), ("mysql_up", 1), ("sql_postgres_up", 1), ("mongodb_up", 1)):
        st, raw = E.http("GET", f"http://127.0.0.1:{port}/api/v1/query?query={q}")
        res = json.loads(raw)["data"]["result"]
        assert len(res) == want and all(r["value"][1] == "1" for r in res), f"{q}: {res}"
    world.note(f"Prometheus saw up == 1 on {len(targets)} targets: "
               + ", ".join(sorted(f"{j}/{s}" for j, s in targets.values())))


@pytest.mark.parametrize(
    "compose,service,secret,metric,want",
    [
        (REDIS, "redis-exporter-1", "redis-1", "redis_up", 0),
        (POSTGRES, "postgres-exporter", "postgres", "pg_up", 0),
        (MYSQL, "mysqld-exporter", "mysql", "mysql_up", 0),
        (SQLX, "sql-exporter", "sql-exporter", "sql_exporter_last_scrape_failed", 1),
        (MONGODB, "mongodb-exporter", "mongodb", "mongodb_up", 0),
    ],
    ids=["redis", "postgres", "mysql", "sql_exporter", "mongodb"],
)
def test_wrong_password_in_openbao_reports_database_down(stack, compose, service, secret, metric, want):
    """vaultexec did its job (the exporter runs, with what OpenBao holds);
    the database refuses the login, and the exporter says so."""
    wrong = dict(stack.secrets[secret], password=E.password("wrong", drop=" ?$" + (MONGO_DROP if secret == "mongodb" else "")))
    stack.put(secret, wrong)
    try:
        proc, spec = stack.start(compose, service, label=f"{service}-wrong-password")
        stack.wait_metric(proc, spec.listen_port, metric, want)
        proc.stop()
    finally:
        stack.restore(secret)


def test_postgres_password_with_space(stack, world):
    """postgres_exporter cannot take a password with a space inside its DSN,
    however it is encoded: parseFingerprint splits the DSN at spaces, exits,
    and prints the DSN with the password in the error.  The
    postgres-exporter-pgpassword variant keeps the password out of the DSN
    (lib/pq reads PGPASSWORD) and works."""
    pw = E.password("pg-space")  # all the hostile characters, space included
    stack.world.leaks.register("postgres.password (with space)", pw)
    stack.pg.set_login("postgres_exporter", pw)
    stack.put("postgres", dict(stack.secrets["postgres"], password=pw))
    try:
        proc, spec, rc = stack.run_until_exit(POSTGRES, "postgres-exporter", label="postgres-exporter-space")
        out = proc.output()
        assert rc != 0 and "malformed dsn" in out, stack.describe(proc)
        leaked = bool(stack.world.leaks.find(out.encode()))
        # The exporter's own log is the upstream leak; keep only a scrubbed copy.
        proc.log.write_text(stack.world.leaks.scrub(out))
        world.note("postgres_exporter 0.11 with a space in the password: exits with 'malformed dsn'"
                   + (" and prints the password in that error" if leaked else ""))

        proc, spec = stack.start(POSTGRES, "postgres-exporter-pgpassword", label="postgres-exporter-pgpassword-space")
        stack.wait_metric(proc, spec.listen_port, "pg_up", 1)
        proc.stop()
    finally:
        stack.pg.set_login("postgres_exporter", stack.secrets["postgres"]["password"])
        stack.restore("postgres")


@pytest.mark.parametrize(
    "char,expect",
    [
        # variant: (service, mysqld_exporter binary) -> mysql_up
        ("?", {"mysqld-exporter": 1, "mysqld-exporter-env": 0, "mysqld-exporter-legacy": 1}),
        ("$", {"mysqld-exporter": 0, "mysqld-exporter-env": 1, "mysqld-exporter-legacy": 1}),
    ],
    ids=["question-mark", "dollar"],
)
def test_mysql_password_pitfalls(stack, world, char, expect):
    """Two characters mysqld_exporter itself mishandles, whatever feeds it:
    "?" (it appends "?lock_wait_timeout=..." to a DSN unless it already
    holds a "?", and the password's own "?" fools that test) and "$" (0.15+
    expand $NAME in .my.cnf values).  Pins which variant of
    examples/mysql/compose.yml survives which (README.md there has the
    table).  legacy runs with Debian's 0.14, the others with the current one."""
    pw = E.password("mysql-" + ("q" if char == "?" else "d"), drop="?$", add={"?": "a?b", "$": "a$xb$HOME"}[char])
    stack.world.leaks.register(f"mysql.password (with {char})", pw)
    stack.my.set_login("exporter", pw)
    stack.put("mysql", dict(stack.secrets["mysql"], password=pw))
    got = {}
    try:
        for svc in expect:
            binary = DEBIAN_MYSQLD if svc.endswith("legacy") else CURRENT_MYSQLD
            proc, spec = stack.start(MYSQL, svc, label=f"{svc}-pitfall", mysqld=binary)
            try:
                stack.wait_metric(proc, spec.listen_port, "mysql_up", expect[svc], timeout=15)
                got[svc] = expect[svc]
            except AssertionError:
                got[svc] = E.metric(E.scrape(spec.listen_port), "mysql_up") if E.port_open(spec.listen_port) else None
            finally:
                proc.stop()
    finally:
        stack.my.set_login("exporter", stack.secrets["mysql"]["password"])
        stack.restore("mysql")
    assert got == expect, f"password with {char!r}: mysql_up by variant {got}, expected {expect}"
    world.note(f"mysql password with {char!r}: mysql_up by variant {got}")


def test_tokens_are_least_privilege(stack):
    """Each example policy reads its one secret and nothing else; vaultexec
    with another exporter's token is refused (exit 77)."""
    names = sorted(stack.secrets)
    for hcl in sorted(E.EXAMPLES.glob("*/policies/*.hcl")):
        token = (stack.tokens / f"{hcl.stem}.token").read_text().strip()
        readable = []
        for n in names:
            st, _ = E.http("GET", f"{stack.bao.addr}/v1/secret/data/{n}", headers={"X-Vault-Token": token})
            if st == 200:
                readable.append(n)
            else:
                assert st == 403, f"{hcl.stem} reading {n}: HTTP {st}"
        assert len(readable) == 1, f"policy {hcl.stem} reads {readable}"
        st, _ = E.http("POST", f"{stack.bao.addr}/v1/secret/data/{readable[0]}", {"data": {"x": "y"}},
                       headers={"X-Vault-Token": token})
        assert st == 403, f"policy {hcl.stem} may write its secret (HTTP {st})"
    # The redis-exporter-1 service, given redis-exporter-2's token file:
    spec = stack.spec(REDIS, "redis-exporter-1")
    argv = [a.replace("redis-exporter-1.token", "redis-exporter-2.token") for a in spec.argv]
    cp = E.run(argv, env=E.minimal_env(**spec.env), timeout=30)
    assert cp.returncode == 77, f"exit {cp.returncode}: {stack.world.leaks.scrub(cp.stderr.decode())}"


def all_example_services():
    for c in (REDIS, POSTGRES, MYSQL, MONGODB, SQLX):
        for name in c.services:
            yield c, name


def test_missing_secret_exits_65_before_the_exporter_starts(stack):
    """Every example exporter service, with its secret gone from OpenBao:
    vaultexec exits 65 and the exporter never runs (nothing but vaultexec's
    own lines in the output, its port never opened, the recorder never
    called)."""
    for name in list(stack.secrets):
        stack.bao.kv_destroy(name)
    rec = stack.root / "mongodb-missing.json"
    failures = []
    for compose, svc in all_example_services():
        proc, spec, rc = stack.run_until_exit(
            compose, svc, label=f"{svc}-missing-secret", mysqld=DEBIAN_MYSQLD if svc.endswith("legacy") else CURRENT_MYSQLD,
            extra_env={"RECORD_TO": str(rec), "RECORD_VARS": "MONGODB_URI"}, mongodb=RECORDER,
        )
        lines = [l for l in proc.output().splitlines() if l.strip()]
        foreign = [l for l in lines if not re.match(r"\S+Z vaultexec: ", l)]
        if rc != 65 or foreign or not lines or (spec.listen_port and E.port_open(spec.listen_port)) or rec.exists():
            failures.append(stack.describe(proc))
    assert not failures, "\n\n".join(failures)

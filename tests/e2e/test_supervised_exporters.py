"""--supervise end to end (GitHub issue 12), against real servers:

* PostgreSQL with OpenBao's database engine, a role of 4 s TTL and 12 s max
  TTL: postgres_exporter runs under --supervise for 40 s while this module
  scrapes /metrics and a real Prometheus scrapes it too; at least three
  rotations (distinct database users), pg_up 1 on at least 95% of the
  scrapes after the first, the replaced users dropped, and --revoke-on-exit
  leaves no lease and no user.
* KV v2: the Redis password changes in OpenBao and in Redis; the exporter
  is restarted within --poll + --debounce and redis_up returns to 1.
* MariaDB with mysqld_exporter: dynamic credentials rendered into .my.cnf
  with --file, reloaded through --reload-url /-/reload (no restart), and
  mysql_up stays 1 across rotations.

Every dynamic password is read from the exporter's environment or file and
registered with the leak scanner (test_zz_leaks.py).  The figures go to
the suite's notes."""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

import e2elib as E


def try_metric(port: int, name: str):
    try:
        return E.metric(E.scrape(port), name)
    except Exception:
        return None


class Prometheus:
    def __init__(self, world, name: str, target_port: int):
        self.dir = world.root / f"prometheus-{name}"
        self.dir.mkdir()
        cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
               "scrape_configs": [{"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}]}
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        self.port = E.free_port()
        self.proc = world.procs.start(
            f"prometheus-{name}",
            [E.DEBIAN_BIN["prometheus"], f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"])
        E.wait_for(lambda: E.port_open(self.port), 30, "prometheus")

    def query(self, q: str):
        st, raw = E.http("GET", f"http://127.0.0.1:{self.port}/api/v1/query?query={urllib.parse.quote(q)}")
        assert st == 200, raw[:300]
        return json.loads(raw)["data"]["result"]

    def stop(self):
        self.proc.stop()


class Sv:
    """Servers and an OpenBao setup shared by the module's tests."""

    def __init__(self, world):
        self.world = world
        self.bao = world.bao
        self.root = world.root / "supervise"
        self.root.mkdir()
        self.tokens = self.root / "tokens"
        self.tokens.mkdir(mode=0o700)
        b = self.bao
        b.api("POST", "sys/mounts/db-sv", {"type": "database"})
        b.policy("supervise", 'path "db-sv/creds/*" { capabilities = ["read"] }\n'
                              'path "secret/data/redis-sv" { capabilities = ["read"] }\n'
                              'path "sys/leases/renew" { capabilities = ["update"] }\n'
                              'path "sys/leases/revoke" { capabilities = ["update"] }\n'
                              'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }\n')

    def token_file(self, name: str) -> Path:
        # With the default policy: lookup-self and renew-self for the supervisor.
        tok = self.bao.create_token(["supervise"], ttl="10m")
        self.world.leaks.register(f"token {name}", tok)
        p = self.tokens / f"{name}.token"
        self.world.allowed_files.add(p)  # the token's own file, like the stack's
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(tok + "\n")
        return p

    def leases(self, role: str) -> list[str]:
        st, raw = E.http("LIST", f"{self.bao.addr}/v1/sys/leases/lookup/db-sv/creds/{role}/",
                         headers={"X-Vault-Token": self.bao.token})
        if st == 404:
            return []
        assert st == 200, (st, raw[:200])
        return json.loads(raw)["data"]["keys"]

    def start(self, name: str, args: list, token: Path) -> E.Proc:
        argv = [E.vaultexec_bin(), f"--addr={self.bao.addr}", "--wait=20s", f"--token-file={token}",
                "--supervise", *args]
        return self.world.procs.start(name, argv, env=E.minimal_env(HOME=str(self.root)))


@pytest.fixture(scope="module")
def sv(world):
    return Sv(world)


def test_postgres_exporter_on_rotating_credentials(sv, world):
    pg = E.Postgres(world.procs, world.root / "pg-sv").start()
    pg.vault_engine(sv.bao, world.leaks, "db-sv", "pg", "pg", "4s", "12s", "pg-sv-admin")
    roles = pg.dynamic_roles

    mport = E.free_port()
    proc = sv.start("pg-exporter-supervised", [
        "--revoke-on-exit",
        "--env", f"DATA_SOURCE_NAME=postgresql://{{{{ db-sv/creds/pg#username }}}}:"
                 f"{{{{ db-sv/creds/pg#password | urlencode }}}}@127.0.0.1:{pg.port}/postgres?sslmode=disable",
        "--", E.DEBIAN_BIN["postgres_exporter"], f"--web.listen-address=127.0.0.1:{mport}"],
        sv.token_file("pg"))
    prom = Prometheus(world, "pg-supervised", mport)
    users, scrapes = [], []
    try:
        E.wait_for(lambda: try_metric(mport, "pg_up") == 1.0, 30, "pg_up 1")
        t_end = time.monotonic() + 40
        while time.monotonic() < t_end:
            assert proc.alive(), world.leaks.scrub(proc.output()[-3000:])
            for c in E.children(proc.pid):
                dsn = E.environ_of(c).get("DATA_SOURCE_NAME", "")
                m = re.match(r"postgresql://([^:]+):([^@]+)@", dsn)
                if m:
                    world.leaks.register("rotated password", urllib.parse.unquote(m.group(2)))
                    if not users or users[-1] != m.group(1):
                        users.append(m.group(1))
            scrapes.append(try_metric(mport, "pg_up"))
            time.sleep(0.5)
        ok = sum(1 for v in scrapes[1:] if v == 1.0)
        ratio = ok / max(1, len(scrapes) - 1)
        # Prometheus' own view of the same 40 s.
        samples = prom.query("count_over_time(pg_up[45s])")
        ones = prom.query("sum_over_time(pg_up[45s])")
        ups = prom.query("count_over_time(up[45s])"), prom.query("sum_over_time(up[45s])")
        p_ratio = float(ones[0]["value"][1]) / float(samples[0]["value"][1]) if samples else 0.0
        up_ratio = float(ups[1][0]["value"][1]) / float(ups[0][0]["value"][1]) if ups[0] else 0.0
        world.note(f"supervise/postgres: {len(users) - 1} rotations in 40 s ({len(set(users))} users), "
                   f"pg_up 1 on {ok}/{len(scrapes) - 1} scrapes after the first ({ratio:.1%}); "
                   f"Prometheus: pg_up {p_ratio:.1%} of {samples[0]['value'][1] if samples else 0} samples, "
                   f"up {up_ratio:.1%}")
        assert len(set(users)) >= 4, f"only {len(set(users))} distinct users: {users}"
        assert ratio >= 0.95, f"pg_up 1 on {ok} of {len(scrapes) - 1} scrapes: {scrapes}"
        assert p_ratio >= 0.95, (samples, ones)
        # The replaced users are gone; only the current one is left.
        E.wait_for(lambda: roles() == [users[-1]], 15, f"only {users[-1]} left in PostgreSQL")
        assert len(sv.leases("pg")) == 1
    finally:
        prom.stop()
        proc.popen.send_signal(signal.SIGTERM)
        proc.wait(20)
    log = world.leaks.scrub(proc.output())
    assert "revoking 1 lease: --revoke-on-exit" in log, log[-2000:]
    E.wait_for(lambda: sv.leases("pg") == [] and roles() == [], 20, "no lease and no user left")
    for line in log.splitlines():
        assert "password" not in line.lower() or "urlencode" in line, line


def test_redis_password_change_restarts_the_exporter(sv, world):
    port, mport = E.free_port(), E.free_port()
    pw1, pw2 = E.password("redis-sv-1"), E.password("redis-sv-2")
    world.leaks.register("redis-sv-1", pw1)
    world.leaks.register("redis-sv-2", pw2)
    conf = f"port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\nrequirepass {E.redis_conf_escape(pw1)}\n"
    world.procs.start("redis-sv", ["redis-server", "-"], stdin_data=conf.encode())
    E.wait_for(lambda: E.port_open(port), 20, "redis")
    sv.bao.kv_put("redis-sv", {"password": pw1})
    proc = sv.start("redis-exporter-supervised", [
        "--poll", "1s", "--debounce", "1s", "--map", "secret/redis-sv#password=REDIS_PASSWORD", "--",
        E.DEBIAN_BIN["redis_exporter"], f"--redis.addr=redis://127.0.0.1:{port}",
        f"--web.listen-address=127.0.0.1:{mport}"], sv.token_file("redis"))
    try:
        E.wait_for(lambda: try_metric(mport, "redis_up") == 1.0, 30, "redis_up 1")
        first = E.children(proc.pid)
        # The password changes in OpenBao and in Redis (as a rotation job would).
        # Passwords on stdin and in the environment, never in an argv.
        cp = E.run(["redis-cli", "-p", str(port)],
                   input=f"CONFIG SET requirepass {E.redis_conf_escape(pw2)}\n".encode(),
                   env=E.minimal_env(REDISCLI_AUTH=pw1))
        assert cp.returncode == 0 and b"OK" in cp.stdout, cp.stderr[-300:]
        t0 = time.monotonic()
        sv.bao.kv_put("redis-sv", {"password": pw2})
        E.wait_for(lambda: E.children(proc.pid) and E.children(proc.pid) != first
                   and try_metric(mport, "redis_up") == 1.0, 15, "redis_up 1 after the change")
        took = time.monotonic() - t0
        world.note(f"supervise/redis: exporter restarted with the new password, redis_up 1 again after "
                   f"{took:.1f} s (--poll 1s --debounce 1s)")
        assert took <= 1 + 1 + 4, took
    finally:
        proc.popen.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code in (0, 143, 130, 2), code  # the exporter's own exit code on SIGTERM
    log = world.leaks.scrub(proc.output())
    assert "restarting" in log and "REDIS_PASSWORD changed" in log, log[-2000:]


def test_mysqld_exporter_reloaded_through_reload_url(sv, world):
    db = E.MariaDB(world.procs, world.root / "mariadb-sv").start()
    admin_pw = E.password("mariadb-sv-admin", drop="'\\{}")
    world.leaks.register("mariadb-sv-admin", admin_pw)
    q = admin_pw.replace("\\", "\\\\").replace("'", "\\'")
    cp = db.sql(f"CREATE USER 'vaultadmin'@'127.0.0.1' IDENTIFIED BY '{q}';\n"
                "GRANT ALL PRIVILEGES ON *.* TO 'vaultadmin'@'127.0.0.1' WITH GRANT OPTION;\n")
    assert cp.returncode == 0, cp.stderr.decode()[-500:]
    sv.bao.api("POST", "db-sv/config/mariadb", {
        "plugin_name": "mysql-database-plugin",
        "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{db.port})/",
        "username": "vaultadmin", "password": admin_pw, "allowed_roles": ["mysql"],
    })
    sv.bao.api("POST", "db-sv/roles/mysql", {
        "db_name": "mariadb", "default_ttl": "4s", "max_ttl": "12s",
        "creation_statements": [
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
            "GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO '{{name}}'@'%';",
        ],
    })
    mport = E.free_port()
    cnf = world.shm / f"sv-my-{secrets.token_hex(3)}.cnf"
    world.allowed_files.add(cnf)
    proc = sv.start("mysqld-exporter-supervised", [
        "--revoke-on-exit", "--reload-url", f"http://127.0.0.1:{mport}/-/reload",
        "--file", f"{cnf}=[client]\nuser={{{{ db-sv/creds/mysql#username }}}}\n"
                  f"password={{{{ db-sv/creds/mysql#password }}}}\nhost=127.0.0.1\nport={db.port}\n",
        "--", str(E.CURRENT_MYSQLD_EXPORTER), f"--config.my-cnf={cnf}",
        f"--web.listen-address=127.0.0.1:{mport}"], sv.token_file("mysql"))
    users, scrapes = [], []
    try:
        E.wait_for(lambda: try_metric(mport, "mysql_up") == 1.0, 30, "mysql_up 1")
        exporter = E.children(proc.pid)
        t_end = time.monotonic() + 35
        while time.monotonic() < t_end:
            assert proc.alive(), world.leaks.scrub(proc.output()[-3000:])
            try:
                text = cnf.read_text()
            except OSError:
                text = ""
            m = re.search(r"^user=(.*)$", text, re.M)
            p = re.search(r"^password=(.*)$", text, re.M)
            if p:
                world.leaks.register("rotated mysql password", p.group(1))
            if m and (not users or users[-1] != m.group(1)):
                users.append(m.group(1))
            scrapes.append(try_metric(mport, "mysql_up"))
            time.sleep(0.5)
        ok = sum(1 for v in scrapes[1:] if v == 1.0)
        world.note(f"supervise/mariadb: {len(users) - 1} rotations in 35 s through --reload-url, "
                   f"mysql_up 1 on {ok}/{len(scrapes) - 1} scrapes after the first; exporter pid unchanged: "
                   f"{E.children(proc.pid) == exporter}")
        assert len(set(users)) >= 3, users
        assert E.children(proc.pid) == exporter, "the exporter was restarted, not reloaded"
        assert ok >= 0.95 * (len(scrapes) - 1), scrapes
    finally:
        proc.popen.send_signal(signal.SIGTERM)
        proc.wait(20)
    log = world.leaks.scrub(proc.output())
    assert "--reload-url answered HTTP 200" in log, log[-2000:]
    E.wait_for(lambda: sv.leases("mysql") == [], 20, "no lease left")

"""--supervise through chaos (issue 19, item 6), against a real OpenBao with
raft storage (sealable, restartable) and a real PostgreSQL.

Two supervised postgres_exporters log in with AppRole and keep running for
the whole module: one on dynamic credentials (db/creds/dyn, TTL 4 s, max
TTL 12 s: a rotation about every 10 s), one on a static role
(db/static-creds/st, read every --poll 1s).  A sampler logs in to
PostgreSQL twice a second with the credentials each exporter has in its
environment right now: the command is "served" when they work.  Each case
breaks something, restores it, and checks that both are served again
within one rotation (12 s) of the restore, by the same vaultexec process
(no restart of the supervisor):

  * PostgreSQL restarted;
  * the dynamic lease revoked out of band (sys/leases/revoke-prefix);
  * the static role's password rotated (database/rotate-role);
  * OpenBao sealed, then unsealed;
  * OpenBao restarted (and unsealed);
  * the login token revoked out of band (revoke-prefix auth/approle/login,
    which takes its leases with it).

At the end there is one live lease and one dynamic user; SIGTERM leaves
none (--revoke-on-exit).  The figures go to the suite's notes."""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

import e2elib as E

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from vxlib import BaoFileServer  # noqa: E402

ROTATION_S = 12  # the dynamic role's max TTL: the longest a credential lives


class Chaos:
    def __init__(self, world):
        self.world = world
        self.root = world.root / "chaos"
        self.root.mkdir()
        self.bao = BaoFileServer(self.root / "openbao", E.free_port(pair=True))
        self.bao.start()
        world.leaks.register("chaos root token", self.bao.initialize())
        b = self.bao
        self.pg = E.Postgres(world.procs, self.root / "pg").start()
        b.api("POST", "sys/mounts/db", {"type": "database"})
        self.pg.vault_engine(b, world.leaks, "db", "pg", "dyn", "4s", f"{ROTATION_S}s", "chaos-admin",
                             more_roles=("st",))
        static_pw = E.password("chaos-static", drop="'\\{}")
        world.leaks.register("chaos static initial", static_pw)
        self.pg.set_login("chaos_static", static_pw)
        b.api("POST", "db/static-roles/st", {"db_name": "pg", "username": "chaos_static",
                                             "rotation_period": "1h"})
        b.put_policy("chaos", 'path "db/creds/dyn" { capabilities = ["read"] }\n'
                              'path "db/static-creds/st" { capabilities = ["read"] }\n'
                              'path "sys/leases/renew" { capabilities = ["update"] }\n'
                              'path "sys/leases/revoke" { capabilities = ["update"] }\n'
                              'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }\n')
        b.api("POST", "sys/auth/approle", {"type": "approle"})
        b.api("POST", "auth/approle/role/chaos", {"token_policies": ["chaos"], "token_ttl": "1m",
                                                  "token_max_ttl": "1h"})
        role_id = b.api("GET", "auth/approle/role/chaos/role-id")["data"]["role_id"]
        secret_id = b.api("POST", "auth/approle/role/chaos/secret-id")["data"]["secret_id"]
        world.leaks.register("chaos secret id", secret_id)
        self.creds = self.root / "creds"
        self.creds.mkdir(mode=0o700)
        (self.creds / "role-id").write_text(role_id + "\n")
        sid = self.creds / "secret-id"
        world.allowed_files.add(sid)
        fd = os.open(sid, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret_id + "\n")
        self.samples: list[tuple[float, bool, bool]] = []
        self._stop = threading.Event()
        self.dyn = self.supervise("dyn", "db/creds/dyn", ["--revoke-on-exit"])
        self.st = self.supervise("st", "db/static-creds/st", ["--poll", "1s", "--debounce", "1s"])
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def supervise(self, tag: str, path: str, opts: list):
        mport = E.free_port()
        argv = [E.vaultexec_bin(), f"--addr={self.bao.addr}", "--wait=20s", "--auth=approle",
                f"--role-id-file={self.creds / 'role-id'}", f"--secret-id-file={self.creds / 'secret-id'}",
                "--supervise", *opts,
                "--env", f"DATA_SOURCE_NAME=postgresql://{{{{ {path}#username }}}}:"
                         f"{{{{ {path}#password | urlencode }}}}@127.0.0.1:{self.pg.port}/postgres?sslmode=disable",
                "--", E.DEBIAN_BIN["postgres_exporter"], f"--web.listen-address=127.0.0.1:{mport}"]
        proc = self.world.procs.start(f"chaos-{tag}", argv, env=E.minimal_env(HOME=str(self.root)))
        proc.mport = mport
        return proc

    # --- the sampler ----------------------------------------------------------
    def served(self, proc) -> bool:
        """Whether the credentials the command has now let it log in."""
        kids = E.children(proc.pid)
        dsn = E.environ_of(kids[0]).get("DATA_SOURCE_NAME", "") if kids else ""
        m = re.match(r"postgresql://([^:]+):([^@]+)@", dsn)
        if not m:
            return False
        pw = urllib.parse.unquote(m.group(2))
        self.world.leaks.register("chaos rotated password", pw)
        cp = E.run(["psql", "-X", "-tA", "-h", "127.0.0.1", "-p", self.pg.port, "-U", m.group(1), "-d",
                    "postgres", "-c", "SELECT 1"], timeout=10,
                   env=E.minimal_env(PGPASSWORD=pw, PGCONNECT_TIMEOUT="2"))
        return cp.returncode == 0

    def _sample(self):
        while not self._stop.is_set():
            t = time.monotonic()
            self.samples.append((t, self.served(self.dyn), self.served(self.st)))
            self._stop.wait(max(0.0, 0.5 - (time.monotonic() - t)))

    def recovered_at(self, since: float, which: int, hold: float = 3.0) -> float | None:
        """The first sample time >= SINCE from which WHICH (1 dyn, 2 static)
        stays served for HOLD seconds."""
        s = [x for x in self.samples if x[0] >= since]
        for i, x in enumerate(s):
            if x[which] and all(y[which] for y in s[i:] if y[0] <= x[0] + hold) and s[-1][0] >= x[0] + hold:
                return x[0]
        return None

    def down_seconds(self, t0: float, t1: float, which: int) -> float:
        s = [x for x in self.samples if t0 <= x[0] <= t1]
        return sum(0.5 for x in s if not x[which])

    def stop(self):
        self._stop.set()
        self.sampler.join(10)
        for p in (self.dyn, self.st):
            if p.alive():
                p.popen.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except Exception:
                    p.stop()
        self.bao.stop()


@pytest.fixture(scope="module")
def chaos(world):
    c = Chaos(world)
    try:
        E.wait_for(lambda: c.recovered_at(0, 1) is not None and c.recovered_at(0, 2) is not None, 60,
                   "both exporters served at start")
        yield c
    finally:
        c.stop()


def run_case(chaos, name: str, fault, restore):
    """FAULT, then RESTORE (returns once the fault is over); both commands
    served again within one rotation of the restore, by the same processes."""
    c = chaos
    pids = (c.dyn.pid, c.st.pid)
    t0 = time.monotonic()
    fault()
    restore()
    t1 = time.monotonic()

    def back():
        return c.recovered_at(t1, 1) is not None and c.recovered_at(t1, 2) is not None

    try:
        E.wait_for(back, ROTATION_S + 15, f"{name}: both commands served again")
    finally:
        rec = [c.recovered_at(t1, k) for k in (1, 2)]
        took = ["not yet" if r is None else f"{max(0.0, r - t1):.1f} s" for r in rec]
        c.world.note(f"chaos/{name}: fault and restore took {t1 - t0:.1f} s; served again after {took[0]} "
                     f"(dynamic), {took[1]} (static); not served for {c.down_seconds(t0, time.monotonic(), 1):.1f} s"
                     f" / {c.down_seconds(t0, time.monotonic(), 2):.1f} s of {time.monotonic() - t0:.1f} s")
    assert (c.dyn.pid, c.st.pid) == pids and c.dyn.alive() and c.st.alive(), \
        c.world.leaks.scrub(c.dyn.output()[-3000:] + c.st.output()[-3000:])
    for r in rec:
        assert r - t1 <= ROTATION_S, (name, took)


def test_postgres_restarted(chaos):
    run_case(chaos, "postgres-restarted", lambda: None, lambda: chaos.pg.restart(down_s=3))


def test_lease_revoked_out_of_band(chaos):
    run_case(chaos, "lease-revoked",
             lambda: chaos.bao.api("PUT", "sys/leases/revoke-prefix/db/creds/dyn"), lambda: None)


def test_static_password_rotated(chaos):
    run_case(chaos, "static-role-rotated",
             lambda: chaos.bao.api("POST", "db/rotate-role/st"), lambda: None)


def test_openbao_sealed_then_unsealed(chaos):
    def unseal():
        time.sleep(5)
        chaos.bao.unseal()
        chaos.bao.wait_status({200}, timeout=30)

    run_case(chaos, "openbao-sealed", lambda: chaos.bao.api("PUT", "sys/seal"), unseal)


def test_openbao_restarted(chaos):
    def start():
        time.sleep(5)
        chaos.bao.start()
        chaos.bao.wait_status({503}, timeout=30)
        chaos.bao.unseal()
        chaos.bao.wait_status({200}, timeout=30)

    run_case(chaos, "openbao-restarted", chaos.bao.stop, start)


def test_token_revoked_out_of_band(chaos):
    run_case(chaos, "token-revoked",
             lambda: chaos.bao.api("PUT", "sys/leases/revoke-prefix/auth/approle/login"), lambda: None)


def test_after_the_chaos_one_lease_one_user_and_none_after_sigterm(chaos):
    c = chaos

    def leases():
        st, raw = E.http("LIST", f"{c.bao.addr}/v1/sys/leases/lookup/db/creds/dyn/",
                         headers={"X-Vault-Token": c.bao.token})
        assert st in (200, 404), (st, raw[:200])
        return [] if st == 404 else json.loads(raw)["data"]["keys"]

    E.wait_for(lambda: len(leases()) == 1 and len(c.pg.dynamic_roles()) == 1, ROTATION_S + 5,
               "exactly one live lease and one dynamic user")
    c.dyn.popen.send_signal(signal.SIGTERM)
    c.dyn.wait(20)
    E.wait_for(lambda: leases() == [] and c.pg.dynamic_roles() == [], 20, "no lease and no user after SIGTERM")
    log = c.world.leaks.scrub(c.dyn.output())
    assert "revoked the login token" in log, log[-2000:]

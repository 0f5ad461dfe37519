"""Dynamic database credentials and PKI certificates, end to end: OpenBao's
database engine with the PostgreSQL plugin against a real PostgreSQL this
module starts, and the README's Compose snippets (sections "Database
credentials" and "PKI certificates") run with their flags verbatim.

* The command logs in to PostgreSQL with the mapped user and password (one
  lease); postgres_exporter on dynamic credentials reports pg_up 1; the TLS
  exporter serves /metrics with a certificate issued at start-up, checked
  by curl against the CA.
* --check, a run that fails on a later field and a refused --revoke-token
  leave no lease and no database role behind (both counted before and
  after).
* Every dynamic password and private key is registered with the leak
  scanner (test_zz_leaks.py).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

import pytest
import yaml

import e2elib as E

README = E.REPO / "README.md"


def readme_block(lang: str, marker: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README: want one ```{lang} block with {marker!r}, found {len(found)}"
    return found[0]


def readme_compose(service: str) -> E.Compose:
    """A Compose object over the README's snippet that defines SERVICE."""
    c = E.Compose.__new__(E.Compose)
    c.dir = E.REPO
    c.path = README
    c.doc = yaml.safe_load(readme_block("yaml", f"  {service}:\n"))
    c.services = c.doc["services"]
    return c


class Dyn:
    def __init__(self, world):
        self.world = world
        self.bao = world.bao
        self.root = world.root / "engines"
        self.root.mkdir()
        self.tokens = self.root / "tokens"
        self.tokens.mkdir(mode=0o700)
        self.pg = E.Postgres(world.procs, world.root / "pg-dynamic").start()
        b = self.bao
        b.api("POST", "sys/mounts/database", {"type": "database"})
        self.pg.vault_engine(b, world.leaks, "database", "postgres", "exporter", "1h", "24h", "pg-vaultadmin")
        b.api("POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
        self.ca = b.api("POST", "pki/root/generate/internal",
                        {"common_name": "metrics CA", "ttl": "87600h"})["data"]["certificate"]
        b.api("POST", "pki/roles/exporter", {"allowed_domains": ["postgres-exporter-tls"],
                                             "allow_bare_domains": True, "max_ttl": "72h"})
        b.policy("pg-dynamic", readme_block("hcl", "database/creds/exporter"))
        b.api("POST", "sys/auth/approle-dyn", {"type": "approle"})
        b.api("POST", "auth/approle-dyn/role/exporter", {"token_policies": ["pg-dynamic"], "token_ttl": "10m"})

    def token_file(self, name: str) -> Path:
        p = self.tokens / f"{name}.token"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.bao.token_for("pg-dynamic") + "\n")
        return p

    def leases(self) -> list[str]:
        st, raw = E.http("LIST", f"{self.bao.addr}/v1/sys/leases/lookup/database/creds/exporter/",
                         headers={"X-Vault-Token": self.bao.token})
        if st == 404:
            return []
        assert st == 200, (st, raw[:200])
        return json.loads(raw)["data"]["keys"]

    def roles(self) -> list[str]:
        return self.pg.dynamic_roles()

    def state(self):
        return sorted(self.leases()), self.roles()

    def revoke_all(self):
        self.bao.api("PUT", "sys/leases/revoke-prefix/database/creds/exporter")

    def vaultexec(self, *args, token: Path | None = None, env=None, timeout=60):
        argv = [E.vaultexec_bin(), f"--addr={self.bao.addr}", "--wait=20s",
                *( [f"--token-file={token}"] if token else []), *args]
        return E.run(argv, env=E.minimal_env(**(env or {})), timeout=timeout)


def readme_spec(dyn, world, service: str) -> E.RunSpec:
    """The README snippet's SERVICE made runnable here, its token written."""
    spec = readme_compose(service).run_spec(
        service, hosts={"postgres:5432": f"127.0.0.1:{dyn.pg.port}"},
        binaries={"/opt/vaultexec/vaultexec": E.vaultexec_bin(), "/bin/postgres_exporter": E.DEBIAN_BIN["postgres_exporter"]},
        tokens_dir=dyn.tokens, tmp=world.shm, vault_addr=dyn.bao.addr)
    dyn.token_file(spec.token_name)
    return spec


@pytest.fixture(scope="module")
def dyn(world):
    return Dyn(world)


def test_command_logs_in_with_the_dynamic_user(dyn, world):
    before = dyn.state()
    pwfile = world.shm / f"pgpw-{secrets.token_hex(3)}"
    world.allowed_files.add(pwfile)
    # the shell only saves the password for the leak scanner, then psql logs in with it
    script = f'umask 077; printf %s "$PGPASSWORD" > {pwfile}; exec psql -X -tA -h 127.0.0.1 -p {dyn.pg.port} -d postgres -c "SELECT current_user"'
    cp = dyn.vaultexec("--map=database/creds/exporter#username=PGUSER,database/creds/exporter#password=PGPASSWORD",
                       "--", "/bin/sh", "-c", script, token=dyn.token_file("psql"))
    pw = pwfile.read_text() if pwfile.exists() else ""
    if pw:
        world.leaks.register("dynamic password (psql)", pw)
    err = world.leaks.scrub(cp.stderr.decode())
    assert cp.returncode == 0, err
    user = cp.stdout.decode().strip()
    assert user.startswith("v-") and user in dyn.roles(), (user, err)
    assert re.search(r"1 lease \(database/creds/exporter, 1h, renewable; expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", err), err
    leases, roles = dyn.state()
    assert len(leases) == len(before[0]) + 1 and len(roles) == len(before[1]) + 1
    dyn.revoke_all()
    E.wait_for(lambda: dyn.state() == ([], []), 20, "the revoked user to be dropped")


@pytest.mark.parametrize("case", ["check", "later-field-fails", "revoke-token"])
def test_no_lease_and_no_role_left_behind(dyn, world, case):
    before = dyn.state()
    maps = "--map=database/creds/exporter#username=PGUSER,database/creds/exporter#password=PGPASSWORD"
    if case == "check":
        cp = dyn.vaultexec("--check", maps, "--", "true", token=dyn.token_file("check"))
        want = 0
    elif case == "later-field-fails":
        cp = dyn.vaultexec(maps, "--map=database/creds/exporter#no_such_field=X", "--", "true",
                           token=dyn.token_file("fails"))
        want = 65
    else:
        st, raw = E.http("GET", f"{dyn.bao.addr}/v1/auth/approle-dyn/role/exporter/role-id",
                         headers={"X-Vault-Token": dyn.bao.token})
        role_id = json.loads(raw)["data"]["role_id"]
        st, raw = E.http("POST", f"{dyn.bao.addr}/v1/auth/approle-dyn/role/exporter/secret-id", {},
                         headers={"X-Vault-Token": dyn.bao.token})
        sid = json.loads(raw)["data"]["secret_id"]
        world.leaks.register("approle secret id", sid)
        sidf = dyn.tokens / "sid"
        fd = os.open(sidf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(sid)
        world.allowed_files.add(sidf)  # a credential file, like the token files
        cp = dyn.vaultexec("--auth=approle", "--auth-mount=approle-dyn", f"--role-id={role_id}",
                           f"--secret-id-file={sidf}", "--revoke-token", maps, "--", "true")
        want = 78
    err = world.leaks.scrub(cp.stderr.decode())
    assert cp.returncode == want, err
    assert "revoked the lease" in err, err
    if case == "revoke-token":
        assert "--revoke-token: refused: database/creds/exporter" in err, err
    # the database engine drops the user when the lease is revoked
    E.wait_for(lambda: dyn.state() == before, 20, f"leases and roles back to {before}")


def test_readme_postgres_exporter_on_dynamic_credentials(dyn, world):
    spec = readme_spec(dyn, world, "postgres-exporter-dynamic")
    proc = world.procs.start("pg-exporter-dynamic", spec.argv, env=E.minimal_env(**spec.env))
    try:
        def up():
            assert proc.alive(), world.leaks.scrub(proc.output()[-2000:])
            return E.port_open(spec.listen_port) and E.metric(E.scrape(spec.listen_port), "pg_up") == 1.0
        E.wait_for(up, 30, "pg_up 1 from postgres_exporter on dynamic credentials")
        dsn = _environ(proc.pid).get("DATA_SOURCE_NAME", "")
        m = re.match(r"postgresql://([^:]+):([^@]+)@", dsn)
        assert m, "no DSN in the exporter's environment"
        import urllib.parse
        world.leaks.register("dynamic password (exporter)", urllib.parse.unquote(m.group(2)))
        assert urllib.parse.unquote(m.group(1)) in dyn.roles()
        assert "1 lease (database/creds/exporter, 1h, renewable; expires" in world.leaks.scrub(proc.output())
    finally:
        proc.stop()
        dyn.revoke_all()


def _environ(pid: int) -> dict:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)


def test_readme_exporter_with_a_pki_certificate(dyn, world):
    spec = readme_spec(dyn, world, "postgres-exporter-tls")
    tls = spec.tmpfs["/run/tls"]
    for f in ("tls.crt", "tls.key", "chain.pem", "web.yml"):
        world.allowed_files.add(tls / f)
    proc = world.procs.start("pg-exporter-tls", spec.argv, env=E.minimal_env(**spec.env))
    try:
        E.wait_for(lambda: (tls / "tls.key").exists() or not proc.alive(), 30, "the key file")
        assert proc.alive(), world.leaks.scrub(proc.output()[-2000:])
        key = (tls / "tls.key").read_text()
        world.leaks.register("pki private key", "".join(l for l in key.splitlines() if not l.startswith("-----")))
        ca = world.shm / "metrics-ca.pem"
        ca.write_text(dyn.ca)
        assert (tls / "chain.pem").read_text().strip() == dyn.ca.strip()
        url = f"https://postgres-exporter-tls:{spec.listen_port}/metrics"

        def scraped():
            assert proc.alive(), world.leaks.scrub(proc.output()[-2000:])
            cp = E.run(["curl", "-sS", "--cacert", ca, "--resolve", f"postgres-exporter-tls:{spec.listen_port}:127.0.0.1", url])
            return cp.returncode == 0 and E.metric(cp.stdout.decode(), "pg_up") == 1.0
        E.wait_for(scraped, 30, "pg_up 1 over TLS with the issued certificate")
        # plain HTTP is refused: the certificate is really in use
        cp = E.run(["curl", "-sS", f"http://127.0.0.1:{spec.listen_port}/metrics"])
        assert b"pg_up 1" not in cp.stdout
        subj = E.run(["openssl", "x509", "-noout", "-subject", "-in", tls / "tls.crt"]).stdout.decode()
        assert "postgres-exporter-tls" in subj
        pub1 = E.run(["openssl", "x509", "-noout", "-pubkey", "-in", tls / "tls.crt"]).stdout
        pub2 = E.run(["openssl", "pkey", "-pubout", "-in", tls / "tls.key"]).stdout
        assert pub1 == pub2 and pub1
    finally:
        proc.stop()
        dyn.revoke_all()

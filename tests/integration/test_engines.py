"""Secrets engines other than KV, against a real OpenBao: a non-KV path
read without any --kv-version flag (the mount's type is looked up),
cubbyhole, transit decrypt (a write with parameters, base64decode), PKI
(a root CA made through the API, certificate and key checked with openssl,
ca_chain joined), KV mounts outside --kv-mount, and leases (PKI roles with
generate_lease): the success line, --check and a failed run revoking them,
--revoke-token refused.

The fake Vault only for what OpenBao will not do on demand: a lease with a
zero duration, a refused mounts lookup, a revoke that fails.
(Database credentials against a real PostgreSQL: tests/e2e/test_dynamic_engines.py.)
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import subprocess

import pytest

import auth_helpers as ah
from fakevault import R, envelope, error_body
from vxlib import conn


def tok(bao, t=None):
    return {"VAULT_TOKEN": t or bao.token}


def once(bao, key, fn):
    """Session-wide setup done once per OpenBao server."""
    cache = bao.__dict__.setdefault("_engines", {})
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def info_line(r):
    lines = [l for l in r.log_lines("info") if " secret" in l and ("exec" in l or "check only" in l)]
    assert lines, f"no success line\n{r.describe()}"
    return lines[-1]


# ---------------------------------------------------------------------------
# plain reads of non-KV engines
# ---------------------------------------------------------------------------


@pytest.fixture
def transit(bao):
    def setup():
        mount = "transit-" + secrets.token_hex(3)
        bao.api("POST", f"sys/mounts/{mount}", {"type": "transit"})
        bao.api("POST", f"{mount}/keys/app", {})
        return mount

    return once(bao, "transit", setup)


def test_non_kv_read_needs_no_flag(bao, vx, transit):
    """transit/keys/NAME is no KV path: read as it is, fields from data."""
    r = vx.run(conn(bao, "10s", "--log-level", "debug", "--map", f"{transit}/keys/app#type=T,{transit}/keys/app#name=N"),
               env=tok(bao))
    r.ok()
    assert (r.env["T"], r.env["N"]) == ("aes256-gcm96", "app")
    assert f"mount {transit} is transit" in r.stderr, r.describe()
    assert f"({transit}/keys/app)" in info_line(r)


@pytest.mark.every_binary
def test_transit_decrypt(bao, vx, transit):
    plain = vx.secret("pt")
    js = bao.api("POST", f"{transit}/encrypt/app", {"plaintext": base64.b64encode(plain.encode()).decode()})
    ct = js["data"]["ciphertext"]
    assert ct.startswith("vault:v1:")
    ref = f"{transit}/decrypt/app?ciphertext={ct}#plaintext"
    r = vx.run(conn(bao, "10s", "--env", f"PT={{{{ {ref} | base64decode }}}}", "--map", f"{ref}=B64"), env=tok(bao))
    r.ok()
    assert r.env["PT"] == plain
    assert r.env["B64"] == base64.b64encode(plain.encode()).decode()
    # one request for both, shown as a write without its parameters
    line = info_line(r)
    assert f"read 1 secret (POST {transit}/decrypt/app)" in line and "vault:v1" not in r.stderr, line


def test_transit_bad_ciphertext_is_a_clear_error(bao, vx, transit):
    r = vx.run(conn(bao, "10s", "--map", f"{transit}/decrypt/app?ciphertext=vault:v1:AAAA#plaintext=P"), env=tok(bao))
    r.failed(65)
    assert f"POST {transit}/decrypt/app: HTTP 400" in r.stderr, r.describe()


def test_cubbyhole(bao, vx):
    t = bao.create_token(["default"])
    vx.register(t)
    val = vx.secret("cub")
    bao.api("POST", "cubbyhole/app", {"password": val}, token=t)
    r = vx.run(conn(bao, "10s", "--map", "cubbyhole/app#password=P"), env=tok(bao, t))
    r.ok()
    assert r.env["P"] == val
    # another token's cubbyhole is another place: the secret is missing there
    r = vx.run(conn(bao, "10s", "--map", "cubbyhole/app#password=P"), env=tok(bao))
    r.failed(65)
    assert "cubbyhole/app: no such secret" in r.stderr


def test_kv_mounts_outside_kv_mount_detected(bao, vx):
    """A KV v1 and a KV v2 mount other than --kv-mount, no --kv-version."""
    v1, v2 = "kvo1-" + secrets.token_hex(3), "kvo2-" + secrets.token_hex(3)
    bao.enable_kv(v1, "1")
    bao.enable_kv(v2, "2")
    a, b = vx.secret("a"), vx.secret("b")
    bao.put_kv1(v1, "app", {"password": a})
    bao.put_kv2("app", {"password": b}, mount=v2)
    r = vx.run(conn(bao, "10s", "--map", f"{v1}/app#password=A,{v2}/app#password=B"), env=tok(bao))
    r.ok()
    assert (r.env["A"], r.env["B"]) == (a, b)
    assert f"{v2}/data/app" in info_line(r)
    # --kv-version still chooses the first read of KV mounts: 1 on the v2 mount
    # misses, and the miss is corrected with a warning naming the flag (issue 13)
    r = vx.run(conn(bao, "10s", "--kv-version", "1", "--map", f"{v2}/app#password=B"), env=tok(bao))
    r.ok()
    assert r.env["B"] == b
    assert any(f"{v2} is a KV v2 mount, not v1" in l for l in r.log_lines("warn")), r.describe()


def test_write_to_kv_is_refused(bao, vx):
    name = vx.name()
    val = vx.secret()
    bao.put_kv2(name, {"password": val})
    r = vx.run(conn(bao, "10s", "--map", f"secret/{name}?password=x#password=P"), env=tok(bao))
    r.failed(64)
    assert "would overwrite a secret" in r.stderr
    assert bao.api("GET", f"secret/data/{name}")["data"]["data"]["password"] == val


def test_bad_parameters_are_usage_errors(bao, vx):
    for ref, why in [
        ("pki/issue/web?common_name#certificate=C", "not NAME=VALUE"),
        ("pki/issue/web?common_name=%zz#certificate=C", "bad %-escape"),
        ("pki/issue/web?#certificate=C", "no parameters after '?'"),
    ]:
        r = vx.run(conn(bao, "2s", "--map", ref), env=tok(bao))
        r.failed(64)
        assert why in r.stderr, r.describe()


def test_get_on_a_write_endpoint_hints_at_parameters(bao, vx, pki_engine):
    mount, role, _ = pki_engine
    r = vx.run(conn(bao, "10s", "--map", f"{mount}/issue/{role}#certificate=C"), env=tok(bao))
    r.failed(65)
    assert "PATH?NAME=VALUE#FIELD" in r.stderr, r.describe()


# ---------------------------------------------------------------------------
# PKI
# ---------------------------------------------------------------------------


@pytest.fixture
def pki_engine(bao):
    def setup():
        mount = "pki-" + secrets.token_hex(3)
        bao.api("POST", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
        js = bao.api("POST", f"{mount}/root/generate/internal", {"common_name": "vaultexec test root", "ttl": "87600h"})
        root = js["data"]["certificate"]
        bao.api("POST", f"{mount}/roles/web", {"allowed_domains": ["example.test"], "allow_subdomains": True,
                                               "max_ttl": "72h"})
        bao.api("POST", f"{mount}/roles/leased", {"allowed_domains": ["example.test"], "allow_subdomains": True,
                                                  "max_ttl": "72h", "generate_lease": True})
        return mount, "web", root

    return once(bao, "pki", setup)


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input, check=True).stdout


def register_key(vx, pem: str):
    """The private key's base64 lines are secrets for the leak check."""
    body = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
    vx.register(body)
    for l in pem.splitlines():
        if len(l) >= 40 and not l.startswith("-----"):
            vx.register(l)


@pytest.mark.every_binary
def test_pki_certificate_and_key(bao, vx, pki_engine, tmp_path):
    mount, role, root = pki_engine
    cn = f"exporter-{secrets.token_hex(3)}.example.test"
    issue = f"{mount}/issue/{role}?common_name={cn}&ttl=24h"
    cert, key, chain = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.pem"
    r = vx.run(conn(bao, "10s",
                    "--file", f"{cert}={{{{ {issue}#certificate }}}}",
                    "--file", f"{key}={{{{ {issue}#private_key }}}}",
                    "--file", f"{chain}={{{{ {issue}#ca_chain | join \"\\n\" }}}}\n"), env=tok(bao))
    r.ok()
    register_key(vx, key.read_text())
    # one request gave all three: the key belongs to the certificate
    assert f"read 1 secret (POST {mount}/issue/{role})" in info_line(r), r.describe()
    assert f"CN = {cn}" in openssl("x509", "-noout", "-subject", "-nameopt", "oneline", "-in", str(cert))
    assert openssl("x509", "-noout", "-pubkey", "-in", str(cert)) == openssl("pkey", "-pubout", "-in", str(key))
    assert openssl("verify", "-CAfile", str(chain), str(cert)).strip().endswith(": OK")
    assert chain.read_text().strip() == root.strip()
    end = openssl("x509", "-noout", "-enddate", "-in", str(cert))
    assert end.startswith("notAfter=")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert "lease" not in info_line(r), "a PKI role without generate_lease takes no lease"


def test_pki_name_not_allowed(bao, vx, pki_engine):
    mount, role, _ = pki_engine
    r = vx.run(conn(bao, "10s", "--map", f"{mount}/issue/{role}?common_name=evil.example.com#certificate=C"),
               env=tok(bao))
    r.failed(65)
    assert f"POST {mount}/issue/{role}: HTTP 400" in r.stderr and "evil.example.com" in r.stderr, r.describe()


# ---------------------------------------------------------------------------
# leases (PKI with generate_lease: OpenBao's own leases, no database needed)
# ---------------------------------------------------------------------------


def leases_under(bao, prefix):
    st, js = ah.api(bao, "LIST", f"sys/leases/lookup/{prefix}/")
    if st == 404:
        return []
    assert st == 200, (st, js)
    return js["data"]["keys"]


def register_leases(vx, bao, prefix):
    for k in leases_under(bao, prefix):
        vx.register(f"{prefix}/{k}")
        vx.register(k)


def revoke_policy(bao, vx, mount):
    pol = vx.name("pki-lease")
    bao.put_policy(pol, f'path "{mount}/issue/leased" {{ capabilities = ["update"] }}\n'
                        'path "sys/leases/revoke" { capabilities = ["update"] }\n'
                        'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }\n')
    return pol


@pytest.mark.every_binary
def test_lease_on_the_success_line(bao, vx, pki_engine):
    mount, _, _ = pki_engine
    prefix = f"{mount}/issue/leased"
    before = set(leases_under(bao, prefix))
    cn = f"l-{secrets.token_hex(3)}.example.test"
    r = vx.run(conn(bao, "10s", "--map", f"{prefix}?common_name={cn}&ttl=2h#serial_number=S"), env=tok(bao))
    r.ok()
    register_leases(vx, bao, prefix)
    line = info_line(r)
    assert re.search(rf"1 lease \({prefix}, (2h|1h59m\d+s), not renewable; expires \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC", line), line
    assert len(set(leases_under(bao, prefix)) - before) == 1, "the lease stays for the command"


def test_check_revokes_its_leases(bao, vx, pki_engine):
    mount, _, _ = pki_engine
    prefix = f"{mount}/issue/leased"
    t = bao.create_token([revoke_policy(bao, vx, mount)])
    vx.register(t)
    before = set(leases_under(bao, prefix))
    r = vx.run(conn(bao, "10s", "--check", "--map", f"{prefix}?common_name=c.example.test#serial_number=S"),
               env=tok(bao, t))
    assert r.rc == 0 and not r.started, r.describe()
    register_leases(vx, bao, prefix)
    assert set(leases_under(bao, prefix)) == before, "--check left a lease behind"
    assert f"{prefix}: revoked the lease" in r.stderr
    assert "1 lease (" in info_line(r) and "expires" not in info_line(r)


@pytest.mark.every_binary
def test_failed_run_revokes_its_leases(bao, vx, pki_engine):
    mount, _, _ = pki_engine
    prefix = f"{mount}/issue/leased"
    t = bao.create_token([revoke_policy(bao, vx, mount)])
    vx.register(t)
    before = set(leases_under(bao, prefix))
    r = vx.run(conn(bao, "10s", "--map", f"{prefix}?common_name=f.example.test#serial_number=S",
                    "--map", f"{prefix}?common_name=f.example.test#no_such_field=X"), env=tok(bao, t))
    r.failed(65)
    register_leases(vx, bao, prefix)
    assert set(leases_under(bao, prefix)) == before, "a failed run left a lease behind"
    assert "revoking 1 lease: the run failed" in r.stderr


def test_revoke_without_permission_says_what_is_left(bao, vx, pki_engine):
    mount, _, _ = pki_engine
    prefix = f"{mount}/issue/leased"
    pol = vx.name("no-revoke")
    bao.put_policy(pol, f'path "{prefix}" {{ capabilities = ["update"] }}\n')
    t = bao.create_token([pol])
    vx.register(t)
    before = set(leases_under(bao, prefix))
    r = vx.run(conn(bao, "10s", "--check", "--map", f"{prefix}?common_name=n.example.test#serial_number=S"),
               env=tok(bao, t))
    register_leases(vx, bao, prefix)
    assert r.rc == 0, r.describe()
    assert "needs update on sys/leases/revoke" in r.stderr and "ends by itself after" in r.stderr, r.describe()
    new = set(leases_under(bao, prefix)) - before
    assert len(new) == 1
    for k in new:
        bao.api("PUT", "sys/leases/revoke", {"lease_id": f"{prefix}/{k}"})


def test_revoke_token_with_a_lease_is_refused(bao, vx, pki_engine):
    mount, _, _ = pki_engine
    prefix = f"{mount}/issue/leased"
    ar = once(bao, "approle-leases", lambda: ah.AppRole(bao, "approle-l" + secrets.token_hex(3)))
    role_id = ar.role("leaser", [revoke_policy(bao, vx, mount)])
    secret_id = ar.secret_id("leaser")
    vx.register(secret_id)
    sid = vx.tmp / "sid"
    sid.write_text(secret_id)
    before = set(leases_under(bao, prefix))
    r = vx.run(conn(bao, "10s", "--auth", "approle", "--auth-mount", ar.mount, "--role-id", role_id,
                    "--secret-id-file", sid, "--revoke-token",
                    "--map", f"{prefix}?common_name=r.example.test#serial_number=S"), env={})
    r.failed(78)
    register_leases(vx, bao, prefix)
    msg = r.log_lines("error")
    assert msg and "--revoke-token" in msg[0] and prefix in msg[0] and "revokes its leases" in msg[0], r.describe()
    assert set(leases_under(bao, prefix)) == before, "the refused run left its lease behind"
    # --check exits with what the run would (issue 13)
    sid.write_text(ar.secret_id("leaser"))
    vx.register(sid.read_text())
    r = vx.run(conn(bao, "10s", "--check", "--auth", "approle", "--auth-mount", ar.mount, "--role-id", role_id,
                    "--secret-id-file", sid, "--revoke-token",
                    "--map", f"{prefix}?common_name=r.example.test#serial_number=S"), env={})
    r.failed(78)
    assert set(leases_under(bao, prefix)) == before, "the refused check left its lease behind"
    # without a lease, --revoke-token is fine
    name = vx.name()
    bao.put_kv2(name, {"password": vx.secret()})
    bao.put_policy("leaser-kv", f'path "secret/data/{name}" {{ capabilities = ["read"] }}')
    role_id = ar.role("kvonly", ["leaser-kv"])
    sid.write_text(ar.secret_id("kvonly"))
    vx.register(sid.read_text())
    r = vx.run(conn(bao, "10s", "--auth", "approle", "--auth-mount", ar.mount, "--role-id", role_id,
                    "--secret-id-file", sid, "--revoke-token", "--service", name, "--map", "password=P"), env={})
    r.ok()


# ---------------------------------------------------------------------------
# the fake: what OpenBao will not do on demand
# ---------------------------------------------------------------------------


def leased(data, lease_id, duration, renewable=True):
    return dict(envelope(data), lease_id=lease_id, lease_duration=duration, renewable=renewable)


def test_fake_database_type_is_a_plain_read(vx, fake):
    fake.mounts["database"] = None
    fake.mount_types["database"] = "database"
    user, pw = "v-token-ro-" + secrets.token_hex(4), vx.secret("pw")
    lid = "database/creds/ro/" + secrets.token_hex(12)
    vx.register(lid)
    fake.script("/v1/database/creds/ro", R(200, leased({"username": user, "password": pw}, lid, 3600)))
    r = vx.run(conn(fake, "5s", "--map", "database/creds/ro#username=U,database/creds/ro#password=P"),
               env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert (r.env["U"], r.env["P"]) == (user, pw)
    assert len(fake.requests_to("/v1/database/creds/ro")) == 1
    assert not fake.requests_to("/v1/database/data/creds/ro")
    assert "1 lease (database/creds/ro, 1h, renewable; expires" in info_line(r)


def test_fake_zero_duration_lease(vx, fake):
    fake.mount_types["creds"] = "database"
    fake.mounts["creds"] = None
    lid = "creds/x/" + secrets.token_hex(12)
    vx.register(lid)
    fake.script("/v1/creds/x", R(200, leased({"v": "1"}, lid, 0, renewable=False)))
    r = vx.run(conn(fake, "5s", "--map", "creds/x#v=V"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert "creds/x: the lease has a duration of 0s" in r.stderr
    assert "1 lease (creds/x, 0s, not renewable; expires" in info_line(r)


def test_fake_refused_mounts_lookup_reads_the_path_as_written(vx, fake):
    fake.mounts = {"secret": "2"}  # nothing for database/: the lookup answers 403
    pw = vx.secret()
    fake.script("/v1/database/creds/ro", R(200, envelope({"password": pw})))
    r = vx.run(conn(fake, "5s", "--log-level", "debug", "--map", "database/creds/ro#password=P"),
               env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == pw
    assert fake.requests_to("/v1/sys/internal/ui/mounts/database/creds/ro")
    assert "mounts lookup was refused (HTTP 403" in r.stderr and "reading the path as written" in r.stderr
    assert not [l for l in r.log_lines("info") + r.log_lines("warn") if "refused" in l], "said at debug level only"


def test_fake_failing_revoke(vx, fake):
    fake.mounts["database"] = None
    fake.mount_types["database"] = "database"
    lid = "database/creds/ro/" + secrets.token_hex(12)
    vx.register(lid)
    fake.script("/v1/database/creds/ro", R(200, leased({"username": "u"}, lid, 600)))
    fake.script("/v1/sys/leases/revoke", R(400, error_body(f"lease not found: {lid}")))
    r = vx.run(conn(fake, "5s", "--map", "database/creds/ro#username=U,database/creds/ro#password=P"),
               env={"VAULT_TOKEN": vx.token()})
    r.failed(65)
    rev = fake.requests_to("/v1/sys/leases/revoke")
    assert len(rev) == 1 and rev[0].method == "PUT" and json.loads(rev[0].body) == {"lease_id": lid}
    assert "the lease could not be revoked (sys/leases/revoke answered HTTP 400)" in r.stderr
    assert "ends by itself after 10m" in r.stderr, r.describe()


@pytest.mark.every_binary
def test_fake_write_body_and_single_request(vx, fake):
    fake.mounts["pki"] = None
    fake.mount_types["pki"] = "pki"
    key = vx.secret("key")
    fake.script("/v1/pki/issue/web", R(200, envelope({"certificate": "CERT", "private_key": key,
                                                      "ca_chain": ["A", "B"]})))
    r = vx.run(conn(fake, "5s",
                    "--map", "pki/issue/web?common_name=a%20b.example&ttl=24h&alt_names=x%2Cy#private_key=K",
                    "--env", "C={{ pki/issue/web?common_name=a%20b.example&ttl=24h&alt_names=x%2Cy#ca_chain | join \",\" }}"),
               env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert (r.env["K"], r.env["C"]) == (key, "A,B")
    posts = fake.requests_to("/v1/pki/issue/web")
    assert len(posts) == 1 and posts[0].method == "POST"
    assert json.loads(posts[0].body) == {"common_name": "a b.example", "ttl": "24h", "alt_names": "x,y"}


def test_fake_env_references_to_other_engines(vx, fake):
    """vault: references follow the same rules: a plain read and a write."""
    fake.mounts.update({"database": None, "pki": None})
    fake.mount_types.update({"database": "database", "pki": "pki"})
    pw, key = vx.secret("pw"), vx.secret("key")
    fake.script("/v1/database/creds/ro", R(200, envelope({"username": "u1", "password": pw})))
    fake.script("/v1/pki/issue/web", R(200, envelope({"private_key": key})))
    r = vx.run(conn(fake, "5s"), env={
        "VAULT_TOKEN": vx.token(),
        "DB_PASS": "vault:database/creds/ro#password",
        "DSN": "postgresql://${vault:database/creds/ro#username}:${vault:database/creds/ro#password}@db/x",
        "KEY": "vault:pki/issue/web?common_name=a.example#private_key",
    })
    r.ok()
    assert (r.env["DB_PASS"], r.env["DSN"], r.env["KEY"]) == (pw, f"postgresql://u1:{pw}@db/x", key)
    assert len(fake.requests_to("/v1/database/creds/ro")) == 1
    assert [q.method for q in fake.requests_to("/v1/pki/issue/web")] == ["POST"]


def test_secret_option_refuses_parameters(vx, fake):
    r = vx.run(conn(fake, "5s", "--secret", "pki/issue/web?common_name=a", "--map", "certificate=C"),
               env={"VAULT_TOKEN": vx.token()})
    r.failed(64)
    assert "--secret" in r.stderr and "goes in --map or a template" in r.stderr, r.describe()


def test_fake_refused_lookup_with_an_explicit_kv_version(vx, fake):
    """--kv-version 2 given: a refused lookup reads MOUNT/data/PATH as before."""
    fake.mounts = {"secret": "2"}
    val = vx.secret()
    fake.kv2("app", {"password": val}, mount="team")
    r = vx.run(conn(fake, "5s", "--kv-version", "2", "--map", "team/app#password=P"),
               env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val
    assert fake.requests_to("/v1/sys/internal/ui/mounts/team/app") and fake.requests_to("/v1/team/data/app")


def _pids_with(marker: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_fake_signal_after_a_lease_revokes_it(vx, fake, sig):
    """A signal once a lease is taken (here during the next, slow read) ends
    the run through the failure path: the lease is revoked, then exit
    128+SIG without starting the command."""
    fake.mounts.update({"database": None, "slow": None})
    fake.mount_types.update({"database": "database", "slow": "database"})
    lid = "database/creds/ro/" + secrets.token_hex(12)
    vx.register(lid)
    marker = "slow/" + secrets.token_hex(6)
    fake.script("/v1/database/creds/ro", R(200, leased({"username": "u"}, lid, 600)))

    def slow(req):
        for pid in _pids_with(marker + "#"):
            os.kill(pid, sig)
        return R(200, envelope({"x": "1"}), delay=1.0)

    fake.script(f"/v1/{marker}", slow)
    fake.script("/v1/sys/leases/revoke", R(204))
    r = vx.run(conn(fake, "5s", "--map", f"database/creds/ro#username=U,{marker}#x=X"),
               env={"VAULT_TOKEN": vx.token()})
    r.failed(128 + sig)
    assert "terminated by a signal; the command was not started" in r.stderr, r.describe()
    rev = fake.requests_to("/v1/sys/leases/revoke")
    assert len(rev) == 1 and json.loads(rev[0].body) == {"lease_id": lid}, r.describe()


def test_fake_signal_without_a_lease_ends_at_once(vx, fake):
    """Without a lease nothing is held: the handler ends the run during the
    slow read, well before its answer."""
    fake.mounts.update({"slow": None})
    fake.mount_types.update({"slow": "database"})
    marker = "slow/" + secrets.token_hex(6)

    def slow(req):
        for pid in _pids_with(marker + "#"):
            os.kill(pid, signal.SIGTERM)
        return R(200, envelope({"x": "1"}), delay=5.0)

    fake.script(f"/v1/{marker}", slow)
    r = vx.run(conn(fake, "10s", "--map", f"{marker}#x=X"), env={"VAULT_TOKEN": vx.token()})
    r.failed(143)
    assert r.elapsed < 4, r.describe()
    assert not fake.requests_to("/v1/sys/leases/revoke")

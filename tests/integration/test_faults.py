"""The fault matrix of issue 5; tests/FAULTS.md is the table.

One test (or parametrised family) per row.  Each asserts the exit code, a
key phrase of the message the user sees, and -- for every failure -- that
the child was never started (Result.failed), so no row can hand the child a
partial environment.  Where the fault hits one secret, a second, healthy
secret is mapped as well: reading it must not be enough to start the child.

Real OpenBao where it can be made to show the fault (down, down then up,
sealed then unsealed, TLS with an unknown CA / an expired certificate / a
wrong host name, token files, exec failures); the fake Vault otherwise.

Set VX_FAULTS_RECORD=/some/file.jsonl to append, per checked run, the row,
the test, the exit code and vaultexec's stderr with ports and temporary
paths replaced by placeholders: that is where the message column of
tests/FAULTS.md comes from.
"""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import vxlib
from fakevault import HEALTH_OK, HEALTH_STANDBY, R, error_body, kv2_raw_body
from vxlib import conn

HEALTH = "/v1/sys/health"
SECRET = "/v1/secret/data/app"
GOOD = "/v1/secret/data/good"


# ---------------------------------------------------------------------------
# checking and recording one row
# ---------------------------------------------------------------------------


def _placeholders(text: str, tmp_path: Path | None) -> str:
    if tmp_path is not None:
        text = text.replace(str(tmp_path), "TMP")
    text = re.sub(r"/tmp/[A-Za-z0-9_.-]+/", "/tmp/…/", text)
    text = re.sub(r"(127\.0\.0\.1|localhost|vault\.invalid):\d+", r"\1:PORT", text)
    text = re.sub(r"\bport \d+", "port PORT", text)
    text = re.sub(r"vxroot[0-9a-f]+", "ROOT_TOKEN", text)
    text = re.sub(r"\d+\.\ds\b", "N.Ns", text)
    text = re.sub(r"\b[a-z]+-[0-9a-f]{8}\b", "NAME", text)
    return text


def _record(row: str, r: vxlib.Result, tmp_path: Path | None):
    path = os.environ.get("VX_FAULTS_RECORD")
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    doc = {
        "row": row,
        "test": test,
        "rc": r.rc,
        "elapsed": round(r.elapsed, 2),
        "started": r.started,
        "stderr": [_placeholders(l, tmp_path) for l in r.stderr_lines() if not l.startswith("vaultexec: debug:")],
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(doc, ensure_ascii=False) + "\n")


def fault(r: vxlib.Result, rc, phrase: str, row: str, tmp_path=None, max_elapsed=None) -> vxlib.Result:
    """A failure row: exit RC, PHRASE (case-insensitive) in an error line,
    the child never started."""
    r.failed(rc)
    errors = "\n".join(r.log_lines("error")).lower()
    assert phrase.lower() in errors, f"expected {phrase!r} in an error line\n{r.describe()}"
    if max_elapsed is not None:
        assert r.elapsed <= max_elapsed, f"took {r.elapsed:.2f}s, expected <= {max_elapsed}s\n{r.describe()}"
    _record(row, r, tmp_path)
    return r


def survived(r: vxlib.Result, phrase: str | None, row: str, tmp_path=None) -> vxlib.Result:
    """A row the client rides out: the child ran (exit 0) and PHRASE, if
    any, is in stderr."""
    r.ok()
    if phrase is not None:
        assert phrase.lower() in r.stderr.lower(), f"expected {phrase!r} in stderr\n{r.describe()}"
    _record(row, r, tmp_path)
    return r


def closed_addr() -> str:
    return f"http://127.0.0.1:{vxlib.free_port()}"


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture
def fv(fake, vx):
    """The fake with secret/app (the one the faults hit) and secret/good
    (healthy; mapped too, so a partial read cannot start the child)."""
    fake.val = vx.secret("app")
    fake.good = vx.secret("good")
    fake.kv2("app", {"password": fake.val})
    fake.kv2("good", {"g": fake.good})
    fake.tok = vx.token()
    return fake


def run_fake(vx, fv, *opts, wait="3s", env=None):
    e = {"VAULT_TOKEN": fv.tok}
    e.update(env or {})
    return vx.run(
        conn(fv, wait, *opts, "--map", "secret/good#g=G", "--service", "app", "--map", "password=P"), env=e
    )


def both_values(r, fv):
    assert r.env["P"] == fv.val and r.env["G"] == fv.good, r.describe()


@pytest.fixture(scope="module")
def sealable(tmp_path_factory):
    """A real, non-dev OpenBao (raft storage) that tests may seal, stop,
    start and unseal; each test leaves it running and unsealed."""
    port = vxlib.free_port(pair=True)
    srv = vxlib.BaoFileServer(tmp_path_factory.mktemp("sealable"), port)
    srv.start()
    try:
        srv.initialize()
        yield srv
    finally:
        srv.stop()


def _restore(srv):
    if srv.proc is None or srv.proc.poll() is not None:
        srv.start()
    st = srv.wait_status({200, 503}, timeout=30)
    if st == 503:
        srv.unseal()
        srv.wait_status({200}, timeout=30)


@pytest.fixture
def sealed_app(sealable, vx):
    name = vx.name("fault")
    val = vx.secret()
    sealable.put_kv2(name, {"password": val})
    yield sealable, name, val
    _restore(sealable)


def run_in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


# --- certificates for the TLS rows (cryptography, like auth_helpers.py) ---


def _make_certs(d: Path) -> dict:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    d.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def pem(obj, name):
        p = d / name
        if hasattr(obj, "public_bytes"):
            p.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
        else:
            p.write_bytes(
                obj.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        return str(p)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vaultexec fault-matrix CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - 30 * day)
        .not_valid_after(now + 3 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca": pem(ca, "ca.pem")}
    loopback = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaves = {
        # valid for 127.0.0.1, but expired yesterday
        "expired": (loopback, now - 10 * day, now - day),
        # valid now, but for another name only
        "wrongname": ([x509.DNSName("vault.example.org")], now - day, now + 3 * day),
        # valid (used with the wrong CA for "unknown CA")
        "good": (loopback, now - day, now + 3 * day),
    }
    for leaf, (sans, nb, na) in leaves.items():
        k = ec.generate_private_key(ec.SECP256R1())
        c = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, leaf)]))
            .issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb)
            .not_valid_after(na)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        out[leaf] = (pem(c, f"{leaf}.pem"), pem(k, f"{leaf}.key"))
    return out


class BaoTlsListeners(vxlib.Bao):
    """A real OpenBao dev server (plain HTTP for admin calls) with extra
    TLS listeners from a config file: one per certificate in CERTS, at
    self.tls_addr[name]."""

    def __init__(self, workdir: Path, certs: dict):
        super().__init__(workdir)
        self.certs = certs
        self.tls_addr = {}

    def start_dev(self, token=None, port=None):
        self.token = "vxroot" + os.urandom(16).hex()
        vxlib.LeakRegistry.always.add(self.token)
        last = None
        for _ in range(4):
            self.port = vxlib.free_port(pair=True)
            hcl = []
            for name in ("expired", "wrongname", "good"):
                p = vxlib.free_port()
                cert, key = self.certs[name]
                hcl.append(
                    f'listener "tcp" {{\n  address = "127.0.0.1:{p}"\n'
                    f'  tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n}}\n'
                )
                self.tls_addr[name] = f"https://127.0.0.1:{p}"
            cfg = self.workdir / "listeners.hcl"
            cfg.write_text("".join(hcl))
            self.proc = self._spawn(
                [
                    "server", "-dev", f"-dev-root-token-id={self.token}",
                    f"-dev-listen-address=127.0.0.1:{self.port}", "-dev-no-store-token", f"-config={cfg}",
                ]
            )
            try:
                self.wait_status({200}, timeout=30)
                return self
            except vxlib.BaoError as e:
                last = e
                self.stop()
        raise vxlib.BaoError(f"bao dev server with TLS listeners did not start: {last}\n{self.log_tail()}")


@pytest.fixture(scope="module")
def own_bao(tmp_path_factory):
    """This module's own OpenBao dev server: TLS listeners with bad
    certificates, and rate-limit quotas that must not touch the shared
    `bao`."""
    d = tmp_path_factory.mktemp("own-bao")
    certs = _make_certs(d / "certs")
    b = BaoTlsListeners(d, certs)
    b.start_dev()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def tls_app(own_bao, vx):
    name = vx.name("tlsfault")
    val = vx.secret()
    own_bao.put_kv2(name, {"password": val})
    return name, val


# ---------------------------------------------------------------------------
# Vault down / sealed / standby (real OpenBao and fake)
# ---------------------------------------------------------------------------


def test_down_for_the_whole_deadline(vx):
    r = vx.run(
        ["--addr", closed_addr(), "--wait", "3s", "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    fault(r, 69, "is still unreachable (", "down for the whole deadline")
    assert "connect" in r.stderr.lower(), r.describe()
    assert 2.5 <= r.elapsed <= 6, r.describe()


def test_down_then_up_real(vx, sealed_app):
    """Real OpenBao stopped; vaultexec starts; OpenBao starts 2 s later
    (a restarted OpenBao is sealed) and is unsealed at once."""
    srv, name, val = sealed_app
    srv.stop()
    t, out = run_in_thread(
        lambda: vx.run(
            ["--addr", srv.addr, "--wait", "30s", "--service", name, "--map", "password=P"],
            env={"VAULT_TOKEN": srv.token},
            timeout=45,
        )
    )
    time.sleep(2)
    assert t.is_alive(), out and out[0].describe()
    srv.start()
    srv.wait_status({503}, timeout=20)
    srv.unseal()
    t.join(40)
    assert not t.is_alive()
    r = survived(out[0], "is ready after", "down then up")
    assert r.env["P"] == val
    assert "unreachable" in r.stderr
    assert r.elapsed >= 2


def test_sealed_then_unsealed_real(vx, sealed_app):
    """Sealed through the API (PUT sys/seal), unsealed 2.5 s later."""
    srv, name, val = sealed_app
    srv.api("PUT", "sys/seal")
    assert srv.wait_status({503}) == 503
    t, out = run_in_thread(
        lambda: vx.run(
            ["--addr", srv.addr, "--wait", "30s", "--service", name, "--map", "password=P"],
            env={"VAULT_TOKEN": srv.token},
            timeout=45,
        )
    )
    time.sleep(2.5)
    assert t.is_alive(), f"finished while sealed: {out and out[0].describe()}"
    srv.unseal()
    t.join(40)
    assert not t.is_alive()
    r = survived(out[0], "is ready after", "sealed then unsealed")
    assert r.env["P"] == val
    assert "sealed" in r.stderr
    assert r.elapsed >= 2.5


def test_sealed_for_the_whole_deadline_real(vx, sealed_app):
    srv, name, _ = sealed_app
    srv.api("PUT", "sys/seal")
    assert srv.wait_status({503}) == 503
    r = vx.run(
        ["--addr", srv.addr, "--wait", "3s", "--service", name, "--map", "password=P"],
        env={"VAULT_TOKEN": srv.token},
    )
    fault(r, 69, "is still sealed", "sealed for the whole deadline")
    assert 2.5 <= r.elapsed <= 7, r.describe()


@pytest.mark.parametrize("code", [429, 473])
def test_standby_answers(vx, fv, code):
    """sys/health 429 (standby) and 473 (performance standby) mean ready
    (standbyok=true); the read goes through."""
    fv.script(HEALTH, R(code, HEALTH_STANDBY))
    r = survived(run_fake(vx, fv, wait="5s"), None, "standby answers")
    both_values(r, fv)
    assert len(fv.requests_to(HEALTH)) == 1


def test_standby_redirects_the_read(vx, fake_factory):
    """A standby that answers the read with 307 to the active node."""
    active = fake_factory()
    val = vx.secret()
    active.kv2("app", {"password": val})
    standby = fake_factory()
    standby.script(HEALTH, R(429, HEALTH_STANDBY))
    standby.script(SECRET, R(307, headers={"Location": active.url(SECRET)}))
    r = vx.run(conn(standby, "5s", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": vx.token()})
    survived(r, None, "standby answers")
    assert r.env["P"] == val


def test_standby_without_active_node(vx, fv):
    """A standby that cannot reach an active node (503 "no active Vault
    instance found") until the deadline."""
    fv.script(HEALTH, R(429, HEALTH_STANDBY))
    fv.script(SECRET, R(503, error_body("no active Vault instance found")))
    r = run_fake(vx, fv)
    fault(r, 69, "no active Vault instance found; gave up at the --wait deadline", "standby answers")


# ---------------------------------------------------------------------------
# 429, 5xx storms, redirects (fake)
# ---------------------------------------------------------------------------


def test_429_retry_after_honoured(vx, fv):
    fv.script(SECRET, R(429, error_body("rate limit quota exceeded"), headers={"Retry-After": "2"}), fv._scripts[SECRET][0])
    r = survived(run_fake(vx, fv, wait="10s"), None, "429 with Retry-After")
    both_values(r, fv)
    s = fv.requests_to(SECRET)
    assert len(s) == 2 and s[1].time - s[0].time >= 1.9


@pytest.fixture
def rate_limited(own_bao, vx):
    """A secret behind a real OpenBao rate-limit quota of 1 request per 3 s
    (with Retry-After headers on), the one request already used up."""
    own_bao.api("POST", "sys/quotas/config", {"enable_rate_limit_response_headers": True})
    name = vx.name("rl")
    val = vx.secret()
    own_bao.put_kv2(name, {"password": val})
    own_bao.api("POST", f"sys/quotas/rate-limit/{name}", {"path": f"secret/data/{name}", "rate": 1, "interval": "3s"})
    own_bao.api("GET", f"secret/data/{name}")
    st, _ = vxlib.http_json("GET", f"{own_bao.addr}/v1/secret/data/{name}", token=own_bao.token)
    assert st == 429, "the rate-limit quota does not bite"
    yield own_bao, name, val
    own_bao.api("DELETE", f"sys/quotas/rate-limit/{name}")


def test_429_retry_after_real(vx, rate_limited):
    srv, name, val = rate_limited
    r = vx.run(["--addr", srv.addr, "--wait", "15s", "--log-level", "debug", "--service", name, "--map", "password=P"],
               env={"VAULT_TOKEN": srv.token})
    survived(r, "HTTP 429: request path", "429 with Retry-After")
    assert r.env["P"] == val


def test_429_retry_after_real_no_busy_loop(vx, rate_limited):
    srv, name, val = rate_limited
    r = vx.run(["--addr", srv.addr, "--wait", "15s", "--log-level", "debug", "--service", name, "--map", "password=P"],
               env={"VAULT_TOKEN": srv.token})
    r.ok()
    n = len([l for l in r.stderr_lines() if "HTTP 429" in l])
    assert n <= 20, f"{n} requests answered 429 in {r.elapsed:.1f}s: retried without backoff"


def test_429_retry_after_beyond_the_deadline_real(vx, rate_limited):
    """Retry-After: 2 (real OpenBao) with 1 s of --wait left: give up at once."""
    srv, name, _ = rate_limited
    r = vx.run(["--addr", srv.addr, "--wait", "1s", "--service", name, "--map", "password=P"],
               env={"VAULT_TOKEN": srv.token})
    # Retry-After 1 or 2 cannot be honoured; 0 is backed off until the deadline
    fault(r, 69, "rate limit quota exceeded;", "429 with Retry-After", max_elapsed=1.5)


def test_429_retry_after_beyond_the_deadline(vx, fv):
    """Retry-After: 60 with --wait 3s cannot be honoured: give up at once,
    without hammering the server."""
    fv.script(SECRET, R(429, error_body("rate limit quota exceeded"), headers={"Retry-After": "60"}))
    r = run_fake(vx, fv)
    fault(r, 69, "HTTP 429: rate limit quota exceeded; the server asks to retry after 60s, past the --wait deadline",
          "429 with Retry-After", max_elapsed=2)
    assert len(fv.requests_to(SECRET)) == 1


@pytest.mark.parametrize("value", ["0", "Wed, 21 Oct 2015 07:28:00 GMT"], ids=["zero", "past-date"])
def test_429_retry_after_zero_is_not_a_busy_loop(vx, fv, value):
    """A server that keeps saying "429, retry after 0 s" must still be
    backed off from (with jitter), or a fleet of clients hammers it in
    lock-step.  Jittered backoff makes ~6 attempts in 2 s."""
    fv.script(SECRET, R(429, error_body("rate limit quota exceeded"), headers={"Retry-After": value}))
    r = run_fake(vx, fv, wait="2s")
    r.failed(69)
    n = len(fv.requests_to(SECRET))
    assert n <= 15, f"{n} attempts in 2 s: Retry-After {value!r} turned the backoff off"


def test_500_storm_on_the_read(vx, fv):
    fv.script(SECRET, R(500, error_body("internal error")))
    r = run_fake(vx, fv)
    fault(r, 69, "HTTP 500: internal error; gave up at the --wait deadline", "500 storm")
    assert 2.5 <= r.elapsed <= 7, r.describe()
    n = len(fv.requests_to(SECRET))
    assert 2 <= n <= 30, f"{n} attempts in 3 s: no backoff?"


def test_500_storm_on_health(vx, fv):
    fv.script(HEALTH, R(500, error_body()))
    r = run_fake(vx, fv)
    fault(r, 69, "at the --wait deadline", "500 storm")
    assert not fv.requests_to(SECRET)


def test_500_storm_then_success(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(500, error_body("internal error"), times=4), R(502), R(503), ok)
    r = survived(run_fake(vx, fv, wait="20s"), None, "500 storm")
    both_values(r, fv)
    assert len(fv.requests_to(SECRET)) == 7


@pytest.mark.parametrize("shape", ["a-b-a", "self"])
def test_redirect_loop(vx, fake_factory, fv, shape):
    if shape == "self":
        fv.script(SECRET, R(307, headers={"Location": fv.url(SECRET)}))
    else:
        b = fake_factory()
        b.script(SECRET, R(307, headers={"Location": fv.url(SECRET)}))
        fv.script(SECRET, R(307, headers={"Location": b.url(SECRET)}))
    r = run_fake(vx, fv)
    fault(r, 69, "following at most one redirect", "redirect loop", max_elapsed=2)


def test_https_to_http_redirect(vx, fake_factory, pki):
    plain = fake_factory()
    plain.kv2("app", {"password": vx.secret()})
    tls = fake_factory(tls=pki["server"])
    tls.script(SECRET, R(307, headers={"Location": plain.url(SECRET)}))
    r = vx.run(
        ["--addr", tls.addr, "--wait", "3s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    fault(r, 69, "redirect from https to http refused (protocol downgrade)", "https to http redirect",
          tmp_path=Path(pki["dir"]).parent, max_elapsed=2)
    assert plain.requests_to(SECRET) == []


def test_https_to_http_redirect_on_health(vx, fake_factory, pki):
    plain = fake_factory()
    tls = fake_factory(tls=pki["server"])
    tls.script(HEALTH, R(307, headers={"Location": plain.url(HEALTH)}))
    r = vx.run(
        ["--addr", tls.addr, "--wait", "3s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    fault(r, 69, "redirect from https to http refused", "https to http redirect", max_elapsed=2)
    assert plain.requests == []


# ---------------------------------------------------------------------------
# TLS (real OpenBao with its own listeners)
# ---------------------------------------------------------------------------


def run_tls(vx, own_bao, addr, name, *opts):
    return vx.run(
        ["--addr", addr, "--wait", "5s", *opts, "--service", name, "--map", "password=P"],
        env={"VAULT_TOKEN": own_bao.token},
    )


def test_tls_listeners_work_with_the_right_ca(vx, own_bao, tls_app):
    """The control: the same server, the right CA and a valid certificate."""
    name, val = tls_app
    r = run_tls(vx, own_bao, own_bao.tls_addr["good"], name, "--ca-cert", own_bao.certs["ca"])
    r.ok()
    assert r.env["P"] == val


@pytest.mark.parametrize("how", ["system-roots", "other-ca"])
def test_tls_unknown_ca(vx, own_bao, tls_app, pki, tmp_path, how):
    name, _ = tls_app
    opts = [] if how == "system-roots" else ["--ca-cert", pki["otherca"]]
    r = run_tls(vx, own_bao, own_bao.tls_addr["good"], name, *opts)
    fault(r, 78, "TLS verification failed: SSL certificate problem: unable to get local issuer certificate",
          "TLS unknown CA", tmp_path=Path(pki["dir"]).parent, max_elapsed=2)


def test_tls_expired_certificate(vx, own_bao, tls_app):
    name, _ = tls_app
    r = run_tls(vx, own_bao, own_bao.tls_addr["expired"], name, "--ca-cert", own_bao.certs["ca"])
    fault(r, 78, "certificate has expired", "TLS expired certificate", tmp_path=Path(own_bao.workdir).parent,
          max_elapsed=2)


def test_tls_wrong_host_name(vx, own_bao, tls_app):
    name, _ = tls_app
    r = run_tls(vx, own_bao, own_bao.tls_addr["wrongname"], name, "--ca-cert", own_bao.certs["ca"])
    fault(r, 78, "no alternative certificate subject name matches target host name '127.0.0.1'",
          "TLS wrong host name", tmp_path=Path(own_bao.workdir).parent, max_elapsed=2)


def test_tls_wrong_host_name_via_server_name(vx, own_bao, tls_app):
    """The valid certificate, but --tls-server-name asks for another name."""
    name, _ = tls_app
    r = run_tls(vx, own_bao, own_bao.tls_addr["good"], name, "--ca-cert", own_bao.certs["ca"],
                "--tls-server-name", "other.example.org")
    fault(r, 78, "TLS verification failed", "TLS wrong host name", tmp_path=Path(own_bao.workdir).parent,
          max_elapsed=2)


# ---------------------------------------------------------------------------
# network faults (DNS, silent servers, cut and huge bodies)
# ---------------------------------------------------------------------------


def test_dns_name_that_does_not_resolve(vx):
    """.invalid never resolves (RFC 6761).  A name that may appear later
    (DNS in a fresh pod) is retried until the deadline.  The lookup is
    bounded by --request-timeout and the deadline: a resolver that answers
    NXDOMAIN at once gives "Could not resolve host", a slow or absent one
    "Resolving timed out" -- either way the deadline is kept and no network
    is needed."""
    addr = f"http://vault.invalid:{vxlib.free_port()}"
    dns_failed = re.compile(r"could not resolve host: vault\.invalid|resolving timed out", re.I)
    one = vx.run(["--addr", addr, "--wait", "0", "--request-timeout", "2s", "--service", "app", "--map", "password=P"],
                 env={"VAULT_TOKEN": vx.token()})
    fault(one, 69, "http://vault.invalid:", "DNS name that does not resolve", max_elapsed=3.5)
    assert dns_failed.search(one.stderr), one.describe()
    r = vx.run(["--addr", addr, "--wait", "3s", "--service", "app", "--map", "password=P"],
               env={"VAULT_TOKEN": vx.token()})
    fault(r, 69, "is still unreachable (", "DNS name that does not resolve")
    assert dns_failed.search(r.stderr) and "at the --wait deadline" in r.stderr, r.describe()
    assert 2.5 <= r.elapsed <= 6, r.describe()


@pytest.fixture
def silent_listener():
    """A TCP port whose backlog completes the handshake but which never
    accepts, reads or answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_accepts_and_never_answers(vx, silent_listener):
    r = vx.run(
        ["--addr", silent_listener, "--wait", "3s", "--request-timeout", "1s", "--service", "app",
         "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    fault(r, 69, "timed out", "accepts and never answers")
    assert 2.5 <= r.elapsed <= 5, r.describe()


def test_reads_the_request_and_never_answers(vx, fv):
    """The fake reads the secret request and holds it; --request-timeout 1s."""
    fv.script(SECRET, R(200, {"data": {}}, delay=30))
    r = run_fake(vx, fv, "--request-timeout", "1s")
    fault(r, 69, "timed out", "accepts and never answers")
    assert r.elapsed <= 5, r.describe()
    assert len(fv.requests_to(SECRET)) >= 2, "a timed-out read is retried within --wait"


def test_slow_read_bounded_by_wait(vx, fv):
    """--request-timeout 60s, but --wait 3s still bounds it."""
    fv.script(SECRET, R(200, {"data": {}}, delay=30))
    r = run_fake(vx, fv, "--request-timeout", "60s")
    fault(r, 69, "timed out", "accepts and never answers")
    assert r.elapsed <= 5, r.describe()


@pytest.mark.parametrize("where", ["secret", "health"])
def test_response_cut_mid_body(vx, fv, where):
    ok = fv._scripts[SECRET][0]
    if where == "secret":
        fv.script(SECRET, R(200, ok.body, truncate=40))
    else:
        fv.script(HEALTH, R(200, HEALTH_OK, truncate=20))
    r = run_fake(vx, fv)
    fault(r, 69, "at the --wait deadline", "response cut mid body")
    assert "transfer closed with" in r.stderr, r.describe()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_100_mb_body_on_the_read(vx, fv, chunked):
    fv.script(SECRET, R(200, stream=100 * 1024 * 1024, chunked=chunked))
    r = run_fake(vx, fv, wait="10s")
    fault(r, 65, "response body too large", "100 MB body", max_elapsed=8)
    assert fv.bytes_sent < 30 * 1024 * 1024, f"read {fv.bytes_sent} bytes before refusing"


def test_100_mb_body_on_health(vx, fv):
    fv.script(HEALTH, R(200, stream=100 * 1024 * 1024))
    r = run_fake(vx, fv, wait="10s")
    fault(r, 69, "response body too large", "100 MB body", max_elapsed=8)


# ---------------------------------------------------------------------------
# JSON (fake)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["{not json", '{"data": {"data": {"password": "x"}}', "", "[]", '{"data": "string"}'],
    ids=["garbage", "unterminated", "empty", "array", "data-string"],
)
def test_malformed_json(vx, fv, body):
    fv.script(SECRET, R(200, body))
    r = run_fake(vx, fv)
    fault(r, 65, "secret/data/app", "malformed JSON", max_elapsed=2)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100000,
        "[" * 100000 + "]" * 100000,
        kv2_raw_body('{"password": ' + "[" * 100000 + "]" * 100000 + "}"),
        kv2_raw_body('{"password": ' + '{"a":' * 50000 + "1" + "}" * 50000 + "}"),
    ],
    ids=["100k-open-brackets", "100k-balanced", "deep-field-array", "deep-field-object"],
)
def test_deeply_nested_json(vx, fv, body):
    fv.script(SECRET, R(200, body))
    r = run_fake(vx, fv)
    fault(r, (65, 69), "secret/data/app", "deeply nested JSON", max_elapsed=3)


def test_nesting_just_under_the_limit(vx, fake):
    """A field 500 levels deep parses and is rendered as compact JSON."""
    depth = 500
    fake.kv2_raw("deep", '{"d": ' + "[" * depth + "]" * depth + ', "s": "x"}')
    r = vx.run(conn(fake, "5s", "--service", "deep", "--map", "d=D,s=S"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["D"] == "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "value,expect",
    [({"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'), (5432, "5432"), (-7, "-7")],
    ids=["object", "number", "negative"],
)
def test_field_object_or_number_is_rendered(bao, vx, value, expect):
    """Not a fault (real OpenBao): an object becomes compact JSON, a number
    its literal text."""
    name = vx.name("odd")
    bao.put_kv2(name, {"f": value, "ok": "fine"})
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "f=F,ok=OK"), env={"VAULT_TOKEN": bao.token})
    survived(r, None, "field that is an object or a number")
    assert r.env["F"] == expect and r.env["OK"] == "fine"


def test_field_null(bao, vx):
    name = vx.name("odd")
    bao.put_kv2(name, {"f": None, "ok": "fine"})
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "ok=OK,f=F"), env={"VAULT_TOKEN": bao.token})
    fault(r, 65, f"secret/data/{name}: no field 'f' (it is null)", "field that is null", max_elapsed=2)


@pytest.mark.parametrize("where", ["map", "env", "file"])
def test_field_with_nul(bao, vx, tmp_path, where):
    """OpenBao stores and returns "a\u0000b" faithfully; no variable or
    file can carry it."""
    name = vx.name("odd")
    bao.put_kv2(name, {"f": "a\x00b", "ok": "fine"})
    dest = tmp_path / "out"
    opts = {
        "map": ["--map", "f=F"],
        "env": ["--env", "F=x{{ f }}"],
        "file": ["--file", f"{dest}={{{{ f }}}}"],
    }[where]
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "ok=OK", *opts), env={"VAULT_TOKEN": bao.token})
    fault(r, 65, "holds a NUL byte", "field that holds a NUL", tmp_path=tmp_path, max_elapsed=2)
    assert not dest.exists()


# ---------------------------------------------------------------------------
# token file (real OpenBao)
# ---------------------------------------------------------------------------


@pytest.fixture
def app(bao, vx):
    name = vx.name("fault")
    val = vx.secret()
    bao.put_kv2(name, {"password": val})
    return name, val


def test_token_file_missing(bao, vx, app, tmp_path):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--token-file", str(tmp_path / "token"), "--service", name, "--map", "password=P"))
    fault(r, 78, "No such file or directory", "token file missing", tmp_path=tmp_path, max_elapsed=2)


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"], ids=["empty", "LF-only", "CRLF-only"])
def test_token_file_empty(bao, vx, app, tmp_path, content):
    name, _ = app
    f = tmp_path / "token"
    f.write_bytes(content)
    r = vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"))
    fault(r, 78, "empty", "token file empty", tmp_path=tmp_path, max_elapsed=2)


def test_token_file_crlf(bao, vx, app, tmp_path):
    """Written on Windows: the trailing CRLF is stripped and the token works."""
    name, val = app
    f = tmp_path / "token"
    f.write_bytes(bao.token.encode() + b"\r\n")
    r = survived(vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P")),
                 None, "token file with CRLF", tmp_path=tmp_path)
    assert r.env["P"] == val


def test_token_file_inner_crlf(bao, vx, app, tmp_path):
    """A CR inside the token (two lines, CRLF-separated) is refused, not
    sent as a header (no header injection)."""
    name, _ = app
    f = tmp_path / "token"
    f.write_bytes(bao.token.encode() + b"\r\nX-Evil: 1\r\n")
    r = vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"))
    fault(r, 78, "token", "token file with CRLF", tmp_path=tmp_path, max_elapsed=2)


# ---------------------------------------------------------------------------
# the command (real OpenBao)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["/nonexistent-dir/vx-cmd", "vx-no-such-command-7f3a"], ids=["path", "bare-name"])
def test_command_missing(bao, vx, app, cmd):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), cmd=[cmd], env={"VAULT_TOKEN": bao.token})
    fault(r, 127, "command not found", "command missing", max_elapsed=3)


@pytest.mark.parametrize("kind", ["mode-0644", "directory", "in-PATH-0644"])
def test_command_not_executable(bao, vx, app, tmp_path, kind):
    name, _ = app
    env = {"VAULT_TOKEN": bao.token}
    if kind == "directory":
        cmd = [str(tmp_path)]
        phrase = "is a directory"
    else:
        d = tmp_path / "bin"
        d.mkdir()
        f = d / "vx-not-exec"
        f.write_text("#!/bin/sh\nexit 0\n")
        f.chmod(0o644)
        if kind == "mode-0644":
            cmd, phrase = [str(f)], "permission denied"
        else:
            cmd, phrase = ["vx-not-exec"], "not executable"
            env["PATH"] = f"{d}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), cmd=cmd, env=env)
    fault(r, 126, phrase, "command not executable", tmp_path=tmp_path, max_elapsed=3)


@pytest.mark.parametrize("cmd,rc,phrase", [("/nonexistent-dir/vx-cmd", 127, "command not found"),
                                          ("/etc/passwd", 126, "permission denied")], ids=["missing", "not-executable"])
def test_command_checked_before_waiting(vx, cmd, rc, phrase):
    """The command is looked up before Vault is contacted: a typo in the
    command fails at once instead of after a 30 s wait."""
    r = vx.run(["--addr", closed_addr(), "--wait", "30s", "--service", "app", "--map", "password=P"], cmd=[cmd],
               env={"VAULT_TOKEN": vx.token()})
    fault(r, rc, phrase, "command missing" if rc == 127 else "command not executable", max_elapsed=2)
    assert "unreachable" not in r.stderr


# ---------------------------------------------------------------------------
# SIGTERM while waiting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("during", ["backoff", "hung-request"])
def test_sigterm_while_waiting(vx, silent_listener, during):
    """Started with --wait 30s against a dead port (or a server that never
    answers, so vaultexec sits inside a request); SIGTERM after 1 s: it
    exits at once with 128+15 and never starts the child."""
    addr = closed_addr() if during == "backoff" else silent_listener
    out = vx.outfile()
    cmd, _ = vx.child_cmd(outfile=out)
    argv = [vx.bin, "--addr", addr, "--wait", "30s", "--request-timeout", "30s", "--service", "app",
            "--map", "password=P", "--", *cmd]
    env = vx.base_env()
    env["VAULT_TOKEN"] = vx.token()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        time.sleep(1.0)
        assert p.poll() is None, "vaultexec ended before the signal"
        t_sig = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            so, se = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            so, se = p.communicate()
            pytest.fail("vaultexec did not exit within 5 s of SIGTERM")
        took = time.monotonic() - t_sig
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    r = vxlib.Result(argv=argv, rc=p.returncode, stdout=so.decode(errors="replace"),
                     stderr=se.decode(errors="replace"), elapsed=time.monotonic() - t0, pid=p.pid, outfile=out)
    vx.leaks.runs.append(r)
    r.failed(143)
    assert took < 1.0, f"took {took:.2f}s to exit after SIGTERM\n{r.describe()}"
    assert "terminated by a signal; the command was not started" in r.stderr, r.describe()
    if during == "backoff":
        assert "waiting" in r.stderr, r.describe()
    _record("SIGTERM while waiting", r, None)

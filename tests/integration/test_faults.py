"""The fault matrix of issue 5; tests/FAULTS.md is the table.

One test, parametrised family or table entry per row (the rows against the
fake, the TLS listeners and the token file are tables: FAKE_ROWS, TLS_ROWS,
TOKEN_FILE_ROWS).  Each asserts the exit code, a
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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


def read_p(vx, addr, wait, *opts, name="app", token=None, **kw):
    """vaultexec OPTS reading NAME's password into P from ADDR (a fresh
    token unless TOKEN)."""
    return vx.run(["--addr", addr, "--wait", wait, *opts, "--service", name, "--map", "password=P"],
                  env={"VAULT_TOKEN": token or vx.token()}, **kw)


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


def stored_password(srv, vx, stem="fault"):
    """A fresh KV v2 secret on SRV with a password; (name, value)."""
    name = vx.name(stem)
    val = vx.secret()
    srv.put_kv2(name, {"password": val})
    return name, val


@pytest.fixture
def sealed_app(sealable, vx):
    yield (sealable, *stored_password(sealable, vx))
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

    def _extra_args(self):
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
        return [f"-config={cfg}"]


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
    return stored_password(own_bao, vx, "tlsfault")


# ---------------------------------------------------------------------------
# the fake's rows, as a table
# ---------------------------------------------------------------------------


@dataclass
class FakeRow:
    """One run against the fake `fv` (secret/app faulty, secret/good healthy,
    both mapped) after SCRIPT(fv, fake_factory) set the fault up.  RC None:
    the client rides it out (`survived`) and the child got both values;
    else `fault` with RC and PHRASE (PHRASE None: only the exit code and "the
    child never started").  CHECKS(r, fv): the row's further assertions."""

    row: str
    script: Callable
    rc: int | tuple | None = None
    phrase: str | None = None
    wait: str = "3s"
    opts: tuple = ()
    max_elapsed: float | None = None
    checks: tuple = ()


def case(id, *args, **kw):
    return pytest.param(FakeRow(*args, **kw), id=id)


def script(path, *replies):
    return lambda fv, ff: fv.script(path, *replies)


def ok_reply(fv):
    """The healthy reply the `fv` fixture scripted for secret/app."""
    return fv._scripts[SECRET][0]


def requests(path, lo, hi, msg=""):
    def check(r, fv):
        n = len(fv.requests_to(path))
        assert lo <= n <= hi, msg.format(n=n)

    return check


def elapsed(lo, hi):
    def check(r, fv):
        assert lo <= r.elapsed <= hi, r.describe()

    return check


def retry_after_2s_honoured(r, fv):
    s = fv.requests_to(SECRET)
    assert len(s) == 2 and s[1].time - s[0].time >= 1.9


def redirect_a_b_a(fv, fake_factory):
    b = fake_factory()
    b.script(SECRET, R(307, headers={"Location": fv.url(SECRET)}))
    fv.script(SECRET, R(307, headers={"Location": b.url(SECRET)}))


def transfer_closed(r, fv):
    assert "transfer closed with" in r.stderr, r.describe()


def read_at_most_30_mb(r, fv):
    assert fv.bytes_sent < 30 * 1024 * 1024, f"read {fv.bytes_sent} bytes before refusing"


QUOTA = error_body("rate limit quota exceeded")
HUNG = R(200, {"data": {}}, delay=30)
BIG = 100 * 1024 * 1024

FAKE_ROWS = [
    # sys/health 429 (standby) and 473 (performance standby) mean ready
    # (standbyok=true); the read goes through: the first request's answer
    # stands in for sys/health, which is never asked.
    *(case(f"standby_answers-{code}", "standby answers", script(HEALTH, R(code, HEALTH_STANDBY)), wait="5s",
           checks=(requests(HEALTH, 0, 0),)) for code in (429, 473)),
    # a standby that cannot reach an active node until the deadline
    case("standby_without_active_node", "standby answers",
         lambda fv, ff: (fv.script(HEALTH, R(429, HEALTH_STANDBY)),
                         fv.script(SECRET, R(503, error_body("no active Vault instance found")))),
         69, "no active Vault instance found; gave up at the --wait deadline"),
    case("429_retry_after_honoured", "429 with Retry-After",
         lambda fv, ff: fv.script(SECRET, R(429, QUOTA, headers={"Retry-After": "2"}), ok_reply(fv)),
         wait="10s", checks=(retry_after_2s_honoured,)),
    # Retry-After: 60 with --wait 3s cannot be honoured: give up at once,
    # without hammering the server.
    case("429_retry_after_beyond_the_deadline", "429 with Retry-After",
         script(SECRET, R(429, QUOTA, headers={"Retry-After": "60"})), 69,
         "HTTP 429: rate limit quota exceeded; the server asks to retry after 60s, past the --wait deadline",
         max_elapsed=2, checks=(requests(SECRET, 1, 1),)),
    # A server that keeps saying "429, retry after 0 s" must still be backed
    # off from (with jitter), or a fleet of clients hammers it in lock-step.
    # Jittered backoff makes ~6 attempts in 2 s.
    *(case(f"429_retry_after_zero_is_not_a_busy_loop-{id}", "429 with Retry-After",
           script(SECRET, R(429, QUOTA, headers={"Retry-After": v})), 69, wait="2s",
           checks=(requests(SECRET, 0, 15, f"{{n}} attempts in 2 s: Retry-After {v!r} turned the backoff off"),))
      for id, v in (("zero", "0"), ("past-date", "Wed, 21 Oct 2015 07:28:00 GMT"))),
    case("500_storm_on_the_read", "500 storm", script(SECRET, R(500, error_body("internal error"))), 69,
         "HTTP 500: internal error; gave up at the --wait deadline",
         checks=(elapsed(2.5, 7), requests(SECRET, 2, 30, "{n} attempts in 3 s: no backoff?"))),
    # the node answers 500 to everything: the first read meets it, then
    # only sys/health is asked until the deadline
    case("500_storm_on_health", "500 storm", script(HEALTH, R(500, error_body())), 69, "at the --wait deadline",
         checks=(requests(SECRET, 1, 1),)),
    case("500_storm_then_success", "500 storm",
         lambda fv, ff: fv.script(SECRET, R(500, error_body("internal error"), times=4), R(502), R(503), ok_reply(fv)),
         wait="20s", checks=(requests(SECRET, 7, 7),)),
    case("redirect_loop-a-b-a", "redirect loop", redirect_a_b_a, 69, "following at most one redirect", max_elapsed=2),
    case("redirect_loop-self", "redirect loop",
         lambda fv, ff: fv.script(SECRET, R(307, headers={"Location": fv.url(SECRET)})), 69,
         "following at most one redirect", max_elapsed=2),
    # the fake reads the secret request and holds it: a timed-out read is
    # retried within --wait; with --request-timeout 60s, --wait still bounds it
    case("reads_the_request_and_never_answers", "accepts and never answers", script(SECRET, HUNG), 69, "timed out",
         opts=("--request-timeout", "1s"),
         checks=(elapsed(0, 5), requests(SECRET, 2, 1 << 30, "a timed-out read is retried within --wait"))),
    case("slow_read_bounded_by_wait", "accepts and never answers", script(SECRET, HUNG), 69, "timed out",
         opts=("--request-timeout", "60s"), checks=(elapsed(0, 5),)),
    case("response_cut_mid_body-secret", "response cut mid body",
         lambda fv, ff: fv.script(SECRET, R(200, ok_reply(fv).body, truncate=40)), 69, "at the --wait deadline",
         checks=(transfer_closed,)),
    case("response_cut_mid_body-health", "response cut mid body", script(HEALTH, R(200, HEALTH_OK, truncate=20)),
         69, "at the --wait deadline", checks=(transfer_closed,)),
    *(case(f"100_mb_body_on_the_read-{id}", "100 MB body", script(SECRET, R(200, stream=BIG, chunked=chunked)), 65,
           "response body too large", wait="10s", max_elapsed=8, checks=(read_at_most_30_mb,))
      for id, chunked in (("content-length", False), ("chunked", True))),
    case("100_mb_body_on_health", "100 MB body", script(HEALTH, R(200, stream=BIG)), 69, "response body too large",
         wait="10s", max_elapsed=8),
    *(case(f"malformed_json-{id}", "malformed JSON", script(SECRET, R(200, body)), 65, "secret/data/app",
           max_elapsed=2)
      for id, body in (("garbage", "{not json"), ("unterminated", '{"data": {"data": {"password": "x"}}'),
                       ("empty", ""), ("array", "[]"), ("data-string", '{"data": "string"}'))),
    *(case(f"deeply_nested_json-{id}", "deeply nested JSON", script(SECRET, R(200, body)), (65, 69), "secret/data/app",
           max_elapsed=3)
      for id, body in (
          ("100k-open-brackets", "[" * 100000),
          ("100k-balanced", "[" * 100000 + "]" * 100000),
          ("deep-field-array", kv2_raw_body('{"password": ' + "[" * 100000 + "]" * 100000 + "}")),
          ("deep-field-object", kv2_raw_body('{"password": ' + '{"a":' * 50000 + "1" + "}" * 50000 + "}")))),
]


@pytest.mark.parametrize("row", FAKE_ROWS)
def test_fake_row(vx, fv, fake_factory, row):
    row.script(fv, fake_factory)
    r = run_fake(vx, fv, *row.opts, wait=row.wait)
    if row.rc is None:
        survived(r, row.phrase, row.row)
        both_values(r, fv)
    elif row.phrase is None:
        r.failed(row.rc)
    else:
        fault(r, row.rc, row.phrase, row.row, max_elapsed=row.max_elapsed)
    for check in row.checks:
        check(r, fv)


# ---------------------------------------------------------------------------
# Vault down / sealed / standby (real OpenBao and fake)
# ---------------------------------------------------------------------------


def test_down_for_the_whole_deadline(vx):
    r = read_p(vx, closed_addr(), "3s")
    fault(r, 69, "is still unreachable (", "down for the whole deadline")
    assert "connect" in r.stderr.lower(), r.describe()
    assert 2.5 <= r.elapsed <= 6, r.describe()


def ride_out(vx, sealed_app, pause, heal, word, row, while_down=""):
    """vaultexec --wait 30s started against the broken server SEALED_APP;
    after PAUSE s it must still be waiting; HEAL() mends the server; the
    child then runs with the value, and vaultexec said WORD on the way."""
    srv, name, val = sealed_app
    t, out = run_in_thread(lambda: read_p(vx, srv.addr, "30s", name=name, token=srv.token, timeout=45))
    time.sleep(pause)
    assert t.is_alive(), f"{while_down}{out and out[0].describe()}"
    heal()
    t.join(40)
    assert not t.is_alive()
    r = survived(out[0], "is ready after", row)
    assert r.env["P"] == val
    assert word in r.stderr
    assert r.elapsed >= pause


def test_down_then_up_real(vx, sealed_app):
    """Real OpenBao stopped; vaultexec starts; OpenBao starts 2 s later
    (a restarted OpenBao is sealed) and is unsealed at once."""
    srv = sealed_app[0]
    srv.stop()

    def heal():
        srv.start()
        srv.wait_status({503}, timeout=20)
        srv.unseal()

    ride_out(vx, sealed_app, 2, heal, "unreachable", "down then up")


def test_sealed_then_unsealed_real(vx, sealed_app):
    """Sealed through the API (PUT sys/seal), unsealed 2.5 s later."""
    srv = sealed_app[0]
    srv.api("PUT", "sys/seal")
    assert srv.wait_status({503}) == 503
    ride_out(vx, sealed_app, 2.5, srv.unseal, "sealed", "sealed then unsealed", while_down="finished while sealed: ")


def test_sealed_for_the_whole_deadline_real(vx, sealed_app):
    srv, name, _ = sealed_app
    srv.api("PUT", "sys/seal")
    assert srv.wait_status({503}) == 503
    r = read_p(vx, srv.addr, "3s", name=name, token=srv.token)
    fault(r, 69, "is still sealed", "sealed for the whole deadline")
    assert 2.5 <= r.elapsed <= 7, r.describe()


def test_standby_redirects_the_read(vx, fake_factory):
    """A standby that answers the read with 307 to the active node."""
    active = fake_factory()
    val = vx.secret()
    active.kv2("app", {"password": val})
    standby = fake_factory()
    standby.script(HEALTH, R(429, HEALTH_STANDBY))
    standby.script(SECRET, R(307, headers={"Location": active.url(SECRET)}))
    r = read_p(vx, standby.addr, "5s")
    survived(r, None, "standby answers")
    assert r.env["P"] == val


# ---------------------------------------------------------------------------
# 429 (real OpenBao), redirects (fake)
# ---------------------------------------------------------------------------


@pytest.fixture
def rate_limited(own_bao, vx):
    """A secret behind a real OpenBao rate-limit quota of 1 request per 3 s
    (with Retry-After headers on), the one request already used up."""
    own_bao.api("POST", "sys/quotas/config", {"enable_rate_limit_response_headers": True})
    name, val = stored_password(own_bao, vx, "rl")
    own_bao.api("POST", f"sys/quotas/rate-limit/{name}", {"path": f"secret/data/{name}", "rate": 1, "interval": "3s"})
    own_bao.api("GET", f"secret/data/{name}")
    st, _ = vxlib.http_json("GET", f"{own_bao.addr}/v1/secret/data/{name}", token=own_bao.token)
    assert st == 429, "the rate-limit quota does not bite"
    yield own_bao, name, val
    own_bao.api("DELETE", f"sys/quotas/rate-limit/{name}")


def test_429_retry_after_real(vx, rate_limited):
    srv, name, val = rate_limited
    r = read_p(vx, srv.addr, "15s", "--log-level", "debug", name=name, token=srv.token)
    survived(r, "HTTP 429: request path", "429 with Retry-After")
    assert r.env["P"] == val


def test_429_retry_after_real_no_busy_loop(vx, rate_limited):
    srv, name, val = rate_limited
    r = read_p(vx, srv.addr, "15s", "--log-level", "debug", name=name, token=srv.token)
    r.ok()
    n = len([l for l in r.stderr_lines() if "HTTP 429" in l])
    assert n <= 20, f"{n} requests answered 429 in {r.elapsed:.1f}s: retried without backoff"


def test_429_retry_after_beyond_the_deadline_real(vx, rate_limited):
    """Retry-After: 2 (real OpenBao) with 1 s of --wait left: give up at once."""
    srv, name, _ = rate_limited
    r = read_p(vx, srv.addr, "1s", name=name, token=srv.token)
    # Retry-After 1 or 2 cannot be honoured; 0 is backed off until the deadline
    fault(r, 69, "rate limit quota exceeded;", "429 with Retry-After", max_elapsed=1.5)


def test_https_to_http_redirect(vx, fake_factory, pki):
    plain = fake_factory()
    plain.kv2("app", {"password": vx.secret()})
    tls = fake_factory(tls=pki["server"])
    tls.script(SECRET, R(307, headers={"Location": plain.url(SECRET)}))
    r = read_p(vx, tls.addr, "3s", "--ca-cert", pki["ca"])
    fault(r, 69, "redirect from https to http refused (protocol downgrade)", "https to http redirect",
          tmp_path=Path(pki["dir"]).parent, max_elapsed=2)
    assert plain.requests_to(SECRET) == []


def test_https_to_http_redirect_on_health(vx, fake_factory, pki):
    plain = fake_factory()
    tls = fake_factory(tls=pki["server"])
    tls.script(HEALTH, R(307, headers={"Location": plain.url(HEALTH)}))
    r = read_p(vx, tls.addr, "3s", "--ca-cert", pki["ca"])
    fault(r, 69, "redirect from https to http refused", "https to http redirect", max_elapsed=2)
    assert plain.requests == []


# ---------------------------------------------------------------------------
# TLS (real OpenBao with its own listeners)
# ---------------------------------------------------------------------------


def test_tls_listeners_work_with_the_right_ca(vx, own_bao, tls_app):
    """The control: the same server, the right CA and a valid certificate."""
    name, val = tls_app
    r = read_p(vx, own_bao.tls_addr["good"], "5s", "--ca-cert", own_bao.certs["ca"], name=name, token=own_bao.token)
    r.ok()
    assert r.env["P"] == val


def _pki_tmp(b, pki):
    return Path(pki["dir"]).parent


def _bao_tmp(b, pki):
    return Path(b.workdir).parent


# id, listener, options (given own_bao and pki), phrase, row, the directory
# that becomes TMP in the recorded message; every row is 78 at once.
# "wrong_host_name_via_server_name": the valid certificate, but
# --tls-server-name asks for another name.
TLS_ROWS = [
    ("unknown_ca-system-roots", "good", lambda b, pki: [],
     "TLS verification failed: SSL certificate problem: unable to get local issuer certificate", "TLS unknown CA", _pki_tmp),
    ("unknown_ca-other-ca", "good", lambda b, pki: ["--ca-cert", pki["otherca"]],
     "TLS verification failed: SSL certificate problem: unable to get local issuer certificate", "TLS unknown CA", _pki_tmp),
    ("expired_certificate", "expired", lambda b, pki: ["--ca-cert", b.certs["ca"]],
     "certificate has expired", "TLS expired certificate", _bao_tmp),
    ("wrong_host_name", "wrongname", lambda b, pki: ["--ca-cert", b.certs["ca"]],
     "no alternative certificate subject name matches target host name '127.0.0.1'", "TLS wrong host name", _bao_tmp),
    ("wrong_host_name_via_server_name", "good",
     lambda b, pki: ["--ca-cert", b.certs["ca"], "--tls-server-name", "other.example.org"],
     "TLS verification failed", "TLS wrong host name", _bao_tmp),
]


@pytest.mark.parametrize("listener,opts,phrase,row,tmp", [r[1:] for r in TLS_ROWS], ids=[r[0] for r in TLS_ROWS])
def test_tls_row(vx, own_bao, tls_app, pki, listener, opts, phrase, row, tmp):
    name, _ = tls_app
    r = read_p(vx, own_bao.tls_addr[listener], "5s", *opts(own_bao, pki), name=name, token=own_bao.token)
    fault(r, 78, phrase, row, tmp_path=tmp(own_bao, pki), max_elapsed=2)


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
    one = read_p(vx, addr, "0", "--request-timeout", "2s")
    fault(one, 69, "http://vault.invalid:", "DNS name that does not resolve", max_elapsed=3.5)
    assert dns_failed.search(one.stderr), one.describe()
    r = read_p(vx, addr, "3s")
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
    r = read_p(vx, silent_listener, "3s", "--request-timeout", "1s")
    fault(r, 69, "timed out", "accepts and never answers")
    assert 2.5 <= r.elapsed <= 5, r.describe()


# ---------------------------------------------------------------------------
# JSON (fake)
# ---------------------------------------------------------------------------


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
    return stored_password(bao, vx)


# id, content of the token file (None: no file; TOKEN stands for the root
# token), exit code (None: it works), phrase, row.
TOKEN_FILE_ROWS = [
    ("missing", None, 78, "No such file or directory", "token file missing"),
    ("empty-empty", b"", 78, "empty", "token file empty"),
    ("empty-LF-only", b"\n", 78, "empty", "token file empty"),
    ("empty-CRLF-only", b"\r\n", 78, "empty", "token file empty"),
    # written on Windows: the trailing CRLF is stripped and the token works
    ("crlf", b"TOKEN\r\n", None, None, "token file with CRLF"),
    # a CR inside the token (two lines, CRLF-separated) is refused, not sent
    # as a header (no header injection)
    ("inner_crlf", b"TOKEN\r\nX-Evil: 1\r\n", 78, "token", "token file with CRLF"),
]


@pytest.mark.parametrize("content,rc,phrase,row", [r[1:] for r in TOKEN_FILE_ROWS],
                         ids=[r[0] for r in TOKEN_FILE_ROWS])
def test_token_file_row(bao, vx, app, tmp_path, content, rc, phrase, row):
    name, val = app
    f = tmp_path / "token"
    if content is not None:
        f.write_bytes(content.replace(b"TOKEN", bao.token.encode()))
    r = vx.run(conn(bao, "5s", "--token-file", str(f), "--service", name, "--map", "password=P"))
    if rc is None:
        survived(r, phrase, row, tmp_path=tmp_path)
        assert r.env["P"] == val
    else:
        fault(r, rc, phrase, row, tmp_path=tmp_path, max_elapsed=2)


# ---------------------------------------------------------------------------
# the command (real OpenBao)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["/nonexistent-dir/vx-cmd", "vx-no-such-command-7f3a"], ids=["path", "bare-name"])
def test_command_missing(bao, vx, app, cmd):
    name, _ = app
    r = read_p(vx, bao.addr, "5s", name=name, token=bao.token, cmd=[cmd])
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
    r = read_p(vx, closed_addr(), "30s", cmd=[cmd])
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

"""Waiting for Vault: a real OpenBao that comes up late and sealed, the
--wait deadline, and (with the fake) health states, retries, Retry-After,
backoff and --request-timeout."""
from __future__ import annotations

import threading
import time

import pytest

import vxlib
from fakevault import HEALTH_OK, HEALTH_SEALED, HEALTH_STANDBY, HEALTH_UNINIT, R, error_body, until
from vxlib import conn

HEALTH = "/v1/sys/health"
SECRET = "/v1/secret/data/app"


def closed_addr():
    return f"http://127.0.0.1:{vxlib.free_port()}"


# ---------------------------------------------------------------------------
# real OpenBao
# ---------------------------------------------------------------------------


def test_start_before_openbao_is_up(vx, tmp_path):
    """vaultexec starts while nothing listens; OpenBao comes up sealed 2.5 s
    later and is unsealed ~1.5 s after that: vaultexec waits it all out."""
    port = vxlib.free_port(pair=True)
    srv = vxlib.BaoFileServer(tmp_path / "bao", port)
    try:
        srv.start()
        root = srv.initialize()
        val = vx.secret()
        srv.put_kv2("late", {"password": val})
        srv.stop()

        results = []
        t = threading.Thread(
            target=lambda: results.append(
                vx.run(
                    ["--addr", srv.addr, "--wait", "30s", "--service", "late", "--map", "password=P"],
                    env={"VAULT_TOKEN": root},
                    timeout=45,
                )
            )
        )
        t0 = time.monotonic()
        t.start()
        time.sleep(2.5)
        assert t.is_alive(), f"vaultexec gave up before OpenBao started: {results and results[0].describe()}"
        srv.start()
        assert srv.wait_status({503}, timeout=20) == 503  # up, sealed
        time.sleep(1.5)
        assert t.is_alive(), f"vaultexec finished while OpenBao was sealed: {results and results[0].describe()}"
        srv.unseal()
        t.join(40)
        assert not t.is_alive(), "vaultexec did not finish after the unseal"
        r = results[0]
        r.ok()
        assert r.env["P"] == val
        assert time.monotonic() - t0 >= 4.0
        # state changes are logged, not every attempt
        assert len(r.stderr_lines()) <= 6, f"too chatty while waiting\n{r.describe()}"
    finally:
        srv.stop()


def test_wait_zero_is_one_attempt(vx):
    r = vx.run(["--addr", closed_addr(), "--wait", "0", "--service", "x", "--map", "a=A"], env={"VAULT_TOKEN": "t" * 10})
    r.failed(69)
    assert r.elapsed < 2.0, r.describe()


def test_wait_deadline_unreachable(vx):
    r = vx.run(["--addr", closed_addr(), "--wait", "3s", "--service", "x", "--map", "a=A"], env={"VAULT_TOKEN": "t" * 10})
    r.failed(69)
    assert 2.5 <= r.elapsed <= 7.0, f"--wait 3s should take about 3 s\n{r.describe()}"


def test_wait_env_var(vx):
    r = vx.run(["--addr", closed_addr(), "--service", "x", "--map", "a=A"], env={"VAULT_TOKEN": "t" * 10, "VAULTEXEC_WAIT": "1s"})
    r.failed(69)
    assert 0.5 <= r.elapsed <= 5.0, r.describe()


# ---------------------------------------------------------------------------
# fake: health states
# ---------------------------------------------------------------------------


@pytest.fixture
def fv(fake, vx):
    """The default fake with one secret at secret/app."""
    fake.val = vx.secret()
    fake.kv2("app", {"password": fake.val})
    fake.tok = vx.token()
    return fake


def run_fake(vx, fv, *opts, wait="10s", env=None):
    e = {"VAULT_TOKEN": fv.tok}
    e.update(env or {})
    return vx.run(conn(fv, wait, *opts, "--service", "app", "--map", "password=P"), env=e)


def test_first_answer_stands_in_for_health(vx, fv):
    """A node that answers needs no sys/health round trip: the read's own
    answer shows it serves, so a start is one request."""
    r = run_fake(vx, fv)
    r.ok()
    assert r.env["P"] == fv.val
    assert fv.requests_to(HEALTH) == []
    assert len(fv.requests_to(SECRET)) == 1


@pytest.mark.parametrize("status,page,want", [(404, "<html>not found</html>", "is this the address of Vault's API?"),
                                              (400, "Client sent an HTTP request to an HTTPS server.\n", "speaks TLS")])
def test_an_answer_not_from_vault_asks_health(vx, fv, status, page, want):
    """A first answer that is no JSON object (another server's page, the
    wrong scheme) does not count as Vault's: sys/health is asked, and its
    answer names the problem."""
    fv.health_gate = False  # another server: its pages follow no node state
    fv.script(SECRET, R(status, page))
    fv.script(HEALTH, R(status, page))
    r = run_fake(vx, fv)
    r.failed()
    assert len(fv.requests_to(HEALTH)) == 1
    assert len(fv.requests_to(SECRET)) == 1
    assert want in r.stderr, r.describe()


def test_nothing_to_read_still_waits(vx, fv):
    """A run that asks Vault nothing (no secret, a given token) still waits
    for a ready Vault: vaultexec as a gate before the command."""
    fv.script(HEALTH, R(503, HEALTH_SEALED), R(200, HEALTH_OK))
    r = vx.run(conn(fv, "10s"), env={"VAULT_TOKEN": fv.tok})
    r.ok()
    assert len(fv.requests_to(HEALTH)) == 2
    assert "sealed" in r.stderr, r.describe()


def test_health_query_and_headers(vx, fv):
    fv.script(HEALTH, R(503, HEALTH_SEALED), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.ok()
    hs = fv.requests_to(HEALTH)
    assert len(hs) >= 2
    for h in hs:
        assert h.method in ("GET", "HEAD")
        assert h.params.get("standbyok") == ["true"], h.query
        assert h.params.get("perfstandbyok") == ["true"], h.query
        assert h.header("X-Vault-Request") == ["true"]


def test_sealed_then_unsealed(vx, fv):
    fv.script(HEALTH, until(3.0, R(503, HEALTH_SEALED), R(200, HEALTH_OK)))
    r = run_fake(vx, fv)
    r.ok()
    assert r.env["P"] == fv.val
    n = len(fv.requests_to(HEALTH))
    assert n >= 3, f"only {n} health polls in 3 s"
    assert n <= 40, f"{n} health polls in 3 s: no backoff?"
    assert r.elapsed >= 2.8
    lines = r.stderr_lines()
    assert len(lines) <= 4, f"logs every attempt? ({n} attempts)\n{r.describe()}"
    assert any("seal" in l.lower() for l in lines), f"no line saying it waits for a sealed Vault\n{r.describe()}"
    # the first read met the sealed node (it stands in for sys/health);
    # the next came once sys/health said ready
    s = fv.requests_to(SECRET)
    assert len(s) == 2, r.describe()
    assert s[0].time <= fv.requests_to(HEALTH)[0].time
    assert s[1].time >= fv.requests_to(HEALTH)[-1].time


def test_uninitialized_then_ready(vx, fv):
    fv.script(HEALTH, R(501, HEALTH_UNINIT), R(501, HEALTH_UNINIT), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.ok()
    assert len(fv.requests_to(HEALTH)) == 3


@pytest.mark.parametrize("code", [429, 473])
def test_standby_is_ready(vx, fv, code):
    # the first read meets a 503, so sys/health is asked
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(503, error_body("no active Vault instance found")), ok)
    fv.script(HEALTH, R(code, HEALTH_STANDBY))
    r = run_fake(vx, fv)
    r.ok()
    assert r.env["P"] == fv.val
    assert len(fv.requests_to(HEALTH)) == 1, "a standby answer means ready"
    assert r.elapsed < 3


def test_health_5xx_storm_then_ready(vx, fv):
    fv.script(HEALTH, R(500, error_body()), R(502), R(503, HEALTH_SEALED), R(504), R(500, "not json"), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.ok()
    assert len(fv.requests_to(HEALTH)) == 6


def test_health_412_then_ready(vx, fv):
    fv.script(HEALTH, R(412, error_body("missing 'X-Vault-Request' header")), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.ok()


def test_health_connection_dropped_then_ready(vx, fv):
    fv.script(HEALTH, R(close=True), R(close=True), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.ok()
    assert len(fv.requests_to(HEALTH)) == 3


@pytest.mark.parametrize("code", [400, 403, 404])
def test_health_fatal_codes_fail_at_once(vx, fv, code):
    fv.script(HEALTH, R(code, error_body()), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.failed()
    assert len(fv.requests_to(HEALTH)) == 1, "retried a fatal status"
    assert r.elapsed < 3
    assert len(fv.requests_to(SECRET)) == 1, "only the first read, before sys/health"


def test_health_retry_after(vx, fv):
    fv.script(HEALTH, R(503, HEALTH_SEALED, headers={"Retry-After": "2"}), R(200, HEALTH_OK))
    r = run_fake(vx, fv)
    r.ok()
    hs = fv.requests_to(HEALTH)
    assert len(hs) == 2
    assert hs[1].time - hs[0].time >= 1.9, "Retry-After: 2 not honoured"


def test_health_never_ready_deadline_69(vx, fv):
    fv.script(HEALTH, R(503, HEALTH_SEALED))
    r = run_fake(vx, fv, wait="3s")
    r.failed(69)
    assert 2.5 <= r.elapsed <= 7, r.describe()
    n = len(fv.requests_to(HEALTH))
    assert 2 <= n <= 40, f"{n} polls in 3 s"
    assert len(fv.requests_to(SECRET)) == 1, "only the first read, before sys/health"


# ---------------------------------------------------------------------------
# fake: retries of the secret read
# ---------------------------------------------------------------------------


def test_secret_5xx_storm_then_success(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(500, error_body("internal")), R(503, error_body("Vault is sealed")), R(502), ok)
    r = run_fake(vx, fv)
    r.ok()
    assert r.env["P"] == fv.val
    assert len(fv.requests_to(SECRET)) == 4


def test_secret_412_retried(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(412, error_body("consistency")), ok)
    r = run_fake(vx, fv)
    r.ok()
    assert len(fv.requests_to(SECRET)) == 2


def test_secret_429_retry_after(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(429, error_body("rate limit quota exceeded"), headers={"Retry-After": "2"}), ok)
    r = run_fake(vx, fv)
    r.ok()
    s = fv.requests_to(SECRET)
    assert len(s) == 2
    assert s[1].time - s[0].time >= 1.9, "Retry-After: 2 not honoured"


def test_secret_kv_upgrading_400_retried(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(
        SECRET,
        R(400, error_body("Upgrading from non-versioned to versioned data. This backend will be unavailable for a brief period and will resume service shortly.")),
        ok,
    )
    r = run_fake(vx, fv)
    r.ok()


def test_secret_501_not_retried(vx, fv):
    fv.script(SECRET, R(501, error_body()))
    r = run_fake(vx, fv)
    r.failed()
    assert len(fv.requests_to(SECRET)) == 1


def test_secret_5xx_until_deadline_69(vx, fv):
    fv.script(SECRET, R(503, error_body("no active Vault instance found")))
    r = run_fake(vx, fv, wait="3s")
    r.failed(69)
    assert 2.5 <= r.elapsed <= 7, r.describe()
    assert 2 <= len(fv.requests_to(SECRET)) <= 40


def test_secret_dropped_connection_retried(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(close=True), ok)
    r = run_fake(vx, fv)
    r.ok()


def test_secret_truncated_once_retried(vx, fv):
    ok = fv._scripts[SECRET][0]
    bad = R(ok.status, ok.body, truncate=40)
    fv.script(SECRET, bad, ok)
    r = run_fake(vx, fv)
    r.ok()
    assert r.env["P"] == fv.val


# ---------------------------------------------------------------------------
# fake: --request-timeout
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "VAULT_CLIENT_TIMEOUT"])
def test_request_timeout_slow_answer_retried(vx, fv, how):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(ok.status, ok.body, delay=8), ok)
    if how == "flag":
        r = run_fake(vx, fv, "--request-timeout", "1s")
    else:
        r = run_fake(vx, fv, env={"VAULT_CLIENT_TIMEOUT": "1"})
    r.ok()
    assert r.elapsed < 6, f"did not time out the slow request after 1 s\n{r.describe()}"
    assert len(fv.requests_to(SECRET)) == 2


def test_request_timeout_500ms(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(ok.status, ok.body, delay=8), ok)
    r = run_fake(vx, fv, "--request-timeout", "500ms")
    r.ok()
    assert r.elapsed < 5, r.describe()


def test_slow_health_forever_respects_wait(vx, fv):
    # the first read hangs, so sys/health is asked, and hangs too
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(200, {"data": {}}, delay=30), ok)
    fv.script(HEALTH, R(200, HEALTH_OK, delay=30))
    r = run_fake(vx, fv, "--request-timeout", "1s", wait="3s")
    r.failed(69)
    assert r.elapsed < 7, r.describe()


def test_wait_bounds_a_slow_request(vx, fv):
    """The --wait deadline covers the whole fetch, even with a long
    --request-timeout."""
    fv.script(SECRET, R(200, {"data": {}}, delay=30))
    r = run_fake(vx, fv, "--request-timeout", "60s", wait="3s")
    r.failed()
    assert r.elapsed < 8, r.describe()

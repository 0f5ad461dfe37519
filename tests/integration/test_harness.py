"""Self-tests of the test harness itself (no vaultexec binary needed):
child.py, the fake Vault, the OpenBao fixture, the leak check and the skip
policy.  If these fail, the other results mean nothing."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

import vxlib
from fakevault import HEALTH_OK, R, kv2_raw_body


def _get(url, timeout=5, **kw):
    return vxlib.http_json("GET", url, timeout=timeout, **kw)


def test_child_reports_argv_env_and_exit_code(tmp_path):
    out = tmp_path / "o.json"
    env = {"PATH": os.environ["PATH"], "CHILD_EXIT": "7", "WEIRD": "a=b\tc é"}
    p = subprocess.run([sys.executable, vxlib.CHILD, str(out), "--help", "", "x y"], env=env)
    assert p.returncode == 7
    doc = json.loads(out.read_text())
    assert doc["args"] == ["--help", "", "x y"]
    assert doc["env"]["WEIRD"] == "a=b\tc é"
    assert doc["env"]["CHILD_EXIT"] == "7"
    assert doc["pid"] > 0


def test_fake_queue_log_and_defaults(fake):
    fake.script("/v1/sys/health", R(503, {"sealed": True}), R(429), R(200, HEALTH_OK))
    codes = [_get(fake.url("/v1/sys/health?standbyok=true"))[0] for _ in range(5)]
    assert codes == [503, 429, 200, 200, 200]
    reqs = fake.requests_to("/v1/sys/health")
    assert len(reqs) == 5
    assert reqs[0].params["standbyok"] == ["true"]
    assert reqs[0].header("x-vault-request") == ["true"]
    # defaults: unknown path 404 {"errors":[]}; KV mount preflight
    assert _get(fake.url("/v1/secret/data/nope")) == (404, {"errors": []})
    st, js = _get(fake.url("/v1/sys/internal/ui/mounts/secret/app"))
    assert st == 200 and js["data"]["options"]["version"] == "2"
    assert _get(fake.url("/v1/sys/internal/ui/mounts/nomount/x"))[0] == 403
    fake.kv2_raw("n", '{"big": 12345678901234567890, "f": 1.50}')
    req = urllib.request.Request(fake.url("/v1/secret/data/n"))
    with urllib.request.urlopen(req) as r:
        raw = r.read().decode()
    assert "12345678901234567890" in raw and "1.50" in raw
    assert raw == kv2_raw_body('{"big": 12345678901234567890, "f": 1.50}')


def test_fake_faults(fake):
    fake.script("/v1/a", R(200, {"x": "y" * 1000}, truncate=100))
    fake.script("/v1/b", R(close=True))
    fake.script("/v1/c", R(200, {"ok": 1}, delay=1.0))
    fake.script("/v1/d", R(200, stream=100 * 1024 * 1024))
    fake.script("/v1/e", R(200, stream=3 * 1024 * 1024, chunked=True))
    fake.script("/v1/f", R(307, headers={"Location": "http://127.0.0.1:1/v1/x"}))
    fake.script("/v1/g", R(429, {"errors": ["rate"]}, headers={"Retry-After": "2"}))

    def raw(path, limit=None):
        c = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        try:
            data = r.read(limit) if limit else r.read()
        finally:
            c.close()
        return r, data

    with pytest.raises(http.client.IncompleteRead):
        raw("/v1/a")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        raw("/v1/b")
    t0 = time.monotonic()
    r, _ = raw("/v1/c")
    assert r.status == 200 and time.monotonic() - t0 >= 0.9
    before = fake.bytes_sent
    r, data = raw("/v1/d", limit=1 << 20)
    assert r.getheader("Content-Length") == str(100 * 1024 * 1024)
    assert len(data) == 1 << 20
    time.sleep(0.5)
    assert fake.bytes_sent - before < 20 * 1024 * 1024, "the fake must stop streaming when the client goes"
    r, data = raw("/v1/e")
    assert r.getheader("Transfer-Encoding") == "chunked" and len(data) == 3 * 1024 * 1024
    json.loads(data)  # the streamed body is valid JSON when read completely
    r, _ = raw("/v1/f")
    assert r.status == 307 and r.getheader("Location").endswith("/v1/x")
    r, _ = raw("/v1/g")
    assert r.status == 429 and r.getheader("Retry-After") == "2"


def test_fake_prefix(fake_factory):
    fv = fake_factory(prefix="/pfx")
    assert fv.addr.endswith("/pfx")
    assert _get(fv.url("/v1/sys/health"))[0] == 200
    assert _get(f"http://127.0.0.1:{fv.port}/v1/sys/health")[0] == 404
    assert len(fv.requests_to("/v1/sys/health")) == 1


def test_fake_tls_and_client_cert(fake_factory, pki):
    fv = fake_factory(tls=pki["server"], client_ca=pki["ca"])
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.load_cert_chain(*pki["client"])
    with urllib.request.urlopen(fv.url("/v1/sys/health"), context=ctx, timeout=5) as r:
        assert r.status == 200
    ctx2 = ssl.create_default_context(cafile=pki["ca"])
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        with urllib.request.urlopen(fv.url("/v1/sys/health"), context=ctx2, timeout=5) as r:
            r.read()
    # the other CA does not verify this server
    ctx3 = ssl.create_default_context(cafile=pki["otherca"])
    with pytest.raises((ssl.SSLError, urllib.error.URLError)):
        urllib.request.urlopen(fv.url("/v1/sys/health"), context=ctx3, timeout=5)


def test_fake_unix_socket(fake_factory):
    fv = fake_factory(unix_path=True)
    assert fv.addr.startswith("unix:///")
    s = socket.socket(socket.AF_UNIX)
    s.connect(fv.unix_path)
    s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert len(fv.requests_to("/v1/sys/health")) == 1


def test_bao_fixture_helpers(bao):
    assert bao.token in vxlib.LeakRegistry.always
    name = "harness-" + os.urandom(4).hex()
    assert bao.put_kv2(name, {"a": "1"}) == 1
    assert bao.put_kv2(name, {"a": "2"}) == 2
    st, js = _get(f"{bao.addr}/v1/secret/data/{name}?version=1", token=bao.token)
    assert st == 200 and js["data"]["data"] == {"a": "1"}
    bao.delete_kv2_version(name, [1])
    st, js = _get(f"{bao.addr}/v1/secret/data/{name}?version=1", token=bao.token)
    assert st == 404 and js["data"]["data"] is None and js["data"]["metadata"]["deletion_time"]
    bao.destroy_kv2_version(name, [2])
    st, js = _get(f"{bao.addr}/v1/secret/data/{name}?version=2", token=bao.token)
    assert st == 404 and js["data"]["metadata"]["destroyed"] is True
    mount = "kv1-" + os.urandom(3).hex()
    bao.enable_kv1(mount)
    bao.put_kv1(mount, "x", {"k": "v"})
    st, js = _get(f"{bao.addr}/v1/{mount}/x", token=bao.token)
    assert st == 200 and js["data"] == {"k": "v"}
    bao.put_policy("harness-ro", f'path "secret/data/{name}" {{ capabilities = ["read"] }}')
    tok = bao.create_token(["harness-ro"])
    assert _get(f"{bao.addr}/v1/secret/data/{name}", token=tok)[0] in (200, 404)
    assert _get(f"{bao.addr}/v1/secret/data/other", token=tok)[0] == 403


def test_bao_tls_fixture(bao_tls):
    assert bao_tls.addr.startswith("https://") and os.path.exists(bao_tls.ca)
    st, js = _get(bao_tls.addr + "/v1/sys/health", cafile=bao_tls.ca)
    assert st == 200 and js["sealed"] is False


def test_hostile_values_and_leak_forms():
    v = vxlib.hostile_value()
    for ch in "'\"\\$#% @:/é😀":
        assert ch in v
    assert vxlib.hostile_value() != v
    forms = vxlib.leak_forms(v)
    assert v[:16] in forms and v in forms


INNER_TEST = '''
import os, sys
import pytest

def test_leaky(vx):
    tok = vx.token()
    r = vx.run([], env={"VAULT_TOKEN": tok}, cmd=["true"])
    assert r.rc == 0

def test_partial_leaky(vx):
    s = vx.secret()
    r = vx.run([], env={"VAULT_TOKEN": s[:16] + "-cut"}, cmd=["true"])
    assert r.rc == 0

def test_clean(vx):
    tok = vx.token()
    r = vx.run([], env={"VAULT_TOKEN": "nothing-secret-here"}, cmd=["true"])
    assert r.rc == 0

def test_required_skip():
    pytest.skip("because reasons")

@pytest.mark.optional
def test_optional_skip():
    pytest.skip("optional reasons")
'''

STUB = """#!/bin/sh
echo "stub: token is $VAULT_TOKEN" >&2
exit 0
"""


def test_leak_check_and_skip_policy(tmp_path):
    """Runs an inner pytest session with a stub 'vaultexec' that prints its
    token: the leak check must fail those tests, a plain skip must fail, an
    optional skip must stay a skip."""
    d = tmp_path / "inner"
    d.mkdir()
    for f in ("conftest.py", "vxlib.py", "fakevault.py", "child.py"):
        shutil.copy(vxlib.HERE / f, d / f)
    shutil.copy(vxlib.HERE.parent / "pylib" / "vxtest.py", d / "vxtest.py")
    (d / "test_inner.py").write_text(textwrap.dedent(INNER_TEST))
    stub = tmp_path / "stub-vaultexec"
    stub.write_text(STUB)
    stub.chmod(0o755)
    env = dict(os.environ, VAULTEXEC_BIN=str(stub), PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(d)],
        env=env,
        capture_output=True,
        text=True,
        cwd=d,
        timeout=120,
    )
    out = p.stdout + p.stderr
    assert "FAILED test_inner.py::test_leaky" in out, out
    assert "FAILED test_inner.py::test_partial_leaky" in out, out
    assert "PASSED test_inner.py::test_clean" in out, out
    assert "FAILED test_inner.py::test_required_skip" in out, out
    assert "because reasons" in out, out
    assert "SKIPPED" in out and "optional reasons" in out, out
    assert "SECRET LEAK" in out, out
    assert "4 failed" not in out and "3 failed, 1 passed, 1 skipped" in out, out

"""The static build's TLS configuration (subprojects/static/mbedtls_config.h)
against an OpenSSL server offering one thing at a time: each cipher suite and
group vaultexec keeps is accepted, and a removed one is refused.

The server is `openssl s_server -WWW`, serving the two answers vaultexec asks
for (sys/health and one KV v2 secret) from files, with a self-signed RSA or
ECDSA certificate given as --ca-cert.  Only the static builds use Mbed TLS
(the host build links the system's libcurl and OpenSSL): the x86_64 one from
VAULTEXEC_STATIC_BIN and, in tests/arm64/run.sh, the arm64 one from
VAULTEXEC_ARM64_BIN under its emulator."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time

import pytest

import vxlib

STATIC = os.environ.get("VAULTEXEC_STATIC_BIN") or str(vxlib.REPO / "build-static" / "src" / "vaultexec")


def static_builds() -> dict[str, list[str]]:
    builds = {"static": [STATIC]}
    if os.environ.get("VAULTEXEC_ARM64_BIN"):
        emu = shlex.split(os.environ.get("VAULTEXEC_ARM64_EMU") or "qemu-aarch64")
        builds["arm64"] = [*emu, os.environ["VAULTEXEC_ARM64_BIN"]]
    return builds


# (protocol, what the server offers, certificate): accepted
ALLOWED = [
    ("tls1_3", "TLS_AES_128_GCM_SHA256", "ec"),
    ("tls1_3", "TLS_AES_256_GCM_SHA384", "rsa"),
    ("tls1_3", "TLS_CHACHA20_POLY1305_SHA256", "ec"),
    ("tls1_2", "ECDHE-ECDSA-AES128-GCM-SHA256", "ec"),
    ("tls1_2", "ECDHE-ECDSA-AES256-GCM-SHA384", "ec"),
    ("tls1_2", "ECDHE-ECDSA-CHACHA20-POLY1305", "ec"),
    ("tls1_2", "ECDHE-RSA-AES128-GCM-SHA256", "rsa"),
    ("tls1_2", "ECDHE-RSA-AES256-GCM-SHA384", "rsa"),
    ("tls1_2", "ECDHE-RSA-CHACHA20-POLY1305", "rsa"),
    ("tls1_3", "group X25519", "ec"),
    ("tls1_3", "group P-256", "rsa"),
    ("tls1_3", "group P-384", "ec"),
    ("tls1_3", "group P-521", "ec"),
]
# removed from the build: refused
REFUSED = [
    ("tls1_2", "ECDHE-RSA-AES128-SHA256", "rsa"),  # CBC
    ("tls1_2", "ECDHE-ECDSA-AES256-SHA", "ec"),  # CBC, SHA-1 MAC
    ("tls1_2", "AES128-GCM-SHA256", "rsa"),  # RSA key exchange: no forward secrecy
    ("tls1_2", "DHE-RSA-AES128-GCM-SHA256", "rsa"),  # finite-field DHE
    ("tls1_3", "TLS_AES_128_CCM_SHA256", "ec"),
    ("tls1_3", "group ffdhe2048", "ec"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The files s_server -WWW serves, and the two certificates."""
    assert shutil.which("openssl"), "openssl is needed (tests/install-deps.sh installs it)"
    d = tmp_path_factory.mktemp("tls-suites")
    www = d / "www"
    (www / "v1" / "sys").mkdir(parents=True)
    (www / "v1" / "secret" / "data").mkdir(parents=True)
    (www / "v1" / "sys" / "health?standbyok=true&perfstandbyok=true").write_text(
        json.dumps({"initialized": True, "sealed": False, "standby": False}))
    (www / "v1" / "secret" / "data" / "app").write_text(
        json.dumps({"data": {"data": {"password": "pw-suites"}, "metadata": {"version": 1}}}))
    for kind, newkey in (("ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]), ("rsa", ["rsa:2048"])):
        subprocess.run(["openssl", "req", "-x509", "-newkey", *newkey, "-nodes", "-days", "2",
                        "-keyout", str(d / f"{kind}.key"), "-out", str(d / f"{kind}.crt"),
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
    return d


def serve(site, proto, offer, cert):
    """s_server offering PROTO and OFFER only; (process, port, its log)."""
    port = vxlib.free_port()
    if offer.startswith("group "):
        only = ["-groups", offer.split()[1]]
    elif proto == "tls1_3":
        only = ["-ciphersuites", offer]
    else:
        only = ["-cipher", offer]
    log = site / f"s_server-{port}.log"
    p = subprocess.Popen(["openssl", "s_server", "-WWW", "-accept", f"127.0.0.1:{port}",
                          "-cert", str(site / f"{cert}.crt"), "-key", str(site / f"{cert}.key"),
                          f"-{proto}", *only], cwd=site / "www", stdout=open(log, "w"),
                         stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(400):  # 20 s: a loaded CI machine
        if "ACCEPT" in log.read_text():
            return p, port, log
        time.sleep(0.05)
    p.kill()
    raise AssertionError(f"s_server did not start: {log.read_text()}")


def run(cmd, site, port, cert, wait):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VAULT_ADDR": f"https://127.0.0.1:{port}",
           "VAULT_TOKEN": "t-suites"}
    return subprocess.run([*cmd, "--ca-cert", str(site / f"{cert}.crt"), "--wait", wait,
                           "--service", "app", "--map", "password=P", "--", "env"],
                          env=env, capture_output=True, text=True, timeout=60)


def case_id(c):
    return f"{c[0]}-{c[1].replace('group ', '')}-{c[2]}"


@pytest.mark.every_binary
@pytest.mark.parametrize("build", list(static_builds()))
@pytest.mark.parametrize("case", ALLOWED, ids=case_id)
def test_allowed(site, build, case):
    cmd = static_builds()[build]
    assert os.access(cmd[-1], os.X_OK), f"no static build at {cmd[-1]} (tests/docker/build-static.sh)"
    p, port, log = serve(site, *case)
    try:
        r = run(cmd, site, port, case[2], "10s")
    finally:
        p.kill()
        p.wait()
    assert r.returncode == 0 and "P=pw-suites" in r.stdout.splitlines(), (
        f"{case} refused (rc {r.returncode}):\n{r.stderr}\ns_server:\n{log.read_text()}")


@pytest.mark.every_binary
@pytest.mark.parametrize("build", list(static_builds()))
@pytest.mark.parametrize("case", REFUSED, ids=case_id)
def test_refused(site, build, case):
    cmd = static_builds()[build]
    assert os.access(cmd[-1], os.X_OK), f"no static build at {cmd[-1]} (tests/docker/build-static.sh)"
    p, port, log = serve(site, *case)
    try:
        r = run(cmd, site, port, case[2], "1s")
    finally:
        p.kill()
        p.wait()
    server = log.read_text()
    assert r.returncode == 69 and "P=pw-suites" not in r.stdout, (
        f"{case} was not refused (rc {r.returncode}):\n{r.stdout}\n{r.stderr}")
    # refused in the handshake, for want of a common suite or group
    assert "handshake" in r.stderr.lower() or "ssl" in r.stderr.lower(), r.stderr
    assert "no shared cipher" in server or "no suitable key share" in server, server

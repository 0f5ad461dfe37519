"""The arm64 (aarch64) static vaultexec under qemu-user, for real.

vaultexec runs as `qemu-aarch64 build-static-arm64/src/vaultexec` against
real OpenBao dev servers on loopback (plain HTTP and TLS), and the child it
execs is itself an arm64 static program (tests/rootfs/envdump.c, which
writes its argv and environment to a file).  These machines have no
binfmt_misc handler for arm64 (and the tests must not register one), so an
emulated program cannot execve() an arm64 program directly: the child
command is `qemu-aarch64 ENVDUMP ...`, an x86_64 program the kernel runs
natively.  vaultexec's own exec path (environment handover, argv, PATH-less
absolute exec, 127 for a missing program) is what runs.

The bare-root-filesystem cases are tests/integration/test_rootfs.py with
VAULTEXEC_STATIC_EMU=qemu-aarch64 (tests/arm64/run.sh runs both).

Environment: VAULTEXEC_ARM64_BIN (default build-static-arm64/src/vaultexec),
VAULTEXEC_ARM64_EMU (default qemu-aarch64), VAULTEXEC_ARM64_CC (default
aarch64-linux-gnu-gcc with subprojects/static/musl-gcc-aarch64.specs).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

import vxlib

REPO = vxlib.REPO
BIN = os.environ.get("VAULTEXEC_ARM64_BIN") or str(REPO / "build-static-arm64" / "src" / "vaultexec")
EMU = shlex.split(os.environ.get("VAULTEXEC_ARM64_EMU", "qemu-aarch64"))
CC = shlex.split(os.environ.get("VAULTEXEC_ARM64_CC", "")) or [
    "aarch64-linux-gnu-gcc", "-specs", str(REPO / "subprojects" / "static" / "musl-gcc-aarch64.specs"),
    "-static"]


def file_b(path) -> str:
    return subprocess.run(["file", "-b", "-L", str(path)], capture_output=True, text=True).stdout.strip()


def is_static_arm64(path) -> bool:
    out = file_b(path)
    return "ARM aarch64" in out and ("statically linked" in out or "static-pie linked" in out)


@pytest.fixture(scope="module")
def emu():
    exe = shutil.which(EMU[0])
    assert exe, f"{EMU[0]} not found: run tests/arm64/install.sh (Debian package qemu-user)"
    return [exe, *EMU[1:]]


@pytest.fixture(scope="module")
def arm64_bin():
    assert os.access(BIN, os.X_OK), (
        f"arm64 binary missing at {BIN}: meson setup build-static-arm64 --cross-file "
        "subprojects/musl-aarch64.ini -Dstatic=true && ninja -C build-static-arm64")
    assert is_static_arm64(BIN), file_b(BIN)
    return BIN


@pytest.fixture(scope="module")
def envdump(tmp_path_factory):
    exe = tmp_path_factory.mktemp("envdump-arm64") / "envdump"
    subprocess.run([*CC, "-O2", "-o", str(exe), str(REPO / "tests" / "rootfs" / "envdump.c")], check=True)
    assert is_static_arm64(exe), file_b(exe)
    return str(exe)


def read_dump(path: Path):
    parts = path.read_bytes().split(b"\0")[:-1]
    i = parts.index(b"--env--")
    argv = [x.decode() for x in parts[:i]]
    env = dict(x.decode().split("=", 1) for x in parts[i + 1:])
    return argv, env


def run(vx, emu, arm64_bin, opts, child, env, timeout=60):
    """qemu-aarch64 vaultexec OPTS -- CHILD, with exactly ENV over vx's
    minimal base environment; recorded for the leak check."""
    full_env = vx.base_env()
    full_env.update(env)
    argv = [*emu, arm64_bin, *opts, "--", *child]
    p = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    vx.leaks.runs.append(SimpleNamespace(argv=argv, stdout=p.stdout, stderr=p.stderr))
    return p


def no_secret(p, *values):
    for v in values:
        assert v not in p.stdout and v not in p.stderr, "secret in vaultexec output"


@pytest.fixture
def stored_http(bao, vx):
    name = vx.name("arm64")
    data = {"password": vx.secret("pw"), "username": vx.secret("user")}
    bao.put_kv2(name, data)
    return name, data


@pytest.fixture
def stored_tls(bao_tls, vx):
    name = vx.name("arm64")
    pw = vx.secret("pw")
    bao_tls.put_kv2(name, {"password": pw})
    return name, pw


def test_binary_is_static_arm64(arm64_bin, emu):
    out = file_b(arm64_bin)
    assert "ELF 64-bit LSB" in out and "ARM aarch64" in out, out
    assert "statically linked" in out or "static-pie linked" in out, out
    assert "interpreter" not in out, out
    p = subprocess.run([*emu, arm64_bin, "--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"vaultexec {vxlib.project_version()} ")
    assert "mbedTLS/" in p.stdout and "libcurl/" in p.stdout


def test_fetch_and_exec_over_http(bao, vx, stored_http, emu, arm64_bin, envdump, tmp_path):
    name, data = stored_http
    dump = tmp_path / "dump"
    p = run(vx, emu, arm64_bin, ["--addr", bao.addr, "--service", name, "--map", "password=DB_PASSWORD",
                                 "--map", "username=DB_USER"],
            [*emu, envdump, str(dump), "--flag-for-child", "two words"], env={"VAULT_TOKEN": bao.token})
    no_secret(p, *data.values(), bao.token)
    assert p.returncode == 0, p.stderr
    argv, env = read_dump(dump)
    assert argv[1:] == [str(dump), "--flag-for-child", "two words"]
    assert env["DB_PASSWORD"] == data["password"]
    assert env["DB_USER"] == data["username"]
    assert "VAULT_TOKEN" not in env


def test_fetch_and_exec_over_tls(bao_tls, vx, stored_tls, emu, arm64_bin, envdump, tmp_path):
    name, pw = stored_tls
    dump = tmp_path / "dump"
    p = run(vx, emu, arm64_bin, ["--addr", bao_tls.addr, "--ca-cert", bao_tls.ca, "--service", name,
                                 "--map", "password=DB_PASSWORD"],
            [*emu, envdump, str(dump)], env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 0, p.stderr
    _, env = read_dump(dump)
    assert env["DB_PASSWORD"] == pw
    assert "VAULT_TOKEN" not in env


def test_tls_wrong_ca_is_refused(bao_tls, vx, stored_tls, emu, arm64_bin, envdump, tmp_path, pki):
    # the server's certificate is checked (Mbed TLS on arm64), not just accepted
    name, pw = stored_tls
    dump = tmp_path / "dump"
    p = run(vx, emu, arm64_bin, ["--addr", bao_tls.addr, "--wait", "3s", "--ca-cert", pki["otherca"],
                                 "--service", name, "--map", "password=P"],
            [*emu, envdump, str(dump)], env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode != 0
    assert "certificate" in p.stderr.lower(), p.stderr
    assert not dump.exists()


def test_check(bao, vx, stored_http, emu, arm64_bin, envdump, tmp_path):
    name, data = stored_http
    dump = tmp_path / "dump"
    p = run(vx, emu, arm64_bin, ["--addr", bao.addr, "--service", name, "--map", "password=DB_PASSWORD",
                                 "--check"],
            [*emu, envdump, str(dump)], env={"VAULT_TOKEN": bao.token})
    no_secret(p, *data.values(), bao.token)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["env DB_PASSWORD"]
    assert not dump.exists()


def test_missing_secret_is_65(bao, vx, emu, arm64_bin, envdump, tmp_path):
    dump = tmp_path / "dump"
    p = run(vx, emu, arm64_bin, ["--addr", bao.addr, "--service", vx.name("absent"), "--map", "password=P"],
            [*emu, envdump, str(dump)], env={"VAULT_TOKEN": bao.token})
    no_secret(p, bao.token)
    assert p.returncode == 65, p.stderr
    assert "no such secret" in p.stderr
    assert not dump.exists()


def test_missing_command_is_127(bao, vx, stored_http, emu, arm64_bin, tmp_path):
    name, data = stored_http
    missing = str(tmp_path / "no-such-program")
    p = run(vx, emu, arm64_bin, ["--addr", bao.addr, "--service", name, "--map", "password=P"],
            [missing, "arg"], env={"VAULT_TOKEN": bao.token})
    no_secret(p, *data.values(), bao.token)
    assert p.returncode == 127, p.stderr
    assert missing in p.stderr


def test_environment_scrubbing(bao, vx, stored_http, emu, arm64_bin, envdump, tmp_path):
    """The child gets the inherited environment minus vaultexec's own
    configuration and every token, plus the mapped secrets (the same
    expectation as tests/integration/test_env.py for the host build)."""
    name, data = stored_http
    dump = tmp_path / "dump"
    inherited = {
        "VAULT_TOKEN": bao.token,
        "BAO_TOKEN": bao.token,
        "VAULT_ADDR": bao.addr,
        "BAO_ADDR": bao.addr,
        "VAULTEXEC_LOG_LEVEL": "info",
        "VAULTEXEC_WAIT": "10s",
        "VAULTEXEC_SERVICE": name,
        "MY_VAR": "keep me = yes",
        "EMPTY_VAR": "",
    }
    p = run(vx, emu, arm64_bin, ["--map", "password=P", "--map", "username=U"],
            [*emu, envdump, str(dump)], env=inherited)
    no_secret(p, *data.values(), bao.token)
    assert p.returncode == 0, p.stderr
    _, env = read_dump(dump)
    expected = vx.base_env()
    expected.update({"VAULT_ADDR": bao.addr, "BAO_ADDR": bao.addr, "MY_VAR": "keep me = yes", "EMPTY_VAR": ""})
    expected.update({"P": data["password"], "U": data["username"]})
    assert env == expected
    assert not any(bao.token in v for v in env.values())


def test_child_exit_code_is_passed_through(bao, vx, stored_http, emu, arm64_bin, envdump, tmp_path):
    # envdump exits 2 without arguments: vaultexec exec()s, so qemu's exit
    # code, i.e. the arm64 child's, is what the caller sees
    name, data = stored_http
    p = run(vx, emu, arm64_bin, ["--addr", bao.addr, "--service", name, "--map", "password=P"],
            [*emu, envdump], env={"VAULT_TOKEN": bao.token})
    no_secret(p, *data.values(), bao.token)
    assert p.returncode == 2, p.stderr

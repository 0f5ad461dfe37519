"""What only the arm64 (aarch64) static vaultexec has to show, under
qemu-user: that it is a static arm64 executable, and that the child it
execs can itself be an arm64 static program (tests/rootfs/envdump.c, which
writes its argv and environment to a file).  These machines have no
binfmt_misc handler for arm64 (and the tests must not register one), so an
emulated program cannot execve() an arm64 program directly: the child
command is `qemu-aarch64 ENVDUMP ...`, an x86_64 program the kernel runs
natively.

The integration scenarios themselves (fetch and exec over HTTP and TLS, a
wrong CA, --check, 65, 127, environment scrubbing, exit codes) are not
re-stated here: tests/arm64/run.sh runs the integration tests marked
every_binary with VAULTEXEC_ARM64_BIN set, which parametrises them over the
host and the arm64 build (vxlib.targets()), and selects the arm64 ones.  The
bare-root-filesystem cases are tests/integration/test_rootfs.py with
VAULTEXEC_STATIC_EMU=qemu-aarch64 (run.sh runs all three).

Environment: VAULTEXEC_ARM64_BIN (default build-static-arm64/src/vaultexec),
VAULTEXEC_ARM64_EMU (default qemu-aarch64), VAULTEXEC_ARM64_CC (default
aarch64-linux-gnu-gcc with subprojects/static/musl-gcc-aarch64.specs).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
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
    argv, env = vxlib.read_envdump(dump)
    assert argv[1:] == [str(dump), "--flag-for-child", "two words"]
    assert env["DB_PASSWORD"] == data["password"]
    assert env["DB_USER"] == data["username"]
    assert "VAULT_TOKEN" not in env


def test_child_exit_code_is_passed_through(bao, vx, stored_http, emu, arm64_bin, envdump, tmp_path):
    # envdump exits 2 without arguments: vaultexec exec()s, so qemu's exit
    # code, i.e. the arm64 child's, is what the caller sees
    name, data = stored_http
    p = run(vx, emu, arm64_bin, ["--addr", bao.addr, "--service", name, "--map", "password=P"],
            [*emu, envdump], env={"VAULT_TOKEN": bao.token})
    no_secret(p, *data.values(), bao.token)
    assert p.returncode == 2, p.stderr

"""The static binary in a root filesystem that holds nothing else.

The directory has only /vaultexec, a CA bundle and a static test program:
no /bin/sh, no libc, no /etc/passwd, no resolver configuration.  vaultexec
runs there under chroot against a real OpenBao dev server over TLS on
loopback, the way it runs as the entrypoint of a scratch or distroless
image.  Then the same binary runs on the host under valgrind for one full
fetch and exec.

The binaries come from VAULTEXEC_STATIC_BIN (default build-static/src/
vaultexec); VAULTEXEC_STATIC_EMU names an emulator prefix (qemu-aarch64)
and VAULTEXEC_STATIC_CC the compiler for the test program, for the arm64
build (tests/arm64/run.sh).  With an emulator the root also holds it, in
/qemu (qemu-user with its loader and libraries when it is a dynamic
program): vaultexec runs as `chroot ROOT /qemu/... /vaultexec`, and the child
it execs is `/qemu/... /envdump`, an x86_64 program the kernel runs
natively (without binfmt_misc, which the tests do not register, an emulated
program cannot execve an arm64 one).  Nothing from the host is visible to
the emulated binary: unlike `qemu-aarch64 -L`, a chroot has no fallback to
the host's files."""
import functools
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

import vxlib

REPO = vxlib.REPO
STATIC = os.environ.get("VAULTEXEC_STATIC_BIN") or str(REPO / "build-static" / "src" / "vaultexec")
EMU = shlex.split(os.environ.get("VAULTEXEC_STATIC_EMU", ""))
CC = shlex.split(os.environ.get("VAULTEXEC_STATIC_CC", "musl-gcc -static"))
EMU_DIR = "qemu"  # ROOT/qemu holds the emulator in EMU mode


@functools.lru_cache(maxsize=None)
def emulator_files() -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """((host file, name in ROOT/qemu), ...) and the command prefix that runs
    the emulator inside the root."""
    exe = shutil.which(EMU[0])
    assert exe, f"emulator {EMU[0]} not found (tests/arm64/install.sh installs qemu-user)"
    exe = os.path.realpath(exe)
    name = os.path.basename(exe)
    p = subprocess.run(["ldd", exe], capture_output=True, text=True)
    if p.returncode != 0 or "not a dynamic executable" in p.stdout + p.stderr:
        return ((exe, name),), (f"/{EMU_DIR}/{name}", *EMU[1:])
    files, loader = [(exe, name)], None
    for line in p.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if not m:
            continue  # linux-vdso
        path = m.group(m.lastindex)
        files.append((os.path.realpath(path), os.path.basename(m.group(1))))
        if m.lastindex == 1:
            loader = os.path.basename(path)
    assert loader, f"no ELF interpreter in ldd {exe}:\n{p.stdout}"
    # The loader is run explicitly, so nothing has to be at /lib64 or /lib.
    return tuple(files), (f"/{EMU_DIR}/{loader}", "--library-path", f"/{EMU_DIR}",
                          f"/{EMU_DIR}/{name}", *EMU[1:])


def in_root(*cmd: str) -> list[str]:
    """The command that runs the static program CMD[0] inside the root."""
    return [*emulator_files()[1], *cmd] if EMU else list(cmd)


@pytest.fixture(scope="module")
def static_bin():
    assert os.access(STATIC, os.X_OK), (
        f"static binary missing at {STATIC}: build it with "
        "`meson setup build-static --native-file subprojects/musl-x86_64.ini -Dstatic=true && ninja -C build-static`"
    )
    out = subprocess.run(["file", "-L", STATIC], capture_output=True, text=True).stdout
    assert "statically linked" in out or "static-pie linked" in out, out
    return STATIC


@pytest.fixture(scope="module")
def envdump(tmp_path_factory):
    d = tmp_path_factory.mktemp("envdump")
    exe = d / "envdump"
    subprocess.run([*CC, "-O2", "-o", str(exe), str(REPO / "tests" / "rootfs" / "envdump.c")], check=True)
    return exe


def make_root(base: Path, static_bin, envdump, ca: str | None) -> Path:
    root = base / "root"
    root.mkdir()
    shutil.copy2(static_bin, root / "vaultexec")
    shutil.copy2(envdump, root / "envdump")
    (root / "out").mkdir()
    if EMU:
        (root / EMU_DIR).mkdir()
        for src, name in emulator_files()[0]:
            try:  # ~23 MB for qemu-user and its libraries: link when possible
                os.link(src, root / EMU_DIR / name)
            except OSError:
                shutil.copy2(src, root / EMU_DIR / name)
    if ca:
        (root / "etc/ssl/certs").mkdir(parents=True)
        shutil.copy2(ca, root / "etc/ssl/certs/ca-certificates.crt")
    return root


def run_in_root(root: Path, vx, args, env, timeout=40):
    """chroot ROOT [emulator] /vaultexec ARGS; the environment is exactly env."""
    chroot = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
    assert chroot, "chroot (coreutils) is required"
    cmd = [chroot, str(root), *in_root("/vaultexec"), *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    # recorded for the suite's leak check, which greps every run's output
    vx.leaks.runs.append(SimpleNamespace(argv=cmd, stdout=p.stdout, stderr=p.stderr))
    return p


@pytest.fixture
def stored(bao_tls, vx):
    name = vx.name("rootfs")
    pw = vx.secret("pw")
    bao_tls.put_kv2(name, {"password": pw})
    return name, pw


def child_path(root: Path) -> str:
    return "/out/dump"


def no_secret(p, *values):
    for v in values:
        assert v not in p.stdout and v not in p.stderr, "secret in vaultexec output"


def test_secret_reaches_child_in_bare_root(bao_tls, vx, stored, static_bin, envdump, tmp_path):
    name, pw = stored
    root = make_root(tmp_path, static_bin, envdump, bao_tls.ca)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not (EMU and p.is_relative_to(root / EMU_DIR))) == [
        "envdump", "etc/ssl/certs/ca-certificates.crt", "vaultexec"]
    p = run_in_root(root, vx, ["--addr", bao_tls.addr, "--service", name, "--map", "password=REDIS_PASSWORD",
                               "--log-level", "debug", "--", *in_root("/envdump"), child_path(root),
                               "--flag-for-child"],
                    env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 0, p.stderr
    argv, env = vxlib.read_envdump(root / "out" / "dump")
    assert env["REDIS_PASSWORD"] == pw
    assert "VAULT_TOKEN" not in env
    assert argv[1:] == [child_path(root), "--flag-for-child"]
    # it says which CA bundle it found
    assert "/etc/ssl/certs/ca-certificates.crt" in p.stderr


def test_check_in_bare_root(bao_tls, vx, stored, static_bin, envdump, tmp_path):
    name, pw = stored
    root = make_root(tmp_path, static_bin, envdump, bao_tls.ca)
    p = run_in_root(root, vx, ["--addr", bao_tls.addr, "--service", name, "--map", "password=REDIS_PASSWORD",
                               "--check", "--", *in_root("/envdump"), child_path(root)],
                    env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["env REDIS_PASSWORD"]
    assert not (root / "out" / "dump").exists()


def test_missing_secret_65_in_bare_root(bao_tls, vx, static_bin, envdump, tmp_path):
    root = make_root(tmp_path, static_bin, envdump, bao_tls.ca)
    p = run_in_root(root, vx, ["--addr", bao_tls.addr, "--service", vx.name("absent"), "--map", "password=P",
                               "--", *in_root("/envdump"), child_path(root)], env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, bao_tls.token)
    assert p.returncode == 65, p.stderr
    assert "no such secret" in p.stderr
    assert not (root / "out" / "dump").exists()


def test_missing_command_127_in_bare_root(bao_tls, vx, stored, static_bin, envdump, tmp_path):
    name, pw = stored
    root = make_root(tmp_path, static_bin, envdump, bao_tls.ca)
    p = run_in_root(root, vx, ["--addr", bao_tls.addr, "--service", name, "--map", "password=P",
                               "--", "/no-such-program"], env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 127, p.stderr
    assert "/no-such-program" in p.stderr


def test_no_ca_bundle_in_bare_root_is_said(bao_tls, vx, stored, static_bin, envdump, tmp_path):
    name, pw = stored
    root = make_root(tmp_path, static_bin, envdump, None)
    p = run_in_root(root, vx, ["--addr", bao_tls.addr, "--service", name, "--map", "password=P",
                               "--", *in_root("/envdump"), child_path(root)], env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 78, p.stderr
    assert "no CA bundle found" in p.stderr
    assert not (root / "out" / "dump").exists()


def test_ca_cert_flag_in_bare_root(bao_tls, vx, stored, static_bin, envdump, tmp_path):
    name, pw = stored
    root = make_root(tmp_path, static_bin, envdump, None)
    shutil.copy2(bao_tls.ca, root / "ca.pem")
    p = run_in_root(root, vx, ["--addr", bao_tls.addr, "--ca-cert", "/ca.pem", "--service", name, "--map",
                               "password=P", "--", *in_root("/envdump"), child_path(root)],
                    env={"VAULT_TOKEN": bao_tls.token})
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 0, p.stderr
    assert vxlib.read_envdump(root / "out" / "dump")[1]["P"] == pw


@pytest.mark.skipif(bool(EMU), reason="valgrind runs the host build only")
def test_static_binary_under_valgrind(bao_tls, vx, stored, static_bin, envdump, tmp_path):
    assert shutil.which("valgrind"), "valgrind is required (apt-get install valgrind)"
    name, pw = stored
    out = tmp_path / "dump"
    p = subprocess.run(["valgrind", "--error-exitcode=99", "--leak-check=no", "-q", static_bin,
                        "--addr", bao_tls.addr, "--ca-cert", bao_tls.ca, "--service", name,
                        "--map", "password=P", "--", str(envdump), str(out)],
                       env={"VAULT_TOKEN": bao_tls.token}, capture_output=True, text=True, timeout=120)
    no_secret(p, pw, bao_tls.token)
    assert p.returncode == 0, p.stderr
    assert vxlib.read_envdump(out)[1]["P"] == pw

"""Shared helpers for vaultexec's integration tests: paths, the vaultexec
runner with its leak registry, OpenBao process control and a tiny PKI.

Imported by conftest.py and by the test modules (pytest puts this directory
on sys.path because it has no __init__.py).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pylib"))

from vxtest import (  # noqa: E402,F401  (re-exported for the tests)
    REPO,
    OpenBao,
    bao_bin,
    free_port,
    http_json,
    leak_forms,
    vaultexec_bin,
)
from vxtest import OpenBaoError as BaoError  # noqa: E402,F401
import vxtest  # noqa: E402

HERE = Path(__file__).resolve().parent
CHILD = str(HERE / "child.py")
PYTHON = sys.executable


def targets() -> dict[str, list[str]]:
    """The vaultexec builds under test, name -> the command that runs it:
    the host build, plus the static arm64 build under qemu-user when
    VAULTEXEC_ARM64_BIN is set (tests/arm64/run.sh; VAULTEXEC_ARM64_EMU,
    default qemu-aarch64).  Tests marked every_binary run once per build."""
    t = {"host": [vaultexec_bin()]}
    if os.environ.get("VAULTEXEC_ARM64_BIN"):
        emu = shlex.split(os.environ.get("VAULTEXEC_ARM64_EMU") or "qemu-aarch64")
        t["arm64"] = [*emu, os.environ["VAULTEXEC_ARM64_BIN"]]
    return t


def project_version() -> str:
    m = re.search(r"version:\s*'([^']+)'", (REPO / "meson.build").read_text())
    assert m, "no version in meson.build"
    return m.group(1)


# ---------------------------------------------------------------------------
# secrets and the leak registry
# ---------------------------------------------------------------------------

HOSTILE = "'\"\\$#% @:/?&=+;,`|<>*!~^()[]{{x}}%s%n%x\t é€😀ℵ"


def rand_core() -> str:
    return secrets.token_hex(8)


def hostile_value(tag: str = "") -> str:
    """A random secret full of characters that break naive quoting,
    URL building, printf or template code.  The 16-hex-digit core at the
    start lets the leak checker catch partial leaks too."""
    core = rand_core()
    return f"{core}{tag}{HOSTILE}{secrets.token_hex(3)}"


# Every text log line starts with its time, RFC 3339 in UTC with milliseconds.
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "


def untimed(text: str) -> str:
    """TEXT with the timestamp taken off the start of each log line, for
    tests that match what a line says."""
    return re.sub(rf"(?m)^{TS}(?=vaultexec: )", "", text)


class LeakRegistry:
    """Secrets registered during one test plus the always-secret tokens
    (OpenBao root tokens), and every vaultexec run of that test."""

    always: set[str] = set()

    def __init__(self):
        self.values: set[str] = set()
        self.runs: list["Result"] = []

    def register(self, *values: str):
        for v in values:
            if v is None:
                continue
            assert len(v) >= 8, f"refusing to leak-check a short value {v!r}: it would match by chance"
            self.values.add(v)

    def find_leaks(self) -> list[str]:
        problems = []
        forms = {}
        for v in self.values | LeakRegistry.always:
            for f in leak_forms(v):
                forms[f] = v
        for i, r in enumerate(self.runs):
            for stream, text in (("stdout", r.stdout), ("stderr", r.stderr)):
                for f, v in forms.items():
                    if f in text:
                        problems.append(
                            f"run #{i} ({' '.join(r.argv[:6])} ...): {stream} contains secret {v!r} (as {f!r})"
                        )
        return problems


# ---------------------------------------------------------------------------
# running vaultexec
# ---------------------------------------------------------------------------


@dataclass
class Result:
    argv: list
    rc: int
    stdout: str
    stderr: str
    elapsed: float
    pid: int
    outfile: Path | None
    timed_out: bool = False
    _child: dict | None = field(default=None, repr=False)

    @property
    def started(self) -> bool:
        return self.outfile is not None and self.outfile.exists()

    @property
    def child(self) -> dict:
        assert self.started, f"child was not started\n{self.describe()}"
        if self._child is None:
            self._child = json.loads(self.outfile.read_text())
        return self._child

    @property
    def env(self) -> dict:
        return self.child["env"]

    @property
    def args(self) -> list:
        return self.child["args"]

    def describe(self) -> str:
        return (
            f"argv: {self.argv}\nexit: {self.rc}  elapsed: {self.elapsed:.2f}s"
            f"{'  (TIMED OUT)' if self.timed_out else ''}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )

    def ok(self, rc: int = 0) -> "Result":
        """Assert the child ran and vaultexec ended with RC (the child's code)."""
        assert not self.timed_out, self.describe()
        assert self.rc == rc and self.started, f"expected success (rc {rc}) with child started\n{self.describe()}"
        return self

    def failed(self, rc: int | tuple | None = None) -> "Result":
        """Assert a failure: RC (or any non-zero if None; a tuple = any of),
        and that the child was never started."""
        assert not self.timed_out, self.describe()
        assert not self.started, f"child was started although vaultexec should have failed\n{self.describe()}"
        if rc is None:
            assert self.rc != 0, f"expected a non-zero exit\n{self.describe()}"
        elif isinstance(rc, tuple):
            assert self.rc in rc, f"expected exit in {rc}\n{self.describe()}"
        else:
            assert self.rc == rc, f"expected exit {rc}\n{self.describe()}"
        return self

    def stderr_lines(self) -> list[str]:
        return [l for l in untimed(self.stderr).splitlines() if l.strip()]

    def log_lines(self, level: str) -> list[str]:
        """Text-format log lines of LEVEL ('error', 'warn', 'info', 'debug')."""
        pat = re.compile(rf"^vaultexec: {level}[a-z]*: ", re.I)
        return [l for l in self.stderr_lines() if pat.match(l)]


class Runner:
    """Runs vaultexec; every run is recorded for the leak check."""

    def __init__(self, tmp: Path, leaks: LeakRegistry, target: str = "host"):
        self.tmp = tmp
        self.leaks = leaks
        self.target = target
        self.cmd = targets()[target]  # [emulator ...] binary
        self.bin = self.cmd[-1]
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        self._n = 0
        # Carried by every process of this test's runs (conftest's vx fixture).
        self.case_mark = secrets.token_hex(8)

    # convenience passthroughs
    def register(self, *values):
        self.leaks.register(*values)

    def secret(self, tag: str = "") -> str:
        v = hostile_value(tag)
        self.register(v)
        return v

    def token(self) -> str:
        t = "s." + secrets.token_hex(12)
        self.register(t)
        return t

    def name(self, stem: str = "app") -> str:
        return f"{stem}-{secrets.token_hex(4)}"

    def outfile(self) -> Path:
        self._n += 1
        return self.tmp / f"child-{self._n}.json"

    def base_env(self) -> dict:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LC_ALL": "C.UTF-8",
            vxtest.SESSION_MARK: os.environ.get(vxtest.SESSION_MARK, ""),
            vxtest.CASE_MARK: self.case_mark,
        }

    def child_cmd(self, *args, outfile=None) -> tuple[list, Path]:
        out = outfile or self.outfile()
        return [PYTHON, CHILD, str(out), *args], out

    def run(
        self,
        opts,
        *child_args,
        env: dict | None = None,
        cmd: list | None = None,
        sep: bool = True,
        timeout: float = 40,
        umask: int | None = None,
        cwd=None,
        base_env: bool = True,
        outfile: Path | None = None,
        user: int | None = None,
    ) -> Result:
        """Run `vaultexec OPTS -- CMD`.  CMD defaults to child.py with a fresh
        OUTFILE and CHILD_ARGS.  ENV is merged over a minimal base environment
        (a None value removes a variable).  USER runs it under another uid
        (and that uid as its group), for permissions root would bypass."""
        assert os.path.isfile(self.bin) and os.access(self.bin, os.X_OK), (
            f"vaultexec binary not found at {self.bin} (build it with `meson setup build && ninja -C build`"
            " or set VAULTEXEC_BIN)"
        )
        if cmd is None:
            cmd, outfile = self.child_cmd(*child_args, outfile=outfile)
        full_env = self.base_env() if base_env else {}
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        argv = [*self.cmd, *[str(o) for o in opts]] + (["--"] if sep else []) + [str(c) for c in cmd]

        def pre():
            if umask is not None:
                os.umask(umask)

        t0 = time.monotonic()
        p = subprocess.Popen(
            argv,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=pre,
            cwd=cwd,
            user=user,
            group=user,
        )
        timed_out = False
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = p.communicate()
        elapsed = time.monotonic() - t0
        res = Result(
            argv=argv,
            rc=p.returncode,
            stdout=out.decode("utf-8", "surrogateescape"),
            stderr=err.decode("utf-8", "surrogateescape"),
            elapsed=elapsed,
            pid=p.pid,
            outfile=outfile,
            timed_out=timed_out,
        )
        self.leaks.runs.append(res)
        return res


def read_envdump(path: Path) -> tuple[list, dict]:
    """(argv, environment) from the file tests/rootfs/envdump.c writes:
    NUL-terminated argv strings, "--env--", then NAME=VALUE strings."""
    parts = Path(path).read_bytes().split(b"\0")[:-1]
    i = parts.index(b"--env--")
    argv = [x.decode() for x in parts[:i]]
    env = dict(x.decode().split("=", 1) for x in parts[i + 1 :])
    return argv, env


# ---------------------------------------------------------------------------
# networking helpers
# ---------------------------------------------------------------------------


def conn(server, wait="10s", *more):
    """The usual connection options for SERVER (a Bao or a FakeVault)."""
    return ["--addr", server.addr, "--wait", wait, *more]


# ---------------------------------------------------------------------------
# OpenBao
# ---------------------------------------------------------------------------


class Bao(OpenBao):
    """A running OpenBao server plus admin helpers (root token); its root
    token is leak-checked in every test."""

    def _new_token(self, token: str):
        super()._new_token(token)
        LeakRegistry.always.add(token)


class BaoFileServer(Bao):
    """A non-dev OpenBao with persistent (raft) storage on a fixed port: it
    starts sealed, so tests can watch a client wait through "not listening"
    and "sealed".  (OpenBao 2.x has no "file" storage; single-node raft is
    the persistent backend.)  Uses PORT and PORT+1 (cluster)."""

    def __init__(self, workdir: Path, port: int):
        super().__init__(workdir)
        self.port = port
        self.unseal_key = None
        cfg = self.workdir / "bao.hcl"
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        cfg.write_text(
            f'storage "raft" {{\n  path = "{data}"\n  node_id = "n1"\n  performance_multiplier = 1\n}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
            f'api_addr = "http://127.0.0.1:{port}"\n'
            f'cluster_addr = "http://127.0.0.1:{port + 1}"\n'
        )
        self.cfg = cfg

    def start(self):
        self.proc = self._spawn(["server", f"-config={self.cfg}"])
        return self

    def initialize(self):
        """Init + unseal + mount KV v2 at secret/.  Returns the root token."""
        self.wait_status({501, 503, 200}, timeout=30)
        st, js = http_json("PUT", self.addr + "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
        if st != 200:
            raise BaoError(f"init -> {st} {js}")
        self.unseal_key = js["keys_base64"][0]
        self._new_token(js["root_token"])
        self.unseal()
        self.wait_status({200}, timeout=30)
        self.enable_kv("secret", "2")
        return self.token

    def unseal(self):
        st, js = http_json("PUT", self.addr + "/v1/sys/unseal", {"key": self.unseal_key})
        if st != 200:
            raise BaoError(f"unseal -> {st} {js}")
        return js


# ---------------------------------------------------------------------------
# a tiny PKI (openssl CLI) for the fake's TLS and client-certificate cases
# ---------------------------------------------------------------------------


def make_pki(d: Path) -> dict:
    """CA, server cert (localhost, 127.0.0.1) and client cert, all PEM.
    A second, unrelated CA is made too, for "unknown CA" cases."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl CLI not found")
    d.mkdir(parents=True, exist_ok=True)

    def sh(*args):
        subprocess.run([openssl, *args], check=True, cwd=d, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "otherca"):
        sh(
            "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "3",
            "-subj", f"/CN=vaultexec test {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )
    (d / "server.ext").write_text(
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    (d / "client.ext").write_text(
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    for leaf, ca in (("server", "ca"), ("client", "ca"), ("otherserver", "otherca")):
        ext = "server.ext" if "server" in leaf else "client.ext"
        sh("req", "-new", *ec, "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr", "-subj", f"/CN={leaf}")
        sh(
            "x509", "-req", "-in", f"{leaf}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{leaf}.pem", "-days", "3", "-extfile", ext,
        )
    h = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", "ca.pem"], check=True, cwd=d, capture_output=True, text=True
    ).stdout.strip()
    return {
        "dir": d,
        "ca": str(d / "ca.pem"),
        "ca_hash": h,
        "server": (str(d / "server.pem"), str(d / "server.key")),
        "client": (str(d / "client.pem"), str(d / "client.key")),
        "otherca": str(d / "otherca.pem"),
        "otherserver": (str(d / "otherserver.pem"), str(d / "otherserver.key")),
    }

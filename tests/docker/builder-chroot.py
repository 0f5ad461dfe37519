#!/usr/bin/env python3
"""Runs a Dockerfile's builder stage in a Debian 12 chroot (no Docker engine here).

    tests/docker/builder-chroot.py [--dockerfile Dockerfile.scratch] [--arch amd64|arm64]
                                   [--rootfs-cache DIR] [--work DIR] [--keep]

As root on a Debian/Ubuntu x86_64 machine with debootstrap. What it does, in
the order `docker build` would:

1. a fresh copy of a pristine Debian 12 "minbase" root filesystem (the
   variant debian:12-slim is made from), made once with debootstrap and kept
   in --rootfs-cache (default /var/tmp/vaultexec-debian12-minbase);
2. the build context: this tree with .dockerignore applied (context.py);
3. the builder stage's instructions, one by one: ARG (TARGETARCH and the
   other automatic platform ARGs get the values BuildKit gives them), ENV,
   WORKDIR, COPY from the context, RUN as `/bin/sh -c` in the chroot, with
   Docker's default PATH. Any other instruction is refused, so what runs
   here is what the Dockerfile says, not an approximation of it;
4. the final stage's COPY --from=build lines, into an empty directory (for
   Dockerfile.alpine: the same, without Alpine's files), then its
   ENTRYPOINT + CMD, and `/vaultexec --version`, run as its USER with
   that directory as the root (arm64: under qemu-aarch64, without chroot).

Not covered: the registry images themselves (debian:12-slim differs from
minbase in trimmed docs/locales only), BuildKit's cache, and the final
stage's base image for Alpine. The chroot gets /proc and a private /dev (a
tmpfs with the standard device nodes, as Docker gives a container) for the
build; they are unmounted after it, and nothing is deleted while anything
is still mounted under the work directory. A machine behind a
TLS-intercepting proxy (CAs in /usr/local/share/ca-certificates) has them
trusted in the chroot too, to reach PyPI.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import context  # noqa: E402
import dockerfile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOCKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIRROR = os.environ.get("VAULTEXEC_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def log(msg: str) -> None:
    print(msg, flush=True)


def die(msg: str) -> None:
    print(f"builder-chroot.py: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def mounts_under(path: Path) -> list[str]:
    base = str(path.resolve()).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return [m for m in points if (m + "/").startswith(base)]


def safe_rmtree(path: Path) -> None:
    """rmtree, but never through a mount point (a bind-mounted /dev left
    behind by a killed run would otherwise be emptied on the host)."""
    if not path.exists():
        return
    left = mounts_under(path)
    if left:
        die(f"not removing {path}: still mounted under it: {left} (umount them first)")
    shutil.rmtree(path)


def pristine_rootfs(cache: Path) -> Path:
    if (cache / "etc" / "debian_version").exists():
        return cache
    if not shutil.which("debootstrap"):
        die("debootstrap is missing (apt-get install --no-install-recommends debootstrap)")
    tmp = cache.with_name(cache.name + ".tmp")
    safe_rmtree(tmp)
    log(f"== debootstrap --variant=minbase bookworm {cache} (once)")
    r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp), MIRROR],
                       capture_output=True, text=True)
    if r.returncode != 0:
        die("debootstrap failed:\n" + (r.stdout + r.stderr)[-3000:])
    tmp.rename(cache)
    return cache


def platform_args(arch: str) -> dict[str, str]:
    build = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return {"TARGETARCH": arch, "TARGETOS": "linux", "TARGETPLATFORM": f"linux/{arch}", "TARGETVARIANT": "",
            "BUILDARCH": build, "BUILDOS": "linux", "BUILDPLATFORM": f"linux/{build}", "BUILDVARIANT": ""}


def expand(s: str, env: dict[str, str]) -> str:
    out = s
    for k, v in sorted(env.items(), key=lambda kv: -len(kv[0])):
        out = out.replace("${" + k + "}", v).replace("$" + k, v)
    return out


class Chroot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounts: list[Path] = []

    def __enter__(self) -> "Chroot":
        try:
            return self._setup()
        except BaseException:
            self.__exit__()
            raise

    def _setup(self) -> "Chroot":
        shutil.copy2("/etc/resolv.conf", self.root / "etc" / "resolv.conf", follow_symlinks=True)
        # A machine behind a TLS-intercepting proxy trusts its CA through
        # /usr/local/share/ca-certificates; the chroot needs the same to
        # reach PyPI (a Docker builder there would need it too). Debian's
        # ca-certificates, when the build installs it, adds them to the
        # bundle; pip is pointed at that bundle. Simulation only.
        self.extra_env: dict[str, str] = {}
        local = Path("/usr/local/share/ca-certificates")
        cas = sorted(local.rglob("*.crt")) if local.is_dir() else []
        if cas:
            dst = self.root / "usr/local/share/ca-certificates"
            dst.mkdir(parents=True, exist_ok=True)
            for c in cas:
                shutil.copy2(c, dst / c.name)
            self.extra_env["PIP_CERT"] = "/etc/ssl/certs/ca-certificates.crt"
            log(f"   the host's local CAs ({', '.join(c.name for c in cas)}) are trusted in the chroot too "
                "(TLS proxy); the CA bundle built here is not the one a normal build gets")
        # /proc, and a private /dev as Docker gives a container: a tmpfs
        # with the standard device nodes bind-mounted from the host, so
        # nothing run in the chroot can change the host's /dev.
        self._mount(["-t", "proc", "proc"], self.root / "proc")
        dev = self.root / "dev"
        self._mount(["-t", "tmpfs", "-o", "mode=0755,nosuid", "tmpfs"], dev)
        for node in ["null", "zero", "full", "random", "urandom", "tty"]:
            (dev / node).touch()
            self._mount(["--bind", f"/dev/{node}"], dev / node)
        (dev / "shm").mkdir()
        self._mount(["-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "shm"], dev / "shm")
        (dev / "pts").mkdir()
        for name, target in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")]:
            (dev / name).symlink_to(target)
        return self

    def _mount(self, args: list[str], target: Path) -> None:
        if not target.exists():
            target.mkdir()
        subprocess.run(["mount", *args, str(target)], check=True)
        self.mounts.append(target)

    def __exit__(self, *exc: object) -> None:
        for m in reversed(self.mounts):
            if subprocess.run(["umount", "-l", str(m)], check=False).returncode != 0:
                log(f"!! umount {m} failed: the work directory will not be removed")

    def run(self, cmd: str, workdir: str, env: dict[str, str]) -> int:
        full = {"PATH": DOCKER_PATH, "HOME": "/root", "HOSTNAME": "buildkitsandbox", **self.extra_env, **env}
        argv = ["env", "-i", *[f"{k}={v}" for k, v in full.items()],
                shutil.which("chroot") or "/usr/sbin/chroot", str(self.root), "/bin/sh", "-c", f"cd {shlex.quote(workdir)} && exec /bin/sh -c {shlex.quote(cmd)}"]
        return subprocess.run(argv).returncode


def copy_into(src: Path, dst: Path, dst_is_dir: bool) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
    else:
        target = dst / src.name if dst_is_dir else dst
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dockerfile", default="Dockerfile.scratch")
    ap.add_argument("--arch", default="amd64", choices=["amd64", "arm64"])
    ap.add_argument("--rootfs-cache", default="/var/tmp/vaultexec-debian12-minbase")
    ap.add_argument("--work", default="/tmp/vaultexec-builder-chroot")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        die("needs root (chroot, mount)")

    df = dockerfile.parse(ROOT / a.dockerfile)
    build = df.stages[0]
    if not build.base.startswith("debian:12"):
        die(f"the builder stage is FROM {build.base}, this runs Debian 12 only")

    t0 = time.monotonic()
    work = Path(a.work)
    safe_rmtree(work)
    work.mkdir(parents=True)
    pristine = pristine_rootfs(Path(a.rootfs_cache))
    rootfs = work / "rootfs"
    subprocess.run(["cp", "-a", str(pristine), str(rootfs)], check=True)
    # The apt sources of the debian:12 images (debootstrap writes only the
    # release itself): updates and security too, in deb822 form.
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    (rootfs / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {MIRROR}-security\nSuites: bookworm-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    ctx = work / "context"
    files = context.context_files(ROOT)
    for f in files:
        copy_into(ROOT / f, ctx / f, False)
    log(f"== {a.dockerfile}, builder stage, TARGETARCH={a.arch}: fresh Debian 12 root, context of {len(files)} files")

    pargs = platform_args(a.arch)
    env: dict[str, str] = {}
    workdir = "/"
    status = 0
    with Chroot(rootfs) as ch:
        for ins in build.body:
            log(f"#{ins.line} {ins.text}")
            if ins.keyword == "ARG":
                name, eq, default = ins.args.partition("=")
                env[name] = pargs.get(name, default if eq else "")
            elif ins.keyword == "ENV":
                for w in shlex.split(ins.args):
                    k, _, v = w.partition("=")
                    env[k] = expand(v, env)
            elif ins.keyword == "WORKDIR":
                workdir = expand(ins.args, env)
                (rootfs / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "COPY":
                if ins.flags:
                    die(f"line {ins.line}: COPY flags are not supported here: {ins.flags}")
                w = shlex.split(ins.args)
                srcs, dst = w[:-1], expand(w[-1], env)
                dst_abs = dst if dst.startswith("/") else os.path.join(workdir, dst)
                dst_is_dir = dst.endswith("/") or len(srcs) > 1 or dst in (".", "./")
                for s in srcs:
                    src = ctx / s
                    if not src.exists():
                        die(f"line {ins.line}: {s} is not in the build context (.dockerignore?)")
                    copy_into(src, rootfs / dst_abs.lstrip("/"), dst_is_dir)
            elif ins.keyword == "RUN":
                if ins.exec_form is not None:
                    die(f"line {ins.line}: exec-form RUN is not supported here")
                rc = ch.run(ins.args, workdir, env)
                if rc != 0:
                    log(f"!! line {ins.line} failed with exit code {rc}")
                    status = 1
                    break
            else:
                die(f"line {ins.line}: {ins.keyword} is not supported in the builder stage here")
    log(f"== builder stage {'failed' if status else 'done'} in {time.monotonic() - t0:.0f} s")
    if status:
        return status

    # The final stage: only its COPY --from=build lines, into an empty root.
    final = df.stages[-1]
    froot = work / "final"
    froot.mkdir()
    for c in final.all("COPY"):
        if c.flags.get("from") != build.name:
            continue
        src, dst = shlex.split(c.args)
        s = rootfs / src.lstrip("/")
        if not s.is_file():
            log(f"!! line {c.line}: {src} was not produced by the builder")
            return 1
        d = froot / dst.lstrip("/")
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(s, d)
        log(f"   {dst}: {d.stat().st_size} bytes, mode {oct(d.stat().st_mode & 0o7777)}")
    users = final.all("USER")
    user = users[-1].args.strip() if users else "0:0"
    uid, _, gid = user.partition(":")
    ep = (final.all("ENTRYPOINT")[-1].exec_form or []) if final.all("ENTRYPOINT") else []
    cmd = (final.all("CMD")[-1].exec_form or []) if final.all("CMD") else []
    ok = True
    for argv, want in [(ep + cmd, 0), (ep[:1] + ["--version"], 0)]:
        if a.arch == "amd64" and os.uname().machine == "x86_64":
            run = ["env", "-i", shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={uid}:{gid or uid}",
                   str(froot), *argv]
        else:
            qemu = shutil.which("qemu-aarch64")
            if not qemu:
                log("   (qemu-aarch64 missing: the arm64 binary is not run)")
                break
            run = ["env", "-i", shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups",
                   qemu, str(froot / argv[0].lstrip("/")), *argv[1:]]
        p = subprocess.run(run, capture_output=True, text=True, timeout=60)
        first = (p.stdout or p.stderr).strip().splitlines()[:1]
        log(f"   run as {user} in the final stage's files only: {' '.join(argv)} -> exit {p.returncode}"
            f" ({first[0] if first else ''})")
        ok = ok and p.returncode == want
    if not a.keep:
        safe_rmtree(work)
    log(f"== {'ok' if ok else 'FAILED'}: {a.dockerfile} TARGETARCH={a.arch}, {time.monotonic() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

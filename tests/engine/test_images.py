"""The Dockerfiles built and run by a real Docker engine (Debian's docker.io,
BuildKit), every container on the host's network, against a real OpenBao
dev server over TLS on loopback.

1. Dockerfile.scratch: builds (its builder stage runs the unit and smoke
   tests), holds exactly /vaultexec and the CA bundle, runs as 65534, is
   under 1 MB, and `docker run` of it reads a secret with --check.
2. A shell-less exporter image made here the way distroless images are (FROM
   scratch: Debian's redis_exporter, the loader and libc, nothing else),
   extended by the README's two lines, against a password-protected Redis.
3. Dockerfile.alpine: its builder stage; the final stage needs alpine:3.22,
   which cannot be fetched here (a separate, optional test says so).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import enginelib as E

sys.path.insert(0, str(E.REPO / "tests" / "e2e"))
import e2elib  # noqa: E402
import vxlib  # noqa: E402

REPO = E.REPO
SCRATCH_TAG = E.SCRATCH_TAG

# What Docker itself puts into every container (mount points and the files
# it bind-mounts at run time): not part of the image.
DOCKER_RUNTIME = {".dockerenv", "dev/", "dev/console", "dev/pts/", "dev/shm/", "proc/", "sys/",
                  "etc/", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"}


@pytest.fixture(scope="module")
def bao(tmp_path_factory):
    b = vxlib.Bao(tmp_path_factory.mktemp("bao"), tls=True).start_dev()
    yield b
    b.stop()


def token_file(d: Path, token: str, uid: int, mode: int = 0o400) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    f = d / "token"
    f.write_text(token)
    os.chown(f, uid, uid)
    f.chmod(mode)
    return f


def assert_no_leak(what: str, data: bytes, forms: set[bytes]) -> None:
    found = [f.decode(errors="replace")[:12] + "…" for f in forms if f in data]
    assert not found, f"the password is in {what} (forms starting {found})"


# ---------------------------------------------------------------------------
# 1. Dockerfile.scratch
# ---------------------------------------------------------------------------


def test_scratch_image_holds_only_vaultexec_and_ca_bundle(docker, scratch_image):
    names = docker.exported_names(scratch_image)
    files = {n for n in names - DOCKER_RUNTIME if not n.endswith("/")}
    assert files == {"vaultexec", "vault-env", "etc/ssl/certs/ca-certificates.crt"}, sorted(names)
    # /vault-env is a symlink to vaultexec: no second copy of the bytes.
    assert docker.exported_links(scratch_image).get("vault-env") == "vaultexec"
    dirs = {n for n in names - DOCKER_RUNTIME if n.endswith("/")}
    assert dirs <= {"etc/ssl/", "etc/ssl/certs/"}, sorted(dirs)


def test_scratch_image_is_under_1_mb_and_runs_as_65534(docker, scratch_image):
    size = docker.image_size(scratch_image)
    assert size < 1_000_000, f"{size} bytes"
    cfg = docker.inspect(scratch_image)[0]["Config"]
    assert cfg["User"] == "65534:65534"
    assert cfg["Entrypoint"] == ["/vaultexec"]
    out = docker("run", "--rm", "--network", "host", scratch_image, "--version").stdout
    assert re.search(r"\d+\.\d+", out), out


def test_scratch_image_reads_a_secret_over_tls_with_check(docker, scratch_image, bao, tmp_path):
    bao.put_kv2("app", {"password": "not-a-real-one", "username": "app"})
    bao.put_policy("app", 'path "secret/data/app" { capabilities = ["read"] }')
    tok = bao.create_token(["app"])
    # Readable by 65534 only (mode 0400): the run can read it as that user.
    tf = token_file(tmp_path / "mine", tok, 65534)
    common = ["run", "--rm", "--network", "host", "-v", f"{bao.ca}:/run/ca.pem:ro"]
    args = [f"--addr={bao.addr}", "--ca-cert=/run/ca.pem", "--token-file=/run/tok/token", "--service=app",
            "--map=username=APP_USER,password=APP_PASSWORD", "--check"]
    r = docker(*common, "-v", f"{tf.parent}:/run/tok:ro", scratch_image, *args, "--", "/vaultexec",
               check=False)
    assert r.returncode == 0, r.stderr
    assert "APP_USER" in r.stdout + r.stderr and "APP_PASSWORD" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "not-a-real-one" not in r.stdout + r.stderr
    # The same file owned by root, mode 0400: root in the container would
    # still read it (CAP_DAC_OVERRIDE), the image's user cannot.
    tf_root = token_file(tmp_path / "root", tok, 0)
    r = docker(*common, "-v", f"{tf_root.parent}:/run/tok:ro", scratch_image, *args, "--", "/vaultexec",
               check=False)
    assert r.returncode != 0 and "/run/tok/token" in r.stderr, (r.returncode, r.stderr)


def test_scratch_image_vault_env_mode(docker, scratch_image, bao, tmp_path):
    """/vault-env, as bank-vaults' webhook runs it: the command first, no
    options, vault-env's variables (here with --check, a dry run)."""
    bao.put_kv2("ve", {"password": "not-a-real-one"})
    r = docker("run", "--rm", "--network", "host", "-v", f"{bao.ca}:/run/ca.pem:ro",
               "--entrypoint", "/vault-env", "-e", f"VAULT_ADDR={bao.addr}", "-e", "VAULT_CACERT=/run/ca.pem",
               "-e", f"VAULT_TOKEN={bao.token}", "-e", "DB_PASSWORD=vault:secret/data/ve#password",
               scratch_image, "--check", "/vaultexec", check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "env DB_PASSWORD\n", r.stdout + r.stderr
    assert "not-a-real-one" not in r.stdout + r.stderr


# ---------------------------------------------------------------------------
# 2. A distroless exporter image, extended by the README's two lines
# ---------------------------------------------------------------------------

EXPORTER_BASE = "redis-exporter-distroless:local"
EXPORTER = "redis-exporter-vaultexec:local"


def readme_two_lines() -> list[str]:
    """The COPY --from and ENTRYPOINT lines of the README's example."""
    text = (REPO / "README.md").read_text()
    m = re.search(r"### In a distroless or scratch exporter image.*?```dockerfile\n(.*?)```", text, re.S)
    assert m, "README: no dockerfile block under 'In a distroless or scratch exporter image'"
    lines = [ln for ln in m.group(1).splitlines() if ln.strip()]
    assert lines[0].startswith("FROM ") and lines[1].startswith("COPY --from=vaultexec ") \
        and lines[2].startswith("ENTRYPOINT ["), lines
    return lines[1:3]


def libs_of_exporter() -> list[str]:
    return E.loader_and_libs(shutil.which("prometheus-redis-exporter") or "/usr/bin/prometheus-redis-exporter")


@pytest.fixture(scope="module")
def exporter_image(docker, scratch_image, tmp_path_factory):
    ctx = tmp_path_factory.mktemp("distroless")
    binary = shutil.which("prometheus-redis-exporter") or "/usr/bin/prometheus-redis-exporter"
    libs = libs_of_exporter()
    assert libs, f"{binary}: ldd names no loader/libc (a static binary would need none)"
    lines = ["FROM scratch"]
    (ctx / "root").mkdir()
    shutil.copy2(binary, ctx / "root" / "redis_exporter")
    for p in libs:
        dst = ctx / "root" / p.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(p), dst)
    lines += ["COPY root/ /", "USER 65534:65534", 'ENTRYPOINT ["/redis_exporter"]']
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    docker.build(EXPORTER_BASE, ctx, what="distroless redis_exporter (FROM scratch, no shell)")
    # The README's two lines, with this exporter's entrypoint and secret.
    copy_line, entry_line = readme_two_lines()
    entry = entry_line.replace('"--service=mongodb"', '"--service=redis"')
    entry = re.sub(r'"--env=MONGODB_URI=[^"]*"', '"--map=password=REDIS_PASSWORD"', entry)
    entry = entry.replace('"/mongodb_exporter"', '"/redis_exporter"')
    assert "--map=password=REDIS_PASSWORD" in entry and '"/redis_exporter"]' in entry, entry
    ext = tmp_path_factory.mktemp("extended")
    (ext / "Dockerfile").write_text(f"FROM {EXPORTER_BASE}\n{copy_line}\n{entry}\n")
    docker.build(EXPORTER, ext, what="exporter + the README's two lines")
    for tag in (EXPORTER_BASE, EXPORTER):
        E.figure(f"image {tag}: {docker.image_size(tag)} bytes")
    return EXPORTER


def test_distroless_exporter_has_no_shell(docker, exporter_image):
    for image in (EXPORTER_BASE, exporter_image):
        r = docker("run", "--rm", "--network", "host", "--entrypoint", "/bin/sh", image, "-c", "true",
                   check=False)
        assert r.returncode != 0, f"{image} has a /bin/sh"
    names = docker.exported_names(exporter_image)
    assert "vaultexec" in names and "redis_exporter" in names
    files = {n for n in names - DOCKER_RUNTIME if not n.endswith("/")}
    assert files == {"vaultexec", "redis_exporter", *(p.lstrip("/") for p in libs_of_exporter())}, sorted(files)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    d = tmp_path_factory.mktemp("redis")
    pw = e2elib.password("redis-docker")
    port = vxlib.free_port()
    conf = d / "redis.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nrequirepass {e2elib.redis_conf_escape(pw)}\n"
                    f"dir {d}\nsave \"\"\nappendonly no\n")
    conf.chmod(0o600)
    p = subprocess.Popen(["redis-server", str(conf)], stdout=open(d / "log", "wb"), stderr=subprocess.STDOUT,
                         start_new_session=True)
    e2elib.wait_for(lambda: e2elib.port_open(port), 20, "redis-server")
    yield {"port": port, "password": pw}
    p.terminate()
    p.wait(10)


def test_exporter_image_against_openbao_and_redis(docker, exporter_image, bao, redis, tmp_path):
    pw = redis["password"]
    forms = e2elib.leak_forms(pw)
    bao.put_kv2("redis", {"password": pw})
    bao.put_policy("redis", 'path "secret/data/redis" { capabilities = ["read"] }')
    tf = token_file(tmp_path / "tok", bao.create_token(["redis"]), 65534)
    port = vxlib.free_port()
    name = "vx-redis-exporter"
    docker("rm", "-f", name, check=False)
    cid = docker("run", "-d", "--name", name, "--network", "host",
                 "-e", f"VAULTEXEC_ADDR={bao.addr}", "-e", "VAULTEXEC_CA_CERT=/run/ca.pem",
                 "-e", "VAULTEXEC_TOKEN_FILE=/run/tok/token",
                 "-v", f"{bao.ca}:/run/ca.pem:ro", "-v", f"{tf.parent}:/run/tok:ro",
                 exporter_image, f"--redis.addr=redis://127.0.0.1:{redis['port']}",
                 f"--web.listen-address=127.0.0.1:{port}").stdout.strip()
    try:
        def up():
            if docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() != "true":
                raise e2elib.E2EError("container exited:\n" + docker("logs", cid).stderr[-2000:])
            return e2elib.metric(e2elib.scrape(port), "redis_up") == 1
        e2elib.wait_for(up, 60, "redis_up 1 from the exporter in the container")
        # PID 1 of the container is the exporter: vaultexec exec'd it.
        pid = docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        status = Path(f"/proc/{pid}/status").read_text()
        nspid = re.search(r"^NSpid:\s*(.*)$", status, re.M).group(1).split()
        assert nspid[-1] == "1", status
        assert os.readlink(f"/proc/{pid}/exe").endswith("/redis_exporter")
        top = docker("top", cid, "-o", "pid,args").stdout
        assert "vaultexec" not in top and "redis_exporter" in top, top
        # The password: in no layer of either image, no inspect field, no log.
        for image in (EXPORTER_BASE, exporter_image, SCRATCH_TAG):
            for member, data in E.layers_of(docker.saved_image(image)).items():
                assert_no_leak(f"image {image}, {member}", data, forms)
        inspected = docker("inspect", cid, exporter_image).stdout.encode()
        assert_no_leak("docker inspect of the container and image", inspected, forms)
        logs = docker("logs", cid, text=False)
        assert_no_leak("the container's log", logs.stdout + logs.stderr, forms)
        assert b"redis_exporter" in logs.stdout + logs.stderr or logs.stderr, "no log at all?"
    finally:
        docker("rm", "-f", cid, check=False)


# ---------------------------------------------------------------------------
# 3. Dockerfile.alpine
# ---------------------------------------------------------------------------


def test_alpine_builder_stage_builds(docker, scratch_image):
    docker.build("vaultexec-alpine-builder:local", REPO, REPO / "Dockerfile.alpine", target="build",
                 what="Dockerfile.alpine --target build (cached: same stage as Dockerfile.scratch)")
    r = docker("run", "--rm", "--network", "host", "--entrypoint", "/out/vaultexec",
               "vaultexec-alpine-builder:local", "--version")
    assert re.search(r"\d+\.\d+", r.stdout + r.stderr)


@pytest.mark.optional
def test_alpine_final_stage(docker, scratch_image):
    """Needs alpine:3.22 from Docker Hub, which no machine of this project can
    reach: an optional test, reported as skipped with the engine's reason."""
    t0 = time.monotonic()
    r = docker("build", "--network", "host", "--progress", "plain", "-t", "vaultexec:alpine", "-f",
               str(REPO / "Dockerfile.alpine"), str(REPO), check=False, timeout=900)
    if r.returncode != 0:
        err = [ln for ln in r.stderr.splitlines() if "alpine" in ln and ("error" in ln.lower() or "failed" in ln)]
        pytest.skip("Dockerfile.alpine's final stage: alpine:3.22 cannot be fetched here (no registry): "
                    + (err[-1].strip() if err else r.stderr.strip().splitlines()[-1])[:300])
    E.figure(f"build Dockerfile.alpine: {time.monotonic() - t0:.1f} s; "
             f"image {docker.image_size('vaultexec:alpine')} bytes")
    r = docker("run", "--rm", "--network", "host", "vaultexec:alpine", "--version")
    assert re.search(r"\d+\.\d+", r.stdout + r.stderr)

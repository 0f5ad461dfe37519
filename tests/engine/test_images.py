"""The Dockerfiles built and run by a real Docker engine (Debian's docker.io,
BuildKit), every container on the host's network, against a real OpenBao
dev server over TLS on loopback.

1. Dockerfile.scratch: builds (its builder stage runs the unit and smoke
   tests), holds exactly /vaultexec and the CA bundle, runs as 65534, is
   under 1 MB, and `docker run` of it reads a secret with --check.
2. A shell-less exporter image made here the way distroless images are (FROM
   scratch: Debian's redis_exporter, the loader and libc, nothing else),
   extended by the README's two lines, against a password-protected Redis.
3. examples/distroless-mongodb/Dockerfile built as committed, on a local
   stand-in for percona/mongodb_exporter:0.43.1 made the way Percona makes
   theirs, run against FerretDB with SCRAM.
4. Dockerfile.alpine: its builder stage, and the whole file on a stand-in
   for alpine:3.22 made from Debian's busybox-static
   (tests/engine/alpine-standin.sh: not Alpine, no registry here); the
   bank-vaults webhook's `sh -c "cp /usr/local/bin/vault-env /vault/"` in it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

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
# 3. examples/distroless-mongodb/Dockerfile, as committed
# ---------------------------------------------------------------------------

PERCONA = E.PERCONA
MONGO_EXAMPLE = REPO / "examples" / "distroless-mongodb"
MONGO_IMAGE = "mongodb-exporter-vaultexec:0.43.1"  # the tag its compose.yml gives it


@pytest.fixture(scope="module")
def percona_standin(docker, tmp_path_factory):
    return E.build_percona_standin(docker, tmp_path_factory.mktemp("percona"))


@pytest.fixture(scope="module")
def mongo_example_image(docker, scratch_image, percona_standin):
    """examples/distroless-mongodb/Dockerfile built as committed (its
    COPY --from=vaultexec names the Dockerfile.scratch image)."""
    lines = [ln for ln in (MONGO_EXAMPLE / "Dockerfile").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines == [f"FROM {PERCONA}", *readme_two_lines()], \
        "examples/distroless-mongodb/Dockerfile is not Percona's image plus the README's two lines:\n" + "\n".join(lines)
    docker.build(MONGO_IMAGE, MONGO_EXAMPLE, what="examples/distroless-mongodb/Dockerfile (as committed)")
    for tag in (PERCONA, MONGO_IMAGE):
        E.figure(f"image {tag}: {docker.image_size(tag)} bytes")
    return MONGO_IMAGE


@pytest.fixture(scope="module")
def ferretdb(tmp_path_factory):
    """FerretDB with SCRAM at mongodb:27017 as the example's URI names it:
    the name resolves (--add-host) to an address of this engine's own in
    loopback (127.N.1.1, N from the engine directory, as test_compose.py
    picks), so two checkouts do not share the port."""
    net = 20 + int(hashlib.sha256(str(E.ENGINE_DIR).encode()).hexdigest(), 16) % 200
    host = f"127.{net}.1.1"
    user, pw = "monitor@ops:a/b c", e2elib.password("mongo-docker", drop="😀ℵ")  # SASLprep: see tests/e2e
    root = tmp_path_factory.mktemp("ferretdb")
    procs = e2elib.Procs(root / "logs")
    fdb = e2elib.FerretDB(procs, root, host=host, port=27017).start(user, pw)
    yield {"host": host, "username": user, "password": pw, "procs": procs}
    procs.stop_all()
    log = (root / "logs" / "ferretdb.log").read_bytes()
    assert_no_leak("FerretDB's log", log, e2elib.leak_forms(pw))


def run_mongo_example(docker, image, bao, ferretdb, tf, name):
    port = vxlib.free_port()
    docker("rm", "-f", name, check=False)
    # compose.yml's command, with a loopback port of this run.
    cmd = yaml.safe_load((MONGO_EXAMPLE / "compose.yml").read_text())["services"]["mongodb-exporter"]["command"]
    cmd = [f"--web.listen-address=127.0.0.1:{port}" if c.startswith("--web.listen-address=") else c for c in cmd]
    cid = docker("run", "-d", "--name", name, "--network", "host", "--add-host", f"mongodb:{ferretdb['host']}",
                 "-e", f"VAULTEXEC_ADDR={bao.addr}", "-e", "VAULTEXEC_CA_CERT=/run/ca.pem",
                 "-e", "VAULTEXEC_TOKEN_FILE=/run/tok/token",
                 "-v", f"{bao.ca}:/run/ca.pem:ro", "-v", f"{tf.parent}:/run/tok:ro",
                 image, *cmd).stdout.strip()
    return cid, port


def wait_mongodb_up(docker, cid, port, want):
    last = {}

    def check():
        if docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() != "true":
            raise e2elib.E2EError("container exited:\n" + docker("logs", cid).stderr[-2000:])
        if not e2elib.port_open(port):
            return False
        last["v"] = e2elib.metric(e2elib.scrape(port), "mongodb_up")
        return last["v"] == want
    e2elib.wait_for(check, 60, f"mongodb_up {want} from the exporter in the container (last {last})")


def test_distroless_mongodb_example_against_ferretdb(docker, mongo_example_image, bao, ferretdb, tmp_path):
    pw = ferretdb["password"]
    forms = e2elib.leak_forms(pw)
    bao.put_kv2("mongodb", {"username": ferretdb["username"], "password": pw})
    bao.put_policy("mongodb-exporter", (REPO / "examples/mongodb/policies/mongodb-exporter.hcl").read_text())
    tf = token_file(tmp_path / "tok", bao.create_token(["mongodb-exporter"]), 65535)
    cid, port = run_mongo_example(docker, mongo_example_image, bao, ferretdb, tf, "vx-mongodb-exporter")
    try:
        wait_mongodb_up(docker, cid, port, 1)
        # PID 1 of the container is the exporter: vaultexec exec'd it.
        pid = docker("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        status = Path(f"/proc/{pid}/status").read_text()
        assert re.search(r"^NSpid:\s*(.*)$", status, re.M).group(1).split()[-1] == "1", status
        assert os.readlink(f"/proc/{pid}/exe").endswith("/mongodb_exporter")
        assert re.search(r"^Uid:\s+65535\s", status, re.M), status
        # No shell, in Percona's image nor in the extended one.
        for image in (PERCONA, mongo_example_image):
            r = docker("run", "--rm", "--network", "host", "--entrypoint", "/bin/sh", image, "-c", "true",
                       check=False)
            assert r.returncode != 0, f"{image} has a /bin/sh"
        # The password: in no layer, no inspect field, no log.
        for image in (PERCONA, mongo_example_image):
            for member, data in E.layers_of(docker.saved_image(image)).items():
                assert_no_leak(f"image {image}, {member}", data, forms)
        assert_no_leak("docker inspect of the container and image",
                       docker("inspect", cid, mongo_example_image).stdout.encode(), forms)
        logs = docker("logs", cid, text=False)
        assert_no_leak("the container's log", logs.stdout + logs.stderr, forms)
    finally:
        docker("rm", "-f", cid, check=False)


def test_distroless_mongodb_example_wrong_password_is_down(docker, mongo_example_image, bao, ferretdb, tmp_path):
    """The login is real: with a wrong password in OpenBao the exporter runs
    and says mongodb_up 0."""
    bao.put_kv2("mongodb", {"username": ferretdb["username"],
                            "password": e2elib.password("wrong", drop="😀ℵ")})
    bao.put_policy("mongodb-exporter", (REPO / "examples/mongodb/policies/mongodb-exporter.hcl").read_text())
    tf = token_file(tmp_path / "tok", bao.create_token(["mongodb-exporter"]), 65535)
    cid, port = run_mongo_example(docker, mongo_example_image, bao, ferretdb, tf, "vx-mongodb-exporter-wrong")
    try:
        wait_mongodb_up(docker, cid, port, 0)
    finally:
        docker("rm", "-f", cid, check=False)


# ---------------------------------------------------------------------------
# 4. Dockerfile.alpine
# ---------------------------------------------------------------------------


def test_alpine_builder_stage_builds(docker, scratch_image):
    docker.build("vaultexec-alpine-builder:local", REPO, REPO / "Dockerfile.alpine", target="build",
                 what="Dockerfile.alpine --target build (cached: same stage as Dockerfile.scratch)")
    r = docker("run", "--rm", "--network", "host", "--entrypoint", "/out/vaultexec",
               "vaultexec-alpine-builder:local", "--version")
    assert re.search(r"\d+\.\d+", r.stdout + r.stderr)


ALPINE_STANDIN = "alpine:3.22"


@pytest.fixture(scope="module")
def alpine_image(docker, scratch_image):
    """Dockerfile.alpine as committed. Its base, alpine:3.22, is a stand-in
    in this engine only: Debian's busybox-static, the CA bundle, root and
    nobody (tests/engine/alpine-standin.sh, run by run.sh). Not Alpine: the
    test proves the file builds and that the final stage's layout works with
    a busybox shell, as Alpine's."""
    label = docker.inspect(ALPINE_STANDIN)[0]["Config"]["Labels"] or {}
    assert "busybox-static" in label.get("vaultexec.standin", ""), \
        f"{ALPINE_STANDIN} in this engine is not the busybox-static stand-in: {label}"
    docker.build("vaultexec:alpine", REPO, REPO / "Dockerfile.alpine",
                 what="Dockerfile.alpine (on the busybox-static stand-in for alpine:3.22)")
    E.figure(f"image vaultexec:alpine (on the stand-in): {docker.image_size('vaultexec:alpine')} bytes")
    return "vaultexec:alpine"


def test_alpine_final_stage(docker, alpine_image):
    cfg = docker.inspect(alpine_image)[0]["Config"]
    assert cfg["User"] == "65534:65534" and cfg["Entrypoint"] == ["/vaultexec"], cfg
    r = docker("run", "--rm", "--network", "host", alpine_image, "--version")
    assert re.search(r"\d+\.\d+", r.stdout + r.stderr)
    links = docker.exported_links(alpine_image)
    assert links.get("vault-env") == "vaultexec" and links.get("usr/local/bin/vault-env") == "vaultexec", \
        {k: v for k, v in links.items() if "vault" in k}


def test_alpine_image_serves_bank_vaults_webhook_copy(docker, alpine_image, bao, tmp_path):
    """The bank-vaults webhook's init container: `sh -c "cp
    /usr/local/bin/vault-env /vault/"` as the image's user into an empty
    volume. cp follows the symlink: /vault/vault-env is the binary itself,
    and run under that name it is vault-env (a dry run with --check)."""
    vol = tmp_path / "vault"
    vol.mkdir()
    os.chown(vol, 65534, 65534)
    r = docker("run", "--rm", "--network", "host", "-v", f"{vol}:/vault", "--entrypoint", "sh", alpine_image,
               "-c", "cp /usr/local/bin/vault-env /vault/", check=False)
    assert r.returncode == 0, r.stderr
    copy = vol / "vault-env"
    assert copy.is_file() and not copy.is_symlink(), sorted(vol.iterdir())
    vx = docker.exported_members(alpine_image)
    size = next(m.size for m in vx if m.name == "vaultexec")
    assert copy.stat().st_size == size, (copy.stat().st_size, size)
    bao.put_kv2("webhook", {"password": "not-a-real-one"})
    env = {"PATH": "/usr/bin:/bin", "VAULT_ADDR": bao.addr, "VAULT_CACERT": str(bao.ca), "VAULT_TOKEN": bao.token,
           "DB_PASSWORD": "vault:secret/data/webhook#password"}
    r = subprocess.run([str(copy), "--check", "/bin/true"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "env DB_PASSWORD\n", r.stdout + r.stderr
    assert "not-a-real-one" not in r.stdout + r.stderr

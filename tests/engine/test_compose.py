"""examples/docker-compose.yml run by Docker Compose v2 as users paste it, with
an override file (build/docker/compose.override.yml, made here) that only
points each service at a locally made image (tests/engine/stack: Debian's
servers, exporters and Prometheus, OpenBao's bao) and at the host's network.

With host networking the service names resolve through extra_hosts to an
address of their own in a loopback /24 (127.N.0.0/24, N from the engine
directory), where each server listens on its usual
port; no port is published. MongoDB has no Debian package: the mongodb
service runs FerretDB (with SCRAM) in the stack image, and mongodb-exporter
is built from examples/mongodb/Dockerfile as committed, on a local
percona/mongodb_exporter:0.43.1 (enginelib.build_percona_standin). The
vaultexec service's image is Dockerfile.alpine built on the busybox-static
stand-in for alpine:3.22 (tests/engine/alpine-standin.sh). Every exporter
must get its password only through vaultexec, and Prometheus must report
up == 1 for every target (seven)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import enginelib as E

sys.path.insert(0, str(E.REPO / "tests" / "e2e"))
import e2elib  # noqa: E402

EXAMPLES = E.REPO / "examples"
COMPOSE_FILE = EXAMPLES / "docker-compose.yml"
STACK_IMAGE = "vaultexec-stack:local"
PROJECT = "vaultexec-engine-test"
MONGODB_EXPORTER_IMAGE = "vaultexec-mongodb-exporter:local"  # examples/mongodb's, built here
# The exporters and where each one's password comes from, in its process.
EXPORTERS = {
    "redis-exporter-1": ("redis-1", "env", "REDIS_PASSWORD"),
    "redis-exporter-2": ("redis-2", "env", "REDIS_PASSWORD"),
    "redis-exporter-3": ("redis-3", "env", "REDIS_PASSWORD"),
    "postgres-exporter": ("postgres", "env", "DATA_SOURCE_NAME"),
    "mysqld-exporter": ("mysql", "file", "/run/mysqld_exporter/.my.cnf"),
    "sql-exporter": ("sql-exporter", "env", "POSTGRES_DSN"),
    "mongodb-exporter": ("mongodb", "env", "MONGODB_URI"),
}


def mysqld_exporter_bin() -> Path:
    cache = os.environ.get("VAULTEXEC_E2E_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vaultexec-e2e")
    p = Path(cache) / "bin" / "mysqld_exporter"
    assert p.is_file(), f"{p} is missing: tests/e2e/install.sh builds it"
    return p


def load_example() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def override(example: dict) -> tuple[str, dict, list[str]]:
    """The override file's text, the address of each service, and the
    Prometheus targets it must report up."""
    services = [n for n, s in example["services"].items() if not s.get("profiles")]
    # A /24 of loopback per engine directory: two checkouts on one machine
    # can run this at the same time without sharing a port.
    net = 20 + int(hashlib.sha256(str(E.ENGINE_DIR).encode()).hexdigest(), 16) % 200
    addr = {n: f"127.{net}.0.{i + 1}" for i, n in enumerate(services)}
    hosts = [f"{n}:{a}" for n, a in addr.items()]
    out: dict = {"services": {}}
    for name in services:
        svc = example["services"][name]
        o: dict = {"network_mode": "host", "extra_hosts": hosts, "pull_policy": "never"}
        if name == "vaultexec":
            o["image"] = "vaultexec:local"  # Dockerfile.alpine, made by the test
        elif name == "mongodb-exporter":
            o["image"] = MONGODB_EXPORTER_IMAGE
        else:
            o["image"] = STACK_IMAGE
        cmd = list(svc.get("command") or [])
        a = addr[name]
        if name == "openbao":
            o["entrypoint"] = ["bao"]
            o["command"] = [re.sub(r"^-dev-listen-address=.*", f"-dev-listen-address={a}:8200", c) for c in cmd]
        elif name.startswith("redis-") and "exporter" not in name:
            o["command"] = cmd + ["--bind", a, "--dir", "/run/redis"]
        elif name == "postgres":
            o["command"] = cmd + ["-c", f"listen_addresses={a}"]
        elif name == "mysql":
            o["command"] = cmd + [f"--bind-address={a}"]
        elif name == "mongodb":
            o["command"] = cmd + ["--bind_ip", a]
        elif name in EXPORTERS:
            if name != "mongodb-exporter":  # its image has Percona's user (65535)
                o["user"] = "65534:65534"  # as the upstream exporter images
            o["command"] = [re.sub(r"^(-?-web\.listen-address=):", rf"\g<1>{a}:", c) for c in cmd]
            assert o["command"] != cmd, f"{name}: no --web.listen-address=:PORT in {cmd}"
        elif name == "prometheus":
            o["entrypoint"] = ["/usr/bin/prometheus"]
            o["user"] = "65534:65534"
            o["command"] = cmd + [f"--web.listen-address={a}:9090", "--storage.tsdb.path=/prometheus"]
            o["tmpfs"] = ["/prometheus:uid=65534,gid=65534"]
        if "ports" in svc:
            o["ports"] = "__RESET__"
        out["services"][name] = o
    prom = yaml.safe_load(example["configs"]["prometheus"]["content"])
    targets = [t for j in prom["scrape_configs"] for sc in j["static_configs"] for t in sc["targets"]]
    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True
    text = yaml.dump(out, Dumper=NoAliases, sort_keys=False, width=1000)
    text = re.sub(r"^(\s*ports:) '?__RESET__'?$", r"\1 !reset []", text, flags=re.M)
    assert "__RESET__" not in text
    return text, addr, targets


@pytest.fixture(scope="module")
def stack(docker, scratch_image, tmp_path_factory):
    ctx = tmp_path_factory.mktemp("stack")
    for f in ("Dockerfile", "docker-entrypoint.sh"):
        shutil.copy2(Path(__file__).parent / "stack" / f, ctx / f)
    shutil.copy2(E.real_bao(), ctx / "bao")
    shutil.copy2(mysqld_exporter_bin(), ctx / "mysqld_exporter")
    shutil.copy2(e2elib.cached_build("ferretdb"), ctx / "ferretdb")
    docker.build(STACK_IMAGE, ctx, what="the stack's local image (apt: Debian's servers, exporters, Prometheus)")
    example = load_example()
    # The example's `vaultexec` service, as its build section says
    # (Dockerfile.alpine, on the local alpine:3.22 stand-in), and the
    # mongodb-exporter service's examples/mongodb/Dockerfile on the local
    # percona/mongodb_exporter:0.43.1 with that vaultexec image.
    vx = example["services"]["vaultexec"]
    assert vx["image"] == "vaultexec:local" and vx["build"]["dockerfile"] == "Dockerfile.alpine", vx
    docker.build("vaultexec:local", (EXAMPLES / vx["build"]["context"]).resolve(), E.REPO / "Dockerfile.alpine",
                 what="vaultexec:local (Dockerfile.alpine on the alpine:3.22 stand-in)")
    E.build_percona_standin(docker, tmp_path_factory.mktemp("percona"))
    mx = example["services"]["mongodb-exporter"]
    assert mx["image"] == MONGODB_EXPORTER_IMAGE, mx
    docker.build(MONGODB_EXPORTER_IMAGE, EXAMPLES / mx["build"]["context"],
                 what="examples/mongodb/Dockerfile (on the local percona/mongodb_exporter:0.43.1)")
    text, addr, targets = override(example)
    ov = E.ENGINE_DIR / "compose.override.yml"
    ov.write_text("# Made by tests/engine/test_compose.py: local images, the host's network.\n" + text)
    root = "vxroot" + secrets.token_hex(16)
    env = dict(docker.env, OPENBAO_DEV_ROOT_TOKEN=root)
    base = [E.DOCKER, "compose", "-p", PROJECT, "--project-directory", str(EXAMPLES),
            "-f", str(COMPOSE_FILE), "-f", str(ov)]

    def compose(*args, check=True, timeout=600):
        r = subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise E.DockerError(f"docker compose {' '.join(args)} exited {r.returncode}:\n{r.stderr[-4000:]}")
        return r

    compose("down", "-v", "-t", "5", check=False)
    t0 = time.monotonic()
    r = compose("up", "-d", "--no-build", check=False)
    E.figure(f"compose up -d: exit {r.returncode} in {time.monotonic() - t0:.1f} s")
    try:
        assert r.returncode == 0, r.stderr[-4000:]
        yield {"compose": compose, "addr": addr, "targets": targets, "root": root, "t0": t0}
    finally:
        logs = compose("logs", "--no-color", check=False)
        (E.ENGINE_DIR / "compose.log").write_text(logs.stdout + logs.stderr)
        compose("down", "-v", "-t", "5", check=False)


def http_json(url: str, token: str | None = None):
    req = urllib.request.Request(url, headers={"X-Vault-Token": token} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_prometheus_reports_every_target_up(stack):
    prom = f"http://{stack['addr']['prometheus']}:9090"
    want = set(stack["targets"])
    deadline = time.monotonic() + 240
    last = None
    while time.monotonic() < deadline:
        try:
            res = http_json(prom + "/api/v1/query?query=up")["data"]["result"]
            last = {x["metric"]["instance"]: x["value"][1] for x in res}
            if set(last) == want and all(v == "1" for v in last.values()):
                break
        except OSError as e:
            last = e
        time.sleep(2)
    E.figure(f"compose: Prometheus up results after {time.monotonic() - stack['t0']:.0f} s: "
             + (", ".join(f"{k}={v}" for k, v in sorted(last.items())) if isinstance(last, dict) else str(last)))
    assert isinstance(last, dict) and set(last) == want, (want, last)
    assert all(v == "1" for v in last.values()), last
    # up is the scrape; each exporter's own metric says whether its login
    # to the database worked.
    for q, n in (("redis_up", 3), ("pg_up", 1), ("mysql_up", 1), ("mongodb_up", 1)):
        def logged_in():
            res = http_json(f"{prom}/api/v1/query?query={q}")["data"]["result"]
            return len(res) == n and all(x["value"][1] == "1" for x in res)
        e2elib.wait_for(logged_in, 60, f"{q} == 1 on {n} target(s)", interval=2)
    E.figure("compose: redis_up, pg_up, mysql_up and mongodb_up all 1")


def test_every_exporter_gets_its_password_only_through_vaultexec(stack, docker):
    compose = stack["compose"]
    bao = f"http://{stack['addr']['openbao']}:8200/v1"
    example = load_example()
    all_forms: set[bytes] = set()
    for name, (secret, how, where) in EXPORTERS.items():
        pw = http_json(f"{bao}/secret/data/{secret}", stack["root"])["data"]["data"]["password"]
        forms = e2elib.leak_forms(pw)
        cid = compose("ps", "-q", name).stdout.strip()
        assert cid, f"{name}: no container"
        info = docker.inspect(cid)[0]
        assert info["Config"]["Entrypoint"] == example["services"][name]["entrypoint"]
        # The mongodb-exporter image has vaultexec inside (COPY --from); the
        # others mount it from the vaultexec-bin volume.
        assert info["Config"]["Entrypoint"][0] in ("/opt/vaultexec/vaultexec", "/vaultexec")
        blob = json.dumps(info).encode()
        assert not [f for f in forms if f in blob], f"{name}: the password is in docker inspect"
        pid = info["State"]["Pid"]
        # PID 1 of the container is the exporter itself: vaultexec exec'd it.
        nspid = re.search(r"^NSpid:\s*(.*)$", Path(f"/proc/{pid}/status").read_text(), re.M).group(1).split()
        assert nspid[-1] == "1"
        exe = os.readlink(f"/proc/{pid}/exe")
        assert "vaultexec" not in exe, exe
        if how == "env":
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert [f for f in forms if f in environ], f"{name}: {where} does not hold the password"
        else:
            text = Path(f"/proc/{pid}/root{where}").read_bytes()
            assert [f for f in forms if f in text], f"{name}: {where} does not hold the password"
        logs = docker("logs", cid, text=False)
        assert not [f for f in forms if f in logs.stdout + logs.stderr], f"{name}: the password is in its log"
        all_forms |= forms
    # Nor in the stack's configuration as Compose resolved it.
    cfg = compose("config").stdout.encode()
    assert not [f for f in all_forms if f in cfg], "a password is in `docker compose config`"

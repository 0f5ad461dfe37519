"""The Kubernetes suite: vaultexec in pods of a real one-node cluster
(tests/k8s/run.sh starts it, the private Docker engine and this run).

* A skip is a failure (no test here is optional).
* Session fixtures: the images (built in the private Docker engine as
  tests/engine builds them, copied into the cluster's containerd), the
  cluster's objects (namespaces, the reviewer service account bound to
  system:auth-delegator), PostgreSQL on 127.0.0.1:5432 and OpenBao with a
  TLS listener on 127.0.0.1:8200 (the names the example uses,
  openbao.openbao.svc and postgres, are 127.0.0.1 in the kubelet's
  /etc/hosts), its kubernetes auth method validating pods' tokens through
  this API server.
"""
from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "engine"))
sys.path.insert(0, str(HERE.parent / "e2e"))

import e2elib  # noqa: E402
import enginelib  # noqa: E402
import k8slib as K  # noqa: E402
import vxtest  # noqa: E402

OPENBAO_PORT = 8200  # examples/kubernetes: https://openbao.openbao.svc:8200
POSTGRES_PORT = 5432  # examples/kubernetes: postgres:5432
NAMESPACES = ["monitoring", "vx"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    vxtest.refuse_skip(item, outcome.get_result(), where=" in the Kubernetes suite")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    vxtest.refuse_collection_skip(collector, outcome.get_result())


@pytest.fixture(scope="session")
def root():
    d = Path(tempfile.mkdtemp(prefix="vaultexec-k8s-"))
    d.chmod(0o755)  # PostgreSQL runs as postgres under it
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def procs(root):
    p = e2elib.Procs(root / "logs")
    yield p
    p.stop_all()


@pytest.fixture(scope="session")
def images():
    """vaultexec's scratch image (Dockerfile.scratch, as tests/engine builds
    it: BuildKit's cache makes it quick after the engine suite), the
    vault-env image (Dockerfile.alpine's final stage on Debian: the webhook's
    init container needs sh and cp; Alpine cannot be fetched here) and
    postgres_exporter (Debian's 0.11.1 binary at the path of the upstream
    image, /bin/postgres_exporter, as uid 65534), each copied into
    containerd."""
    K.need_cluster()
    docker = enginelib.Docker()
    docker.build(enginelib.SCRATCH_TAG, enginelib.REPO, enginelib.REPO / "Dockerfile.scratch",
                 what="Dockerfile.scratch (builder + tests)")
    docker("tag", enginelib.SCRATCH_TAG, K.IMAGES["vaultexec"])
    ctx = Path(tempfile.mkdtemp(prefix="vx-k8s-img-"))
    try:
        (ctx / "venv").mkdir()
        (ctx / "venv" / "Dockerfile").write_text(
            f"FROM debian:12-slim\n"
            f"COPY --from={enginelib.SCRATCH_TAG} /vaultexec /usr/local/bin/vaultexec\n"
            "RUN ln -s vaultexec /usr/local/bin/vault-env\n"
            "USER 65534:65534\n"
            'ENTRYPOINT ["/usr/local/bin/vaultexec"]\n')
        docker.build(K.IMAGES["vault-env"], ctx / "venv", what="vault-env image (debian:12-slim + vaultexec)")
        (ctx / "pg").mkdir()
        shutil.copy(e2elib.DEBIAN_BIN["postgres_exporter"], ctx / "pg" / "postgres_exporter")
        (ctx / "pg" / "Dockerfile").write_text(
            "FROM debian:12-slim\nCOPY postgres_exporter /bin/postgres_exporter\n"
            'USER 65534:65534\nENTRYPOINT ["/bin/postgres_exporter"]\n')
        docker.build(K.IMAGES["postgres-exporter"], ctx / "pg", what="postgres_exporter image (Debian's 0.11.1)")
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    for tag in K.IMAGES.values():
        K.import_image(tag)
    return K.IMAGES


@pytest.fixture(scope="session")
def k8s_ca() -> str:
    return (Path(K.ENV["K8S_DIR"]) / "pki" / "ca.crt").read_text()


@pytest.fixture(scope="session")
def cluster(k8s_ca, openbao_tls):
    """Namespaces with what a controller-manager would add (the
    kube-root-ca.crt ConfigMap), the OpenBao CA as the ConfigMap
    openbao-ca the example mounts, and the reviewer: a service account
    bound to system:auth-delegator whose token OpenBao uses for TokenReview."""
    K.need_cluster()
    docs = []
    for ns in NAMESPACES:
        docs += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": ns},
             "data": {"ca.crt": k8s_ca}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "openbao-ca", "namespace": ns},
             "data": {"ca.crt": openbao_tls["ca"]}},
        ]
    docs += [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "openbao-reviewer", "namespace": "vx"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "openbao-reviewer"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
         "subjects": [{"kind": "ServiceAccount", "name": "openbao-reviewer", "namespace": "vx"}]},
    ]
    K.apply(*docs)
    reviewer = K.kubectl("create", "token", "openbao-reviewer", "-n", "vx", "--duration", "6h").stdout.strip()
    return {"reviewer_jwt": reviewer}


@pytest.fixture(scope="session")
def openbao_tls(root):
    """A CA and a server certificate for openbao.openbao.svc and 127.0.0.1."""
    d = root / "openbao-tls"
    d.mkdir()

    def ossl(*a):
        r = subprocess.run(["openssl", *map(str, a)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "ca.key", "-out", d / "ca.crt",
         "-subj", "/CN=vaultexec-test-openbao-ca", "-days", "2")
    ossl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "srv.key", "-out", d / "srv.csr",
         "-subj", "/CN=openbao.openbao.svc")
    (d / "ext").write_text("subjectAltName=DNS:openbao.openbao.svc,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", d / "srv.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", d / "ext", "-out", d / "srv.crt")
    return {"ca": (d / "ca.crt").read_text(), "ca_file": str(d / "ca.crt"), "dir": d}


class TlsBao(e2elib.Bao):
    """The dev server (plain HTTP on a free port, for the tests' own calls)
    plus a TLS listener on 127.0.0.1:8200 with openbao_tls's certificate,
    for the pods."""

    def __init__(self, procs, workdir, tls_dir: Path):
        super().__init__(procs, workdir)
        self.tls_dir = tls_dir

    def _extra_args(self):
        cfg = self.workdir / "listener.hcl"
        cfg.write_text(
            'listener "tcp" {\n'
            f'  address = "127.0.0.1:{OPENBAO_PORT}"\n'
            '  cluster_address = "127.0.0.1:0"\n'
            f'  tls_cert_file = "{self.tls_dir}/srv.crt"\n'
            f'  tls_key_file = "{self.tls_dir}/srv.key"\n'
            '}\n')
        return [f"-config={cfg}"]


@pytest.fixture(scope="session")
def bao(procs, root, openbao_tls, cluster, k8s_ca):
    b = TlsBao(procs, root / "openbao", openbao_tls["dir"]).start()
    st, _ = vxtest.http("GET", f"https://127.0.0.1:{OPENBAO_PORT}/v1/sys/health", cafile=openbao_tls["ca_file"])
    assert st == 200, f"OpenBao's TLS listener on 127.0.0.1:{OPENBAO_PORT}: HTTP {st}\n{b.log_tail()}"
    b.api("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
    b.api("POST", "auth/kubernetes/config", {
        "kubernetes_host": f"https://127.0.0.1:{K.ENV['K8S_API_PORT']}",
        "kubernetes_ca_cert": k8s_ca,
        "token_reviewer_jwt": cluster["reviewer_jwt"],
        "disable_local_ca_jwt": True,
    })
    return b


@pytest.fixture(scope="session")
def postgres(procs, root):
    pg = e2elib.Postgres(procs, root / "postgres")
    pg.port = POSTGRES_PORT
    return pg.start()


MANIFEST = K.REPO / "examples" / "kubernetes" / "postgres-exporter.yaml"
POLICY = K.REPO / "examples" / "postgres" / "policies" / "postgres-exporter.hcl"
IMAGE_MAP = {
    "registry.example.com/vaultexec:0.1.0": K.IMAGES["vaultexec"],
    "quay.io/prometheuscommunity/postgres-exporter:v0.16.0": K.IMAGES["postgres-exporter"],
}


def manifest() -> list[dict]:
    return [K.map_images(d, IMAGE_MAP) for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


@pytest.fixture(scope="session")
def example(bao, postgres, cluster, images):
    """The OpenBao side as examples/kubernetes/README.md says (policy, role),
    the database login the exporter reads from secret/postgres."""
    docs = manifest()
    dep = next(d for d in docs if d["kind"] == "Deployment")
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]
    cmd = dep["spec"]["template"]["spec"]["containers"][0]["command"]
    role = next(a.split("=", 1)[1] for a in cmd if a.startswith("--role="))
    # postgres_exporter 0.11.1 refuses a key=value DSN holding a quote
    # (and then logs it): a password of URL-safe characters.
    user, pw = "exporter_k8s", "k8s-" + secrets.token_hex(16)
    postgres.set_login(user, pw)
    bao.kv_put("postgres", {"username": user, "password": pw})
    bao.policy("postgres-exporter", POLICY.read_text())
    bao.api("POST", f"auth/kubernetes/role/{role}", {
        "bound_service_account_names": [sa["name"]], "bound_service_account_namespaces": [sa["namespace"]],
        "token_policies": ["postgres-exporter"], "token_ttl": "10m",
    })
    return {"docs": docs, "dep": dep, "password": pw}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()

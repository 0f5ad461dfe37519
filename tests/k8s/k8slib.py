"""Helpers for the Kubernetes suite: kubectl against the one-node cluster
that tests/k8s/run.sh started (tests/k8s/cluster.sh), pods made runnable
without a scheduler or a network plugin (nodeName, hostNetwork), images
from the private Docker engine copied into the cluster's containerd, the
namespace's view of files (/proc/NS_PID/root), and the processes of a
container as the host sees them."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
from pathlib import Path

import e2elib  # tests/e2e, on sys.path from conftest

REPO = Path(__file__).resolve().parents[2]
ENV = {k: os.environ.get(k, "") for k in ("K8S_BIN", "K8S_DIR", "K8S_NODE", "NS_PID", "KUBECONFIG",
                                          "K8S_CONTAINERD_SOCK", "K8S_API_PORT", "K8S_CGROUP_ROOT")}
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
# The local tags the manifests' image names are mapped to (vaultexec.test/...
# keeps Docker from prefixing docker.io/library/).
IMAGES = {
    "vaultexec": "vaultexec.test/vaultexec:local",          # Dockerfile.scratch
    "vault-env": "vaultexec.test/vault-env:local",          # Dockerfile.alpine's final stage, on Debian
    "postgres-exporter": "vaultexec.test/postgres-exporter:local",
}


class K8sError(AssertionError):
    pass


def need_cluster() -> None:
    missing = [k for k, v in ENV.items() if not v]
    if missing:
        raise K8sError(f"{missing} not set: run the suite through tests/k8s/run.sh")


def kubectl(*args: str, input: str | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    r = subprocess.run([f"{ENV['K8S_BIN']}/kubectl", *args], input=input, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "KUBECONFIG": ENV["KUBECONFIG"]})
    if check and r.returncode != 0:
        raise K8sError(f"kubectl {' '.join(args)[:300]} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r


def apply(*docs: dict) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(docs)}))


def get(kind: str, name: str, ns: str | None = None) -> dict | None:
    args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
    r = kubectl(*args, check=False)
    if r.returncode != 0:
        if "NotFound" in r.stderr:
            return None
        raise K8sError(r.stderr)
    return json.loads(r.stdout)


def runnable(pod: dict) -> dict:
    """POD as this cluster can run it: on the one node (no scheduler), in the
    host's network namespace (no network plugin; OpenBao, PostgreSQL and the
    API server are on 127.0.0.1), every image from containerd's store
    (imagePullPolicy: Never).  Nothing else is changed."""
    p = copy.deepcopy(pod)
    spec = p["spec"]
    spec["nodeName"] = ENV["K8S_NODE"]
    spec["hostNetwork"] = True
    for c in spec.get("initContainers", []) + spec["containers"]:
        c["imagePullPolicy"] = "Never"
    return p


def pod_from_template(workload: dict, name: str) -> dict:
    """The Pod a Deployment's ReplicaSet would make (this cluster runs no
    controller-manager), made runnable."""
    tpl = workload["spec"]["template"]
    meta = dict(tpl.get("metadata", {}), name=name, namespace=workload["metadata"]["namespace"])
    return runnable({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl["spec"]})


def wait_for(what: str, fn, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise K8sError(f"{what}: not within {timeout:.0f} s (last: {str(last)[:2000]})")


def wait_pg_up(ns: str, pod: str, what: str, timeout: float = 60) -> None:
    """Until the pod's postgres_exporter (host network: 127.0.0.1:9187)
    reports pg_up 1; on timeout the error carries the pod's description."""
    def up():
        try:
            return e2elib.metric(e2elib.scrape(9187), "pg_up") == 1
        except Exception:
            return False
    try:
        wait_for(f"pg_up 1 from {what}", up, timeout)
    except K8sError as e:
        raise K8sError(f"{e}\n{describe(ns, pod)}") from None


def container_status(pod: dict, name: str) -> dict:
    for key in ("initContainerStatuses", "containerStatuses"):
        for c in pod.get("status", {}).get(key, []) or []:
            if c["name"] == name:
                return c
    return {}


def wait_terminated(ns: str, pod: str, container: str, timeout: float = 90) -> dict:
    """The container's terminated state (its last one if it restarted)."""
    def done():
        p = get("pod", pod, ns)
        st = container_status(p or {}, container)
        return (st.get("state", {}).get("terminated") or st.get("lastState", {}).get("terminated"))
    return wait_for(f"{ns}/{pod} container {container} terminated", done, timeout)


def wait_running(ns: str, pod: str, container: str, timeout: float = 90) -> dict:
    def running():
        p = get("pod", pod, ns)
        st = container_status(p or {}, container)
        return p if st.get("state", {}).get("running") else None
    try:
        return wait_for(f"{ns}/{pod} container {container} running", running, timeout)
    except K8sError as e:
        raise K8sError(f"{e}\n{describe(ns, pod)}") from None


def logs(ns: str, pod: str, container: str, previous: bool = False) -> str:
    """The container's output, read from the kubelet's log files (inside
    the namespace's /var/log/pods): `kubectl logs` would need the API server
    to reach the kubelet at the node's address, and a node address of
    127.0.0.1 is refused ("nodeIP can't be loopback address").  PREVIOUS:
    the run before the current one."""
    p = get("pod", pod, ns)
    if p is None:
        return ""
    d = in_ns(f"/var/log/pods/{ns}_{pod}_{p['metadata']['uid']}/{container}")
    try:
        files = sorted((f for f in d.iterdir() if f.name.split(".")[0].isdigit()),
                       key=lambda f: int(f.name.split(".")[0]))
    except OSError:
        return ""
    # One file per run (N.log); the kubelet keeps the last finished one.
    running = container_status(p, container).get("state", {}).get("running")
    if previous and running:
        files = files[:-1]
    if not files:
        return ""
    try:
        raw = files[-1].read_text(errors="replace")
    except OSError:
        return ""
    out, part = [], ""
    for line in raw.splitlines():
        # CRI format: TIME STREAM F|P MESSAGE (P: a partial line continues)
        f4 = line.split(" ", 3)
        if len(f4) < 3:
            continue
        part += f4[3] if len(f4) == 4 else ""
        if f4[2] == "F":
            out.append(part)
            part = ""
    return "\n".join(out) + ("\n" if out else "")


def describe(ns: str, pod: str) -> str:
    p = get("pod", pod, ns)
    if p is None:
        return f"pod {ns}/{pod}: gone"
    out = [f"pod {ns}/{pod}: phase {p.get('status', {}).get('phase')}"]
    for key in ("initContainerStatuses", "containerStatuses"):
        for c in p.get("status", {}).get(key, []) or []:
            out.append(f"  {c['name']}: {json.dumps(c.get('state'))} restarts {c.get('restartCount')}")
            out.append("    log: " + logs(ns, pod, c["name"])[-1500:].replace("\n", "\n    "))
    ev = kubectl("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={pod}", check=False).stdout
    return "\n".join(out) + "\n" + ev[-2000:]


def delete_pod(ns: str, pod: str, timeout: float = 90, log_of: str | None = None) -> tuple[float, str]:
    """Deletes POD gracefully and waits until the kubelet has removed it;
    returns the seconds that took and, with LOG_OF, that container's log as
    last seen (its lines after the kubelet's TERM; the file goes with the pod)."""
    t0 = time.monotonic()
    kubectl("delete", "pod", "-n", ns, pod, "--wait=false", check=False)
    seen = ""

    def gone():
        nonlocal seen
        if log_of:
            seen = logs(ns, pod, log_of) or seen
        return get("pod", pod, ns) is None
    wait_for(f"pod {ns}/{pod} gone", gone, timeout, interval=0.2)
    return time.monotonic() - t0, seen


def in_ns(path: str | Path) -> Path:
    """PATH as containerd and the kubelet see it (their private mounts)."""
    return Path(f"/proc/{ENV['NS_PID']}/root{path}")


def projected_token(ns: str, pod: str) -> str:
    """The service-account token the kubelet wrote into POD's projected
    volume (a tmpfs inside the namespace)."""
    p = get("pod", pod, ns)
    uid = p["metadata"]["uid"]
    vols = in_ns(f"{ENV['K8S_DIR']}/kubelet/pods/{uid}/volumes/kubernetes.io~projected")
    toks = [d / "token" for d in vols.iterdir() if (d / "token").exists()]
    if len(toks) != 1:
        raise K8sError(f"pod {ns}/{pod}: projected tokens {toks}")
    return toks[0].read_text()


def container_pids(pattern: str) -> list[int]:
    """Host pids of the processes of the namespace (the cluster's containers
    included) whose command line matches PATTERN."""
    ns_pidns = os.readlink(f"/proc/{ENV['NS_PID']}/ns/pid")
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (d / "status").read_text()
        except OSError:
            continue
        if not re.search(pattern, cmd):
            continue
        # Members of the cluster's PID namespace, or of one nested in it,
        # list more than one pid in NSpid.
        nspid = next((l.split()[1:] for l in status.splitlines() if l.startswith("NSpid:")), [])
        if len(nspid) >= 2 or os.readlink(f"/proc/{d.name}/ns/pid") == ns_pidns:
            out.append(int(d.name))
    return out


def proc_status(pid: int) -> dict:
    return dict(l.split(":", 1) for l in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in l)


def root_mount_options(pid: int) -> list[str]:
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        f = line.split()
        if f[4] == "/":
            return f[5].split(",")
    return []


def environ_names(pid: int) -> set[str]:
    data = Path(f"/proc/{pid}/environ").read_bytes()
    return {e.split(b"=", 1)[0].decode() for e in data.split(b"\0") if e}


def import_image(tag: str) -> None:
    """From the private Docker engine into containerd's k8s.io namespace."""
    save = subprocess.Popen([DOCKER, "save", tag], stdout=subprocess.PIPE)
    r = subprocess.run(["ctr", "--address", ENV["K8S_CONTAINERD_SOCK"], "-n", "k8s.io", "images", "import", "-"],
                       stdin=save.stdout, capture_output=True, text=True, timeout=600)
    save.stdout.close()
    if save.wait() != 0 or r.returncode != 0:
        raise K8sError(f"docker save {tag} | ctr images import: {r.stderr[-2000:]}")


def map_images(doc, mapping: dict[str, str]):
    """DOC with every `image:` value replaced through MAPPING (and nothing else)."""
    if isinstance(doc, dict):
        return {k: (mapping[v] if k == "image" and isinstance(v, str) else map_images(v, mapping))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [map_images(x, mapping) for x in doc]
    return doc

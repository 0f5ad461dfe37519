"""While the cluster runs (this module runs last): the kubelet's kernel
settings went into the namespace's files, not the host's; nothing was ever
pulled from a registry."""
from __future__ import annotations

from pathlib import Path

import k8slib as K

# What the kubelet sets at start (pkg/kubelet/cm: setupKernelTunables).
KUBELET_WANTS = {"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10",
                 "kernel/panic_on_oops": "1", "kernel/keys/root_maxkeys": "1000000",
                 "kernel/keys/root_maxbytes": "25000000"}


def test_kubelet_kernel_settings_stay_in_its_namespace():
    d = Path(K.ENV["K8S_DIR"])
    before = {}
    for line in Path(f"{d}.host-before").read_text().splitlines():
        if line.startswith("sysctl "):
            _, name, _, val = line.split(" ", 3)
            before[name] = val
    wrote = []
    for name, want in KUBELET_WANTS.items():
        host = Path(f"/proc/sys/{name}").read_text().strip()
        ns = (d / "sysctl" / name.replace("/", ".")).read_text().strip()
        assert host == before[name], f"{name}: the host's value changed from {before[name]} to {host}"
        if before[name] != want:
            assert ns == want, f"{name}: the kubelet did not write {want} into its namespace's file ({ns})"
            wrote.append(f"{name} {before[name]} -> {ns}")
    print(f"\nthe kubelet wrote, in its namespace only: {', '.join(wrote) or 'nothing (host values already its own)'}")


def test_nothing_was_pulled():
    logs = Path(K.ENV["K8S_DIR"]) / "logs"
    containerd = (logs / "containerd.log").read_text(errors="replace")
    kubelet = (logs / "kubelet.log").read_text(errors="replace")
    assert "PullImage" not in containerd, [l for l in containerd.splitlines() if "PullImage" in l][:3]
    assert "Pulling image" not in kubelet, [l for l in kubelet.splitlines() if "Pulling image" in l][:3]

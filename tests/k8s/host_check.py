"""After the cluster stopped: the host is as it was before it started
(tests/k8s/run.sh notes the state before k8s_start and after k8s_stop, and
runs this file).  The kubelet writes six kernel settings at start, mounts
tmpfs volumes, and makes cgroups; containerd mounts overlay file systems:
none of it may remain, nor any iptables rule."""
from __future__ import annotations

import os
from pathlib import Path

BEFORE = Path(os.environ.get("K8S_HOST_BEFORE", "/nonexistent"))
AFTER = Path(os.environ.get("K8S_HOST_AFTER", "/nonexistent"))
CGROUP_ROOT = os.environ.get("K8S_CGROUP_ROOT", "")
K8S_DIR = os.environ.get("K8S_DIR", "")


def lines(kind: str, path: Path) -> set[str]:
    return {l for l in path.read_text().splitlines() if l.startswith(kind + " ")}


def test_kernel_settings_unchanged():
    assert lines("sysctl", BEFORE), f"no kernel settings noted in {BEFORE}"
    assert lines("sysctl", AFTER) == lines("sysctl", BEFORE)


def test_no_mount_left():
    # Other Docker engines on the machine (parallel runs) may mount and
    # unmount meanwhile: a difference must not name anything of ours.
    new = lines("mount", AFTER) - lines("mount", BEFORE)
    ours = [m for m in new if (K8S_DIR and K8S_DIR in m) or "kubelet" in m or "containerd" in m
            or m.split()[1] in ("/run", "/var/log", "/etc/hosts") or m.split()[1].startswith("/proc/sys")]
    assert not ours, f"mounts left: {ours}"


def test_no_cgroup_left():
    assert CGROUP_ROOT, "K8S_CGROUP_ROOT not set"
    left = [d for d in Path("/sys/fs/cgroup").glob(f"*/{CGROUP_ROOT.lstrip('/')}")]
    assert not left, f"cgroups left: {left}"
    new = lines("cgroup", AFTER) - lines("cgroup", BEFORE)
    assert not [c for c in new if "kubepods" in c or "vaultexec-k8s" in c], new


def test_no_iptables_rule_made():
    assert lines("iptables", AFTER) == lines("iptables", BEFORE)

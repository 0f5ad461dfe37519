"""examples/kubernetes/postgres-exporter.yaml applied as committed (only the
image names mapped to local tags): the Deployment, the ServiceAccount; its
pod template run on the node (no controller-manager or scheduler here:
nodeName and hostNetwork added, imagePullPolicy Never), the init container
being vaultexec's scratch image with --install, the exporter logging in
with Kubernetes auth and giving pg_up 1, the securityContext holding."""
from __future__ import annotations

import secrets

import k8slib as K

def test_example_applies_as_committed(example):
    K.apply(*example["docs"])
    dep = K.get("deployment", "postgres-exporter", "monitoring")
    assert dep is not None
    c = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert c["command"] == ["/vaultexec", "--install", "/vaultexec-bin"]
    assert K.get("serviceaccount", "postgres-exporter", "monitoring") is not None


def test_example_pod_gives_pg_up_1_with_its_security_context(example):
    name = "postgres-exporter-" + secrets.token_hex(3)
    K.apply(K.pod_from_template(example["dep"], name))
    try:
        K.wait_running("monitoring", name, "postgres-exporter")
        init = K.container_status(K.get("pod", name, "monitoring"), "vaultexec")
        assert init["state"]["terminated"]["exitCode"] == 0
        ilog = K.logs("monitoring", name, "vaultexec")
        assert "installed /vaultexec-bin/vaultexec (" in ilog and "mode 0555" in ilog, ilog
        K.wait_pg_up("monitoring", name, "the example's exporter")
        log = K.logs("monitoring", name, "postgres-exporter")
        assert "logged in with kubernetes at auth/kubernetes: policies" in log, log
        assert example["password"] not in log

        # The securityContext as written: uid/gid 65534, no capabilities, no
        # privilege escalation, a read-only root; the exporter is PID 1 of
        # its container (vaultexec exec'd it).
        (pid,) = K.container_pids(r"^/bin/postgres_exporter ")
        st = K.proc_status(pid)
        assert st["Uid"].split()[:2] == ["65534", "65534"] and st["Gid"].split()[0] == "65534", st
        assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, st
        assert st["NoNewPrivs"].strip() == "1", st
        assert st["NSpid"].split()[-1] == "1", st
        assert "ro" in K.root_mount_options(pid)
        print(f"\nexample pod {name}: pg_up 1; exporter uid 65534, CapEff 0, NoNewPrivs 1, root ro, PID 1")
    finally:
        K.delete_pod("monitoring", name)

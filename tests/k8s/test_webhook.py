"""The pod bank-vaults' vault-secrets-webhook makes (webhook-mutated-pod.yaml,
recorded from its pkg/webhook/pod.go), run with vaultexec's vault-env image
as VAULT_ENV_IMAGE: the init container's `sh -c "cp /usr/local/bin/vault-env
/vault/"` copies vaultexec, which starts as /vault/vault-env, logs in with
the webhook's default jwt method at auth/kubernetes, and gives the exporter
its login; the exporter sees no VAULT_* variable."""
from __future__ import annotations

import yaml

import k8slib as K
from conftest import b64

POD = K.REPO / "tests" / "k8s" / "webhook-mutated-pod.yaml"


def test_webhook_mutated_pod_with_vaultexec_as_vault_env_image(example, openbao_tls):
    pod = K.map_images(yaml.safe_load(POD.read_text()), {
        "VAULT_ENV_IMAGE": K.IMAGES["vault-env"],
        "quay.io/prometheuscommunity/postgres-exporter:v0.16.0": K.IMAGES["postgres-exporter"],
    })
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    K.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "openbao-tls", "namespace": ns},
             "data": {"ca.crt": b64(openbao_tls["ca"])}},
            next(d for d in example["docs"] if d["kind"] == "ServiceAccount"))
    K.apply(K.runnable(pod))
    try:
        K.wait_running(ns, name, "postgres-exporter")
        init = K.container_status(K.get("pod", name, ns), "copy-vault-env")
        assert init["state"]["terminated"]["exitCode"] == 0
        K.wait_pg_up(ns, name, "the webhook-shaped pod")
        log = K.logs(ns, name, "postgres-exporter")
        assert "logged in with jwt at auth/kubernetes: policies" in log, log
        assert example["password"] not in log
        (pid,) = K.container_pids(r"^/bin/postgres_exporter ")
        names = K.environ_names(pid)
        assert {"DATA_SOURCE_URI", "DATA_SOURCE_USER", "DATA_SOURCE_PASS"} <= names, names
        assert not {n for n in names if n.startswith("VAULT_")}, names
        assert K.proc_status(pid)["NSpid"].split()[-1] == "1"
        print(f"\nwebhook-shaped pod: pg_up 1; vault-env log: {log.strip().splitlines()[0]}")
    finally:
        K.delete_pod(ns, name)

"""Kubernetes login for real: a pod's projected service-account token,
`--auth kubernetes --role ...`, OpenBao asking this API server (TokenReview,
with a reviewer bound to system:auth-delegator) whether the token is good."""
from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import k8slib as K
from conftest import OPENBAO_PORT

NS = "vx"
ROLE = "app"
SA = "app"
ADDR = f"https://openbao.openbao.svc:{OPENBAO_PORT}"
VAULTEXEC = os.environ.get("VAULTEXEC_BIN") or str(K.REPO / "build" / "src" / "vaultexec")


@pytest.fixture(scope="module")
def app(bao, cluster, images):
    value = secrets.token_hex(16)
    bao.kv_put("app", {"password": value})
    bao.policy("app", 'path "secret/data/app" { capabilities = ["read"] }\n')
    bao.api("POST", f"auth/kubernetes/role/{ROLE}", {
        "bound_service_account_names": [SA], "bound_service_account_namespaces": [NS],
        "token_policies": ["app"], "token_ttl": "10m",
    })
    K.apply(*[{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n, "namespace": NS}}
              for n in (SA, "intruder")])
    return {"value": value}


def login_pod(name: str, sa: str, command: list[str], restart: str = "Never") -> dict:
    """A pod of vaultexec's vault-env image (Debian + vaultexec) as uid 65534
    with a read-only root and no capabilities."""
    return K.runnable({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
        "spec": {
            "serviceAccountName": sa, "restartPolicy": restart,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534},
            "containers": [{
                "name": "app", "image": K.IMAGES["vault-env"], "command": command,
                "volumeMounts": [{"name": "openbao-ca", "mountPath": "/etc/openbao-ca", "readOnly": True}],
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
            "volumes": [{"name": "openbao-ca", "configMap": {"name": "openbao-ca"}}],
        },
    })


VX = ["/usr/local/bin/vaultexec", f"--addr={ADDR}", "--ca-cert=/etc/openbao-ca/ca.crt",
      "--auth=kubernetes", f"--role={ROLE}", "--service=app", "--map=password=PW"]


def test_pod_logs_in_with_its_projected_token(app):
    K.apply(login_pod("login-ok", SA, [*VX, "--", "/bin/sh", "-c", 'printf %s "$PW" | sha256sum']))
    term = K.wait_terminated(NS, "login-ok", "app")
    log = K.logs(NS, "login-ok", "app")
    assert term["exitCode"] == 0, K.describe(NS, "login-ok")
    assert hashlib.sha256(app["value"].encode()).hexdigest() in log, log
    assert "logged in with kubernetes at auth/kubernetes: policies app,default" in log \
        or "logged in with kubernetes at auth/kubernetes: policies default,app" in log, log
    assert app["value"] not in log
    K.delete_pod(NS, "login-ok")


def test_wrong_service_account_exits_77_naming_role_and_account(app):
    K.apply(login_pod("login-intruder", "intruder", [*VX, "--", "/bin/true"]))
    term = K.wait_terminated(NS, "login-intruder", "app")
    log = K.logs(NS, "login-intruder", "app")
    assert term["exitCode"] == 77, K.describe(NS, "login-intruder")
    assert "login with kubernetes at auth/kubernetes refused: HTTP 403: service account name not authorized" in log
    assert f"(role {ROLE}, service account {NS}/intruder)" in log, log
    assert "nothing seems enabled" not in log, log
    print(f"\nwrong service account, exit {term['exitCode']}: {log.strip().splitlines()[-1]}")
    K.delete_pod(NS, "login-intruder")


def test_deleted_pods_token_is_refused(app, bao, openbao_tls):
    """The token of a pod that is gone stops working: the API server's
    TokenReview checks that the pod it is bound to still exists (and caches
    answers for about 10 s, so a refusal may take that long)."""
    # A PID 1 that ends on TERM: the deletion takes a second, not the grace period.
    K.apply(login_pod("token-holder", SA, ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]))
    K.wait_running(NS, "token-holder", "app")
    with tempfile.TemporaryDirectory() as d:
        jwt = Path(d) / "token"
        jwt.write_text(K.projected_token(NS, "token-holder"))
        argv = [VAULTEXEC, f"--addr=https://127.0.0.1:{OPENBAO_PORT}",
                f"--ca-cert={openbao_tls['ca_file']}", "--auth=kubernetes", f"--role={ROLE}",
                f"--jwt-file={jwt}", "--service=app", "--map=password=PW", "--check", "--", "true"]

        def login():
            return subprocess.run(argv, capture_output=True, text=True, timeout=30)

        r = login()
        assert r.returncode == 0, f"the live pod's token did not log in:\n{r.stderr}"
        gone, _ = K.delete_pod(NS, "token-holder")
        t0 = time.monotonic()
        while True:
            r = login()
            if r.returncode != 0 or time.monotonic() - t0 > 40:
                break
            time.sleep(1)
        took = time.monotonic() - t0
        assert r.returncode == 77, f"the deleted pod's token still logs in after {took:.0f} s:\n{r.stderr}"
        assert "refused: HTTP 403: permission denied (role app, service account vx/app)" in r.stderr, r.stderr
        assert "nothing seems enabled" not in r.stderr, r.stderr
        print(f"\npod deleted in {gone:.1f} s; its token refused {took:.1f} s later: {r.stderr.strip()}")

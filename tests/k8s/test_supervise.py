"""--supervise in a pod: postgres_exporter on OpenBao database credentials
(short TTLs) rotated while the pod runs; deleting the pod (the kubelet's TERM,
terminationGracePeriodSeconds) leaves no lease, no token and no database
user (--revoke-on-exit); crash-looping containers pile up no leases."""
from __future__ import annotations

import time

import pytest

import e2elib
import k8slib as K

NS = "monitoring"
MOUNT = "database"
DSN = ("DATA_SOURCE_NAME=postgresql://{{ database/creds/ROLE#username }}:"
       "{{ database/creds/ROLE#password | urlencode }}@postgres:5432/postgres?sslmode=disable")


class NoLeaks:
    def register(self, *a):
        pass


@pytest.fixture(scope="module")
def dyn(bao, postgres, cluster, images, example):
    """The database engine on the example's PostgreSQL: a role per test
    (exporter: 6 s TTL, 18 s max TTL, so rotations come every ~15 s;
    crash-sv and crash-fail: 10 min), a policy and a Kubernetes auth role of
    the same name for each, bound to a service account of that name."""
    bao.api("POST", f"sys/mounts/{MOUNT}", {"type": "database"})
    postgres.vault_engine(bao, NoLeaks(), MOUNT, "pg", "exporter", "6s", "18s", "k8s-dyn")
    cfg = bao.api("GET", f"{MOUNT}/config/pg")["data"]
    roles = {"exporter": ("6s", "18s"), "crash-sv": ("10m", "1h"), "crash-fail": ("10m", "1h"),
             "crash-exec": ("10m", "1h")}
    bao.api("POST", f"{MOUNT}/config/pg", {"allowed_roles": list(roles), "plugin_name": cfg["plugin_name"]})
    tpl = bao.api("GET", f"{MOUNT}/roles/exporter")["data"]
    for role, (ttl, max_ttl) in roles.items():
        bao.api("POST", f"{MOUNT}/roles/{role}", {
            "db_name": "pg", "default_ttl": ttl, "max_ttl": max_ttl,
            "creation_statements": tpl["creation_statements"]})
        # sys/leases/revoke: a failed run revokes the leases it took (the
        # default policy lets a token revoke itself, not a lease).
        bao.policy(role, f'path "{MOUNT}/creds/{role}" {{ capabilities = ["read"] }}\n'
                         'path "secret/data/missing" { capabilities = ["read"] }\n'
                         'path "sys/leases/revoke" { capabilities = ["update"] }\n')
        bao.api("POST", f"auth/kubernetes/role/{role}", {
            "bound_service_account_names": [role], "bound_service_account_namespaces": [NS],
            "token_policies": [role], "token_ttl": "10m"})
        K.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": role, "namespace": NS}})
    return roles


def leases(bao, role: str) -> list[str]:
    st, js = e2elib.vxtest.http_json("LIST", f"{bao.addr}/v1/sys/leases/lookup/{MOUNT}/creds/{role}",
                                      token=bao.token)
    return (js or {}).get("data", {}).get("keys", []) if st == 200 else []


def tokens_of(bao, role: str) -> list[dict]:
    out = []
    for a in bao.api("LIST", "auth/token/accessors")["data"]["keys"]:
        st, js = e2elib.vxtest.http_json("POST", f"{bao.addr}/v1/auth/token/lookup-accessor",
                                          {"accessor": a}, token=bao.token)
        if st == 200 and (js["data"].get("meta") or {}).get("role") == role:
            out.append(js["data"])
    return out


def supervised_pod(name: str, role: str, args: list[str], vx_flags: list[str], grace: int = 15,
                   restart: str = "Always") -> dict:
    """The example's pod shape (init container --install, exporter command
    behind vaultexec), with --supervise on dynamic credentials."""
    return K.runnable({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
        "spec": {
            "serviceAccountName": role, "restartPolicy": restart, "terminationGracePeriodSeconds": grace,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534},
            "initContainers": [{
                "name": "vaultexec", "image": K.IMAGES["vaultexec"],
                "command": ["/vaultexec", "--install", "/vaultexec-bin"],
                "volumeMounts": [{"name": "vaultexec-bin", "mountPath": "/vaultexec-bin"}],
            }],
            "containers": [{
                "name": "exporter", "image": K.IMAGES["postgres-exporter"],
                "command": ["/vaultexec-bin/vaultexec", "--auth=kubernetes", f"--role={role}", *vx_flags,
                            "--env=" + DSN.replace("ROLE", role), "--", "/bin/postgres_exporter"],
                "args": args,
                "env": [{"name": "VAULT_ADDR", "value": "https://openbao.openbao.svc:8200"},
                        {"name": "VAULT_CACERT", "value": "/etc/openbao-ca/ca.crt"}],
                "volumeMounts": [{"name": "vaultexec-bin", "mountPath": "/vaultexec-bin", "readOnly": True},
                                 {"name": "openbao-ca", "mountPath": "/etc/openbao-ca", "readOnly": True}],
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
            "volumes": [{"name": "vaultexec-bin", "emptyDir": {"sizeLimit": "8Mi"}},
                        {"name": "openbao-ca", "configMap": {"name": "openbao-ca"}}],
        },
    })


@pytest.fixture(scope="module")
def crashloops(dyn):
    """Started first, checked last: two containers that keep failing.
    crash-sv: supervised with --revoke-on-exit, the exporter exits 1 (an
    unknown flag).  crash-fail: no --supervise, vaultexec itself fails
    after taking the lease (a KV secret that does not exist: 65)."""
    K.apply(supervised_pod("crash-sv", "crash-sv", ["--no-such-flag"], ["--supervise", "--revoke-on-exit"]),
            supervised_pod("crash-fail", "crash-fail", [], ["--map=secret/missing#x=X"]),
            supervised_pod("crash-exec", "crash-exec", ["--no-such-flag"], []))
    yield
    for p in ("crash-sv", "crash-fail", "crash-exec"):
        K.delete_pod(NS, p)


def test_supervise_rotates_dynamic_credentials_and_cleans_up_on_pod_deletion(bao, postgres, dyn, crashloops):
    name = "exporter-supervised"
    K.apply(supervised_pod(name, "exporter", ["--web.listen-address=:9187"], ["--supervise", "--revoke-on-exit"]))
    try:
        K.wait_running(NS, name, "exporter")
        seen: list[str] = []
        ups = downs = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and len(seen) < 4:
            for u in postgres.dynamic_roles():
                if "exporter" in u and u not in seen:
                    seen.append(u)
            try:
                up = e2elib.metric(e2elib.scrape(9187), "pg_up") == 1
            except Exception:
                up = False
            ups += up
            downs += not up
            time.sleep(1)
        log = K.logs(NS, name, "exporter")
        assert len(seen) >= 3, f"users seen in {time.monotonic() - t0:.0f} s: {seen}\n{log}"
        assert "fresh values" in log and "restarting /bin/postgres_exporter" in log, log
        print(f"\nsupervised exporter: {len(seen)} distinct database users in {time.monotonic() - t0:.0f} s; "
              f"pg_up 1 on {ups} of {ups + downs} scrapes")
    except Exception:
        print(K.describe(NS, name))
        raise
    finally:
        took, log = K.delete_pod(NS, name, log_of="exporter")
        # The whole log, for the README's table of log lines.
        (K.REPO / "build").mkdir(exist_ok=True)
        (K.REPO / "build" / "k8s-supervise.log").write_text(log)
    # What it said after the kubelet's TERM (as far as the file was seen
    # before the pod went; OpenBao's state below is what is checked).
    print("\n" + "\n".join(l for l in log.splitlines()[-6:] if "vaultexec:" in l))
    assert leases(bao, "exporter") == [], "leases left after the pod was deleted"
    assert tokens_of(bao, "exporter") == [], "login tokens left after the pod was deleted"
    left = [u for u in postgres.dynamic_roles() if "exporter" in u]
    assert left == [], f"database users left: {left}"
    print(f"pod deleted (grace 15 s) in {took:.1f} s: no lease, no token, no database user left")


def test_crash_looping_containers_pile_up_no_leases(bao, postgres, dyn, crashloops):
    def restarted():
        out = {}
        for p in ("crash-sv", "crash-fail", "crash-exec"):
            st = K.container_status(K.get("pod", p, NS) or {}, "exporter")
            out[p] = st.get("restartCount", 0)
        return out if min(out.values()) >= 2 else None
    counts = K.wait_for("the crash-looping containers restarted twice", restarted, 120, interval=2)
    time.sleep(2)
    sv_log = K.logs(NS, "crash-sv", "exporter", previous=True)
    fail_log = K.logs(NS, "crash-fail", "exporter", previous=True)
    report = {
        "crash-sv": (leases(bao, "crash-sv"), len(tokens_of(bao, "crash-sv"))),
        "crash-fail": (leases(bao, "crash-fail"), len(tokens_of(bao, "crash-fail"))),
        "crash-exec": (leases(bao, "crash-exec"), len(tokens_of(bao, "crash-exec"))),
    }
    print(f"\nrestarts {counts}; leases and live login tokens now: "
          + ", ".join(f"{k}: {len(v[0])} leases, {v[1]} tokens" for k, v in report.items()))
    # At most the current run's lease; the runs before it revoked theirs.
    assert len(report["crash-sv"][0]) <= 1, f"{report}\n{sv_log}"
    assert len(report["crash-fail"][0]) <= 1, f"{report}\n{fail_log}"
    assert "exited with code 1" in sv_log and "revoking" in sv_log, sv_log
    assert "revoking 1 lease: the run failed" in fail_log and ": revoked the lease" in fail_log, fail_log
    # The limit of exec: once the exporter runs in vaultexec's place and
    # fails, nothing is left to revoke what the run took; each run adds a
    # lease (README, Kubernetes: use --supervise or short TTLs).
    assert len(report["crash-exec"][0]) >= 2, report
    # Their login tokens too: the supervised runs with --revoke-on-exit,
    # the failed ones as a failed run does.
    assert report["crash-sv"][1] <= 1, f"{report}\n{sv_log}"
    assert report["crash-fail"][1] <= 1, f"{report}\n{fail_log}"

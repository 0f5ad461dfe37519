"""The examples themselves: the stack (docker-compose.yml) carries the very
services of the per-exporter compose files, the Kubernetes manifest the very
flags, every policy is least privilege, the stack's OpenBao setup script
works, and each folder says how it was tested.  (The flags are run for real
in test_exporters.py.)"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

import e2elib as E

FOLDERS = ["redis", "postgres", "mysql", "mongodb", "sql_exporter"]
STACK = E.Compose("", "docker-compose.yml")
SNIPPETS = {f: E.Compose(f) for f in FOLDERS}


def normalized(compose: E.Compose, key: str, value):
    """Relative paths resolved against the compose file's directory."""
    if key == "volumes":
        out = []
        for v in value:
            parts = v.split(":")
            if parts[0].startswith("."):
                parts[0] = str((compose.dir / parts[0]).resolve())
            out.append(":".join(parts))
        return out
    if key == "build":
        b = dict(value) if isinstance(value, dict) else {"context": value}
        b["context"] = str((compose.dir / b.get("context", ".")).resolve())
        return b
    return value


@pytest.mark.parametrize("folder", FOLDERS)
def test_stack_has_the_snippets_services_unchanged(folder):
    snip = SNIPPETS[folder]
    for name, svc in snip.services.items():
        assert name in STACK.services, f"{folder}/compose.yml: {name} is missing from docker-compose.yml"
        for key, value in svc.items():
            got = normalized(STACK, key, STACK.services[name].get(key))
            want = normalized(snip, key, value)
            assert got == want, f"docker-compose.yml {name}.{key} differs from {folder}/compose.yml:\n{got}\n!=\n{want}"


def test_every_exporter_of_the_stack_comes_from_a_folder():
    from_snippets = {n for c in SNIPPETS.values() for n in c.services}
    exporters = {n for n in STACK.services if "exporter" in n}
    assert exporters == from_snippets, f"only in the stack: {exporters - from_snippets}; " \
                                       f"only in folders: {from_snippets - exporters}"


def listen_port(svc: dict) -> str:
    for a in svc.get("command") or []:
        m = re.match(r"-{1,2}web\.listen-address=:(\d+)$", a)
        if m:
            return m.group(1)
    raise AssertionError(f"no --web.listen-address in {svc.get('command')}")


def test_prometheus_scrapes_every_default_exporter():
    cfg = yaml.safe_load(STACK.doc["configs"]["prometheus"]["content"])
    targets = {t for j in cfg["scrape_configs"] for sc in j["static_configs"] for t in sc["targets"]}
    want = {f"{n}:{listen_port(s)}" for c in SNIPPETS.values() for n, s in c.services.items() if not s.get("profiles")}
    assert targets == want


def token_and_service(svc: dict):
    tok = srv = None
    for a in svc.get("entrypoint") or svc.get("command") or []:
        if m := re.match(r"--token-file=/run/vaultexec/(.+)\.token$", a):
            tok = m.group(1)
        if m := re.match(r"--service=(.+)$", a):
            srv = m.group(1)
    return tok, srv


@pytest.mark.parametrize("folder", FOLDERS)
def test_policies_are_least_privilege(folder):
    """One path each, read only, the exporter's own secret; every token a
    service uses has its policy file in the folder."""
    snip = SNIPPETS[folder]
    uses = {}
    for name, svc in snip.services.items():
        tok, srv = token_and_service(svc)
        assert tok and srv, f"{name}: no --token-file or --service"
        uses.setdefault(tok, set()).add(srv)
    files = {p.stem: p for p in (snip.dir / "policies").glob("*.hcl")}
    assert set(files) == set(uses), f"policies {sorted(files)} vs tokens used {sorted(uses)}"
    for tok, p in files.items():
        text = re.sub(r"#.*", "", p.read_text())
        blocks = re.findall(r'path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}', text)
        assert len(blocks) == 1 and len(re.findall(r"\bpath\b", text)) == 1, f"{p}: want exactly one path block"
        path, caps = blocks[0]
        assert [c.strip().strip('"') for c in caps.split(",")] == ["read"], f"{p}: capabilities {caps}"
        (srv,) = uses[tok]
        assert path == f"secret/data/{srv}", f"{p}: path {path}, but its services read secret/{srv}"


def test_kubernetes_pod_uses_the_postgres_flags_with_kubernetes_auth():
    docs = list(yaml.safe_load_all((E.EXAMPLES / "kubernetes" / "postgres-exporter.yaml").read_text()))
    dep = next(d for d in docs if d and d["kind"] == "Deployment")
    spec = dep["spec"]["template"]["spec"]
    sa = next(d for d in docs if d and d["kind"] == "ServiceAccount")
    assert spec["serviceAccountName"] == sa["metadata"]["name"]
    (init,) = spec["initContainers"]
    (c,) = spec["containers"]
    vol = next(v for v in spec["volumes"] if "emptyDir" in v)
    assert any(m["name"] == vol["name"] for m in init["volumeMounts"])
    mount = next(m for m in c["volumeMounts"] if m["name"] == vol["name"])
    # The scratch image installs itself (vaultexec --install DIR -> DIR/vaultexec).
    assert init["command"][:2] == ["/vaultexec", "--install"] and init["command"][2] == mount["mountPath"]
    cmd = c["command"]
    assert cmd[0] == init["command"][2] + "/vaultexec", "the exporter's command is the binary the init container installed"
    k8s_flags = [a for a in cmd[1:] if not a.startswith(("--auth=", "--role="))]
    assert "--auth=kubernetes" in cmd and any(a.startswith("--role=") for a in cmd)
    comp = SNIPPETS["postgres"].services["postgres-exporter"]
    comp_flags = [a for a in comp["entrypoint"][1:] if not a.startswith("--token-file=")]
    assert k8s_flags == comp_flags
    assert c["args"] == comp["command"]
    assert c["image"] == comp["image"]


def test_readmes_say_how_each_example_was_tested():
    index = (E.EXAMPLES / "README.md").read_text()
    for folder in FOLDERS + ["kubernetes"]:
        readme = (E.EXAMPLES / folder / "README.md").read_text()
        assert "## How it was tested" in readme, f"examples/{folder}/README.md"
        assert f"({folder}/)" in index or f"({folder}/README.md)" in index, f"examples/README.md links no {folder}/"
    assert "(docker-compose.yml)" in index


def test_stack_setup_script_against_openbao(world, tmp_path):
    """openbao-setup's script (docker-compose.yml) against a second OpenBao
    dev server: every policy written, every token made, and each token reads
    exactly the secret its policy names."""
    script = STACK.doc["configs"]["openbao-setup"]["content"].replace("$$", "$")
    policies = tmp_path / "policies"
    for f in FOLDERS:
        (policies / f).mkdir(parents=True)
        for p in (E.EXAMPLES / f / "policies").glob("*.hcl"):
            (policies / f / p.name).write_text(p.read_text())
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    script = script.replace("/policies/", f"{policies}/").replace("/tokens/", f"{tokens}/")
    bao = E.Bao(world.procs, tmp_path / "bao").start()
    try:
        env = E.minimal_env(BAO_ADDR=bao.addr, BAO_TOKEN=bao.token, HOME=str(tmp_path),
                            PATH=str(Path(E.bao_bin()).parent) + ":/usr/bin:/bin")
        cp = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, timeout=120)
        assert cp.returncode == 0, cp.stderr.decode()[-2000:]
        made = sorted(p.name for p in tokens.iterdir())
        want = sorted([f"{p.stem}.token" for p in policies.glob("*/*.hcl")]
                      + [f"redis-{n}-server.token" for n in (1, 2, 3)]
                      + ["postgres-server.token", "mysql-server.token", "mongodb-server.token"])
        assert made == want
        for t in tokens.iterdir():
            tok = t.read_text().strip()
            ok = [n for n in ("redis-1", "redis-2", "redis-3", "postgres", "mysql", "mongodb", "sql-exporter")
                  if E.http("GET", f"{bao.addr}/v1/secret/data/{n}", headers={"X-Vault-Token": tok})[0] == 200]
            assert len(ok) == 1, f"{t.name} reads {ok}"
        # Every consumer's secret has the fields its services use.
        for n, fields in {"postgres": {"username", "password"}, "sql-exporter": {"username", "password"},
                          "mysql": {"username", "password"}, "mongodb": {"username", "password"},
                          "redis-1": {"password"}}.items():
            data = bao.api("GET", f"secret/data/{n}")["data"]["data"]
            assert set(data) == fields and all(data.values()), n
            world.leaks.register(f"stack {n}.password", data["password"])
    finally:
        bao.proc.stop()

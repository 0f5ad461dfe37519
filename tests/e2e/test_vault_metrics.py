"""Prometheus scraping Vault's own metrics through a token vaultexec keeps
fresh: examples/vault-metrics/compose.yml's exact entrypoint and command
(`vaultexec --supervise --auth=approle --token-sink=FILE -- prometheus ...`)
with its prometheus.yml, against an OpenBao of its own whose metrics need a
token (a listener with unauthenticated_metrics_access off; the dev listener
lets anyone read them) and Debian's Prometheus.

The AppRole's tokens live 10 s and at most 30 s: over 75 s vaultexec renews
the token and logs in again at least twice, rewriting the sink; every scrape
of up{job="vault"} in that time must be 1 (a refused scrape, 403, is a 0 and
fails the test). A second job with a token that is not valid shows that the
endpoint does refuse a scrape here."""
from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

import e2elib as E

EXAMPLE = E.Compose("vault-metrics")
TTL, MAX_TTL, WATCH = 10, 30, 75


class MetricsBao(E.Bao):
    """OpenBao in dev mode plus a listener of its own (PORT: metrics_port)
    whose metrics need a token, and Prometheus-format telemetry."""

    def _extra_args(self):
        self.metrics_port = E.free_port(pair=True)
        cfg = self.workdir / "telemetry.hcl"
        cfg.write_text(
            'telemetry {\n  prometheus_retention_time = "1h"\n  disable_hostname = true\n}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.metrics_port}"\n  tls_disable = true\n'
            "  telemetry {\n    unauthenticated_metrics_access = false\n  }\n}\n")
        return [f"-config={cfg}"]


@pytest.fixture(scope="module")
def bao(world):
    b = MetricsBao(world.procs, world.root / "openbao-metrics")
    b.start()
    yield b
    b.stop()


def test_prometheus_scrapes_vault_with_a_token_vaultexec_keeps_fresh(world, bao):
    base = f"http://127.0.0.1:{bao.metrics_port}/v1/sys/metrics?format=prometheus"
    st, _ = E.http("GET", base)
    assert st in (401, 403), f"Vault's metrics without a token: HTTP {st} (the check below would prove nothing)"

    bao.api("POST", "sys/auth/approle", {"type": "approle"})
    bao.policy("vault-metrics", (EXAMPLE.dir / "vault-metrics.hcl").read_text())
    bao.api("POST", "auth/approle/role/prometheus",
            {"token_policies": ["vault-metrics"], "token_ttl": f"{TTL}s", "token_max_ttl": f"{MAX_TTL}s"})
    role_id = bao.api("GET", "auth/approle/role/prometheus/role-id")["data"]["role_id"]
    secret_id = bao.api("POST", "auth/approle/role/prometheus/secret-id")["data"]["secret_id"]
    world.leaks.register("approle secret id", secret_id)
    secrets_dir = world.root / "vault-metrics-secrets"
    secrets_dir.mkdir(mode=0o700)
    for name, value in (("role-id", role_id), ("secret-id", secret_id)):
        (secrets_dir / name).write_text(value + "\n")
        (secrets_dir / name).chmod(0o600)
        world.allowed_files.add(secrets_dir / name)  # the login's input (Compose secrets in the example)

    spec = EXAMPLE.run_spec(
        "prometheus", hosts={"/run/secrets/": f"{secrets_dir}/"},
        binaries={"/opt/vaultexec/vaultexec": E.vaultexec_bin(), "/bin/prometheus": E.DEBIAN_BIN["prometheus"]},
        tokens_dir=world.root / "tokens-unused", tmp=world.shm, vault_addr=bao.addr)
    sink = next(a.split("=", 1)[1] for a in spec.argv if a.startswith("--token-sink="))
    assert sink.startswith(str(world.shm)), f"the token sink is not on the tmpfs: {sink}"
    world.allowed_files.add(Path(sink))

    # The example's prometheus.yml, pointed at this OpenBao and this sink,
    # scraping every 2 s; plus a job whose token is not valid.
    prom = yaml.safe_load((EXAMPLE.dir / "prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["authorization"]["credentials_file"] == "/run/vault-token/token"
    job["authorization"]["credentials_file"] = sink
    job["static_configs"] = [{"targets": [f"127.0.0.1:{bao.metrics_port}"]}]
    bogus = world.root / "bogus-token"
    bogus.write_text("s.not-a-token\n")
    prom["scrape_configs"].append(dict(job, job_name="vault-bad-token",
                                       authorization={"credentials_file": str(bogus)}))
    prom["global"] = {"scrape_interval": "2s", "scrape_timeout": "2s"}
    pdir = world.root / "prometheus-vault"
    pdir.mkdir()
    (pdir / "prometheus.yml").write_text(yaml.safe_dump(prom))
    argv = []
    for a in spec.argv:
        if a.startswith("--config.file="):
            a = f"--config.file={pdir / 'prometheus.yml'}"
        elif a.startswith("--storage.tsdb.path="):
            a = f"--storage.tsdb.path={pdir / 'data'}"
        argv.append(a)
    proc = world.procs.start("prometheus-vault-metrics", argv, env=E.minimal_env(**spec.env))
    port = spec.listen_port

    def query(q):
        st, raw = E.http("GET", f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(q)}")
        assert st == 200, raw[:300]
        return json.loads(raw)["data"]["result"]

    E.wait_for(lambda: E.port_open(port) or not proc.alive(), 30, "Prometheus under vaultexec")
    assert proc.alive(), proc.output()[-2000:]
    t0 = time.monotonic()
    tokens = []
    while time.monotonic() - t0 < WATCH:
        assert proc.alive(), "vaultexec/Prometheus exited:\n" + world.leaks.scrub(proc.output()[-2000:])
        try:
            tok = open(sink).read().strip()
        except OSError:
            tok = None
        if tok and (not tokens or tokens[-1] != tok):
            tokens.append(tok)
            world.leaks.register(f"vault metrics token {len(tokens)}", tok)
        time.sleep(0.5)

    window = f"{WATCH}s"
    (good,) = query(f'up{{job="vault"}}[{window}]') or [None]
    values = [v for _, v in good["values"]] if good else []
    (bad,) = query(f'up{{job="vault-bad-token"}}[{window}]') or [None]
    bad_values = [v for _, v in bad["values"]] if bad else []
    logins = proc.output().count("logged in with approle")
    renewals = proc.output().count("renewed the token")
    world.note(f"vault metrics: up{{job=\"vault\"}} 1 on {values.count('1')} of {len(values)} scrapes over "
               f"{WATCH} s (token TTL {TTL} s, max TTL {MAX_TTL} s): {logins} logins, {renewals} renewals, "
               f"{len(tokens)} tokens in the sink; the invalid token's job: 0 on "
               f"{bad_values.count('0')} of {len(bad_values)}")
    assert len(values) >= WATCH // 2 - 5, f"too few scrapes: {len(values)}"
    assert all(v == "1" for v in values), f"a scrape of Vault's metrics was refused: {values}"
    assert bad_values and all(v == "0" for v in bad_values), f"the invalid token was accepted: {bad_values}"
    assert logins >= 3 and len(tokens) >= 3, \
        f"{logins} logins, {len(tokens)} tokens: vaultexec did not log in again at the max TTL\n" \
        + world.leaks.scrub(proc.output()[-2000:])
    assert renewals >= 1, "vaultexec never renewed the token"
    proc.stop()

"""TLS against a real OpenBao -dev-tls server (CA options, skip-verify,
server name) and against the fake (client certificates, https->http
redirect)."""
from __future__ import annotations

import os
import shutil

import pytest

from fakevault import R
from vxlib import conn


@pytest.fixture
def app(bao_tls, vx):
    name = vx.name("tls")
    data = {"password": vx.secret("p")}
    bao_tls.put_kv2(name, data)
    return name, data


def run_tls(vx, bao_tls, name, *opts, env=None, wait="10s", addr=None):
    e = {"VAULT_TOKEN": bao_tls.token}
    e.update(env or {})
    return vx.run(
        ["--addr", addr or bao_tls.addr, "--wait", wait, *opts, "--service", name, "--map", "password=P"], env=e
    )


@pytest.mark.every_binary
def test_ca_cert_flag(bao_tls, vx, app):
    name, data = app
    r = run_tls(vx, bao_tls, name, "--ca-cert", bao_tls.ca)
    r.ok()
    assert r.env["P"] == data["password"]
    assert not [l for l in r.stderr_lines() if "skip" in l.lower()], r.describe()


@pytest.mark.parametrize("var", ["VAULT_CACERT", "BAO_CACERT", "VAULTEXEC_CA_CERT"])
def test_ca_cert_env(bao_tls, vx, app, var):
    name, data = app
    r = run_tls(vx, bao_tls, name, env={var: bao_tls.ca})
    r.ok()
    assert r.env["P"] == data["password"]
    # VAULT_CACERT and BAO_CACERT are not ours to remove; VAULTEXEC_* are
    if var.startswith("VAULTEXEC_"):
        assert var not in r.env
    else:
        assert r.env[var] == bao_tls.ca


def test_ca_cert_flag_beats_env(bao_tls, vx, app, pki):
    name, _ = app
    r = run_tls(vx, bao_tls, name, "--ca-cert", bao_tls.ca, env={"VAULT_CACERT": pki["otherca"]})
    r.ok()


def test_ca_path_hashed_dir(bao_tls, vx, app, tmp_path):
    import subprocess

    name, _ = app
    d = tmp_path / "cas"
    d.mkdir()
    shutil.copy(bao_tls.ca, d / "vault-ca.pem")
    h = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", bao_tls.ca], capture_output=True, text=True, check=True
    ).stdout.strip()
    os.symlink("vault-ca.pem", d / f"{h}.0")
    r = run_tls(vx, bao_tls, name, "--ca-path", str(d))
    r.ok()


@pytest.mark.parametrize("how", ["flag", "VAULT_CAPATH"])
def test_ca_path_plain_dir(bao_tls, vx, app, tmp_path, pki, how):
    """Like the Go client: every file in the directory is a CA (no c_rehash
    layout needed); an unrelated CA next to it does no harm."""
    name, _ = app
    d = tmp_path / "cas"
    d.mkdir()
    shutil.copy(pki["otherca"], d / "a-other.pem")
    shutil.copy(bao_tls.ca, d / "b-bao.pem")
    if how == "flag":
        r = run_tls(vx, bao_tls, name, "--ca-path", str(d))
    else:
        r = run_tls(vx, bao_tls, name, env={"VAULT_CAPATH": str(d)})
    r.ok()


def test_unknown_ca_fails(bao_tls, vx, app):
    name, _ = app
    r = run_tls(vx, bao_tls, name, wait="3s")
    r.failed()
    assert "certificate" in r.stderr.lower(), f"the message should mention the certificate\n{r.describe()}"


@pytest.mark.every_binary
def test_wrong_ca_fails(bao_tls, vx, app, pki):
    name, _ = app
    r = run_tls(vx, bao_tls, name, "--ca-cert", pki["otherca"], wait="3s")
    r.failed()
    assert "certificate" in r.stderr.lower(), r.describe()


def test_ca_path_without_the_ca_fails(bao_tls, vx, app, tmp_path, pki):
    name, _ = app
    d = tmp_path / "cas"
    d.mkdir()
    shutil.copy(pki["otherca"], d / "other.pem")
    r = run_tls(vx, bao_tls, name, "--ca-path", str(d), wait="3s")
    r.failed()


@pytest.mark.parametrize("kind", ["missing", "garbage", "empty", "directory"])
def test_unusable_ca_file_78(bao_tls, vx, app, tmp_path, kind):
    name, _ = app
    f = tmp_path / "ca.pem"
    if kind == "garbage":
        f.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    elif kind == "empty":
        f.write_text("")
    elif kind == "directory":
        f.mkdir()
    r = run_tls(vx, bao_tls, name, "--ca-cert", str(f), wait="3s")
    r.failed(78)


def test_missing_ca_path_dir_78(bao_tls, vx, app, tmp_path):
    name, _ = app
    r = run_tls(vx, bao_tls, name, "--ca-path", str(tmp_path / "nope"), wait="3s")
    r.failed(78)


def test_tls_skip_verify_warns(bao_tls, vx, app):
    name, data = app
    r = run_tls(vx, bao_tls, name, "--tls-skip-verify")
    r.ok()
    assert r.env["P"] == data["password"]
    assert [l for l in r.log_lines("warn") if "skip" in l.lower()], r.describe()


@pytest.mark.parametrize("var", ["VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY", "VAULTEXEC_TLS_SKIP_VERIFY"])
def test_skip_verify_env_warns(bao_tls, vx, app, var):
    name, _ = app
    r = run_tls(vx, bao_tls, name, env={var: "true"})
    r.ok()
    assert [l for l in r.log_lines("warn") if "skip" in l.lower()], r.describe()


def test_tls_skip_verify_false_verifies(bao_tls, vx, app):
    name, _ = app
    r = run_tls(vx, bao_tls, name, "--tls-skip-verify=false", wait="3s")
    r.failed()
    r2 = run_tls(vx, bao_tls, name, env={"VAULT_SKIP_VERIFY": "true"}, wait="3s")
    r2.ok()
    # the flag beats the environment
    r3 = run_tls(vx, bao_tls, name, "--tls-skip-verify=0", env={"VAULT_SKIP_VERIFY": "true"}, wait="3s")
    r3.failed()


def test_tls_server_name(bao_tls, vx, app):
    name, _ = app
    r = run_tls(vx, bao_tls, name, "--ca-cert", bao_tls.ca, "--tls-server-name", "localhost")
    r.ok()


@pytest.mark.parametrize("how", ["flag", "VAULT_TLS_SERVER_NAME"])
def test_tls_server_name_mismatch_fails(bao_tls, vx, app, how):
    name, _ = app
    if how == "flag":
        r = run_tls(vx, bao_tls, name, "--ca-cert", bao_tls.ca, "--tls-server-name", "wrong.invalid", wait="3s")
    else:
        r = run_tls(vx, bao_tls, name, "--ca-cert", bao_tls.ca, env={"VAULT_TLS_SERVER_NAME": "wrong.invalid"}, wait="3s")
    r.failed()


def test_hostname_verified(bao_tls, vx, app):
    """https://localhost matches the certificate; the name is checked, not just the chain."""
    name, _ = app
    r = run_tls(vx, bao_tls, name, "--ca-cert", bao_tls.ca, addr=f"https://localhost:{bao_tls.port}")
    r.ok()


def test_https_to_plain_http_server_fails(bao, vx):
    name = vx.name("x")
    bao.put_kv2(name, {"password": vx.secret()})
    r = vx.run(
        ["--addr", bao.addr.replace("http://", "https://"), "--wait", "3s", "--service", name, "--map", "password=P"],
        env={"VAULT_TOKEN": bao.token},
    )
    r.failed()


# ---------------------------------------------------------------------------
# against the fake: client certificates and redirects
# ---------------------------------------------------------------------------


@pytest.fixture
def mtls(fake_factory, pki, vx):
    fv = fake_factory(tls=pki["server"], client_ca=pki["ca"])
    val = vx.secret()
    fv.kv2("app", {"password": val})
    return fv, val


@pytest.mark.parametrize("how", ["flags", "VAULT_", "VAULTEXEC_"])
def test_client_certificate(mtls, pki, vx, how):
    fv, val = mtls
    cert, key = pki["client"]
    opts = ["--addr", fv.addr, "--wait", "5s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"]
    env = {"VAULT_TOKEN": vx.token()}
    if how == "flags":
        opts += ["--client-cert", cert, "--client-key", key]
    elif how == "VAULT_":
        env.update(VAULT_CLIENT_CERT=cert, VAULT_CLIENT_KEY=key)
    else:
        env.update(VAULTEXEC_CLIENT_CERT=cert, VAULTEXEC_CLIENT_KEY=key)
    r = vx.run(opts, env=env)
    r.ok()
    assert r.env["P"] == val


def test_client_certificate_required(mtls, pki, vx):
    fv, _ = mtls
    r = vx.run(
        ["--addr", fv.addr, "--wait", "3s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.failed()
    assert not fv.requests_to("/v1/secret/data/app")


def test_client_cert_without_key_fails(mtls, pki, vx):
    fv, _ = mtls
    cert, _ = pki["client"]
    r = vx.run(
        ["--addr", fv.addr, "--wait", "3s", "--ca-cert", pki["ca"], "--client-cert", cert, "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.failed((64, 78))


def test_unreadable_client_key_78(mtls, pki, vx, tmp_path):
    fv, _ = mtls
    cert, _ = pki["client"]
    r = vx.run(
        ["--addr", fv.addr, "--wait", "3s", "--ca-cert", pki["ca"], "--client-cert", cert,
         "--client-key", str(tmp_path / "nope.key"), "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.failed(78)


def test_https_to_http_redirect_refused(fake_factory, pki, vx):
    plain = fake_factory()
    val = vx.secret()
    plain.kv2("app", {"password": val})
    tls = fake_factory(tls=pki["server"])
    tls.script("/v1/secret/data/app", R(307, headers={"Location": plain.url("/v1/secret/data/app")}))
    r = vx.run(
        ["--addr", tls.addr, "--wait", "3s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.failed()
    assert plain.requests_to("/v1/secret/data/app") == [], "followed an https -> http redirect"


def test_https_to_https_redirect_followed(fake_factory, pki, vx):
    b = fake_factory(tls=pki["server"])
    val = vx.secret()
    b.kv2("app", {"password": val})
    a = fake_factory(tls=pki["server"])
    a.script("/v1/secret/data/app", R(307, headers={"Location": b.url("/v1/secret/data/app")}))
    t = vx.token()
    r = vx.run(
        ["--addr", a.addr, "--wait", "5s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": t},
    )
    r.ok()
    assert r.env["P"] == val
    got = b.requests_to("/v1/secret/data/app")
    assert len(got) == 1 and got[0].header("X-Vault-Token") == [t]


@pytest.mark.optional
def test_default_address_is_https_127_0_0_1_8200(fake_factory, pki, vx):
    try:
        fv = fake_factory(tls=pki["server"], port=8200)
    except OSError as e:
        pytest.skip(f"port 8200 busy: {e}")
    val = vx.secret()
    fv.kv2("app", {"password": val})
    r = vx.run(
        ["--wait", "5s", "--ca-cert", pki["ca"], "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.ok()
    assert r.env["P"] == val


@pytest.mark.parametrize("case", ["unknown-ca", "name-mismatch", "tls-to-plaintext-server"])
def test_tls_configuration_errors_not_waited_out(bao, bao_tls, vx, case):
    """A certificate the client rejects, or TLS spoken to a plain-HTTP
    server, will not fix itself: fail without waiting for the --wait
    deadline (doc/vault-api.md, "Health": a configuration error, not waited out)."""
    name = vx.name("x")
    if case == "tls-to-plaintext-server":
        addr, opts = bao.addr.replace("http://", "https://"), []
    elif case == "unknown-ca":
        addr, opts = bao_tls.addr, []
    else:
        addr, opts = bao_tls.addr, ["--ca-cert", bao_tls.ca, "--tls-server-name", "wrong.invalid"]
    r = vx.run(["--addr", addr, "--wait", "8s", *opts, "--service", name, "--map", "password=P"], env={"VAULT_TOKEN": bao.token})
    r.failed()
    assert r.elapsed < 4, f"retried a TLS configuration error until the deadline\n{r.describe()}"

"""Login methods (GitHub issue 4) against a real OpenBao dev server:
approle (files, response-wrapped secret IDs, a blanked --secret-id),
jwt, kubernetes (with a TokenReview endpoint served here), cert (client
certificate on the -dev-tls listener), namespaces, policies,
--revoke-token and --token-sink.  A FakeVault checks the wire details a
real server does not show (headers and bodies of the login requests).

Every run is leak-checked by conftest.py: role IDs, secret IDs, wrapping
tokens, JWTs and login tokens are registered as secrets."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

import auth_helpers as ah
import vxlib
from fakevault import HEALTH_OK, R, envelope, error_body
from vxlib import conn

# ---------------------------------------------------------------------------
# helpers and fixtures
# ---------------------------------------------------------------------------


def write(path: Path, text: str, mode=0o600) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def app_secret(bao, vx, mount="secret"):
    """A KV v2 secret with one random field and a policy that may read only
    it.  Returns (name, value, policy)."""
    name = vx.name("auth")
    val = vx.secret("pw")
    bao.put_kv2(name, {"password": val}, mount=mount)
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "{mount}/data/{name}" {{ capabilities = ["read"] }}\n')
    return name, val, pol


def assert_env_free_of(res, *secrets_):
    """No variable name or value of the child's environment holds any of SECRETS_."""
    for k, v in res.env.items():
        for s in secrets_:
            assert s not in k and s not in (v or ""), f"child env {k} carries a login credential"


def errors(res) -> str:
    return "\n".join(res.log_lines("error"))


@pytest.fixture(scope="module")
def approle(bao):
    return ah.AppRole(bao, "approle-" + vxlib.rand_core()[:8])


@pytest.fixture
def app(bao, vx, approle, tmp_path):
    """A role on the approle mount that may read one secret, with role ID
    and secret ID files.  Returns a dict of everything."""
    name, val, pol = app_secret(bao, vx)
    role = vx.name("role")
    rid = approle.role(role, [pol])
    sid = approle.secret_id(role)
    vx.register(rid, sid)
    return {
        "name": name,
        "value": val,
        "policy": pol,
        "role": role,
        "role_id": rid,
        "secret_id": sid,
        "rid_file": write(tmp_path / "creds" / "role-id", rid + "\n"),
        "sid_file": write(tmp_path / "creds" / "secret-id", sid + "\r\n"),
        "login": ["--auth", "approle", "--auth-mount", approle.mount],
        "read": ["--service", name, "--map", "password=PW"],
    }


# ---------------------------------------------------------------------------
# AppRole
# ---------------------------------------------------------------------------


def test_approle_login_with_files(bao, vx, app):
    stale = vx.token()  # a stray VAULT_TOKEN must neither be used nor passed on
    res = vx.run(
        [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", app["sid_file"],
         *app["read"]],
        env={"VAULT_TOKEN": stale},
    ).ok()
    assert res.env["PW"] == app["value"]
    assert "VAULT_TOKEN" not in res.env
    assert_env_free_of(res, app["role_id"], app["secret_id"], stale)
    assert any(f"logged in with approle at auth/{app['login'][3]}" in l for l in res.log_lines("info")), res.describe()


def test_approle_from_environment_never_reaches_child(bao, vx, app):
    """The VAULTEXEC_* forms and VAULT_SECRET_ID_FILE work; the credentials
    read from the environment are withheld from the child."""
    res = vx.run(
        [*conn(bao), *app["read"]],
        env={
            "VAULTEXEC_AUTH": "approle",
            "VAULTEXEC_AUTH_MOUNT": app["login"][3],
            "VAULTEXEC_ROLE_ID": app["role_id"],
            "VAULT_SECRET_ID_FILE": app["sid_file"],
        },
    ).ok()
    assert res.env["PW"] == app["value"]
    assert not [k for k in res.env if k.startswith("VAULTEXEC_")]
    # The file's path is no secret (its content is): it stays.
    assert res.env["VAULT_SECRET_ID_FILE"] == app["sid_file"]
    assert_env_free_of(res, app["role_id"], app["secret_id"])

    # The secret ID itself in VAULTEXEC_SECRET_ID: also withheld.
    res = vx.run(
        [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], *app["read"]],
        env={"VAULTEXEC_SECRET_ID": app["secret_id"]},
    ).ok()
    assert res.env["PW"] == app["value"]
    assert_env_free_of(res, app["role_id"], app["secret_id"])


def test_approle_wrong_secret_id_is_refused(bao, vx, app, tmp_path, approle):
    wrong = write(tmp_path / "wrong", "00000000-1111-2222-3333-444444444444\n")
    res = vx.run(
        [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", wrong, *app["read"]]
    ).failed(77)
    msg = errors(res)
    assert f"approle at auth/{approle.mount}" in msg and "invalid role or secret ID" in msg, res.describe()
    assert "00000000-1111" not in res.stderr


def test_approle_wrapped_secret_id_and_reuse(bao, vx, app, tmp_path, approle):
    wrap = approle.wrapped_secret_id(app["role"])
    vx.register(wrap)
    wfile = write(tmp_path / "wrapped", wrap + "\n")
    opts = [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", wfile,
            "--secret-id-wrapped", "--role", app["role"], *app["read"]]
    res = vx.run(opts).ok()
    assert res.env["PW"] == app["value"]
    assert_env_free_of(res, wrap, app["role_id"])
    # The wrapping token is single use: a second start must say it may have been intercepted.
    res = vx.run(opts).failed(77)
    msg = errors(res)
    assert "intercepted" in msg and wfile in msg, res.describe()

    # Without --role any role of the mount is accepted (the role ID pins the role).
    wrap2 = approle.wrapped_secret_id(app["role"])
    vx.register(wrap2)
    write(tmp_path / "wrapped", wrap2)
    res = vx.run([o for o in opts if o not in ("--role", app["role"])]).ok()
    assert res.env["PW"] == app["value"]


def test_approle_wrapping_token_from_elsewhere_is_refused(bao, vx, app, tmp_path, approle):
    """A substitute wrapping token is refused before it is unwrapped: one
    made by sys/wrapping/wrap (holding a valid secret ID!) and one holding
    another role's secret ID."""
    sid = approle.secret_id(app["role"])
    vx.register(sid)
    js = ah.ok(bao, "POST", "sys/wrapping/wrap", {"secret_id": sid}, wrap_ttl="60s")
    fake_wrap = js["wrap_info"]["token"]
    vx.register(fake_wrap)
    wfile = write(tmp_path / "wrapped", fake_wrap)
    base = [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", wfile,
            "--secret-id-wrapped", *app["read"]]
    res = vx.run(base).failed(77)
    assert "sys/wrapping/wrap" in errors(res) and "refusing to unwrap" in errors(res), res.describe()
    # Not unwrapped: the token is still valid.
    st, js = ah.api(bao, "POST", "sys/wrapping/lookup", {"token": fake_wrap}, no_token=True)
    assert st == 200 and js["data"]["creation_path"] == "sys/wrapping/wrap"

    other = vx.name("other")
    approle.role(other, ["default"])
    other_wrap = approle.wrapped_secret_id(other)
    vx.register(other_wrap)
    write(tmp_path / "wrapped", other_wrap)
    res = vx.run([*base, "--role", app["role"]]).failed(77)
    assert f"auth/{approle.mount}/role/{other}/secret-id" in errors(res), res.describe()
    st, _ = ah.api(bao, "POST", "sys/wrapping/lookup", {"token": other_wrap}, no_token=True)
    assert st == 200


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_secret_id_flag_is_blanked_in_proc_cmdline(vx, form):
    """--secret-id VALUE is overwritten in our argv at once: read
    /proc/PID/cmdline while vaultexec waits for a Vault that is not there."""
    sid = "sid-" + vxlib.rand_core() + vxlib.rand_core()
    vx.register(sid)
    port = vxlib.free_port()
    arg = ["--secret-id", sid] if form == "separate" else [f"--secret-id={sid}"]
    argv = [vx.bin, "--addr", f"http://127.0.0.1:{port}", "--wait", "5s", "--auth", "approle",
            "--role-id", "some-role-id", *arg, "--", "true"]
    env = vx.base_env()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    cmdline = b""
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes()
            if sid.encode() not in cmdline and b"--addr" in cmdline:
                break
            time.sleep(0.02)
        alive = p.poll() is None
    finally:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        out, err = p.communicate(timeout=10)
    res = vxlib.Result(argv=argv, rc=p.returncode, stdout=out.decode(errors="replace"),
                       stderr=err.decode(errors="replace"), elapsed=time.monotonic() - t0,
                       pid=p.pid, outfile=None)
    vx.leaks.runs.append(res)  # the leak check reads its output too
    assert alive, f"vaultexec was not waiting when its cmdline was read\n{res.describe()}"
    assert sid.encode() not in cmdline, f"secret ID visible in /proc/PID/cmdline: {cmdline!r}"
    assert b"--secret-id" in cmdline and b"--" in cmdline.split(b"\0")
    assert any("--secret-id-file" in l for l in res.log_lines("warn")), res.describe()
    assert res.rc == 128 + signal.SIGTERM, res.describe()


# ---------------------------------------------------------------------------
# JWT
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwt_auth(bao):
    signer = ah.JwtSigner()
    mount = "jwt-" + vxlib.rand_core()[:8]
    aud = "vaultexec-" + vxlib.rand_core()[:8]
    ah.ok(bao, "POST", f"sys/auth/{mount}", {"type": "jwt"})
    return {"signer": signer, "mount": mount, "aud": aud}


def test_jwt_login_and_refusals(bao, vx, tmp_path, jwt_auth):
    name, val, pol = app_secret(bao, vx)
    mount, aud, signer = jwt_auth["mount"], jwt_auth["aud"], jwt_auth["signer"]
    role = vx.name("jrole")
    ah.ok(bao, "POST", f"auth/{mount}/role/{role}", {
        "role_type": "jwt", "bound_audiences": [aud], "user_claim": "sub",
        "token_policies": [pol], "token_ttl": "10m",
    })
    ah.ok(bao, "POST", f"auth/{mount}/config",
          {"jwt_validation_pubkeys": [signer.public_pem], "default_role": role})
    now = int(time.time())
    claims = {"iss": "https://issuer.example", "sub": "workload-1", "aud": [aud], "iat": now, "nbf": now,
              "exp": now + 300}
    good = signer.sign(claims)
    vx.register(good)
    jfile = write(tmp_path / "jwt", "  " + good + "\n\n")
    read = ["--service", name, "--map", "password=PW"]

    res = vx.run([*conn(bao), "--auth", "jwt", "--auth-mount", mount, "--role", role, "--jwt-file", jfile,
                  *read]).ok()
    assert res.env["PW"] == val
    assert_env_free_of(res, good)
    # --role is optional: the mount's default_role applies.
    vx.run([*conn(bao), "--auth", "jwt", "--auth-mount", mount, "--jwt-file", jfile, *read]).ok()

    for bad_claims in (dict(claims, iat=now - 7200, nbf=now - 7200, exp=now - 3600),
                       dict(claims, aud=["someone-else"])):
        bad = signer.sign(bad_claims)
        vx.register(bad)
        write(tmp_path / "jwt", bad)
        res = vx.run([*conn(bao), "--auth", "jwt", "--auth-mount", mount, "--role", role, "--jwt-file", jfile,
                      *read]).failed(77)
        assert f"jwt at auth/{mount} refused" in errors(res), res.describe()


# ---------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s(bao, pki):
    reviewer = "reviewer-" + vxlib.rand_core()
    trs = ah.TokenReviewServer(reviewer)
    mount = "k8s-" + vxlib.rand_core()[:8]
    ah.ok(bao, "POST", f"sys/auth/{mount}", {"type": "kubernetes"})
    ah.ok(bao, "POST", f"auth/{mount}/config", {
        "kubernetes_host": trs.url,
        # Required with disable_local_ca_jwt although plain HTTP never uses it.
        "kubernetes_ca_cert": Path(pki["ca"]).read_text(),
        "disable_local_ca_jwt": True,
        "token_reviewer_jwt": reviewer,
    })
    yield {"trs": trs, "mount": mount, "reviewer": reviewer}
    trs.close()


def test_kubernetes_login(bao, vx, tmp_path, k8s):
    name, val, pol = app_secret(bao, vx)
    mount, trs = k8s["mount"], k8s["trs"]
    role, ns, sa = vx.name("krole"), "team-a", vx.name("sa")
    ah.ok(bao, "POST", f"auth/{mount}/role/{role}", {
        "bound_service_account_names": [sa], "bound_service_account_namespaces": [ns],
        "token_policies": [pol], "token_ttl": "10m",
    })
    uid = "uid-" + vxlib.rand_core()
    jwt = ah.unsigned_sa_jwt(ns, sa, uid)
    trs.accept(jwt, ns, sa, uid)
    vx.register(jwt)
    jfile = write(tmp_path / "sa" / "token", jwt + "\n")
    read = ["--service", name, "--map", "password=PW"]
    login = ["--auth", "kubernetes", "--auth-mount", mount, "--role", role, "--jwt-file", jfile]

    res = vx.run([*conn(bao), *login, *read]).ok()
    assert res.env["PW"] == val
    assert_env_free_of(res, jwt)
    seen = [r for r in trs.reviews if r["spec"].get("token") == jwt]
    assert seen and seen[-1]["authorization"] == f"Bearer {k8s['reviewer']}"

    # A token the API server does not vouch for.
    unknown = ah.unsigned_sa_jwt(ns, sa, "uid-x")
    vx.register(unknown)
    write(tmp_path / "sa" / "token", unknown)
    res = vx.run([*conn(bao), *login, *read]).failed(77)
    assert f"kubernetes at auth/{mount} refused: HTTP 403: permission denied" in errors(res), res.describe()
    # The same bare answer as for an unknown mount, but the method is there.
    assert "nothing seems enabled" not in errors(res), res.describe()

    # A valid token of a service account the role is not bound to.
    other = ah.unsigned_sa_jwt(ns, "intruder", "uid-y")
    trs.accept(other, ns, "intruder", "uid-y")
    vx.register(other)
    write(tmp_path / "sa" / "token", other)
    res = vx.run([*conn(bao), *login, *read]).failed(77)
    # The method is enabled and gave its own reason: the message names the
    # role and the token's service account, and does not suggest that
    # nothing is enabled at the mount.
    line = errors(res)
    assert f"kubernetes at auth/{mount} refused: HTTP 403: service account name not authorized" in line
    assert f"(role {role}, service account {ns}/intruder)" in line, res.describe()
    assert "nothing seems enabled" not in line, res.describe()

    # Nothing enabled at the mount: OpenBao's bare 403, and then the hint.
    res = vx.run([*conn(bao), "--auth", "kubernetes", "--auth-mount", mount + "-none", "--role", role,
                  "--jwt-file", jfile, *read]).failed(77)
    line = errors(res)
    assert "HTTP 403: permission denied" in line and "(nothing seems enabled there" in line, res.describe()


def test_kubernetes_jwt_is_read_at_login_not_at_start(vx, fake, tmp_path):
    """Projected tokens rotate: the file is read again after the wait.
    Also checks the wire: default mount path, no X-Vault-Token on login,
    the body, and the login token used for the read."""
    old, new = ah.unsigned_sa_jwt("ns", "sa", "u1"), ah.unsigned_sa_jwt("ns", "sa", "u2")
    login_token, stale = vx.token(), vx.token()
    vx.register(old, new)
    fake.script("/v1/sys/health", R(200, HEALTH_OK, delay=1.5))
    fake.script("/v1/auth/kubernetes/login", R(200, dict(envelope(None), auth={
        "client_token": login_token, "policies": ["default", "app"], "token_policies": ["default", "app"],
        "lease_duration": 600, "renewable": True, "mfa_requirement": None})))
    fake.kv2("app", {"password": "pw-" + vxlib.rand_core()})
    jfile = tmp_path / "token"
    write(jfile, old + "\n")
    timer = threading.Timer(0.6, lambda: write(jfile, new + "\n"))
    timer.start()
    try:
        res = vx.run([*conn(fake), "--auth", "kubernetes", "--role", "app", "--jwt-file", jfile,
                      "--service", "app", "--map", "password=PW"], env={"VAULT_TOKEN": stale}).ok()
    finally:
        timer.cancel()
    (req,) = fake.requests_to("/v1/auth/kubernetes/login")
    assert req.method in ("POST", "PUT") and req.header("X-Vault-Token") == []
    assert json.loads(req.body) == {"role": "app", "jwt": new}
    (read,) = fake.requests_to("/v1/secret/data/app")
    assert read.header("X-Vault-Token") == [login_token]
    assert_env_free_of(res, login_token, new, old, stale)


# ---------------------------------------------------------------------------
# wire details of approle on a fake: lookup, unwrap, MFA
# ---------------------------------------------------------------------------


def test_approle_unwrap_wire_and_mfa(vx, fake, tmp_path):
    wrap, real_sid, rid, tok = vx.token(), "sid-" + vxlib.rand_core(), "rid-" + vxlib.rand_core(), vx.token()
    vx.register(real_sid, rid)
    fake.script("/v1/sys/wrapping/lookup", R(200, envelope(
        {"creation_path": "auth/approle/role/web/secret-id", "creation_ttl": 60, "creation_time": "x"})))
    fake.script("/v1/sys/wrapping/unwrap", R(200, envelope({"secret_id": real_sid, "secret_id_accessor": "a"})))
    ok_login = dict(envelope(None), auth={"client_token": tok, "policies": ["default"], "lease_duration": 60,
                                          "mfa_requirement": None})
    fake.script("/v1/auth/approle/login", R(200, ok_login))
    fake.kv2("app", {"password": "x" * 10})
    wfile = write(tmp_path / "w", wrap)
    opts = [*conn(fake), "--auth", "approle", "--role-id", rid, "--secret-id-file", wfile, "--secret-id-wrapped",
            "--role", "web", "--service", "app", "--map", "password=PW"]
    vx.run(opts).ok()
    (lk,) = fake.requests_to("/v1/sys/wrapping/lookup")
    assert lk.header("X-Vault-Token") == [] and json.loads(lk.body) == {"token": wrap}
    (uw,) = fake.requests_to("/v1/sys/wrapping/unwrap")
    # Never both header and body: that would burn the token.
    assert uw.method == "POST" and uw.header("X-Vault-Token") == [wrap] and uw.body == b""
    (lg,) = fake.requests_to("/v1/auth/approle/login")
    assert lg.header("X-Vault-Token") == [] and json.loads(lg.body) == {"role_id": rid, "secret_id": real_sid}

    # A login that still needs MFA is an error.
    mfa = dict(envelope(None), auth={"client_token": "", "mfa_requirement": {
        "mfa_request_id": "r", "mfa_constraints": {"x": {"any": [{"type": "totp", "id": "i"}]}}}})
    fake.script("/v1/auth/approle/login", R(200, mfa))
    res = vx.run(opts).failed(77)
    assert "multi-factor" in errors(res), res.describe()

    # A 5xx at login is retried within --wait; a 400 is not.
    fake.clear_log()
    fake.script("/v1/auth/approle/login", R(503, error_body("sealed")), R(200, ok_login))
    vx.run(opts).ok()
    assert len(fake.requests_to("/v1/auth/approle/login")) == 2
    fake.clear_log()
    fake.script("/v1/auth/approle/login", R(400, error_body("invalid role or secret ID")), R(200, ok_login))
    vx.run(opts).failed(77)
    assert len(fake.requests_to("/v1/auth/approle/login")) == 1


# ---------------------------------------------------------------------------
# cert
# ---------------------------------------------------------------------------


def test_cert_login(bao_tls, pki, vx):
    b = bao_tls
    name, val, pol = app_secret(b, vx)
    mount = "cert-" + vxlib.rand_core()[:8]
    ah.ok(b, "POST", f"sys/auth/{mount}", {"type": "cert"})
    cname = vx.name("web")
    ah.ok(b, "POST", f"auth/{mount}/certs/{cname}",
          {"certificate": Path(pki["ca"]).read_text(), "token_policies": [pol], "token_ttl": "10m"})
    cert, key = pki["client"]
    base = [*conn(b), "--ca-cert", b.ca, "--client-cert", cert, "--client-key", key, "--auth", "cert",
            "--auth-mount", mount, "--service", name, "--map", "password=PW"]
    res = vx.run([*base, "--cert-role", cname]).ok()
    assert res.env["PW"] == val
    assert vx.run(base).ok().env["PW"] == val  # any matching role
    res = vx.run([*base, "--cert-role", "no-such-role"]).failed(77)
    assert f"cert at auth/{mount} refused" in errors(res), res.describe()
    # Without a client certificate there is nothing to log in with.
    vx.run([*conn(b), "--ca-cert", b.ca, "--auth", "cert", "--service", name, "--map", "password=PW"]).failed(64)


# ---------------------------------------------------------------------------
# namespaces and policies
# ---------------------------------------------------------------------------


@pytest.mark.optional
def test_namespace_read_and_login(bao, vx, tmp_path):
    ns = vx.name("ns")
    st, js = ah.api(bao, "POST", f"sys/namespaces/{ns}", {})
    if st in (404, 405) or (st >= 400 and "unsupported" in json.dumps(js)):
        pytest.skip(f"this OpenBao does not support namespaces (sys/namespaces -> {st} {js})")
    assert st in (200, 204), (st, js)
    ah.ok(bao, "POST", "sys/mounts/kv", {"type": "kv", "options": {"version": "2"}}, ns=ns)
    val = vx.secret("ns")
    ah.ok(bao, "POST", "kv/data/app", {"data": {"password": val}}, ns=ns)
    read = ["--kv-mount", "kv", "--service", "app", "--map", "password=PW"]
    res = vx.run([*conn(bao), "--namespace", ns, *read], env={"VAULT_TOKEN": bao.token}).ok()
    assert res.env["PW"] == val
    # Without the namespace the path does not exist.
    vx.run([*conn(bao), *read], env={"VAULT_TOKEN": bao.token}).failed()

    # AppRole inside the namespace, with a wrapped secret ID (its
    # creation_path is relative to the namespace).
    ar = ah.AppRole(bao, "approle", ns=ns)
    ah.ok(bao, "PUT", "sys/policies/acl/reader", {"policy": 'path "kv/data/app" { capabilities = ["read"] }'}, ns=ns)
    rid = ar.role("web", ["reader"])
    st, js = ah.api(bao, "POST", "auth/approle/role/web/secret-id", {}, ns=ns, wrap_ttl="60s")
    wrap = js["wrap_info"]["token"]
    vx.register(rid, wrap)
    res = vx.run([*conn(bao), "--namespace", ns, "--auth", "approle", "--role-id", rid, "--role", "web",
                  "--secret-id-file", write(tmp_path / "w", wrap), "--secret-id-wrapped", *read]).ok()
    assert res.env["PW"] == val


def test_policy_denies_other_path(bao, vx, app):
    other = vx.name("forbidden")
    bao.put_kv2(other, {"password": vx.secret("no")})
    login = [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", app["sid_file"]]
    vx.run([*login, *app["read"]]).ok()
    res = vx.run([*login, "--map", f"secret/{other}#password=PB"]).failed(77)
    assert other in errors(res), res.describe()


# ---------------------------------------------------------------------------
# after login: --revoke-token, --token-sink
# ---------------------------------------------------------------------------


def test_revoke_token(bao, vx, app):
    login = [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", app["sid_file"],
             *app["read"]]
    before = ah.token_accessors(bao)
    res = vx.run([*login, "--revoke-token"]).ok()
    assert res.env["PW"] == app["value"]
    assert any("revoked the login token" in l for l in res.log_lines("info")), res.describe()
    assert ah.tokens_of_role(bao, ah.token_accessors(bao) - before, app["role"]) == []
    # Control: without the flag the login token stays valid.
    before = ah.token_accessors(bao)
    vx.run(login).ok()
    assert len(ah.tokens_of_role(bao, ah.token_accessors(bao) - before, app["role"])) == 1


def test_token_sink(bao, vx, app, tmp_path):
    sink = tmp_path / "run" / "vault-token"
    sink.parent.mkdir()
    res = vx.run(
        [*conn(bao), *app["login"], "--role-id-file", app["rid_file"], "--secret-id-file", app["sid_file"],
         "--token-sink", sink, *app["read"]],
        umask=0,
    ).ok()
    token = sink.read_text()
    vx.register(token)
    assert stat.S_IMODE(sink.stat().st_mode) == 0o600
    js = ah.ok(bao, "POST", "auth/token/lookup", {"token": token})
    assert app["policy"] in js["data"]["policies"]
    assert js["data"]["meta"]["role_name"] == app["role"]
    assert_env_free_of(res, token, app["role_id"], app["secret_id"])
    assert not [p for p in sink.parent.iterdir() if p.name != "vault-token"]  # no temp file left


def test_option_errors(vx, tmp_path):
    """Checked before any request: usage errors 64, unreadable credentials 78."""
    addr = ["--addr", f"http://127.0.0.1:{vxlib.free_port()}", "--wait", "0"]
    missing = str(tmp_path / "nope")
    cases = [
        (["--auth", "ldap"], 64, "unknown login method"),
        (["--auth", "approle", "--secret-id-file", missing], 64, "--role-id"),
        (["--auth", "approle", "--role-id", "r", "--secret-id-wrapped"], 64, "--secret-id-wrapped"),
        (["--auth", "approle", "--role-id", "r", "--secret-id-file", missing], 78, missing),
        (["--auth", "approle", "--role-id-file", missing], 78, missing),
        (["--auth", "kubernetes", "--jwt-file", missing], 64, "--role"),
        (["--auth", "kubernetes", "--role", "r", "--jwt-file", missing], 78, missing),
        (["--auth", "jwt", "--role", "r"], 64, "--jwt-file"),
        (["--auth", "cert"], 64, "--client-cert"),
        (["--auth", "approle", "--auth-mount", "a/../b", "--role-id", "r"], 64, "--auth-mount"),
        (["--auth", "token", "--revoke-token"], 64, "--revoke-token"),
        (["--auth", "approle", "--role-id", "r", "--revoke-token", "--token-sink", missing], 64, "--token-sink"),
    ]
    for opts, rc, needle in cases:
        res = vx.run([*addr, *opts], env={"VAULT_TOKEN": vx.token()}).failed(rc)
        assert needle in errors(res), res.describe()
    if not os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"):
        res = vx.run([*addr, "--auth", "kubernetes", "--role", "r"]).failed(78)
        assert "/var/run/secrets/kubernetes.io/serviceaccount/token" in errors(res)

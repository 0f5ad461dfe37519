"""vault-env mode (GitHub issue 15) against a real OpenBao dev server.

Every row of the compatibility table (vaultenv_table.py) is run through
vaultexec started under the name vault-env (a symlink), with the command
as its first argument and no `--`, as bank-vaults' webhook runs it.  The
logins use OpenBao's kubernetes method (with the TokenReview endpoint of
auth_helpers) and its jwt method.  Every run is leak-checked by
conftest.py.

test_peer_outcomes_recorded re-checks the table's `peer` column against a
vault-env built by hand (VAULTENV_PEER_BIN); it is optional because CI
does not build vault-env."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest

import auth_helpers as ah
import vxlib
from vaultenv_table import ROWS, SCRUB, Row

PEER = os.environ.get("VAULTENV_PEER_BIN")


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def world(bao, pki, tmp_path_factory):
    d = tmp_path_factory.mktemp("vaultenv")
    r = vxlib.rand_core()[:8]
    w: dict = {"addr": bao.addr, "root": bao.token, "dir": d}
    w["pw"], w["pw1"], w["extra"] = (vxlib.hostile_value(t) for t in ("pw", "pw1", "extra"))
    w["user"] = f"alice-{r}"
    w["user_upper"] = w["user"].upper()
    w["user_b64"] = base64.b64encode(w["user"].encode()).decode()
    w["user_sha256"] = hashlib.sha256(w["user"].encode()).hexdigest()

    app, plain, deleted = f"ve-{r}", f"ve-plain-{r}", f"ve-del-{r}"
    bao.put_kv2(app, {"password": w["pw1"], "user": w["user"]})
    bao.put_kv2(app, {"password": w["pw"], "user": w["user"], "n": 5, "nul": None, "obj": {"a": 1},
                      "spaced": "p w/x+y", "padded": "  x y  "})
    bao.put_kv2(plain, {"password": w["pw1"], "user": w["user"]})
    bao.put_kv2(plain, {"password": w["pw"], "user": w["user"]})
    bao.put_kv2(deleted, {"password": w["pw"]})
    bao.delete_kv2_latest(deleted)
    w["kv2"], w["kv2short"] = f"secret/data/{app}", f"secret/{app}"
    w["kv2plain"], w["deleted"] = f"secret/data/{plain}", f"secret/data/{deleted}"
    w["missing"] = f"secret/data/ve-missing-{r}"
    kv1 = f"kv1-{r}"
    bao.enable_kv1(kv1)
    bao.put_kv1(kv1, "app", {"password": w["pw"]})
    bao.put_kv1(kv1, "more", {"extra": w["extra"]})
    w["kv1"], w["kv1b"] = f"{kv1}/app", f"{kv1}/more"

    pol = f"ve-read-{r}"
    bao.put_policy(pol, f'path "secret/*" {{ capabilities = ["read"] }}\n'
                        f'path "{kv1}/*" {{ capabilities = ["read"] }}\n')
    w["weak"] = bao.create_token(["default"])
    w["tokenfile"] = write(d / "token", bao.token)
    w["tokenfile_nl"] = write(d / "token-nl", bao.token + "\n")
    home = d / "home"
    write(home / ".vault-token", bao.token)
    w["home_with_token"] = str(home)

    # Kubernetes: a TokenReview endpoint, a mount of our own and the
    # default one (auth/kubernetes, role "default").
    reviewer = "reviewer-" + vxlib.rand_core()
    trs = ah.TokenReviewServer(reviewer)
    w["k8s_mount"], w["k8s_role"] = f"k8s-ve-{r}", f"role-{r}"
    for mount in (w["k8s_mount"], "kubernetes"):
        st, _ = ah.api(bao, "POST", f"sys/auth/{mount}", {"type": "kubernetes"})
        assert st in (200, 204, 400), st  # 400: auth/kubernetes enabled before
        ah.ok(bao, "POST", f"auth/{mount}/config", {
            "kubernetes_host": trs.url, "kubernetes_ca_cert": Path(pki["ca"]).read_text(),
            "disable_local_ca_jwt": True, "token_reviewer_jwt": reviewer})
    sa, ns = f"sa-{r}", "team-ve"
    for mount, role in ((w["k8s_mount"], w["k8s_role"]), ("kubernetes", "default")):
        ah.ok(bao, "POST", f"auth/{mount}/role/{role}", {
            "bound_service_account_names": [sa], "bound_service_account_namespaces": [ns],
            "token_policies": [pol], "token_ttl": "10m"})
    for key in ("k8s_jwt", "k8s_default_jwt"):
        uid = "uid-" + vxlib.rand_core()
        jwt = ah.unsigned_sa_jwt(ns, sa, uid)
        trs.accept(jwt, ns, sa, uid)
        w[key] = write(d / key, jwt)  # as kubelet writes it: no newline
        w.setdefault("jwts", []).append(jwt)

    # JWT: a mount with a public key and a role bound to an audience.
    signer = ah.JwtSigner()
    w["jwt_mount"], w["jwt_role"], aud = f"jwt-ve-{r}", f"jrole-{r}", f"ve-{r}"
    ah.ok(bao, "POST", f"sys/auth/{w['jwt_mount']}", {"type": "jwt"})
    ah.ok(bao, "POST", f"auth/{w['jwt_mount']}/config", {"jwt_validation_pubkeys": [signer.public_pem]})
    ah.ok(bao, "POST", f"auth/{w['jwt_mount']}/role/{w['jwt_role']}", {
        "role_type": "jwt", "bound_audiences": [aud], "user_claim": "sub",
        "token_policies": [pol], "token_ttl": "10m"})
    now = int(time.time())
    jwt = signer.sign({"iss": "https://issuer.example", "sub": "w-1", "aud": [aud], "iat": now,
                       "nbf": now, "exp": now + 3600})
    w["jwt_file"] = write(d / "jwt", jwt + "\n")
    w["jwts"].append(jwt)

    # Transit, for the rows vault-env's peer column records.
    tm = f"transit-{r}"
    ah.ok(bao, "POST", f"sys/mounts/{tm}", {"type": "transit"})
    ah.ok(bao, "POST", f"{tm}/keys/k", {})
    w["transit_plain"] = f"transit-{r}"
    js = ah.ok(bao, "POST", f"{tm}/encrypt/k",
               {"plaintext": base64.b64encode(w["transit_plain"].encode()).decode()})
    w["ciphertext"], w["transit_key"] = js["data"]["ciphertext"], "k"
    w["transit_encrypt"] = f"{tm}/encrypt/k"
    w["transit_mount"] = tm
    w["transit_plain_b64"] = base64.b64encode(w["transit_plain"].encode()).decode()
    yield w
    trs.close()


SPECIAL = ("<token>", "<revoked>", "<ciphertext>")
PLACEHOLDER = re.compile(r"@([a-z0-9_]+)@")


def fill(text, w):
    if text is None or text in SPECIAL:
        return text
    return PLACEHOLDER.sub(lambda m: str(w[m.group(1)]), text)


def run_row(row: Row, binary: str, w: dict, tmp: Path, vx) -> vxlib.Result:
    env = vx.base_env()
    given = None
    for k, v in row.env.items():
        if v == "@given@":  # a fresh token per run: vault-env revokes it
            given = v = w_bao_token(w)
        env[k] = fill(v, w)
    link = tmp / "bin" / "vault-env"
    link.parent.mkdir(exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    out = tmp / f"child-{row.id}-{secrets.token_hex(3)}.json"
    cmd = {"child": [vxlib.PYTHON, vxlib.CHILD, str(out)], "missing": [f"no-such-command-{w['dir'].name}"],
           "none": []}[row.cmd]
    argv = [str(link), *row.args, *cmd]
    t0 = time.monotonic()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=90)
    res = vxlib.Result(argv=argv, rc=p.returncode, stdout=p.stdout.decode("utf-8", "surrogateescape"),
                       stderr=p.stderr.decode("utf-8", "surrogateescape"),
                       elapsed=time.monotonic() - t0, pid=0, outfile=out)
    res.given = given
    return res


def w_bao_token(w):
    return w["bao"].create_token(["root"], ttl="10m")


def token_ok(w, token) -> bool:
    st, _ = ah.api(w["bao"], "GET", "auth/token/lookup-self", token=token)
    return st == 200


def check_env(w, env: dict, expect: dict, universal: bool) -> list[str]:
    bad = []
    for k, v in expect.items():
        got = env.get(k)
        if v is None:
            if k in env:
                bad.append(f"{k} should be absent")
        elif v == "<token>":
            if not got or got in ("vault:login", w["root"]) or not token_ok(w, got):
                bad.append(f"{k} should be a live login token")
        elif v == "<revoked>":
            if not got or token_ok(w, got):
                bad.append(f"{k} should be a revoked token")
        elif v == "<ciphertext>":
            if not (got or "").startswith("vault:v"):
                bad.append(f"{k} should be a transit ciphertext")
        elif got != fill(v, w):
            bad.append(f"{k}: got {'(absent)' if got is None else 'another value'}")
    if universal:
        for n in SCRUB:
            if n not in expect and n in env:
                bad.append(f"{n} (scrub list) reached the command")
        for k, v in env.items():
            if ((v or "").startswith("vault:") or "${vault:" in (v or "")) and expect.get(k) != "<ciphertext>":
                bad.append(f"{k} still holds a reference")
            if w["root"] in (v or "") and expect.get(k) != "@root@":
                bad.append(f"{k} carries the root token")
            if any(j in (v or "") for j in w["jwts"]):
                bad.append(f"{k} carries a login JWT")
        if "__DUPLICATES__" in env:
            bad.append("duplicate variables: " + env["__DUPLICATES__"].strip())
    return bad


EXTRA = {}


def extra(row_id):
    def deco(fn):
        EXTRA[row_id] = fn
        return fn
    return deco


@extra("login-k8s")
def _(w, res):
    assert "logged in with kubernetes at auth/" + w["k8s_mount"] in res.stderr


@extra("login-defaults")
def _(w, res):
    assert "logged in with jwt at auth/kubernetes" in res.stderr


@extra("revoke-login")
def _(w, res):
    assert "revoked the login token" in res.stderr


@extra("daemon-revoke")
def _(w, res):
    assert "revoked the login token (VAULT_REVOKE_TOKEN)" in res.stderr, res.stderr


@extra("daemon")
def _(w, res):
    assert "supervise" in res.stderr, res.stderr


@extra("revoke-given")
def _(w, res):
    assert token_ok(w, res.given), "the given token was revoked"
    assert "VAULT_REVOKE_TOKEN" in "".join(res.log_lines("warn"))


@extra("delay")
def _(w, res):
    assert res.elapsed >= 0.3


@extra("json-log")
def _(w, res):
    lines = res.stderr_lines()
    assert lines and all(json.loads(l)["logger"] == "vaultexec" for l in lines), res.stderr


@extra("log-level")
def _(w, res):
    assert res.stderr == "", res.stderr


@extra("auth-aws-iam")
def _(w, res):
    assert "VAULT_AUTH_METHOD=aws-iam" in res.stderr and "jwt" in res.stderr


@extra("template-unsupported")
def _(w, res):
    assert "sha256sum" in res.stderr and "supported: ${.FIELD}" in res.stderr


@extra("from-path-clash")
def _(w, res):
    assert "variable user is already set" in res.stderr


@pytest.fixture
def vw(world, bao):
    world["bao"] = bao
    return world


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_row(row, vw, vx, tmp_path):
    vx.register(vw["pw"], vw["pw1"], vw["extra"], *vw["jwts"])
    res = run_row(row, vxlib.vaultexec_bin(), vw, tmp_path, vx)
    vx.leaks.runs.append(res)
    started = row.started if row.started is not None else row.rc == 0
    assert res.rc == row.rc, res.describe()
    assert res.started == started, res.describe()
    if started:
        bad = check_env(vw, res.env, row.expect, universal=True)
        assert not bad, "\n".join(bad) + "\n" + res.describe()
        tok = res.env.get("VAULT_TOKEN")
        if tok and tok not in (vw["root"],):
            vx.register(tok)
    else:
        assert any(l for l in res.stderr_lines()) or row.stdout is not None, res.describe()
    if row.stdout is not None:
        assert res.stdout == row.stdout, res.describe()
    if row.id in EXTRA:
        EXTRA[row.id](vw, res)


def test_every_contract_item_has_a_row():
    items = " ".join(r.item + " " + json.dumps(r.env) for r in ROWS)
    for word in ["VAULT_ADDR", "VAULT_TOKEN_FILE", "VAULT_TOKEN_PATH", "VAULT_AUTH_METHOD", "VAULT_PATH",
                 "VAULT_ROLE", "KUBERNETES_SERVICE_ACCOUNT_TOKEN", "VAULT_JWT_FILE", "#VERSION",
                 "${vault:", ">>vault:", "vault:v1", "vault:login", "VAULT_ENV_FROM_PATH",
                 "VAULT_IGNORE_MISSING_SECRETS", "VAULT_ENV_PASSTHROUGH", "VAULT_REVOKE_TOKEN",
                 "VAULT_ENV_DAEMON", "VAULT_ENV_DELAY", "VAULT_JSON_LOG", "VAULT_LOG_LEVEL",
                 "scrub list", "--check"]:
        assert word in items, f"no row for {word}"


@pytest.mark.optional
def test_peer_outcomes_recorded(vw, vx, tmp_path):
    """The peer column: every row through vault-env itself."""
    if not PEER:
        pytest.skip("VAULTENV_PEER_BIN is not set (vault-env is built by hand, not in CI)")
    vx.register(vw["pw"], vw["pw1"], vw["extra"])
    report = []
    for row in ROWS:
        res = run_row(row, PEER, vw, tmp_path, vx)
        want_rc = row.peer["rc"] if row.peer else row.rc
        env = res.env if res.started else {}
        problems = [] if res.rc == want_rc else [f"exit {res.rc}, table says {want_rc}"]
        if res.started:
            expect = row.expect if row.peer is None else row.peer.get("env", {})
            problems += check_env(vw, env, expect, universal=row.peer is None)
        if problems:
            problems.append("stderr: " + " | ".join(res.stderr_lines()[-2:])[:300])
        report.append(f"{row.id:26} rc={res.rc:<3} {'; '.join(problems) or 'as recorded'}")
    print("\n".join(report))
    assert all(l.endswith("as recorded") for l in report), "\n".join(report)

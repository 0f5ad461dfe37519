"""What a user needs to see (issue 19, item 7), against a real OpenBao dev
server: the start-up warnings of --supervise, the role hint of a 403 on a
dynamic path, and vault-env mode's token messages.  The text-log
timestamp is checked in test_logging."""

from __future__ import annotations

import http.server
import re
import threading

import pytest

import vxlib
from vxlib import conn


@pytest.fixture
def pki_web(bao, vx):
    """A PKI mount with role web (certificates of 30 s by default)."""
    mount = vx.name("pki-notes")
    bao.api("POST", f"sys/mounts/{mount}", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    bao.api("POST", f"{mount}/root/generate/internal", {"common_name": "notes root", "ttl": "87600h"})
    bao.api("POST", f"{mount}/roles/web", {"allowed_domains": ["example.test"], "allow_subdomains": True,
                                           "ttl": "30s", "max_ttl": "1h"})
    return mount


def tok(bao):
    return {"VAULT_TOKEN": bao.token}


# ---------------------------------------------------------------------------
# --supervise at start
# ---------------------------------------------------------------------------

NOTHING = "nothing read can change"


def test_supervise_with_only_a_pinned_version_says_nothing_can_change(bao, vx):
    name = vx.name()
    bao.put_kv2(name, {"pw": vx.secret("pw")})
    r = vx.run(conn(bao, "10s", "--supervise", "--map", f"secret/{name}#pw#1=P"), env=tok(bao)).ok()
    assert any(NOTHING in l for l in r.log_lines("warn")), r.describe()


def test_supervise_with_a_current_version_has_no_such_warning(bao, vx):
    name = vx.name()
    bao.put_kv2(name, {"pw": vx.secret("pw")})
    r = vx.run(conn(bao, "10s", "--supervise", "--map", f"secret/{name}#pw=P"), env=tok(bao)).ok()
    assert not r.log_lines("warn"), r.describe()


def test_certificate_is_no_matter_of_poll(bao, vx, pki_web):
    """A certificate without a lease is fetched again by its own expiry
    (issue 19), so a --poll longer than its life is nothing to warn about."""
    issue = f"{pki_web}/issue/web?common_name=a.example.test"
    r = vx.run(conn(bao, "10s", "--supervise", "--poll", "1m", "--map", f"{issue}#certificate=C"),
               env=tok(bao)).ok()
    assert not r.log_lines("warn"), r.describe()


def test_unreachable_reload_url_is_warned(bao, vx):
    name = vx.name()
    bao.put_kv2(name, {"pw": vx.secret("pw")})
    url = f"http://127.0.0.1:{vxlib.free_port()}/-/reload"
    r = vx.run(conn(bao, "10s", "--supervise", "--reload-url", url, "--map", f"secret/{name}#pw=P"),
               cmd=["sleep", "32"], env=tok(bao), timeout=60)
    assert r.rc == 0, r.describe()
    warns = [l for l in r.log_lines("warn") if "--reload-url" in l]
    assert len(warns) == 1 and url in warns[0] and "cannot be reached" in warns[0], r.describe()


class _Head(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def test_reachable_reload_url_is_tried_without_a_reload(bao, vx):
    """The probe is a HEAD: any answer counts, and it reloads nothing."""
    name = vx.name()
    bao.put_kv2(name, {"pw": vx.secret("pw")})
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Head)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/-/reload"
        r = vx.run(conn(bao, "10s", "--supervise", "--log-level", "debug", "--reload-url", url,
                        "--map", f"secret/{name}#pw=P"), cmd=["sleep", "6"], env=tok(bao))
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.rc == 0, r.describe()
    assert any(f"--reload-url {url} answers" in l for l in r.log_lines("debug")), r.describe()
    assert not any("--reload-url" in l for l in r.log_lines("warn")), r.describe()


# ---------------------------------------------------------------------------
# a 403 on a dynamic path
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("can_list", [True, False], ids=["token-lists-roles", "token-cannot-list"])
def test_mistyped_role_is_suggested(bao, vx, pki_web, can_list):
    pol = vx.name("pol")
    hcl = f'path "{pki_web}/issue/web" {{ capabilities = ["update"] }}\n'
    if can_list:
        hcl += f'path "{pki_web}/roles" {{ capabilities = ["list"] }}\n'
    bao.put_policy(pol, hcl)
    t = bao.create_token([pol])
    vx.register(t)
    r = vx.run(conn(bao, "10s", "--map", f"{pki_web}/issue/wbe?common_name=a.example.test#certificate=C"),
               env={"VAULT_TOKEN": t}).failed(77)
    err = "\n".join(r.log_lines("error"))
    want = f"no such role? {pki_web}/roles lists web" if can_list else "no role 'wbe'?"
    assert want in err and "token is valid" in err, r.describe()


def test_right_role_denied_gets_no_role_hint(bao, vx, pki_web):
    """The role exists and is listed: the policy is the problem, not the name."""
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "{pki_web}/roles" {{ capabilities = ["list"] }}\n')
    t = bao.create_token([pol])
    vx.register(t)
    r = vx.run(conn(bao, "10s", "--map", f"{pki_web}/issue/web?common_name=a.example.test#certificate=C"),
               env={"VAULT_TOKEN": t}).failed(77)
    err = "\n".join(r.log_lines("error"))
    assert "token is valid" in err and "role" not in err.split("to one of them", 1)[1], r.describe()


# ---------------------------------------------------------------------------
# vault-env mode and empty variables
# ---------------------------------------------------------------------------


def _run_link(vx, link, env):
    cmd, out = vx.child_cmd()
    # vaultexec as vault-env: the link is argv[0], the command follows.
    saved = vx.cmd
    vx.cmd = [*saved[:-1], str(link)]
    try:
        r = vx.run([], env=env, cmd=cmd, sep=False, outfile=out)
    finally:
        vx.cmd = saved
    return r


@pytest.mark.parametrize("source", ["VAULT_TOKEN", "VAULT_TOKEN_FILE"])
def test_vault_env_invalid_token_says_so_and_names_its_source(bao, vx, tmp_path, source):
    name = vx.name()
    bao.put_kv2(name, {"pw": vx.secret("pw")})
    bad = vx.token()
    env = {"VAULT_ADDR": bao.addr, "P": f"vault:secret/data/{name}#pw"}
    if source == "VAULT_TOKEN":
        env["VAULT_TOKEN"] = bad
    else:
        f = tmp_path / "tok"
        f.write_text(bad + "\n")
        env["VAULT_TOKEN_FILE"] = str(f)
    r = _run_link(vx, _link(vx, tmp_path), env).failed(77)
    err = "\n".join(r.log_lines("error"))
    assert "token is not valid" in err and f"check the token in {source}" in err, r.describe()
    assert "kv-version" not in r.stderr.lower(), r.describe()
    assert not re.search(r"(?<![\w-])--[a-z]", r.stderr), f"a vaultexec flag in vault-env's log\n{r.describe()}"
    assert any(f"vault-env: using the token in {source}" in l for l in r.log_lines("info")), r.describe()


def test_vault_env_messages_name_its_variables(bao, vx, tmp_path):
    env = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN_FILE": str(tmp_path / "missing"), "P": "vault:secret/data/x#pw"}
    r = _run_link(vx, _link(vx, tmp_path), env).failed(78)
    assert any(l.startswith(f"vaultexec: error: VAULT_TOKEN_FILE {tmp_path}/missing: cannot read")
               for l in r.log_lines("error")), r.describe()
    env = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token, "VAULT_ENV_DAEMON": "true",
           "VAULTEXEC_POLL": "10ms", "P": "vault:secret/data/x#pw"}
    r = _run_link(vx, _link(vx, tmp_path), env).failed(64)
    assert "VAULTEXEC_POLL" in r.stderr and "--poll" not in r.stderr, r.describe()


def _link(vx, tmp_path):
    link = tmp_path / "bin" / "vault-env"
    link.parent.mkdir(exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(vx.bin)
    return link


@pytest.mark.parametrize("mode", ["vaultexec", "vault-env"])
def test_empty_token_file_variable_counts_as_unset(bao, vx, tmp_path, mode):
    name = vx.name()
    pw = vx.secret("pw")
    bao.put_kv2(name, {"pw": pw})
    env = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token, "VAULTEXEC_TOKEN_FILE": ""}
    if mode == "vault-env":
        env["P"] = f"vault:secret/data/{name}#pw"
        r = _run_link(vx, _link(vx, tmp_path), env).ok()
    else:
        r = vx.run(["--map", f"secret/{name}#pw=P"], env=env).ok()
    assert r.env["P"] == pw

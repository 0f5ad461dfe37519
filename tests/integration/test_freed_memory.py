"""No secret is left in memory that vaultexec gives back to the allocator.

freescan.c, built here into an LD_PRELOAD library, replaces free() and
realloc() in the vaultexec process and appends every block it frees (and
the old block of every realloc, which it always moves) to a file before the
allocator gets it back.  After an AppRole login and a KV read against the
real OpenBao dev server, that file must not contain the secret ID, the
wrapping token, the login token or the secret's value, in any encoding a
request or response carries them (plain, JSON-escaped).

What it sees: every free() and realloc() of vaultexec, libcurl, cJSON and
libc (glibc sends its own internal frees through the interposed symbol)
up to the exec; blocks are dumped whole (malloc_usable_size), so stale
bytes after a shorter string count too.  What it cannot see: memory that is
never freed before exec (the exec replaces the image; that is the point);
stack buffers; memory of the TLS library on an https connection (these
runs use the plain-HTTP dev server); kernel socket buffers; and the static
musl binary, which ignores LD_PRELOAD (the library writes a marker when it
is armed, and the test insists on it, so it cannot pass without looking).
Under the ASan build the sanitizer owns malloc and the test is skipped."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import auth_helpers as ah
import vxlib
from vxlib import conn


def unwatchable(binary: str) -> str | None:
    """Why BINARY's frees cannot be watched (ASan, static, a wrapper
    script), or None for the plain dynamic build."""
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if "libasan" in ldd.stdout:
        return "the ASan build owns malloc/free; freescan needs the plain build"
    out = ldd.stdout + ldd.stderr
    if ldd.returncode != 0 or "not a dynamic executable" in out or "statically linked" in out:
        return "a static binary (or a wrapper script) ignores LD_PRELOAD"
    return None


# Optional only for the builds it cannot watch; for the plain build a skip
# is a failure like any other, and so is a library that does not build.
UNWATCHABLE = unwatchable(vxlib.vaultexec_bin())
pytestmark = [pytest.mark.optional] if UNWATCHABLE else []

HERE = Path(__file__).resolve().parent
MARK = b"--freescan: armed--\n"


@pytest.fixture(scope="module")
def freescan(tmp_path_factory):
    """The LD_PRELOAD library, or a skip where it cannot work."""
    if UNWATCHABLE:
        pytest.skip(UNWATCHABLE)
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    assert cc, "no C compiler to build tests/integration/freescan.c"
    out = tmp_path_factory.mktemp("freescan") / "freescan.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), str(HERE / "freescan.c")], check=True)
    return str(out)


def forms(value: str) -> set[bytes]:
    """The byte strings that would betray VALUE: as is and JSON-escaped."""
    return {value.encode(), json.dumps(value)[1:-1].encode()}


def scan(dump: Path, secrets_: dict[str, str]) -> list[str]:
    data = dump.read_bytes()
    assert data.startswith(MARK), "freescan was not armed in the vaultexec process"
    assert len(data) > len(MARK) + 4096, "freescan saw almost no frees: is it really interposed?"
    hits = []
    for what, value in secrets_.items():
        for f in forms(value):
            at = data.find(f)
            if at >= 0:
                ctx = data[max(0, at - 48):at].decode("latin-1").encode("unicode_escape").decode()
                hits.append(f"{what} in freed memory at byte {at} (after '...{ctx}')")
    return hits


def run_scanned(vx, tmp_path, freescan, opts, name):
    dump = tmp_path / f"{name}.freed"
    sink = tmp_path / f"{name}.token"
    res = vx.run([*opts, "--token-sink", str(sink)],
                 env={"LD_PRELOAD": freescan, "FREESCAN_OUT": str(dump)}).ok()
    token = sink.read_text()
    vx.register(token)
    return res, dump, token


@pytest.fixture
def approle_app(bao, vx, tmp_path):
    approle = ah.AppRole(bao, "approle-fs-" + vxlib.rand_core()[:6])
    name = vx.name("freed")
    value = vx.secret("pw")
    bao.put_kv2(name, {"password": value})
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{name}" {{ capabilities = ["read"] }}\n')
    role = vx.name("role")
    rid = approle.role(role, [pol])
    vx.register(rid)
    rid_file = tmp_path / "role-id"
    rid_file.write_text(rid + "\n")
    return {"approle": approle, "name": name, "value": value, "role": role, "role_id": rid,
            "rid_file": str(rid_file)}


def test_approle_login_and_read_leave_nothing_in_freed_memory(bao, vx, tmp_path, freescan, approle_app):
    a = approle_app
    sid = a["approle"].secret_id(a["role"])
    vx.register(sid)
    sid_file = tmp_path / "secret-id"
    sid_file.write_text(sid + "\n")
    res, dump, token = run_scanned(vx, tmp_path, freescan, [
        *conn(bao), "--auth", "approle", "--auth-mount", a["approle"].mount,
        "--role-id-file", a["rid_file"], "--secret-id-file", str(sid_file),
        "--service", a["name"], "--map", "password=PW"], "plain")
    assert res.env["PW"] == a["value"]
    hits = scan(dump, {"secret ID": sid, "login token": token, "secret value": a["value"]})
    assert not hits, "\n".join(hits)


def test_wrapped_secret_id_login_leaves_nothing_in_freed_memory(bao, vx, tmp_path, freescan, approle_app):
    a = approle_app
    wrap = a["approle"].wrapped_secret_id(a["role"])
    vx.register(wrap)
    wfile = tmp_path / "wrapped"
    wfile.write_text(wrap)
    res, dump, token = run_scanned(vx, tmp_path, freescan, [
        *conn(bao), "--auth", "approle", "--auth-mount", a["approle"].mount,
        "--role-id-file", a["rid_file"], "--secret-id-file", str(wfile), "--secret-id-wrapped",
        "--role", a["role"], "--service", a["name"], "--map", "password=PW"], "wrapped")
    assert res.env["PW"] == a["value"]
    hits = scan(dump, {"wrapping token": wrap, "login token": token, "secret value": a["value"]})
    assert not hits, "\n".join(hits)


def test_token_read_leaves_nothing_in_freed_memory(bao, vx, tmp_path, freescan, approle_app):
    """A read with a token from VAULT_TOKEN: the X-Vault-Token header copies
    in libcurl's header list and request buffer are wiped too."""
    a = approle_app
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{a["name"]}" {{ capabilities = ["read"] }}\n')
    token = bao.create_token([pol])
    vx.register(token)
    dump = tmp_path / "token.freed"
    res = vx.run([*conn(bao), "--service", a["name"], "--map", "password=PW"],
                 env={"VAULT_TOKEN": token, "LD_PRELOAD": freescan, "FREESCAN_OUT": str(dump)}).ok()
    assert res.env["PW"] == a["value"]
    hits = scan(dump, {"token": token, "secret value": a["value"]})
    assert not hits, "\n".join(hits)

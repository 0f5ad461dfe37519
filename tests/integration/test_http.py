"""HTTP behaviour against the fake Vault: headers, namespaces, address
forms (path prefix, unix socket), redirects, broken and huge bodies, JSON
value conversion, KV envelopes, and reading each secret once."""
from __future__ import annotations

import json

import pytest

from fakevault import R, error_body, kv2_body, kv2_deleted_body, kv2_raw_body
from vxlib import conn

HEALTH = "/v1/sys/health"
SECRET = "/v1/secret/data/app"


@pytest.fixture
def fv(fake, vx):
    fake.val = vx.secret()
    fake.kv2("app", {"password": fake.val, "username": "someone"})
    fake.tok = vx.token()
    return fake


def run_fake(vx, fv, *opts, wait="5s", env=None, maps=("--service", "app", "--map", "password=P")):
    e = {"VAULT_TOKEN": fv.tok}
    e.update(env or {})
    return vx.run(conn(fv, wait, *opts, *maps), env=e)


# ---------------------------------------------------------------------------
# headers
# ---------------------------------------------------------------------------


def test_headers_on_every_request(vx, fv):
    r = run_fake(vx, fv, "--kv-version", "auto")
    r.ok()
    assert fv.requests, "no requests?"
    for req in fv.requests:
        assert req.header("X-Vault-Request") == ["true"], f"{req.path}: {req.headers}"
    s = fv.requests_to(SECRET)
    assert len(s) == 1 and s[0].method == "GET"
    assert s[0].header("X-Vault-Token") == [fv.tok]
    assert s[0].header("X-Vault-Namespace") == []
    mounts = [q for q in fv.requests if q.path.startswith("/v1/sys/internal/ui/mounts/")]
    assert mounts and mounts[0].header("X-Vault-Token") == [fv.tok]


@pytest.mark.parametrize(
    "how,expected",
    [
        ("flag", "team-a/sub"),
        ("BAO_NAMESPACE", "team-b"),
        ("VAULT_NAMESPACE", "team-c"),
        ("VAULTEXEC_NAMESPACE", "team-d"),
        ("flag-beats-env", "team-a/sub"),
        ("BAO-beats-VAULT", "team-b"),
    ],
)
def test_namespace_header(vx, fv, how, expected):
    opts, env = [], {}
    if how == "flag":
        opts = ["--namespace", "team-a/sub"]
    elif how == "flag-beats-env":
        opts = ["--namespace", "team-a/sub"]
        env = {"BAO_NAMESPACE": "team-b", "VAULT_NAMESPACE": "team-c", "VAULTEXEC_NAMESPACE": "team-d"}
    elif how == "BAO-beats-VAULT":
        env = {"BAO_NAMESPACE": "team-b", "VAULT_NAMESPACE": "team-c"}
    else:
        env = {how: expected}
    r = run_fake(vx, fv, *opts, env=env)
    r.ok()
    s = fv.requests_to(SECRET)
    assert s and s[0].header("X-Vault-Namespace") == [expected]


# ---------------------------------------------------------------------------
# address forms
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("trailing", ["", "/"])
def test_addr_path_prefix(vx, fake_factory, trailing):
    fv = fake_factory(prefix="/prefix")
    val = vx.secret()
    fv.kv2("app", {"password": val})
    r = vx.run(
        ["--addr", fv.addr + trailing, "--wait", "5s", "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.ok()
    assert r.env["P"] == val
    for req in fv.requests:
        assert req.path.startswith("/prefix/v1/") and "//" not in req.path, req.path


def test_unix_socket(vx, fake_factory):
    fv = fake_factory(unix_path=True)
    val = vx.secret()
    fv.kv2("app", {"password": val})
    r = vx.run(
        ["--addr", fv.addr, "--wait", "5s", "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token()},
    )
    r.ok()
    assert r.env["P"] == val
    assert fv.requests_to(SECRET)


def test_unix_socket_via_vault_addr(vx, fake_factory):
    fv = fake_factory(unix_path=True)
    val = vx.secret()
    fv.kv2("app", {"password": val})
    r = vx.run(
        ["--wait", "5s", "--service", "app", "--map", "password=P"],
        env={"VAULT_TOKEN": vx.token(), "VAULT_ADDR": fv.addr},
    )
    r.ok()
    assert r.env["VAULT_ADDR"] == fv.addr


def test_secret_path_escaping(vx, fake):
    """Path segments are percent-encoded (space, #, ?, %), '/' is kept."""
    val = vx.secret()
    fake.script("/v1/secret/data/team%20x/a%25b", R(200, kv2_body({"p": val})))
    r = vx.run(conn(fake, "5s", "--map", "secret/team x/a%b#p=P"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val


# ---------------------------------------------------------------------------
# redirects
# ---------------------------------------------------------------------------


def test_redirect_followed_once(vx, fake_factory):
    active = fake_factory()
    val = vx.secret()
    active.kv2("app", {"password": val})
    standby = fake_factory()
    standby.script(SECRET, R(307, headers={"Location": active.url(SECRET)}))
    t = vx.token()
    r = vx.run(conn(standby, "5s", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": t})
    r.ok()
    assert r.env["P"] == val
    got = active.requests_to(SECRET)
    assert len(got) == 1
    assert got[0].method == "GET"
    assert got[0].header("X-Vault-Token") == [t] and got[0].header("X-Vault-Request") == ["true"]


def test_redirect_with_query_kept(vx, fake_factory):
    active = fake_factory()
    val = vx.secret()
    active.kv2("app", {"password": val}, query="version=2", version=2)
    standby = fake_factory()
    standby.script(SECRET + "?version=2", R(307, headers={"Location": active.url(SECRET) + "?version=2"}))
    r = vx.run(conn(standby, "5s", "--map", "secret/app#password#2=P"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val


def test_second_redirect_not_followed(vx, fake_factory):
    """A -> B -> C: following two redirects would reach C, which has the
    secret; the client must stop after one and fail."""
    c = fake_factory()
    c.kv2("app", {"password": vx.secret()})
    b = fake_factory()
    b.script(SECRET, R(307, headers={"Location": c.url(SECRET)}))
    a = fake_factory()
    a.script(SECRET, R(307, headers={"Location": b.url(SECRET)}))
    r = vx.run(conn(a, "3s", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": vx.token()})
    r.failed()
    assert c.requests_to(SECRET) == [], "followed a second redirect"
    assert len(b.requests_to(SECRET)) <= len(a.requests_to(SECRET))


def test_redirect_loop_fails(vx, fake_factory):
    a = fake_factory()
    b = fake_factory()
    a.script(SECRET, R(307, headers={"Location": b.url(SECRET)}))
    b.script(SECRET, R(307, headers={"Location": a.url(SECRET)}))
    r = vx.run(conn(a, "3s", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": vx.token()})
    r.failed()
    assert r.elapsed < 8


# ---------------------------------------------------------------------------
# broken bodies
# ---------------------------------------------------------------------------


def test_truncated_body_fails(vx, fv):
    ok = fv._scripts[SECRET][0]
    fv.script(SECRET, R(200, ok.body, truncate=30))
    r = run_fake(vx, fv, wait="3s")
    r.failed()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"data": {"data": {"password": "x"}}',  # unterminated
        "",
        "[]",
        '{"data": "string"}',
        '{"data": {"data": "string", "metadata": {}}}',
        '{"data": {"data": {"password": "a\\qb"}}}',  # bad escape
        '{"data": {"data": {"password": "\\ud800"}}}',  # lone surrogate
    ],
    ids=["garbage", "unterminated", "empty", "array", "data-string", "data-data-string", "bad-escape", "lone-surrogate"],
)
def test_malformed_json_fails(vx, fv, body):
    fv.script(SECRET, R(200, body))
    r = run_fake(vx, fv, wait="3s")
    r.failed()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_huge_secret_body_refused(vx, fv, chunked):
    fv.script(SECRET, R(200, stream=100 * 1024 * 1024, chunked=chunked))
    r = run_fake(vx, fv, wait="5s")
    r.failed()
    assert "too large" in r.stderr.lower(), r.describe()
    assert fv.bytes_sent < 30 * 1024 * 1024, f"client read {fv.bytes_sent} bytes before refusing"
    assert r.elapsed < 10, r.describe()


def test_huge_health_body_refused(vx, fv):
    fv.script(HEALTH, R(200, stream=100 * 1024 * 1024))
    r = run_fake(vx, fv, wait="3s")
    r.failed()
    assert "too large" in r.stderr.lower(), r.describe()
    assert fv.bytes_sent < 30 * 1024 * 1024


def test_body_just_under_one_mib_accepted(vx, fv, tmp_path):
    # (too big for an environment string: execve limits each to 128 KiB, so
    # it goes to a file)
    big = "B" * (1024 * 1024 - 4096)
    fv.kv2("app", {"password": fv.val, "big": big})
    dest = tmp_path / "big"
    r = run_fake(vx, fv, maps=("--service", "app", "--map", "password=P", "--file", f"{dest}={{{{ big }}}}"))
    r.ok()
    assert r.env["P"] == fv.val
    assert dest.read_text() == big


# ---------------------------------------------------------------------------
# JSON values
# ---------------------------------------------------------------------------

RAW_TYPES = (
    '{"s": "x", "big": 12345678901234567890, "f": 1.50, "e": 1e3, "neg": -7, "negexp": -2.5E-3, '
    '"t": true, "fa": false, "o": {"a": 1, "b": [true, null, "x y"]}, "arr": [1, 2], "emptyo": {}, '
    '"emptys": "", "nul": null, "emoji": "\\ud83d\\ude00", '
    '"esc": "a\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac\\r\\b\\f"}'
)


def test_value_types(vx, fake):
    fake.kv2_raw("types", RAW_TYPES)
    maps = "s=S,big=BIG,f=F,e=E,neg=NEG,negexp=NEGEXP,t=T,fa=FA,o=O,arr=ARR,emptyo=EO,emptys=ES,emoji=EMOJI,esc=ESC"
    r = vx.run(conn(fake, "5s", "--service", "types", "--map", maps), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    e = r.env
    assert e["S"] == "x"
    assert e["BIG"] == "12345678901234567890"
    assert e["F"] == "1.50"
    assert e["E"] == "1e3"
    assert e["NEG"] == "-7"
    assert e["NEGEXP"] == "-2.5E-3"
    assert (e["T"], e["FA"]) == ("true", "false")
    assert e["O"] == '{"a":1,"b":[true,null,"x y"]}'
    assert e["ARR"] == "[1,2]"
    assert e["EO"] == "{}"
    assert e["ES"] == ""
    assert e["EMOJI"] == "😀"
    assert e["ESC"] == 'a"b\\c/d\n\té€\r\b\f'


def test_null_is_missing(vx, fake):
    fake.kv2_raw("types", RAW_TYPES)
    r = vx.run(conn(fake, "5s", "--service", "types", "--map", "s=S,nul=NUL"), env={"VAULT_TOKEN": vx.token()})
    r.failed(65)
    r2 = vx.run(
        conn(fake, "5s", "--allow-missing", "--service", "types", "--map", "s=S,nul=NUL"), env={"VAULT_TOKEN": vx.token()}
    )
    r2.ok()
    assert "NUL" not in r2.env and r2.env["S"] == "x"
    assert any("NUL" in l for l in r2.log_lines("warn")), r2.describe()


def test_null_with_template_default(vx, fake):
    fake.kv2_raw("types", RAW_TYPES)
    r = vx.run(conn(fake, "5s", "--service", "types", "--env", 'V={{ nul | default "dflt" }}'), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["V"] == "dflt"


@pytest.mark.parametrize("where", ["map", "env", "file", "nested-ok"])
def test_nul_in_value_65(vx, fake, tmp_path, where):
    fake.kv2_raw("z", '{"z": "a\\u0000b", "o": {"k": "a\\u0000b"}, "ok": "fine"}')
    dest = tmp_path / "f"
    if where == "map":
        opts = ["--map", "z=Z"]
    elif where == "env":
        opts = ["--env", "Z=x{{ z }}"]
    elif where == "file":
        opts = ["--file", f"{dest}={{{{ z }}}}"]
    else:
        # an object holding a NUL is rendered as JSON, where it could be \u0000
        opts = ["--map", "o=O"]
    r = vx.run(conn(fake, "5s", "--service", "z", *opts), env={"VAULT_TOKEN": vx.token()})
    if where == "nested-ok":
        # either refused, or rendered faithfully -- never silently truncated
        if r.rc == 0:
            r.ok()
            assert json.loads(r.env["O"]) == {"k": "a\x00b"}, r.env["O"]
        else:
            r.failed(65)
    else:
        r.failed(65)
        assert not dest.exists()


def test_unmapped_nul_field_is_harmless(vx, fake):
    fake.kv2_raw("z", '{"z": "a\\u0000b", "ok": "fine"}')
    r = vx.run(conn(fake, "5s", "--service", "z", "--map", "ok=OK"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["OK"] == "fine"


def test_map_all_with_odd_types(vx, fake):
    fake.kv2_raw("m", '{"a-b": 1.50, "c": true, "d": {"x": 1}, "e": "s"}')
    r = vx.run(conn(fake, "5s", "--service", "m", "--map-all"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert (r.env["A_B"], r.env["C"], r.env["D"], r.env["E"]) == ("1.50", "true", '{"x":1}', "s")


def test_template_filters_on_numbers(vx, fake):
    fake.kv2_raw("n", '{"port": 5432, "big": 12345678901234567890}')
    r = vx.run(
        conn(fake, "5s", "--service", "n", "--env", "URL=h:{{ port }}", "--env", "J={{ big | json }}"),
        env={"VAULT_TOKEN": vx.token()},
    )
    r.ok()
    assert r.env["URL"] == "h:5432"
    assert r.env["J"] in ("12345678901234567890", '"12345678901234567890"')


# ---------------------------------------------------------------------------
# KV envelopes and statuses
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("destroyed", [False, True], ids=["deleted", "destroyed"])
def test_soft_deleted_envelope_65(vx, fv, destroyed):
    fv.script(SECRET, R(404, kv2_deleted_body(version=3, destroyed=destroyed)))
    r = run_fake(vx, fv)
    r.failed(65)
    assert len(fv.requests_to(SECRET)) == 1


def test_200_with_null_data_65(vx, fv):
    """Even a 200 carrying data.data: null must not give an empty variable."""
    body = kv2_deleted_body(version=3)
    fv.script(SECRET, R(200, body))
    r = run_fake(vx, fv)
    r.failed(65)


def test_future_deletion_time_is_live(vx, fv):
    body = json.loads(kv2_raw_body(json.dumps({"password": fv.val})))
    body["data"]["metadata"]["deletion_time"] = "2999-01-01T00:00:00Z"
    fv.script(SECRET, R(200, body))
    r = run_fake(vx, fv)
    r.ok()
    assert r.env["P"] == fv.val


def test_404_not_retried_65(vx, fv):
    fv.script(SECRET, R(404, error_body()))
    r = run_fake(vx, fv)
    r.failed(65)
    assert len(fv.requests_to(SECRET)) == 1


def test_403_not_retried_77(vx, fv):
    fv.script(SECRET, R(403, error_body("1 error occurred:\n\t* permission denied\n\n")))
    r = run_fake(vx, fv)
    r.failed(77)
    assert len(fv.requests_to(SECRET)) == 1
    assert "secret/" in r.stderr and "app" in r.stderr, f"the message must name the path\n{r.describe()}"


def test_400_not_retried(vx, fv):
    fv.script(SECRET, R(400, error_body("invalid request")))
    r = run_fake(vx, fv)
    r.failed()
    assert len(fv.requests_to(SECRET)) == 1


def test_204_empty_body_fails(vx, fv):
    fv.script(SECRET, R(204))
    r = run_fake(vx, fv)
    r.failed()


def test_warnings_do_not_fail(vx, fv):
    body = json.loads(kv2_raw_body(json.dumps({"password": fv.val})))
    body["warnings"] = ["Endpoint ignored these unrecognized parameters: [x]"]
    fv.script(SECRET, R(200, body))
    r = run_fake(vx, fv)
    r.ok()


# ---------------------------------------------------------------------------
# KV version handling on the wire
# ---------------------------------------------------------------------------


def test_kv_version_1_path(vx, fake):
    val = vx.secret()
    fake.kv1("app", {"password": val}, mount="secret")
    r = vx.run(conn(fake, "5s", "--kv-version", "1", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val
    assert fake.requests_to("/v1/secret/app") and not fake.requests_to(SECRET)


@pytest.mark.parametrize("opts_v", [None, "1", ""], ids=["options-null", "version-1", "version-empty"])
def test_kv_version_auto_v1_shapes(vx, fake, opts_v):
    fake.mounts = {"secret": "2", "old": opts_v}
    val = vx.secret()
    fake.kv1("app", {"password": val}, mount="old")
    r = vx.run(conn(fake, "5s", "--kv-version", "auto", "--map", "old/app#password=P"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val
    assert fake.requests_to("/v1/sys/internal/ui/mounts/old/app") or fake.requests_to("/v1/sys/internal/ui/mounts/old")
    assert not fake.requests_to("/v1/old/data/app")


def test_kv_version_auto_nested_mount(vx, fake):
    """team/kv/ is the mount: data/ goes after it, not after team/."""
    fake.mounts = {"team/kv": "2"}
    val = vx.secret()
    fake.kv2("svc/app", {"password": val}, mount="team/kv")
    r = vx.run(conn(fake, "5s", "--kv-version", "auto", "--map", "team/kv/svc/app#password=P"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val
    assert fake.requests_to("/v1/team/kv/data/svc/app")


def test_kv_version_auto_preflight_denied_fails(vx, fake):
    fake.mounts = {}
    r = vx.run(conn(fake, "5s", "--kv-version", "auto", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": vx.token()})
    r.failed()


def test_version_query(vx, fake):
    val = vx.secret()
    fake.kv2("app", {"password": val}, query="version=7", version=7)
    r = vx.run(conn(fake, "5s", "--map", "secret/app#password#7=P"), env={"VAULT_TOKEN": vx.token()})
    r.ok()
    assert r.env["P"] == val
    q = fake.requests_to(SECRET)
    assert len(q) == 1 and q[0].params == {"version": ["7"]}


# ---------------------------------------------------------------------------
# each secret path read once
# ---------------------------------------------------------------------------


def test_each_path_read_once(vx, fake, tmp_path):
    a = {"u": vx.secret(), "p": vx.secret(), "h": "host"}
    b = {"k": vx.secret(), "j": vx.secret()}
    fake.kv2("app", a)
    fake.kv2("other", b)
    fake.kv2("other", {"k": "older-version-k"}, query="version=1")
    dest = tmp_path / "f"
    r = vx.run(
        conn(
            fake, "5s", "--kv-version", "auto", "--service", "app",
            "--map", "u=U,p=P",
            "--map", "h=H",
            "--map", "secret/other#k=K",
            "--map", "secret/data/other#j=J",
            "--map", "secret/other#k#1=K1",
            "--env", "DSN=x://{{ u }}:{{ p | urlencode }}@{{ h }}",
            "--file", f"{dest}={{{{ p }}}}",
        ),
        env={"VAULT_TOKEN": vx.token(), "REF": "vault:secret/data/app#p", "REF2": "a${vault:secret/other#j}b"},
    )
    r.ok()
    assert (r.env["U"], r.env["P"], r.env["K"], r.env["J"], r.env["K1"]) == (a["u"], a["p"], b["k"], b["j"], "older-version-k")
    assert r.env["REF"] == a["p"] and r.env["REF2"] == f"a{b['j']}b"
    reads = [(q.path, q.query) for q in fake.requests if q.path.startswith("/v1/secret/data/")]
    assert sorted(reads) == sorted(
        [("/v1/secret/data/app", ""), ("/v1/secret/data/other", ""), ("/v1/secret/data/other", "version=1")]
    ), reads
    mounts = [q.path for q in fake.requests if q.path.startswith("/v1/sys/internal/ui/mounts/")]
    assert len(mounts) <= 3, mounts


# ---------------------------------------------------------------------------
# header injection and path traversal
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["VAULT_TOKEN", "BAO_TOKEN"])
def test_token_with_crlf_rejected(vx, fv, via):
    bad = fv.tok + "\r\nX-Evil: 1"
    r = vx.run(conn(fv, "3s", "--service", "app", "--map", "password=P"), env={"VAULT_TOKEN": None, via: bad})
    r.failed(78)
    for q in fv.requests:
        assert not q.header("X-Evil"), "header injected through the token"


def test_namespace_with_crlf_rejected(vx, fv):
    r = run_fake(vx, fv, "--namespace", "ns\r\nX-Evil: 1")
    r.failed()
    for q in fv.requests:
        assert not q.header("X-Evil"), "header injected through the namespace"


@pytest.mark.parametrize(
    "opts,env",
    [
        (["--service", "../etc", "--map", "password=P"], {}),
        (["--map", "secret/data/../../sys/etc#password=P"], {}),
        (["--secret", "secret/data/../../sys/etc", "--map", "password=P"], {}),
        ([], {"REF": "vault:secret/data/../../sys/etc#password"}),
        ([], {"REF": "x${vault:secret/data/./../../sys/etc#password}"}),
    ],
    ids=["service", "map", "secret", "env-ref", "env-ref-inline"],
)
def test_dot_segments_do_not_escape_the_mount(vx, fake, opts, env):
    """'..' in a secret path must not make the client read another API path
    (libcurl squashes dot segments unless told not to): refuse it or escape it."""
    lure = kv2_body({"password": "reached-a-path-outside-the-kv-mount"})
    fake.script("/v1/secret/etc", R(200, lure))
    fake.script("/v1/sys/etc", R(200, lure))
    r = vx.run(conn(fake, "3s", *opts), env={"VAULT_TOKEN": vx.token(), **env})
    r.failed()
    assert not fake.requests_to("/v1/secret/etc") and not fake.requests_to("/v1/sys/etc"), fake.paths()

"""Reading secrets from a real OpenBao: KV v2 and v1, mounts, --kv-version,
--map forms, versions, deleted/destroyed versions, missing secrets and
fields, --allow-missing, --map-all, permissions, value types."""
from __future__ import annotations

import json
import secrets

import pytest

from vxlib import conn


def tok(bao, token=None):
    return {"VAULT_TOKEN": token or bao.token}


@pytest.fixture
def app(bao, vx):
    name = vx.name("kv")
    data = {"username": vx.secret("u"), "password": vx.secret("p"), "host": "db.example"}
    bao.put_kv2(name, data)
    return name, data


# ---------------------------------------------------------------------------
# KV v2 on the default mount
# ---------------------------------------------------------------------------


def test_service_maps_fields(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=REDIS_PASSWORD", "--map", "username=REDIS_USER"),
        env=tok(bao),
    )
    r.ok()
    assert r.env["REDIS_PASSWORD"] == data["password"]
    assert r.env["REDIS_USER"] == data["username"]
    assert "host" not in r.env and "HOST" not in r.env


def test_map_comma_list(bao, vx, app):
    name, data = app
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "password=P,username=U,host=H"), env=tok(bao))
    r.ok()
    assert (r.env["P"], r.env["U"], r.env["H"]) == (data["password"], data["username"], "db.example")


@pytest.mark.parametrize("form", ["secret/{}", "secret/data/{}"])
def test_secret_option_path_forms(bao, vx, app, form):
    name, data = app
    r = vx.run(conn(bao, "10s", "--secret", form.format(name), "--map", "password=P"), env=tok(bao))
    r.ok()
    assert r.env["P"] == data["password"]


@pytest.mark.parametrize("form", ["secret/{}#password", "secret/data/{}#password"])
def test_map_full_reference(bao, vx, app, form):
    """PATH#FIELD in --map, with no default secret at all."""
    name, data = app
    r = vx.run(conn(bao, "10s", "--map", f"{form.format(name)}=P"), env=tok(bao))
    r.ok()
    assert r.env["P"] == data["password"]


def test_map_mixes_default_and_other_secrets(bao, vx, app):
    name, data = app
    other = vx.name("other")
    odata = {"token": vx.secret("t")}
    bao.put_kv2(other, odata)
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "password=P", "--map", f"secret/{other}#token=T"),
        env=tok(bao),
    )
    r.ok()
    assert r.env["P"] == data["password"] and r.env["T"] == odata["token"]


def test_custom_v2_mount(bao, vx):
    mount = "kv2-" + secrets.token_hex(3)
    bao.enable_kv(mount, "2")
    name = vx.name()
    val = vx.secret()
    bao.put_kv2(name, {"password": val}, mount=mount)
    r = vx.run(conn(bao, "10s", "--kv-mount", mount, "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    assert r.env["P"] == val
    # the same name on secret/ does not exist: the mount really was used
    r2 = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env=tok(bao))
    r2.failed(65)


# ---------------------------------------------------------------------------
# KV v1 and --kv-version
# ---------------------------------------------------------------------------


@pytest.fixture
def kv1(bao, vx):
    mount = "kv1-" + secrets.token_hex(3)
    bao.enable_kv1(mount)
    name = vx.name()
    data = {"password": vx.secret("p1"), "username": vx.secret("u1")}
    bao.put_kv1(mount, name, data)
    return mount, name, data


def test_kv_v1_mount(bao, vx, kv1):
    mount, name, data = kv1
    r = vx.run(
        conn(bao, "10s", "--kv-mount", mount, "--kv-version", "1", "--service", name, "--map", "password=P"),
        env=tok(bao),
    )
    r.ok()
    assert r.env["P"] == data["password"]


def test_kv_v1_secret_option(bao, vx, kv1):
    mount, name, data = kv1
    r = vx.run(
        conn(bao, "10s", "--kv-version", "1", "--secret", f"{mount}/{name}", "--map", "username=U"), env=tok(bao)
    )
    r.ok()
    assert r.env["U"] == data["username"]


def test_kv_v1_read_as_v2_found_after_the_miss(bao, vx, kv1):
    """Default --kv-version 2 on a v1 mount reads MOUNT/data/NAME, which is
    missing; the mounts lookup after the miss finds KV v1, the secret is
    read as v1 and a warning names the flag (issue 13)."""
    mount, name, data = kv1
    r = vx.run(conn(bao, "5s", "--kv-mount", mount, "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    assert r.env["P"] == data["password"]
    assert any(f"{mount} is a KV v1 mount, not v2" in l and "--kv-version 1" in l for l in r.log_lines("warn")), r.describe()


def test_kv_version_auto_v1(bao, vx, kv1):
    mount, name, data = kv1
    r = vx.run(
        conn(bao, "10s", "--kv-mount", mount, "--kv-version", "auto", "--service", name, "--map", "password=P"),
        env=tok(bao),
    )
    r.ok()
    assert r.env["P"] == data["password"]


def test_kv_version_auto_v2(bao, vx, app):
    name, data = app
    r = vx.run(conn(bao, "10s", "--kv-version", "auto", "--service", name, "--map", "password=P"), env=tok(bao))
    r.ok()
    assert r.env["P"] == data["password"]


def test_kv_version_auto_mixed_mounts(bao, vx, app, kv1):
    """One run, a v1 and a v2 mount, each detected on its own."""
    name, data = app
    mount, name1, data1 = kv1
    r = vx.run(
        conn(
            bao, "10s", "--kv-version", "auto",
            "--map", f"{mount}/{name1}#password=A",
            "--map", f"secret/{name}#password=B",
        ),
        env=tok(bao),
    )
    r.ok()
    assert r.env["A"] == data1["password"] and r.env["B"] == data["password"]


def test_kv_version_env_var(bao, vx, kv1):
    mount, name, data = kv1
    r = vx.run(
        conn(bao, "10s", "--kv-mount", mount, "--service", name, "--map", "password=P"),
        env={**tok(bao), "VAULTEXEC_KV_VERSION": "1"},
    )
    r.ok()
    assert r.env["P"] == data["password"]


# ---------------------------------------------------------------------------
# versions
# ---------------------------------------------------------------------------


@pytest.fixture
def versioned(bao, vx):
    name = vx.name("ver")
    vals = [vx.secret(f"v{i}") for i in (1, 2, 3)]
    for i, v in enumerate(vals, 1):
        assert bao.put_kv2(name, {"password": v}) == i
    return name, vals


def test_version_pins(bao, vx, versioned):
    name, vals = versioned
    r = vx.run(
        conn(
            bao, "10s", "--service", name,
            "--map", "password=CUR",
            "--map", f"secret/{name}#password#1=V1",
            "--map", f"secret/data/{name}#password#2=V2",
        ),
        env=tok(bao),
    )
    r.ok()
    assert (r.env["V1"], r.env["V2"], r.env["CUR"]) == tuple(vals)


def test_deleted_version_65(bao, vx, versioned):
    name, vals = versioned
    bao.delete_kv2_version(name, [2])
    r = vx.run(conn(bao, "5s", "--map", f"secret/{name}#password#2=V2"), env=tok(bao))
    r.failed(65)
    # the other versions are still readable
    r = vx.run(conn(bao, "5s", "--map", f"secret/{name}#password#1=V1"), env=tok(bao))
    r.ok()
    assert r.env["V1"] == vals[0]


def test_deleted_latest_version_65(bao, vx, versioned):
    name, _ = versioned
    bao.delete_kv2_latest(name)
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P"), env=tok(bao))
    r.failed(65)


def test_destroyed_version_65(bao, vx, versioned):
    name, _ = versioned
    bao.destroy_kv2_version(name, [1])
    r = vx.run(conn(bao, "5s", "--map", f"secret/{name}#password#1=V1"), env=tok(bao))
    r.failed(65)


def test_version_that_never_existed_65(bao, vx, versioned):
    name, _ = versioned
    r = vx.run(conn(bao, "5s", "--map", f"secret/{name}#password#99=V"), env=tok(bao))
    r.failed(65)


# ---------------------------------------------------------------------------
# missing secrets and fields
# ---------------------------------------------------------------------------


@pytest.mark.every_binary
def test_missing_secret_65(bao, vx):
    missing = vx.name("missing")
    r = vx.run(conn(bao, "5s", "--service", missing, "--map", "password=P"), env=tok(bao))
    r.failed(65)
    assert missing in r.stderr, f"the error should name the secret\n{r.describe()}"


def test_missing_field_65(bao, vx, app):
    name, _ = app
    r = vx.run(conn(bao, "5s", "--service", name, "--map", "password=P", "--map", "nosuchfield=NF"), env=tok(bao))
    r.failed(65)
    assert "nosuchfield" in r.stderr or "NF" in r.stderr, r.describe()


def test_allow_missing_field(bao, vx, app):
    name, data = app
    r = vx.run(
        conn(bao, "10s", "--allow-missing", "--service", name, "--map", "password=P", "--map", "nosuchfield=MISSING_VAR"),
        env=tok(bao),
    )
    r.ok()
    assert r.env["P"] == data["password"]
    assert "MISSING_VAR" not in r.env
    assert any("MISSING_VAR" in l for l in r.log_lines("warn")), f"no warning naming MISSING_VAR\n{r.describe()}"


def test_allow_missing_secret(bao, vx, app):
    name, data = app
    missing = vx.name("missing")
    r = vx.run(
        conn(
            bao, "10s", "--allow-missing", "--service", name,
            "--map", "password=P", "--map", f"secret/{missing}#x=GONE",
        ),
        env=tok(bao),
    )
    r.ok()
    assert r.env["P"] == data["password"] and "GONE" not in r.env
    assert any("GONE" in l for l in r.log_lines("warn")), r.describe()


def test_allow_missing_via_env(bao, vx, app):
    name, _ = app
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "nosuchfield=MISSING_VAR"),
        env={**tok(bao), "VAULTEXEC_ALLOW_MISSING": "true"},
    )
    r.ok()
    assert "MISSING_VAR" not in r.env


def test_allow_missing_does_not_hide_permission_denied(bao, vx, app):
    name, _ = app
    bao.put_policy("vx-nothing", 'path "secret/data/nothing-here" { capabilities = ["read"] }')
    t = bao.create_token(["vx-nothing"])
    vx.register(t)
    r = vx.run(conn(bao, "5s", "--allow-missing", "--service", name, "--map", "password=P"), env=tok(bao, t))
    r.failed(77)


# ---------------------------------------------------------------------------
# permissions
# ---------------------------------------------------------------------------


def test_permission_denied_77_names_path(bao, vx, app):
    allowed, _ = app
    denied = vx.name("denied")
    bao.put_kv2(denied, {"password": vx.secret()})
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{allowed}" {{ capabilities = ["read"] }}')
    t = bao.create_token([pol])
    vx.register(t)
    r = vx.run(conn(bao, "5s", "--service", denied, "--map", "password=P"), env=tok(bao, t))
    r.failed(77)
    assert denied in r.stderr, f"the message must name the path\n{r.describe()}"


@pytest.mark.parametrize("kvv", ["2", "auto"])
def test_least_privilege_token_reads(bao, vx, app, kvv):
    """A token that may only read secret/data/NAME (no default policy) works,
    with the version given or detected."""
    name, data = app
    pol = vx.name("pol")
    bao.put_policy(pol, f'path "secret/data/{name}" {{ capabilities = ["read"] }}')
    t = bao.create_token([pol], no_default_policy=True)
    vx.register(t)
    r = vx.run(conn(bao, "10s", "--kv-version", kvv, "--service", name, "--map", "password=P"), env=tok(bao, t))
    r.ok()
    assert r.env["P"] == data["password"]


# ---------------------------------------------------------------------------
# --map-all
# ---------------------------------------------------------------------------


@pytest.fixture
def wide(bao, vx):
    name = vx.name("wide")
    data = {"user-name": vx.secret("a"), "db.pass": vx.secret("b"), "Port": "5432", "x": vx.secret("c")}
    bao.put_kv2(name, data)
    return name, data


def _added(r, vx, extra=()):
    base = set(vx.base_env()) | set(extra)
    return {k: v for k, v in r.env.items() if k not in base}


def test_map_all(bao, vx, wide):
    name, data = wide
    r = vx.run(conn(bao, "10s", "--service", name, "--map-all"), env=tok(bao))
    r.ok()
    assert _added(r, vx) == {
        "USER_NAME": data["user-name"],
        "DB_PASS": data["db.pass"],
        "PORT": "5432",
        "X": data["x"],
    }


def test_map_all_prefix(bao, vx, wide):
    name, data = wide
    r = vx.run(conn(bao, "10s", "--service", name, "--map-all=APP_"), env=tok(bao))
    r.ok()
    assert _added(r, vx) == {
        "APP_USER_NAME": data["user-name"],
        "APP_DB_PASS": data["db.pass"],
        "APP_PORT": "5432",
        "APP_X": data["x"],
    }


def test_map_all_with_explicit_map(bao, vx, wide):
    name, data = wide
    r = vx.run(conn(bao, "10s", "--service", name, "--map-all=APP_", "--map", "x=SPECIAL"), env=tok(bao))
    r.ok()
    assert r.env["SPECIAL"] == data["x"] and r.env["APP_X"] == data["x"]


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------


def test_hostile_values_round_trip(bao, vx):
    name = vx.name("hostile")
    data = {
        "a": vx.secret("a"),
        "nl": vx.secret("nl") + "\nline2\r\n",
        "eq": vx.secret("eq") + "=x=y==",
        "lead": "   " + vx.secret("lead") + "  ",
    }
    bao.put_kv2(name, data)
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "a=A,nl=NL,eq=EQ,lead=LEAD"), env=tok(bao))
    r.ok()
    assert (r.env["A"], r.env["NL"], r.env["EQ"], r.env["LEAD"]) == (data["a"], data["nl"], data["eq"], data["lead"])


def test_empty_string_value_is_set(bao, vx):
    name = vx.name("empty")
    bao.put_kv2(name, {"e": ""})
    r = vx.run(conn(bao, "10s", "--service", name, "--map", "e=E"), env=tok(bao))
    r.ok()
    assert r.env["E"] == ""


def test_json_value_types_from_openbao(bao, vx):
    """Numbers come out as the exact literal text OpenBao sends (whatever it
    made of them), booleans as true/false, objects/arrays as compact JSON."""
    import urllib.request

    name = vx.name("types")
    raw = (
        '{"data": {"n": 5, "big": 12345678901234567890, "f": 1.50, "e": 1e3, "t": true, '
        '"fa": false, "o": {"x": [1, "y"]}, "arr": [1, 2], "s": "str"}}'
    )
    req = urllib.request.Request(f"{bao.addr}/v1/secret/data/{name}", data=raw.encode(), method="POST")
    req.add_header("X-Vault-Token", bao.token)
    req.add_header("Content-Type", "application/json")
    urllib.request.urlopen(req).read()
    # what the server hands back is the reference for the literal text
    req = urllib.request.Request(f"{bao.addr}/v1/secret/data/{name}")
    req.add_header("X-Vault-Token", bao.token)
    body = urllib.request.urlopen(req).read().decode()
    stored = json.loads(body, parse_float=str, parse_int=str)["data"]["data"]
    r = vx.run(
        conn(bao, "10s", "--service", name, "--map", "n=N,big=BIG,f=F,e=E,t=T,fa=FA,o=O,arr=ARR,s=S"), env=tok(bao)
    )
    r.ok()
    e = r.env
    assert (e["N"], e["BIG"], e["F"], e["E"]) == (stored["n"], stored["big"], stored["f"], stored["e"]), body
    assert (e["T"], e["FA"]) == ("true", "false")
    assert json.loads(e["O"]) == {"x": [1, "y"]} and " " not in e["O"], e["O"]
    assert e["ARR"] == "[1,2]"
    assert e["S"] == "str"

"""The vault-env compatibility table (GitHub issue 15).

One row per item of bank-vaults vault-env's environment contract: the
variables set for the run, the environment the command must get, the exit
code.  test_vaultenv.py runs every row through vaultexec started under the
name vault-env, against a real OpenBao.

The `peer` column records what vault-env itself did with the same row: it
was filled by running every row through vault-env built by hand from its
source (github.com/bank-vaults/vault-env at d98bbf9, vault-sdk v0.12.0;
`VAULTENV_PEER_BIN=/path/to/vault-env pytest -k peer` re-checks it).  None
means vault-env gave the same exit code and the same variables; otherwise
it holds vault-env's exit code and the variables where it differs, and
`why` says why vaultexec differs on purpose.

Placeholders @name@ are filled from the test's world (test_vaultenv.py):
addresses, tokens, paths and random secret values.  In `expect`, a value
None means "not in the command's environment" and "<token>" a live Vault
token that is not the one vaultexec was given.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# vault-env's scrub list, in its order (main.go sanitizeEnvmap).
SCRUB = """VAULT_TOKEN VAULT_ADDR VAULT_AGENT_ADDR VAULT_CACERT VAULT_CAPATH VAULT_CLIENT_CERT
VAULT_CLIENT_KEY VAULT_CLIENT_TIMEOUT VAULT_SRV_LOOKUP VAULT_SKIP_VERIFY VAULT_NAMESPACE
VAULT_TLS_SERVER_NAME VAULT_WRAP_TTL VAULT_MFA VAULT_MAX_RETRIES VAULT_CLUSTER_ADDR
VAULT_REDIRECT_ADDR VAULT_CLI_NO_COLOR VAULT_RATE_LIMIT VAULT_ROLE VAULT_PATH VAULT_AUTH_METHOD
VAULT_TRANSIT_KEY_ID VAULT_TRANSIT_PATH VAULT_TRANSIT_BATCH_SIZE VAULT_IGNORE_MISSING_SECRETS
VAULT_ENV_PASSTHROUGH VAULT_JSON_LOG VAULT_LOG_LEVEL VAULT_REVOKE_TOKEN VAULT_ENV_DAEMON
VAULT_ENV_FROM_PATH VAULT_ENV_DELAY""".split()
assert len(SCRUB) == 33

# Values that every scrub-list variable can hold without changing the run.
HARMLESS = {
    "VAULT_AGENT_ADDR": "", "VAULT_CACERT": "", "VAULT_CAPATH": "", "VAULT_CLIENT_CERT": "",
    "VAULT_CLIENT_KEY": "", "VAULT_CLIENT_TIMEOUT": "30s", "VAULT_SRV_LOOKUP": "",
    "VAULT_SKIP_VERIFY": "false", "VAULT_NAMESPACE": "", "VAULT_TLS_SERVER_NAME": "",
    "VAULT_WRAP_TTL": "", "VAULT_MFA": "", "VAULT_MAX_RETRIES": "2", "VAULT_CLUSTER_ADDR": "x",
    "VAULT_REDIRECT_ADDR": "x", "VAULT_CLI_NO_COLOR": "1", "VAULT_RATE_LIMIT": "",
    "VAULT_ROLE": "r", "VAULT_PATH": "p", "VAULT_AUTH_METHOD": "jwt", "VAULT_TRANSIT_KEY_ID": "k",
    "VAULT_TRANSIT_PATH": "transit", "VAULT_TRANSIT_BATCH_SIZE": "25",
    "VAULT_IGNORE_MISSING_SECRETS": "false", "VAULT_ENV_PASSTHROUGH": "", "VAULT_JSON_LOG": "false",
    "VAULT_LOG_LEVEL": "info", "VAULT_REVOKE_TOKEN": "false", "VAULT_ENV_DAEMON": "false",
    "VAULT_ENV_FROM_PATH": "", "VAULT_ENV_DELAY": "0s",
}

TOKEN = {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "@root@"}


@dataclass
class Row:
    id: str
    item: str  # the contract item
    env: dict  # set for the run (on top of PATH, HOME, LC_ALL)
    expect: dict = field(default_factory=dict)  # the command's variables; None = absent
    rc: int = 0
    peer: dict | None = None  # vault-env's outcome where it differs: {"rc": N, "env": {...}}
    why: str = ""  # why vaultexec differs
    args: list = field(default_factory=list)  # before the command (vaultexec's own flags)
    cmd: str = "child"  # child | missing (not in PATH) | none (no command at all)
    started: bool | None = None  # does the command run (default: rc == 0)
    stdout: str | None = None  # expected standard output of vaultexec itself


def t(**kw):
    return {**TOKEN, **kw}


ROWS = [
    # ---- connection and token ------------------------------------------------
    Row("token-env", "VAULT_ADDR + VAULT_TOKEN; both scrubbed",
        t(A="vault:@kv2@#password"), {"A": "@pw@", "VAULT_ADDR": None, "VAULT_TOKEN": None}),
    Row("token-file", "VAULT_TOKEN_FILE wins over VAULT_TOKEN",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "not-a-token", "VAULT_TOKEN_FILE": "@tokenfile@",
         "A": "vault:@kv2@#password"}, {"A": "@pw@", "VAULT_TOKEN_FILE": "@tokenfile@"}),
    Row("token-file-newline", "VAULT_TOKEN_FILE ending in a newline",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN_FILE": "@tokenfile_nl@", "A": "vault:@kv2@#password"},
        {"A": "@pw@"}, peer={"rc": 1},
        why="vault-env sends the file's bytes as they are; the newline makes the header invalid "
            "and every request fails. vaultexec trims a trailing newline (echo, kubectl create secret)"),
    Row("token-path", "VAULT_TOKEN_PATH when no VAULT_TOKEN",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN_PATH": "@tokenfile@", "A": "vault:@kv2@#password"},
        {"A": "@pw@", "VAULT_TOKEN_PATH": "@tokenfile@"}),
    Row("token-home", "~/.vault-token when no VAULT_TOKEN",
        {"VAULT_ADDR": "@addr@", "HOME": "@home_with_token@", "A": "vault:@kv2@#password"},
        {"A": "@pw@"}),
    Row("bao-token", "BAO_TOKEN is not vault-env's and not read",
        {**t(A="vault:@kv2@#password"), "BAO_TOKEN": "@weak@", "BAO_ADDR": "http://127.0.0.1:9"},
        {"A": "@pw@", "BAO_TOKEN": None, "BAO_ADDR": "http://127.0.0.1:9"},
        peer={"rc": 0, "env": {"BAO_TOKEN": "@weak@"}},
        why="vault-env passes BAO_TOKEN on (its list predates OpenBao); vaultexec never hands a "
            "token to the command unless asked"),
    Row("scrub-list", "the exact scrub list: all 33 names removed, others kept",
        {**HARMLESS, **t(A="vault:@kv2@#password"), "VAULT_OTHER": "kept", "VAULTX": "kept"},
        {"A": "@pw@", "VAULT_OTHER": "kept", "VAULTX": "kept", **{n: None for n in SCRUB}}),
    Row("passthrough", "VAULT_ENV_PASSTHROUGH keeps the listed names",
        t(A="vault:@kv2@#password", VAULT_ROLE="r1",
          VAULT_ENV_PASSTHROUGH=" VAULT_ADDR, VAULT_ROLE ,VAULT_ENV_PASSTHROUGH"),
        {"A": "@pw@", "VAULT_ADDR": "@addr@", "VAULT_ROLE": "r1", "VAULT_TOKEN": None,
         "VAULT_ENV_PASSTHROUGH": " VAULT_ADDR, VAULT_ROLE ,VAULT_ENV_PASSTHROUGH"}),
    Row("passthrough-token", "VAULT_ENV_PASSTHROUGH=VAULT_TOKEN hands the given token on",
        t(A="vault:@kv2@#password", VAULT_ENV_PASSTHROUGH="VAULT_TOKEN"),
        {"A": "@pw@", "VAULT_TOKEN": "@root@", "VAULT_ADDR": None}),
    Row("login-token-file", "VAULT_TOKEN=vault:login with a token file: the command gets the "
        "token and the connection variables",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "vault:login", "VAULT_TOKEN_FILE": "@tokenfile@",
         "VAULT_ROLE": "r", "VAULT_SKIP_VERIFY": "false", "A": "vault:@kv2@#password"},
        {"A": "@pw@", "VAULT_TOKEN": "@root@", "VAULT_ADDR": "@addr@", "VAULT_SKIP_VERIFY": "false",
         "VAULT_ROLE": None}),
    Row("login-jwt", "VAULT_TOKEN=vault:login with the JWT login: the command gets the new token",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "vault:login", "VAULT_PATH": "@k8s_mount@",
         "VAULT_ROLE": "@k8s_role@", "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_jwt@",
         "A": "vault:@kv2@#password"},
        {"A": "@pw@", "VAULT_TOKEN": "<token>", "VAULT_ADDR": "@addr@", "VAULT_PATH": None}),
    # ---- JWT / Kubernetes login ---------------------------------------------
    Row("login-defaults", "login with every default: jwt method, auth/kubernetes, role default",
        {"VAULT_ADDR": "@addr@", "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_default_jwt@",
         "A": "vault:@kv2@#password"}, {"A": "@pw@"}),
    Row("login-k8s", "VAULT_AUTH_METHOD=kubernetes, VAULT_PATH, VAULT_ROLE against OpenBao's "
        "kubernetes method",
        {"VAULT_ADDR": "@addr@", "VAULT_AUTH_METHOD": "kubernetes", "VAULT_PATH": "@k8s_mount@",
         "VAULT_ROLE": "@k8s_role@", "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_jwt@",
         "A": "vault:@kv2@#password"}, {"A": "@pw@", "VAULT_ROLE": None, "VAULT_PATH": None,
                                        "VAULT_AUTH_METHOD": None}),
    Row("login-jwt-method", "VAULT_AUTH_METHOD=jwt and VAULT_JWT_FILE against OpenBao's jwt method",
        {"VAULT_ADDR": "@addr@", "VAULT_AUTH_METHOD": "jwt", "VAULT_PATH": "@jwt_mount@",
         "VAULT_ROLE": "@jwt_role@", "VAULT_JWT_FILE": "@jwt_file@", "A": "vault:@kv2@#password"},
        {"A": "@pw@", "VAULT_JWT_FILE": "@jwt_file@"}),
    Row("login-refused", "a login the server refuses",
        {"VAULT_ADDR": "@addr@", "VAULT_PATH": "@k8s_mount@", "VAULT_ROLE": "no-such-role",
         "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_jwt@", "A": "vault:@kv2@#password"},
        rc=77, peer={"rc": 1},
        why="vault-env retries a refused login until VAULT_CLIENT_TIMEOUT (10 s) and exits 1; "
            "vaultexec fails at once with 77 and Vault's reason"),
    *[Row(f"auth-{m}", f"VAULT_AUTH_METHOD={m} (not supported)",
          {"VAULT_ADDR": "@addr@", "VAULT_AUTH_METHOD": m, "A": "vault:@kv2@#password"},
          rc=64, peer={"rc": 1},
          why=f"vaultexec has no {m} login; it says so at once (64) instead of a login attempt "
              "that needs the cloud's metadata service")
      for m in ("aws-ec2", "aws-iam", "gcp-gce", "gcp-iam", "azure", "namespaced")],
    Row("auth-unknown", "an unknown VAULT_AUTH_METHOD",
        {"VAULT_ADDR": "@addr@", "VAULT_AUTH_METHOD": "kubernetse",
         "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_default_jwt@", "A": "vault:@kv2@#password"},
        rc=64, peer={"rc": 0, "env": {"A": "@pw@"}},
        why="vault-env takes any unknown method as jwt; a typo is refused (64)"),
    # ---- value forms ---------------------------------------------------------
    Row("kv2", "vault:PATH#KEY (KV v2, data/ written)", t(A="vault:@kv2@#password"), {"A": "@pw@"}),
    Row("kv2-version", "vault:PATH#KEY#VERSION", t(A="vault:@kv2@#password#1"), {"A": "@pw1@"}),
    Row("kv1", "vault:PATH#KEY on a KV v1 mount", t(A="vault:@kv1@#password"), {"A": "@pw@"}),
    Row("kv2-no-data", "a KV v2 path written without data/", t(A="vault:@kv2short@#password"),
        {"A": "@pw@"}, peer={"rc": 1},
        why="vault-env reads the path as written and finds no key; vaultexec asks the mount's "
            "version (sys/internal/ui/mounts) and reads secret/data/..."),
    Row("number", "a number field", t(A="vault:@kv2@#n"), {"A": "5"}),
    Row("null", "a null field", t(A="vault:@kv2@#nul"), rc=65, peer={"rc": 0, "env": {"A": ""}},
        why="vault-env turns null into an empty string; vaultexec treats it as missing (65, or "
            "unset with VAULT_IGNORE_MISSING_SECRETS)"),
    Row("object", "an object field", t(A="vault:@kv2@#obj"), {"A": '{"a":1}'}, peer={"rc": 1},
        why="vault-env cannot turn an object into a string and exits 1; vaultexec gives compact JSON"),
    Row("inline", "inline ${vault:PATH#KEY} inside a longer value",
        t(A="u=${vault:@kv2@#user};p=${vault:@kv2@#password#1}!"), {"A": "u=@user@;p=@pw1@!"}),
    Row("template", "a Go-template key ${.KEY}", t(A="vault:@kv2@#${.user}:{${.n}}"),
        {"A": "@user@:{5}"}),
    Row("template-funcs", "template functions b64enc, upper, trim",
        t(A="vault:@kv2@#${ .user | upper }/${.user | b64enc}/${.padded | trim}"),
        {"A": "@user_upper@/@user_b64@/x y"}),
    Row("template-urlquery", "template function urlquery",
        t(A="vault:@kv2@#${.spaced | urlquery}"), {"A": "p%20w%2Fx%2By"},
        peer={"rc": 0, "env": {"A": "p+w%2Fx%2By"}},
        why="vaultexec's urlencode writes a space as %20, which is right in every part of a URL; "
            "Go's urlquery writes '+', which a DSN's user:password part reads as a plus sign"),
    Row("template-inline", "a template key inside an inline reference",
        t(A="x://${vault:@kv2@#user}:${vault:@kv2@#${.user | upper}}@h"),
        {"A": "x://@user@:@user_upper@@h"}),
    Row("template-missing", "a template key naming a missing field", t(A="vault:@kv2@#${.nope}"),
        rc=65, peer={"rc": 0, "env": {"A": "<no value>"}},
        why="Go's template prints <no value> and vault-env hands that to the command"),
    Row("template-unsupported", "a template beyond plain field access",
        t(A="vault:@kv2@#${.user | sha256sum}"), rc=64, peer={"rc": 0, "env": {"A": "@user_sha256@"}},
        why="vaultexec has no Go template engine: the message names what is supported "
            "(${.FIELD} with b64enc, b64dec, urlquery, upper, lower, trim)"),
    Row("missing-key", "a missing key", t(A="vault:@kv2@#nope"), rc=65, peer={"rc": 1},
        why="exit code: 65 (data) instead of 1"),
    Row("missing-path", "a missing path", t(A="vault:@missing@#password"), rc=65, peer={"rc": 1},
        why="exit code: 65 (data) instead of 1"),
    Row("deleted-version", "a deleted KV v2 version", t(A="vault:@deleted@#password"), rc=65,
        peer={"rc": 1}, why="exit code: 65 (data) instead of 1"),
    Row("denied", "a token without read permission",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "@weak@", "A": "vault:@kv2@#password"}, rc=77,
        peer={"rc": 1}, why="exit code: 77 (permission) instead of 1"),
    Row("unreachable", "Vault not reachable",
        {"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "@root@", "VAULTEXEC_WAIT": "1s",
         "A": "vault:@kv2@#password"}, rc=69, peer={"rc": 1},
        why="vaultexec waits for Vault (VAULTEXEC_WAIT, default 60 s; bank-vaults#1250) and "
            "exits 69; vault-env gives up after its retries with 1"),
    Row("transit", "a transit ciphertext vault:v1:... (VAULT_TRANSIT_KEY_ID, VAULT_TRANSIT_PATH)",
        t(A="@ciphertext@", VAULT_TRANSIT_KEY_ID="@transit_key@", VAULT_TRANSIT_PATH="@transit_mount@",
          VAULT_TRANSIT_BATCH_SIZE="25"),
        {"A": "@transit_plain@", "VAULT_TRANSIT_KEY_ID": None, "VAULT_TRANSIT_PATH": None},
        peer={"rc": 0, "env": {"A": "@transit_plain@", "__DUPLICATES__": "A\n"}},
        why="vault-env puts the variable in twice (its batch pass and its main pass both add "
            "it); vaultexec once"),
    Row("transit-inline", "an inline transit ciphertext ${vault:v1:...}",
        t(A="x${@ciphertext@}y", VAULT_TRANSIT_KEY_ID="@transit_key@",
          VAULT_TRANSIT_PATH="@transit_mount@", VAULT_TRANSIT_BATCH_SIZE="25"),
        {"A": "x@transit_plain@y"}),
    Row("transit-no-batch-size", "a transit ciphertext without VAULT_TRANSIT_BATCH_SIZE",
        t(A="@ciphertext@", VAULT_TRANSIT_KEY_ID="@transit_key@", VAULT_TRANSIT_PATH="@transit_mount@"),
        {"A": "@transit_plain@"}, peer={"rc": 2},
        why="vault-env divides by the batch size and panics (exit 2) when the variable is unset; "
            "vaultexec decrypts each distinct ciphertext with one request"),
    Row("transit-no-key", "a transit ciphertext without VAULT_TRANSIT_KEY_ID",
        t(A="@ciphertext@", VAULT_TRANSIT_BATCH_SIZE="25"), rc=64, peer={"rc": 1},
        why="exit code: 64 (configuration) instead of 1"),
    Row("write", ">>vault:PATH#KEY#{json}: a write with a JSON body",
        t(A='>>vault:@transit_encrypt@#ciphertext#{"plaintext":"aGVsbG8=","context":""}'),
        {"A": "<ciphertext>"}),
    Row("write-template", ">>vault: write with a template key (b64dec)",
        t(A='>>vault:@transit_mount@/decrypt/k#${.plaintext | b64dec}#{"ciphertext":"@ciphertext@"}'),
        {"A": "@transit_plain@"}),
    Row("write-inline", "an inline write ${>>vault:...}",
        t(A='<${>>vault:@transit_mount@/decrypt/k#plaintext#{"ciphertext":"@ciphertext@"}}>'),
        {"A": "<@transit_plain_b64@>"}),
    Row("write-empty", ">>vault: write without a body (vault-env sends {})",
        t(A=">>vault:@transit_encrypt@#ciphertext"), rc=64, peer={"rc": 1},
        why="vaultexec's writes need at least one parameter (64, said at once); here vault-env's "
            "empty write is refused by the server (1)"),
    # ---- behaviour -----------------------------------------------------------
    Row("from-path", "VAULT_ENV_FROM_PATH: every key a variable, named as it is",
        t(VAULT_ENV_FROM_PATH="@kv2@,@kv1b@"),
        {"password": "@pw@", "user": "@user@", "n": "5", "extra": "@extra@", "nul": None,
         "VAULT_ENV_FROM_PATH": None}, peer={"rc": 1},
        why="vault-env fails on the null and object fields of this secret (it cannot cast them); "
            "vaultexec skips null and writes objects as JSON"),
    Row("from-path-plain", "VAULT_ENV_FROM_PATH with #VERSION, plain fields",
        t(VAULT_ENV_FROM_PATH="@kv2plain@#1"), {"password": "@pw1@", "user": "@user@"}),
    Row("from-path-clash", "VAULT_ENV_FROM_PATH key of an existing variable",
        t(VAULT_ENV_FROM_PATH="@kv2plain@", user="inherited"), {"user": "inherited", "password": "@pw@"},
        peer={"rc": 0, "env": {"__DUPLICATES__": "user\n"}},
        why="vault-env appends a second 'user' (getenv() sees the first); vaultexec keeps the "
            "existing one, warns, and adds no duplicate"),
    Row("ignore-missing", "VAULT_IGNORE_MISSING_SECRETS: a missing path leaves the variable out",
        t(A="vault:@missing@#password", B="vault:@kv2@#user", VAULT_IGNORE_MISSING_SECRETS="true"),
        {"A": None, "B": "@user@"}),
    Row("ignore-missing-key", "VAULT_IGNORE_MISSING_SECRETS with a missing key",
        t(A="vault:@kv2@#nope", VAULT_IGNORE_MISSING_SECRETS="true"), {"A": None},
        peer={"rc": 1},
        why="vault-env ignores missing paths only; vaultexec leaves out a missing key too, with a "
            "warning, as the variable's name promises"),
    Row("ignore-missing-inline", "VAULT_IGNORE_MISSING_SECRETS with an inline reference",
        t(A="x${vault:@missing@#password}y", VAULT_IGNORE_MISSING_SECRETS="1"), {"A": None},
        peer={"rc": 0, "env": {"A": "x${vault:@missing@#password}y"}},
        why="vault-env hands the unresolved reference to the command as text"),
    Row("ignore-missing-from-path", "VAULT_IGNORE_MISSING_SECRETS with VAULT_ENV_FROM_PATH",
        t(VAULT_ENV_FROM_PATH="@missing@", VAULT_IGNORE_MISSING_SECRETS="true"), {"password": None}),
    Row("bad-bool", "a switch that is not a boolean", t(A="vault:@kv2@#nope",
                                                       VAULT_IGNORE_MISSING_SECRETS="yes"),
        rc=64, peer={"rc": 1},
        why="vault-env reads 'yes' as false silently (here the missing key then fails); vaultexec "
            "names the variable and exits 64"),
    Row("revoke-login", "VAULT_REVOKE_TOKEN after a login",
        {"VAULT_ADDR": "@addr@", "VAULT_PATH": "@k8s_mount@", "VAULT_ROLE": "@k8s_role@",
         "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_jwt@", "VAULT_REVOKE_TOKEN": "true",
         "A": "vault:@kv2@#password"}, {"A": "@pw@", "VAULT_REVOKE_TOKEN": None}),
    Row("revoke-given", "VAULT_REVOKE_TOKEN with a given token",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "@given@", "VAULT_REVOKE_TOKEN": "true",
         "A": "vault:@kv2@#password"}, {"A": "@pw@"},
        why="vault-env revokes a token it was given (and with it every lease it made); vaultexec "
            "revokes only its own login token and warns (the test checks the token still works)"),
    Row("revoke-login-handoff", "VAULT_REVOKE_TOKEN with VAULT_TOKEN=vault:login",
        {"VAULT_ADDR": "@addr@", "VAULT_TOKEN": "vault:login", "VAULT_PATH": "@k8s_mount@",
         "VAULT_ROLE": "@k8s_role@", "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_jwt@",
         "VAULT_REVOKE_TOKEN": "true", "A": "vault:@kv2@#password"},
        rc=64, peer={"rc": 0, "env": {"A": "@pw@", "VAULT_TOKEN": "<revoked>"}},
        why="vault-env revokes the token, then hands the dead token to the command"),
    Row("delay", "VAULT_ENV_DELAY", t(A="vault:@kv2@#password", VAULT_ENV_DELAY="300ms"),
        {"A": "@pw@", "VAULT_ENV_DELAY": None}),
    Row("delay-bad", "VAULT_ENV_DELAY that is not a duration",
        t(A="vault:@kv2@#password", VAULT_ENV_DELAY="soon"), rc=64, peer={"rc": 0, "env": {"A": "@pw@"}},
        why="vault-env ignores an unreadable delay; vaultexec names the variable (64)"),
    Row("daemon", "VAULT_ENV_DAEMON: vaultexec stays the command's parent (--supervise)",
        t(A="vault:@kv2@#password", VAULT_ENV_DAEMON="true"),
        {"A": "@pw@", "VAULT_TOKEN": None, "VAULT_ADDR": None, "VAULT_ENV_DAEMON": None},
        peer={"rc": 0, "env": {"A": "@pw@", "VAULT_ADDR": "@addr@", "VAULT_TOKEN": "@root@",
                               "VAULT_ENV_DAEMON": "true"}},
        why="vault-env's daemon mode passes its whole environment on, VAULT_TOKEN included; "
            "vaultexec's supervisor scrubs as the exec mode does (and renews, and fetches again "
            "at the end of a lease instead of stopping the command)"),
    Row("daemon-exit", "VAULT_ENV_DAEMON: the command's exit code",
        t(A="vault:@kv2@#password", VAULT_ENV_DAEMON="true", CHILD_EXIT="3"), {"A": "@pw@"},
        rc=3, started=True,
        peer={"rc": 3, "env": {"A": "@pw@", "VAULT_TOKEN": "@root@", "VAULT_ENV_DAEMON": "true"}},
        why="the same exit code; vault-env's daemon mode passes its environment on (row daemon)"),
    Row("daemon-signal", "VAULT_ENV_DAEMON: a command killed by a signal",
        t(A="vault:@kv2@#password", VAULT_ENV_DAEMON="true", CHILD_SIGNAL="15"), {"A": "@pw@"},
        rc=143, started=True, peer={"rc": 255},
        why="vault-env exits 255 when its command dies by a signal; vaultexec 128+N, as a shell"),
    Row("daemon-revoke", "VAULT_ENV_DAEMON with VAULT_REVOKE_TOKEN after a login",
        {"VAULT_ADDR": "@addr@", "VAULT_PATH": "@k8s_mount@", "VAULT_ROLE": "@k8s_role@",
         "KUBERNETES_SERVICE_ACCOUNT_TOKEN": "@k8s_jwt@", "VAULT_REVOKE_TOKEN": "true",
         "VAULT_ENV_DAEMON": "true", "A": "vault:@kv2@#password"}, {"A": "@pw@"},
        peer={"rc": 0, "env": {"A": "@pw@", "VAULT_REVOKE_TOKEN": "true", "VAULT_ENV_DAEMON": "true",
                               "VAULT_PATH": "@k8s_mount@"}},
        why="vault-env revokes the token before the command starts while its watcher keeps "
            "renewing it; vaultexec's supervisor revokes it when the command has ended "
            "(--revoke-on-exit)"),
    Row("json-log", "VAULT_JSON_LOG", t(A="vault:@kv2@#password", VAULT_JSON_LOG="true"),
        {"A": "@pw@", "VAULT_JSON_LOG": None}),
    Row("log-level", "VAULT_LOG_LEVEL=error: no info lines", t(A="vault:@kv2@#password",
                                                              VAULT_LOG_LEVEL="ERROR"),
        {"A": "@pw@"}),
    # ---- command and exit codes ----------------------------------------------
    Row("child-exit", "the command's exit code", t(A="vault:@kv2@#password", CHILD_EXIT="3"),
        {"A": "@pw@"}, rc=3, started=True),
    Row("not-found", "a command not in PATH", t(A="vault:@kv2@#password"), rc=127, cmd="missing",
        peer={"rc": 1}, why="exit code: 127, as a shell, instead of 1"),
    Row("no-command", "no command", t(A="vault:@kv2@#password"), rc=64, cmd="none", peer={"rc": 1},
        why="exit code: 64 (usage) instead of 1"),
    Row("own-options", "vaultexec's own flags and VAULTEXEC_* variables",
        t(A="vault:@kv2@#password", VAULTEXEC_ENV="B={{ @kv2@#user | upper }}"),
        {"A": "@pw@", "B": "@user_upper@", "VAULTEXEC_ENV": None}, args=["--keep-env", "VAULT_ADDR"],
        peer={"rc": 1},
        why="vault-env takes the first argument as the command; vaultexec reads its own options "
            "before it"),
    Row("check", "--check (dry run): names only, nothing run", t(A="vault:@kv2@#password"),
        args=["--check"], rc=0, started=False, stdout="env A\n", peer={"rc": 1},
        why="vault-env has no dry run"),
]

IDS = [r.id for r in ROWS]
assert len(IDS) == len(set(IDS)), "duplicate row ids"

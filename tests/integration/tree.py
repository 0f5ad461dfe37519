#!/usr/bin/env python3
"""A command with children and grandchildren, for the process-tree tests.

    tree.py EVENTS_FILE

The root starts TREE_CHILDREN (default 2) children; each starts one
grandchild; then all of them sleep.  Each appends one JSON line to
EVENTS_FILE when it starts:
  {"event": "start", "role": "root"|"child"|"grandchild", "pid" (as /proc shows it), "pgid",
   "others": [pids], "t"}
where "others" (root only) lists the processes of the same test (the
TREE_MARK environment variable) that are alive when the root starts,
besides itself: after a restart, what is left of the old tree.
The root also records "signal" and "exit" events.

Behaviour from the environment:
  TREE_MARK=X         the marker (required)
  TREE_IGNORE_TERM=1  every process ignores SIGTERM (only SIGKILL ends it)
  TREE_ROOT_EXIT=S    the root exits by itself after S seconds, leaving
                      its children running
  TREE_SIGINT_EXIT=1  the root exits 130 on its first SIGINT after 0.3 s
                      (so that a second one would be recorded)
"""
import json
import os
import signal
import sys
import time

EVENTS = sys.argv[1]
MARK = os.environ["TREE_MARK"]


def mypid():
    """Our pid as /proc shows it: under unshare --pid without its own /proc,
    getpid() is the namespace's number and /proc the host's."""
    return int(os.readlink("/proc/self"))


def record(ev):
    ev.update(pid=mypid(), pgid=os.getpgrp(), t=time.time())
    fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(ev) + "\n").encode())
    finally:
        os.close(fd)


def ancestors():
    out, pid = set(), mypid()
    while pid > 1:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except OSError:
            break
    return out


def marked_others():
    """Marked processes other than this one and its ancestors (vaultexec,
    unshare): what is left of an earlier tree."""
    want = f"TREE_MARK={MARK}".encode()
    skip = ancestors()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in skip:
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if want not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{d}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
        except OSError:
            continue
        out.append(int(d))
    return out


def sleep_forever():
    while True:
        time.sleep(1)


def main():
    if os.environ.get("TREE_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    others = marked_others()  # before this tree's own children start
    for _ in range(int(os.environ.get("TREE_CHILDREN", "2"))):
        if os.fork() == 0:
            if os.fork() == 0:
                record({"event": "start", "role": "grandchild"})
                sleep_forever()
            record({"event": "start", "role": "child"})
            sleep_forever()
    ints = []

    def on_int(sig, _f):
        ints.append(time.monotonic())
        record({"event": "signal", "sig": sig})

    if os.environ.get("TREE_SIGINT_EXIT") == "1":
        signal.signal(signal.SIGINT, on_int)
    tty = None
    try:
        tty = os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        pass
    record({"event": "start", "role": "root", "others": others, "foreground": tty})
    t0 = time.monotonic()
    root_exit = float(os.environ.get("TREE_ROOT_EXIT", "0"))
    while True:
        time.sleep(0.05)
        if ints and time.monotonic() - ints[0] > 0.3:
            record({"event": "exit", "code": 130})
            os._exit(130)
        if root_exit and time.monotonic() - t0 >= root_exit:
            record({"event": "exit", "code": 0})
            os._exit(0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Test child for vaultexec integration tests.

    child.py OUTFILE [ARGS...]

Writes {"argv", "args", "env", "pid", "ppid", "cwd"} as JSON to OUTFILE and
exits with the code in $CHILD_EXIT (default 0), or is killed by signal
$CHILD_SIGNAL when that is set.  The environment is read from
/proc/self/environ, i.e. exactly what execve() received, so nothing Python
does at start-up can hide or add a variable.  Bytes that are not UTF-8 are
kept with surrogateescape (json.dumps then writes them as \\udcXX escapes).
"""
import json
import os
import sys


def _environ():
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        raw = b"\0".join(k + b"=" + v for k, v in os.environb.items())
    env = {}
    for item in raw.split(b"\0"):
        if not item:
            continue
        k, sep, v = item.partition(b"=")
        key = k.decode("utf-8", "surrogateescape")
        # Keep the first occurrence, as getenv() would; note duplicates.
        if key in env:
            env.setdefault("__DUPLICATES__", "")
            env["__DUPLICATES__"] += key + "\n"
            continue
        env[key] = v.decode("utf-8", "surrogateescape") if sep else None
    return env


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def _fds():
    """Open file descriptors inherited from the exec (fd -> target)."""
    out = {}
    d = "/proc/self/fd"
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        try:
            target = os.readlink(os.path.join(d, n))
        except OSError:
            continue  # the directory fd used by listdir, already closed
        if target.startswith("/proc/") and target.endswith("/fd"):
            continue
        out[n] = target
    return out


def main():
    if len(sys.argv) < 2:
        print("usage: child.py OUTFILE [ARGS...]", file=sys.stderr)
        return 2
    argv = [os.fsencode(a).decode("utf-8", "surrogateescape") for a in sys.argv]
    out = sys.argv[1]
    doc = {
        "argv": argv,
        "args": argv[2:],
        "env": _environ(),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "cwd": os.getcwd(),
        "fds": _fds(),
        "umask": _umask(),
    }
    tmp = out + ".partial"
    with open(tmp, "w", encoding="ascii") as f:
        json.dump(doc, f, ensure_ascii=True)
    os.rename(tmp, out)
    sig = os.environ.get("CHILD_SIGNAL")
    if sig:  # end by this signal instead of an exit code
        import signal

        signal.signal(int(sig), signal.SIG_DFL)
        os.kill(os.getpid(), int(sig))
    code = os.environ.get("CHILD_EXIT", "0")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())

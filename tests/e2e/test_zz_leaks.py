"""Last: stop every process, then look for the passwords everywhere.

* /proc/*/cmdline: sampled every 50 ms through the whole session (and once
  more now), so a password on any command line, even a short-lived one, is
  caught.
* every file under the suite's temp root (all logs of OpenBao, the
  databases, vaultexec and the exporters, Prometheus's data, the commands'
  output), its tmpfs dirs under /dev/shm, the home dirs (shell and client
  histories) and the repository's examples/ and tests/e2e/: the only files
  allowed to hold a password are the ones vaultexec --file rendered (mode
  0600, checked where they were made).
"""
from __future__ import annotations

import stat
from pathlib import Path

import e2elib as E


def test_no_password_in_any_argv_log_or_file(world):
    assert world.leaks.values, "no password was registered: did the suite run?"
    world.procs.stop_all()
    world.leaks.stop()
    hits = list(world.leaks.cmdline_hits) + world.leaks.scan_cmdlines()
    for r in (world.root, world.shm, E.EXAMPLES, E.HERE, Path("/var/tmp")):
        if r.exists():
            hits += world.leaks.scan_tree(r, world.allowed_files)
    for home in (Path.home(), Path("/var/lib/postgresql"), Path("/var/lib/mysql")):
        if home.is_dir():  # shell and client histories: the top level only
            hits += world.leaks.scan_tree(home, world.allowed_files, depth=0)
    for f in sorted(world.allowed_files):
        if f.exists():
            mode = stat.S_IMODE(f.stat().st_mode)
            if mode != 0o600:
                hits.append(f"{f}: rendered with mode {oct(mode)}, not 0600")
    assert world.leaks.samples > 10, f"the /proc sampler ran only {world.leaks.samples} times"
    assert not hits, "passwords found:\n" + "\n".join(hits)
    world.note(f"leak scan: {len(world.leaks.values)} passwords, {world.leaks.samples} /proc samples, "
               f"{len(world.allowed_files)} rendered files allowed")

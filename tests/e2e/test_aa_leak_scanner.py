"""First: the leak scanner finds a canary where the suite later looks for
the real passwords (argv of a short-lived process, a log file), so a clean
scan at the end means something."""
from __future__ import annotations

import time

import e2elib as E


def test_scanner_sees_a_canary_in_argv_and_in_a_file(world, tmp_path):
    canary = E.password("canary")
    scanner = E.LeakScanner()
    scanner.register("canary", canary)
    scanner.start()
    try:
        p = world.procs.start("canary", ["/bin/sh", "-c", "sleep 0.5", canary.split("-")[0]])
        p.wait(5)
        deadline = time.monotonic() + 2
        while not scanner.cmdline_hits and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scanner.stop()
    assert any("canary" in h for h in scanner.cmdline_hits), "the /proc sampler missed a password in argv"
    (tmp_path / "x.log").write_text("noise " + E.urllib.parse.quote(canary, safe="") + " noise")
    assert scanner.scan_tree(tmp_path, set()), "the file scan missed a URL-encoded password"
    assert not scanner.scan_tree(tmp_path, {tmp_path / "x.log"}), "an allowed file was reported"

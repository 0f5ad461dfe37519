"""The soak of --supervise (issue 19, item 5), shortened to 2 minutes: see
soak.py, which tests/bench/bench.py --soak runs for 15.  The per-minute
figures go to the suite's notes."""
from __future__ import annotations

import soak


def test_supervise_stays_flat_over_two_minutes_of_rotations(world):
    s = soak.Soak(world.root / "soak", world.procs, world.bao, world.leaks)
    world.allowed_files.add(s.token)
    rows = s.run(2, report=lambda r: None)
    bad = soak.check(rows) + s.finish()
    for line in soak.table(rows).splitlines():
        world.note(f"soak: {line}")
    assert not bad, "\n".join(bad) + "\n" + soak.table(rows)

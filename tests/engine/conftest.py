"""The Docker engine suite (tests/engine/run.sh starts the engine and runs it).

Skip policy as in tests/integration: a skip is a failure unless the test is
marked @pytest.mark.optional (the reason is reported either way).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))

import enginelib  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "optional: the test may be skipped (otherwise a skip counts as a failure)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and not hasattr(rep, "wasxfail"):
        lr = rep.longrepr
        reason = str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
        if item.get_closest_marker("optional") is None:
            rep.outcome = "failed"
            rep.longrepr = f"SKIP NOT ALLOWED: {item.nodeid} was skipped ({reason}) but is not marked optional"
        else:
            rep.sections.append(("optional skip", reason))


@pytest.fixture(scope="session")
def docker() -> enginelib.Docker:
    d = enginelib.Docker()
    d.check_engine()
    yield d
    d.remove_all_containers()


@pytest.fixture(scope="session")
def scratch_image(docker):
    """Dockerfile.scratch built (its builder runs the unit and smoke tests)."""
    tag = enginelib.SCRATCH_TAG
    docker.build(tag, enginelib.REPO, enginelib.REPO / "Dockerfile.scratch",
                 what="Dockerfile.scratch (builder + tests)")
    size = docker.image_size(tag)
    enginelib.figure(f"image vaultexec (Dockerfile.scratch): {size} bytes ({size / 1024:.0f} KiB)")
    return tag

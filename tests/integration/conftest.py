"""Fixtures and hooks for vaultexec's integration tests.

* `bao`      session-scoped OpenBao dev server (plain HTTP) with admin helpers.
* `bao_tls`  session-scoped OpenBao dev server with -dev-tls (.ca is its CA).
* `pki`      session-scoped CA/server/client certificates (openssl CLI).
* `vx`       the vaultexec runner for one test; every run is leak-checked, and
             the test fails when a process it started outlives it.
             Tests marked every_binary get one per build (vxlib.targets()).
* `fake`     a FakeVault for one test (closed afterwards); `fake_factory`
             makes more (TLS, unix socket, prefixes).

Hooks:
* leak check: after each test's call phase, the test fails if any stdout or
  stderr of any vaultexec run contains a registered secret or token (root
  tokens are always registered).
* processes: every process the session starts carries an environment
  marker (vxtest.SESSION_MARK, and CASE_MARK per test); the session fails
  when a marked process is still running at its end.
* skip policy: a skip is turned into a failure unless the test is marked
  @pytest.mark.optional.  The reason is reported either way.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

import vxlib
import vxtest  # on sys.path through vxlib
from fakevault import FakeVault

# ---------------------------------------------------------------------------
# hooks
# ---------------------------------------------------------------------------

_current: dict = {"leaks": None}


def pytest_configure(config):
    vxtest.marks_configure(config)
    config.addinivalue_line(
        "markers", "optional: the test may be skipped (otherwise a skip counts as a failure)"
    )
    config.addinivalue_line(
        "markers", "every_binary: run once per vaultexec build under test (vxlib.targets(): the host build, "
        "and the arm64 one under qemu-user when VAULTEXEC_ARM64_BIN is set)"
    )
    # Always show skip reasons in the summary.
    rc = getattr(config.option, "reportchars", "") or ""
    if "s" not in rc and "a" not in rc and "A" not in rc:
        config.option.reportchars = rc + "s"


# Old-style hook wrappers: they work with Debian 12's pytest 7.2 as well as
# current pytest.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.passed:
        reg = _current["leaks"]
        problems = reg.find_leaks() if reg is not None else []
        if problems:
            rep.outcome = "failed"
            rep.longrepr = "SECRET LEAK in vaultexec output:\n" + "\n".join(problems)
    vxtest.refuse_skip(item, rep, optional_marker="optional")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    vxtest.refuse_collection_skip(collector, outcome.get_result())


def pytest_generate_tests(metafunc):
    """every_binary tests get `vx` once per build; with only the host build
    they are not parametrised (their ids stay as they are)."""
    names = list(vxlib.targets())
    if len(names) > 1 and "vx" in metafunc.fixturenames and metafunc.definition.get_closest_marker("every_binary"):
        metafunc.parametrize("vx", names, indirect=True)


def pytest_sessionfinish(session):
    vxtest.marks_sessionfinish(session)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _current["leaks"] = vxlib.LeakRegistry()


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture
def leaks():
    reg = _current["leaks"]
    if reg is None:  # e.g. when used outside the runtest protocol
        reg = _current["leaks"] = vxlib.LeakRegistry()
    return reg


@pytest.fixture
def vx(request, tmp_path, leaks):
    """The runner; afterwards the test fails if a process it started (found
    by the runner's case marker) is still running."""
    r = vxlib.Runner(tmp_path, leaks, getattr(request, "param", "host"))
    yield r
    left = vxtest.reap_marked(vxtest.CASE_MARK, r.case_mark)
    if left:
        pytest.fail("the test left processes running (killed now):\n"
                    + "\n".join(f"  pid {p}: {c}" for p, c in sorted(left.items())),
                    pytrace=False)


@pytest.fixture(scope="session")
def session_tmp():
    d = Path(tempfile.mkdtemp(prefix="vaultexec-it-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def bao(session_tmp):
    b = vxlib.Bao(session_tmp / "bao")
    b.start_dev()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def bao_tls(session_tmp):
    b = vxlib.Bao(session_tmp / "bao-tls", tls=True)
    b.start_dev()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pki(session_tmp):
    return vxlib.make_pki(session_tmp / "pki")


@pytest.fixture
def fake_factory(tmp_path):
    made = []

    def make(**kw):
        if kw.get("unix_path") is True:
            # AF_UNIX paths are limited to ~107 bytes: keep it short.
            kw["unix_path"] = tempfile.mktemp(prefix="vx-", suffix=".sock", dir="/tmp")
        fv = FakeVault(**kw)
        made.append(fv)
        return fv

    yield make
    for fv in made:
        fv.close()


@pytest.fixture
def fake(fake_factory):
    return fake_factory()

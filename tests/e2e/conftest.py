"""End-to-end suite: the examples' exporters, through vaultexec, against real
databases and a real OpenBao, all on loopback ports; see README.md here.

* A skip is a failure (the suite has no optional tests): a missing package
  or binary fails with the command that installs it.
* `world` (session): the temp root, the process registry, the leak scanner
  (its /proc sampler runs for the whole session) and the OpenBao dev server.
  test_zz_leaks.py, the last module, stops everything and scans.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

import e2elib
import vxtest  # on sys.path through e2elib


def pytest_configure(config):
    # Every process the session starts is marked; a marked one still
    # running at the end fails the session (vxtest.marks_sessionfinish).
    vxtest.marks_configure(config)
    # Long tracebacks print the arguments of the failing function, and some
    # hold a password: keep them short unless asked otherwise.
    if getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "short"
    if getattr(config.option, "showlocals", False):
        raise pytest.UsageError("the e2e suite refuses --showlocals: locals hold passwords")


# Old-style wrappers: Debian 12's pytest 7.2 has no wrapper=True.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    vxtest.refuse_skip(item, outcome.get_result(), where=" in the e2e suite")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    vxtest.refuse_collection_skip(collector, outcome.get_result())


REQUIRED = {
    "vaultexec (build it: meson setup build && ninja -C build)": e2elib.vaultexec_bin(),
    "redis-server": "/usr/bin/redis-server",
    "initdb (postgresql)": str(e2elib.PG_BIN / "initdb"),
    "psql": "/usr/bin/psql",
    "mariadbd (mariadb-server)": "/usr/sbin/mariadbd",
    "mariadb-install-db": "/usr/bin/mariadb-install-db",
    "mariadb (client)": "/usr/bin/mariadb",
    **{f"{k} (Debian package)": v for k, v in e2elib.DEBIAN_BIN.items()},
    "current mysqld_exporter (built by tests/e2e/install.sh)": str(e2elib.CURRENT_MYSQLD_EXPORTER),
}


class World:
    def __init__(self, root: Path):
        self.root = root
        self.t0 = time.monotonic()
        self.procs = e2elib.Procs(root / "logs")
        e2elib.COMMAND_LOG = root / "logs" / "commands.log"
        self.leaks = e2elib.LeakScanner()
        self.allowed_files: set[Path] = set()  # files --file rendered (may hold a password)
        self.shm = Path(tempfile.mkdtemp(prefix="vaultexec-e2e-", dir="/dev/shm"))
        self.bao = None
        self.notes: list[str] = []

    def note(self, msg: str):
        self.notes.append(msg)


@pytest.fixture(scope="session")
def world():
    missing = [f"{what}: {path}" for what, path in REQUIRED.items() if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            "missing for the e2e suite (run `bash tests/e2e/install.sh` as root):\n  " + "\n  ".join(missing),
            pytrace=False,
        )
    if os.geteuid() != 0:
        pytest.fail("the e2e suite runs as root (it starts the databases as the postgres and mysql users)",
                    pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="vaultexec-e2e-"))
    os.chmod(root, 0o755)  # postgres and mysql need to reach their dirs
    w = World(root)
    w.leaks.start()
    w.bao = e2elib.Bao(w.procs, root / "openbao").start()
    yield w
    w.leaks.stop()
    w.procs.stop_all()
    if os.environ.get("VAULTEXEC_E2E_KEEP"):
        print(f"\nkept {root} and {w.shm}")
    else:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(w.shm, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    notes = getattr(terminalreporter.config, "_e2e_notes", None)
    if notes:
        terminalreporter.section("e2e notes")
        for n in notes:
            terminalreporter.write_line(n)


@pytest.fixture(scope="session", autouse=True)
def _collect_notes(request, world):
    yield
    request.config._e2e_notes = world.notes + [
        f"suite time {time.monotonic() - world.t0:.1f}s; /proc/*/cmdline sampled {world.leaks.samples} times"
    ]


def pytest_sessionfinish(session):
    vxtest.marks_sessionfinish(session)

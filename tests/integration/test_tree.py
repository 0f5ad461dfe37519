"""--supervise owns the command's whole process tree (issue 18, item 4),
against a real OpenBao.

The command is tree.py: a root with two children, each with a child of
its own, all found by their TREE_MARK environment variable (never by
name).  A restart leaves nothing of the old tree when the new one starts;
a stop, the command's own end, --stop-timeout on a tree that ignores
SIGTERM and a SIGKILL of vaultexec leave nothing running; the same with
vaultexec as PID 1 (unshare --pid --fork); and under a terminal, Ctrl-C
reaches the command once and the command has the foreground."""
from __future__ import annotations

import json
import os
import pty
import secrets
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

import vxlib
import vxtest
from vxlib import conn

TREE = str(Path(__file__).resolve().parent / "tree.py")
UNSHARE = ["unshare", "--pid", "--fork", "--kill-child"]
WHERE = [pytest.param([], id="subreaper"), pytest.param(UNSHARE, id="pid1")]


class Tree:
    """vaultexec --supervise running tree.py in the background."""

    def __init__(self, vx, opts, env=None, prefix=()):
        self.vx = vx
        self.mark = secrets.token_hex(6)
        self.events_path = vx.tmp / f"tree-{self.mark}.jsonl"
        self.err_path = vx.tmp / f"tree-{self.mark}.err"
        full = vx.base_env()
        full.update({"TREE_MARK": self.mark, **(env or {})})
        self.argv = [*prefix, vx.bin, *[str(o) for o in opts], "--", vxlib.PYTHON, TREE,
                     str(self.events_path)]
        self._err = open(self.err_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=full, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=self._err, start_new_session=True)
        self.pid1 = bool(prefix)

    def events(self, kind=None, role=None):
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        evs = [json.loads(x) for x in lines if x.strip()]
        return [e for e in evs if (kind is None or e["event"] == kind)
                and (role is None or e.get("role") == role)]

    def alive(self) -> dict:
        return vxtest.marked_pids("TREE_MARK", self.mark)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def describe(self) -> str:
        return (f"argv: {self.argv}\nrc: {self.proc.poll()}\nalive: {self.alive()}\n"
                f"--- stderr ---\n{self.stderr()}\n--- events ---\n"
                + "\n".join(json.dumps(e) for e in self.events()))

    def wait_for(self, pred, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pred():
            time.sleep(0.05)
        assert pred(), f"timed out waiting for {what}\n{self.describe()}"

    def wait_tree(self, generation: int):
        """Until the GENERATION-th tree (1 = the first) has all 5 processes."""
        self.wait_for(lambda: len(self.events("start")) >= 5 * generation, 20,
                      f"tree {generation} started")

    def vaultexec_pid(self) -> int:
        if not self.pid1:
            return self.proc.pid
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(kids) == 1, self.describe()
        return int(kids[0])

    def wait_exit(self, timeout=20) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"vaultexec did not end\n{self.describe()}")

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self._err.close()
        self.vx.leaks.runs.append(vxlib.Result(
            argv=self.argv, rc=self.proc.returncode, stdout="", stderr=self.stderr(),
            elapsed=time.monotonic() - self.t0, pid=self.proc.pid, outfile=None))


@pytest.fixture
def tree(vx):
    made = []

    def make(*a, **kw):
        t = Tree(vx, *a, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.fixture
def app(bao, vx):
    name = vx.name("tree")
    bao.put_kv2(name, {"pw": vx.secret("pw")})
    return name


def opts(bao, name, *more):
    return [*conn(bao), "--supervise", "--poll", "300ms", "--debounce", "100ms",
            "--stop-timeout", "1s", "--map", f"secret/{name}#pw=PW", *more]


@pytest.mark.parametrize("prefix", WHERE)
@pytest.mark.parametrize("ignore", [False, True], ids=["term", "ignores-term"])
def test_restart_leaves_nothing_of_the_old_tree(bao, vx, tree, app, prefix, ignore):
    env = {"VAULT_TOKEN": bao.token, "TREE_IGNORE_TERM": "1" if ignore else "0"}
    t = tree(opts(bao, app), env=env, prefix=prefix)
    t.wait_tree(1)
    old = {e["pid"] for e in t.events("start")}
    bao.put_kv2(app, {"pw": vx.secret("pw2")})
    t.wait_tree(2)
    roots = t.events("start", "root")
    assert roots[0]["others"] == [], t.describe()
    # Nothing of the old tree was alive when the new command started.
    assert roots[1]["others"] == [], t.describe()
    assert not (old & set(t.alive())), t.describe()
    if ignore:
        assert "sending SIGKILL to its process group" in t.stderr(), t.describe()
    os.kill(t.vaultexec_pid(), signal.SIGTERM)
    t.wait_exit()
    assert t.alive() == {}, t.describe()


@pytest.mark.parametrize("prefix", WHERE)
@pytest.mark.parametrize("ignore", [False, True], ids=["term", "ignores-term"])
def test_stop_leaves_nothing(bao, vx, tree, app, prefix, ignore):
    """SIGTERM to vaultexec: the group gets it; a tree that ignores it gets
    SIGKILL after --stop-timeout (1s); when vaultexec has ended, nothing of
    the tree runs."""
    env = {"VAULT_TOKEN": bao.token, "TREE_IGNORE_TERM": "1" if ignore else "0"}
    t = tree(opts(bao, app), env=env, prefix=prefix)
    t.wait_tree(1)
    t0 = time.monotonic()
    os.kill(t.vaultexec_pid(), signal.SIGTERM)
    rc = t.wait_exit()
    took = time.monotonic() - t0
    assert t.alive() == {}, t.describe()
    if ignore:
        assert "did not stop within --stop-timeout" in t.stderr(), t.describe()
        assert rc == 137 and took >= 0.9, t.describe()
    else:
        assert rc == 128 + signal.SIGTERM, t.describe()


@pytest.mark.parametrize("prefix", WHERE)
def test_command_ending_leaves_nothing(bao, vx, tree, app, prefix):
    """The root exits by itself after 1 s, its children still running:
    vaultexec stops them and exits with the root's code."""
    env = {"VAULT_TOKEN": bao.token, "TREE_ROOT_EXIT": "1"}
    t = tree(opts(bao, app), env=env, prefix=prefix)
    assert t.wait_exit() == 0, t.describe()
    assert len(t.events("start")) == 5, t.describe()
    assert t.alive() == {}, t.describe()
    assert "stopping what is left of its process group" in t.stderr(), t.describe()


@pytest.mark.parametrize("prefix", WHERE)
def test_sigkill_of_vaultexec(bao, vx, tree, app, prefix):
    """A SIGKILLed vaultexec takes its command along (PR_SET_PDEATHSIG).
    As PID 1 the kernel ends the whole namespace; outside one, the
    command's own children are re-parented to init and run on: the
    parent-death signal reaches the direct child only (README, "Process
    model"), so this test ends them itself."""
    t = tree(opts(bao, app), env={"VAULT_TOKEN": bao.token, "TREE_IGNORE_TERM": "1"},
             prefix=prefix)
    t.wait_tree(1)
    root = t.events("start", "root")[0]["pid"]
    os.kill(t.vaultexec_pid(), signal.SIGKILL)
    t.wait_exit()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and root in t.alive():
        time.sleep(0.02)
    left = t.alive()
    assert root not in left, t.describe()
    if prefix:
        assert left == {}, t.describe()
    else:
        assert set(left) <= {e["pid"] for e in t.events("start")}
        vxtest.reap_marked("TREE_MARK", t.mark, grace=0)


def run_in_pty(argv, env, events: Path, timeout=20):
    """Runs ARGV on a new pseudo-terminal, types Ctrl-C once the command
    has started, and returns (exit code, terminal output)."""
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    sent = False
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                out += os.read(master, 4096)
            except OSError:
                pass
        if not sent and events.exists() and '"role": "root"' in events.read_text():
            os.write(master, b"\x03")
            sent = True
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
    if status is None:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize("prefix", WHERE)
def test_ctrl_c_once_under_a_terminal(bao, vx, app, prefix):
    """Ctrl-C on the terminal reaches the command once (the kernel sends it
    to the foreground group, which is the command's), and the command has
    the terminal's foreground."""
    mark = secrets.token_hex(6)
    events = vx.tmp / "pty-events.jsonl"
    env = vx.base_env()
    env.update({"VAULT_TOKEN": bao.token, "TREE_MARK": mark, "TREE_SIGINT_EXIT": "1",
                "TREE_CHILDREN": "1"})
    unshare = [subprocess.check_output(["sh", "-c", "command -v unshare"], text=True).strip(),
               *UNSHARE[1:]] if prefix else []
    argv = [*unshare, vx.bin, *opts(bao, app), "--", vxlib.PYTHON, TREE, str(events)]
    rc, out = run_in_pty(argv, env, events)
    evs = [json.loads(x) for x in events.read_text().splitlines()]
    detail = f"rc {rc}\n--- terminal ---\n{out}\n--- events ---\n{events.read_text()}"
    ints = [e for e in evs if e["event"] == "signal" and e["sig"] == signal.SIGINT]
    root = [e for e in evs if e.get("role") == "root"][0]
    assert root["foreground"] is True, detail
    assert len(ints) == 1, detail
    assert rc == 130, detail
    vx.leaks.runs.append(vxlib.Result(argv=argv, rc=rc, stdout=out, stderr="", elapsed=0,
                                      pid=0, outfile=None))
    assert vxtest.reap_marked("TREE_MARK", mark, grace=2) == {}, detail

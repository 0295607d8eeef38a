"""A change returns once its journal is durable; its other fsyncs come after.

Real processes: a library process whose fsyncs (all but the journal's) wait
on a gate file, so the moment between a change's return and the end of its
fsyncs can be looked at from outside: the branch has moved, the journal is
live, and the store lock is still held, so no other change (another process,
a forked child) can write over the journal. The interpreter's exit waits for
those fsyncs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import RunCli, git
from reliability import ACTOR, fork_child, free_form_store, read_all, wait_status

from vpa_config import logs
from vpa_config.layout import journal_left
from vpa_config.lock import StoreLock
from vpa_config.store import ConfigStore

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="tells the journal by /proc/self/fd"
)

SEED = {"a.yaml": b"a: 1\n", "b.json": b'{"n": 1}\n'}

# Every fsync but the journal's waits until the gate file exists.
GATED_FSYNC = textwrap.dedent(
    """
    import os, time

    def gate_fsyncs(gate):
        real = os.fsync

        def gated(fd):
            if not os.readlink(f"/proc/self/fd/{fd}").endswith("vpa-config.journal"):
                while not os.path.exists(gate):
                    time.sleep(0.005)
            real(fd)

        os.fsync = gated
    """
)

CHILD = GATED_FSYNC + textwrap.dedent(
    """
    import sys
    from vpa_config.store import ConfigStore

    store = ConfigStore.open(sys.argv[1])
    gate_fsyncs(sys.argv[2])
    store.set("a.yaml", "a", 5, actor="Child <child@example.org>", reason="gated")
    print("RETURNED", flush=True)
    # No close(): the interpreter's exit waits for the change's fsyncs.
    """
)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    free_form_store(root, SEED)
    store = ConfigStore.open(root)
    store.set(".vpa-config/settings.yaml", "lock_timeout_s", 0.2, actor=ACTOR)
    store.close()
    return root


def test_the_lock_is_held_until_a_returned_change_is_synced(
    root: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    before = git(root, "rev-parse", "HEAD").strip()
    gate = tmp_path / "gate"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(root), str(gate)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "RETURNED", child.stderr

        # Returned: committed, its journal live, the lock still the child's.
        assert git(root, "rev-parse", "HEAD~1").strip() == before
        assert (root / "a.yaml").read_bytes() == b"a: 5\n"
        assert journal_left(root / ".git")
        assert (StoreLock(root / ".git").holder() or {}).get("pid") == child.pid
        busy = run_cli("set", "b.json", "n", "3", store=root)
        assert busy.returncode == 4, busy.stdout + busy.stderr
        assert f"store is locked by pid {child.pid}" in busy.stderr
    finally:
        gate.touch()
        _out, err = child.communicate(timeout=60)

    assert child.returncode == 0, err
    assert not journal_left(root / ".git")
    assert StoreLock(root / ".git").holder() is None
    assert run_cli("set", "b.json", "n", "3", store=root).returncode == 0
    git(root, "fsck", "--strict")
    assert git(root, "status", "--porcelain") == ""


def test_a_child_forked_while_the_fsyncs_run_waits_for_them(
    root: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    namespace: dict[str, object] = {}
    exec(GATED_FSYNC, namespace)  # the test's own text
    store = ConfigStore.open(root)
    real_fsync = os.fsync
    try:
        namespace["gate_fsyncs"](str(gate))  # type: ignore[operator]
        first = store.set("a.yaml", "a", 7, actor=ACTOR).revision

        def work(fd: int) -> None:  # pragma: no cover (runs in the child)
            done = store.set("b.json", "n", 8, actor=ACTOR, reason="child")
            store.close()
            os.write(fd, f"ACK {done.revision}\n".encode())

        pid, fd = fork_child(work)
        assert journal_left(root / ".git")  # the parent's fsyncs still wait
        gate.touch()
        lines = read_all(fd)
        assert wait_status(pid) == ("exit", 0), lines
        store.flush()
    finally:
        os.fsync = real_fsync
        gate.touch()
        store.close()

    second = lines[0].split()[1]
    assert git(root, "rev-parse", "HEAD").strip() == second
    assert git(root, "rev-parse", "HEAD~1").strip() == first
    assert not journal_left(root / ".git")
    assert StoreLock(root / ".git").holder() is None
    git(root, "fsck", "--strict")


def test_a_failed_fsync_after_return_is_reported_and_finished_again(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ConfigStore.open(root)
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("vpa-config.journal"):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    try:
        with logs.capture() as events:
            monkeypatch.setattr(os, "fsync", failing)
            done = store.set("a.yaml", "a", 9, actor=ACTOR)
            store.flush()
            monkeypatch.undo()
        # The change stands (its journal is durable) and says what failed.
        assert done.committed and store.repo.head() == done.revision
        (failed,) = [e for e in events if e["event"] == "store.sync_failed"]
        assert "Input/output error" in failed["error"]
        assert journal_left(root / ".git")  # for the next change to finish again

        with logs.capture() as events:
            store.set("b.json", "n", 4, actor=ACTOR)
        assert [e for e in events if e["event"] == "store.recovered"]
        store.flush()
    finally:
        monkeypatch.undo()
        store.close()
    assert not journal_left(root / ".git")
    assert git(root, "rev-parse", "HEAD~1").strip() == done.revision
    git(root, "fsck", "--strict")

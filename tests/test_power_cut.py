"""What a power cut can take once a change's journal is durable, recovery restores.

A change fsyncs only its journal before it returns; its objects, files,
branch and audit record reach the disk with the fsyncs that follow. A power
cut between loses any of those, in any mix, depending on the file system. No
test can cut the power, so each run here kills a change at a point past its
journal (the test-only crash hook) and then takes away, at random, what such
a power cut could: each new object removed or emptied, each changed file
emptied or back to its old content, the branch back on the parent, the
change's audit record gone. The next open must bring the change back whole:
HEAD on it, every file as committed, git's fsck clean, the audit trail's
chain whole with one record of the change.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from conftest import git
from reliability import (
    ACTOR,
    committed_tree,
    fork_child,
    free_form_store,
    read_all,
    report,
    wait_status,
    working_tree,
)

from vpa_config import audittrail, layout
from vpa_config.store import ConfigStore

RUNS = int(os.environ.get("VPA_CONFIG_POWER_CUT_RUNS", "40"))
POINTS = ("after-journal", "between-files", "before-ref", "after-ref", "after-index")
SEED = {
    "a.yaml": b"name: vpa\nllm:\n  temperature: 0.5\n",
    "b.json": b'{\n  "n": 0\n}\n',
    "d/e.toml": b"[checks]\ndisk = 1\n",
}


def _killed_change(root: Path, point: str, value: int) -> None:
    """A change of two files, killed by the crash hook at ``point``."""

    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        os.environ["VPA_CONFIG_TEST_CRASH"] = point
        store = ConfigStore.open(root)
        with store.transaction(subject="two files", actor=ACTOR,
                               reason=f"value {value}") as tx:
            tx.write("a.yaml", f"name: vpa\nllm:\n  temperature: {value}\n".encode())
            tx.write("d/e.toml", f"[checks]\ndisk = {value}\n".encode())

    pid, fd = fork_child(work)
    read_all(fd)
    assert wait_status(pid) == ("exit", 137)


def git_bytes(root: Path, *args: str) -> bytes:
    """git's output as bytes (not opening the store: that would recover it)."""
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, check=True
    ).stdout


def _journal(root: Path) -> dict:
    found = layout.journal_record((root / ".git" / layout.JOURNAL).read_bytes())
    assert found is not None, "the killed change left no live journal"
    return json.loads(found)


def _cut_power(root: Path, journal: dict, rng: random.Random) -> list[str]:
    """Take away, at random, what the change had not fsynced; what was taken."""
    taken = []
    git_dir = root / ".git"
    for sha in journal["objects"]:
        path = git_dir / "objects" / sha[:2] / sha[2:]
        how = rng.choice(("keep", "remove", "empty"))
        if how != "keep" and path.exists():
            path.unlink()
            if how == "empty":
                path.write_bytes(b"")
            taken.append(f"object {how}")
    for name, states in journal["files"].items():
        how = rng.choice(("keep", "empty", "old"))
        if how == "empty":
            (root / name).write_bytes(b"")
        elif how == "old" and states["before"] is not None:
            old = git_bytes(root, "cat-file", "blob", states["before"][0])
            (root / name).write_bytes(old)
        if how != "keep":
            taken.append(f"file {how}")
    branch = git_dir / "refs" / "heads" / "main"
    if rng.random() < 0.5 and branch.read_text().strip() == journal["commit"]:
        branch.write_text(journal["parent"] + "\n")
        taken.append("branch move")
    trail = git_dir / audittrail.AUDIT_FILE
    lines = trail.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    if rng.random() < 0.5 and last.get("revision_after") == journal["commit"]:
        trail.write_bytes(b"".join(lines[:-1]))
        taken.append("audit record")
    return taken


@pytest.mark.slow
def test_what_a_power_cut_takes_after_the_journal_is_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    free_form_store(root, SEED)
    rng = random.Random(11)
    losses: dict[str, int] = {}

    for run in range(RUNS):
        point = POINTS[run % len(POINTS)]
        _killed_change(root, point, run + 1)
        journal = _journal(root)
        for loss in _cut_power(root, journal, rng):
            losses[loss] = losses.get(loss, 0) + 1

        store = ConfigStore.open(root)  # recovers
        try:
            assert store.repo.head() == journal["commit"], (run, point)
            assert working_tree(root) == committed_tree(store)
            assert store.get("d/e.toml", "checks.disk") == run + 1
            assert audittrail.verify_chain(store).ok
            records = [r for r in audittrail.records(store)
                       if r.get("revision_after") == journal["commit"]
                       and r.get("outcome") == "committed"]
            assert len(records) == 1, records
        finally:
            store.close()
        assert not layout.journal_left(root / ".git")

    git(root, "fsck", "--full", "--strict", "--no-dangling")
    assert git(root, "status", "--porcelain") == ""
    report(capsys, "power cut: losses after a durable journal", {
        "runs": RUNS, **{f"  {k}": v for k, v in sorted(losses.items())},
    })

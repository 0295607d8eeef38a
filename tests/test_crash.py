"""Kill a change at every point and at random moments; the store must survive.

Each run forks a child that opens the store (recovering whatever the last
kill left) and makes a few changes, printing each revision it was given.
The child dies by the test-only crash hook (``VPA_CONFIG_TEST_CRASH``) at a
named point, or by SIGKILL from the parent after a random delay. After each
death the parent checks the store as the kill left it, then opens it and
checks it again after recovery.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import RunCli, git
from reliability import (  # noqa: F401 (fast_dir is a fixture)
    ACTOR,
    _fast_dir,
    committed_tree,
    fork_child,
    free_form_store,
    kill,
    leftovers,
    read_all,
    report,
    wait_status,
    working_tree,
)

from vpa_config import documents
from vpa_config.errors import NothingToDoError, StorageError
from vpa_config.gitrepo import GitRepo
from vpa_config.history import parse_message
from vpa_config.layout import journal_left
from vpa_config.lock import StoreLock
from vpa_config.store import ConfigStore

RUNS = int(os.environ.get("VPA_CONFIG_CRASH_RUNS", "320"))
SEED = int(os.environ.get("VPA_CONFIG_CRASH_SEED", "8"))
POINTS = (
    "before-journal",
    "after-journal",
    "between-files",
    "before-ref",
    "after-ref",
    "after-index",
)
# Dies in the recovery of a journal left by the previous run (else, with no
# journal to recover, at before-ref, leaving one).
RECOVERY_KILL = "recover-between-files,before-ref"
ALL_POINTS = (*POINTS, "recover-between-files")
LEAVES_JOURNAL = {f"hook:{p}" for p in POINTS[1:]}
SEED_FILES = {
    "a.yaml": b"# the assistant\nname: vpa\nllm:\n  temperature: 0.5\n",
    "b.json": b'{\n  "level": "info",\n  "n": 0\n}\n',
    "c.toml": b'title = "health"\n[checks]\ndisk = 1\n',
    "d/e.yaml": b"nested: true\n",
}


def _change(store: ConfigStore, rng: random.Random, reason: str) -> str | None:
    """One change of a random kind; its revision, or None when it was a no-op."""
    kind = rng.choice(("set", "set", "multi", "rm-or-add", "restore"))
    if kind == "set":
        name = rng.choice(("a.yaml", "b.json", "c.toml"))
        key = {"a.yaml": "llm.temperature", "b.json": "n", "c.toml": "checks.disk"}[
            name
        ]
        result = store.set(name, key, rng.randint(0, 10**6), actor=ACTOR, reason=reason)
    elif kind == "multi":
        value = rng.randint(0, 10**6)
        with store.transaction(
            subject="several files", actor=ACTOR, reason=reason
        ) as tx:
            tx.write("a.yaml", f"name: vpa\nllm:\n  temperature: {value}\n".encode())
            tx.write("b.json", json.dumps({"level": "debug", "n": value}).encode())
            tx.write("c.toml", f"title = 'x'\n[checks]\ndisk = {value}\n".encode())
        result = tx.result
    elif kind == "rm-or-add":
        if "d/e.yaml" in store.repo.files(store.repo.head()):
            result = store.remove("d/e.yaml", actor=ACTOR, reason=reason)
        else:
            result = store.import_file(
                "d/e.yaml", b"nested: back\n", actor=ACTOR, reason=reason
            )
    else:
        try:
            result = store.restore("HEAD~2", actor=ACTOR, reason=reason)
        except NothingToDoError:
            return None
    assert result is not None
    return result.revision


def _child_work(root: Path, run: int, changes: int, points: str) -> Any:
    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        if points:
            os.environ["VPA_CONFIG_TEST_CRASH"] = points
        else:
            os.environ.pop("VPA_CONFIG_TEST_CRASH", None)
        rng = random.Random(run)
        if journal_left(root / ".git"):
            os.write(fd, b"JOURNAL\n")
        store = ConfigStore.open(root)
        for number in range(changes):
            reason = f"run-{run}-change-{number}"
            revision = _change(store, rng, reason)
            if revision:
                os.write(fd, f"ACK {revision} {reason}\n".encode())
        store.close()

    return work


class CrashAudit:
    """The invariants checked after every kill, with how often each held."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counts: Counter[str] = Counter()
        self.acked: dict[str, str] = {}
        self.reasons: Counter[str] = Counter()
        self.known: set[str] = set()
        self.head: str | None = None
        self._absorb_history()

    def _absorb_history(self) -> None:
        repo = GitRepo.open(self.root)
        new = []
        for info in repo.walk():
            if info.sha == self.head:
                break
            assert len(info.parents) <= 1, f"{info.sha} is a merge: history not linear"
            new.append(info)
        else:
            assert self.head is None, f"history no longer reaches {self.head}"
        for info in new:
            self.known.add(info.sha)
            self.reasons[parse_message(info.message).reason] += 1
        self.head = repo.head()
        repo.close()

    def after_kill(self) -> None:
        """The store exactly as the kill left it, before anything recovers it."""
        repo = GitRepo.open(self.root)
        head = repo.head()
        assert head is not None and repo.commit(head).tree
        self.counts["HEAD valid (dulwich)"] += 1
        for name, content in working_tree(self.root).items():
            assert repo.has_object(repo.blob_id(content)), f"{name} is neither version"
            documents.parse(name, content)
        self.counts["files whole: before or committed"] += 1
        repo.close()
        assert StoreLock(self.root / ".git").holder() is None
        self.counts["dead holder's lock free"] += 1

    def after_open(self) -> None:
        """The store once the next open (and its recovery) has run."""
        store = ConfigStore.open(self.root)
        try:
            assert working_tree(self.root) == committed_tree(store)
            self.counts["working files == HEAD after open"] += 1
            assert leftovers(self.root) == []
            self.counts["no journal, lock or temp file left"] += 1
        finally:
            store.close()
        self._absorb_history()
        self.counts["history linear and only grew"] += 1
        for revision, reason in self.acked.items():
            assert revision in self.known, f"acknowledged {revision} ({reason}) lost"
            assert self.reasons[reason] == 1, f"{reason} is {self.reasons[reason]}x"
        self.counts["acknowledged changes present once"] += 1

    def fsck(self) -> None:
        """The git CLI's own verdict, and a clean index."""
        git(self.root, "fsck", "--full", "--strict", "--no-dangling")
        assert git(self.root, "status", "--porcelain") == ""
        self.counts["git fsck clean, git status clean"] += 1


def _one_run(
    root: Path, rng: random.Random, run: int, audit: CrashAudit, points: str
) -> str:
    changes = rng.randint(1, 4) if points else rng.randint(2, 6)
    pid, fd = fork_child(_child_work(root, run, changes, points))
    if not points:
        time.sleep(rng.uniform(0.0, 0.2))
        kill(pid)
    lines = read_all(fd)
    how, code = wait_status(pid)
    errors = [line for line in lines if line.startswith("ERR ")]
    assert not errors, errors
    for line in lines:
        if line.startswith("ACK "):
            _, revision, reason = line.split(" ", 2)
            audit.acked[revision] = reason
    if how == "signal":
        return "SIGKILL"
    if code == 137:
        if points == RECOVERY_KILL:
            return (
                "hook:recover-between-files"
                if "JOURNAL" in lines
                else "hook:before-ref"
            )
        return f"hook:{points}"
    assert code == 0, (how, code)
    return "finished"


@pytest.mark.slow
def test_kills_at_every_point_leave_a_working_store(
    fast_dir: tuple[Path, str], capsys: Any
) -> None:
    root = fast_dir[0] / "store"
    free_form_store(root, SEED_FILES)
    audit = CrashAudit(root)
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()

    leave_journal = False
    for run in range(RUNS):
        if leave_journal:
            points = RECOVERY_KILL
        else:
            points = rng.choice(POINTS) if rng.random() < 0.6 else ""
        outcome = _one_run(root, rng, run, audit, points)
        outcomes[outcome] += 1
        audit.after_kill()
        # Now and then the journal is left for the next child to recover,
        # and that child is killed during the recovery.
        leave_journal = outcome in LEAVES_JOURNAL and rng.random() < 0.25
        if not leave_journal or run == RUNS - 1:
            audit.after_open()
            if run % 20 == 0 or run == RUNS - 1:
                audit.fsck()

    kills = sum(n for key, n in outcomes.items() if key != "finished")
    lost = [revision for revision in audit.acked if revision not in audit.known]
    report(
        capsys,
        "crash: SIGKILL during changes",
        {
            "store on": fast_dir[1],
            "runs": RUNS,
            "kills": kills,
            "  by SIGKILL at a random delay": outcomes["SIGKILL"],
            **{f"  by hook at {p}": outcomes[f"hook:{p}"] for p in ALL_POINTS},
            "runs that finished before the kill": outcomes["finished"],
            "acknowledged changes": len(audit.acked),
            "acknowledged changes lost": len(lost),
            "revisions in history": len(audit.known),
            **{f"invariant held: {k}": n for k, n in audit.counts.items()},
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    assert lost == []
    assert kills >= RUNS // 2
    assert all(outcomes[f"hook:{p}"] for p in ALL_POINTS), outcomes


def test_cli_killed_mid_change_is_recovered_by_the_next_command(
    run_cli: RunCli, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    free_form_store(root, SEED_FILES)
    before = working_tree(root)

    for point in ("after-journal", "before-ref", "after-ref"):
        killed = run_cli(
            "set",
            "a.yaml",
            "name",
            point,
            store=root,
            env={"VPA_CONFIG_TEST_CRASH": point},
        )
        assert killed.returncode == 137, killed.stderr
        shown = run_cli("get", "a.yaml", "name", store=root)
        assert shown.returncode == 0, shown.stderr
        assert run_cli("set", "b.json", "n", "7", store=root).returncode == 0
        store = ConfigStore.open(root)
        assert working_tree(root) == committed_tree(store)
        store.close()
        assert leftovers(root) == []

    store = ConfigStore.open(root)
    assert store.get("a.yaml", "name") == "after-ref"  # committed before its kill
    assert store.get("b.json", "n") == 7
    store.close()
    assert set(working_tree(root)) == set(before)
    git(root, "fsck", "--strict")


def test_git_locks_left_by_a_killed_writer_are_swept(tmp_path: Path) -> None:
    """A kill inside a ref or object write leaves ``NAME.lock`` files behind."""
    root = tmp_path / "store"
    free_form_store(root, SEED_FILES)
    content = b"name: vpa\nllm:\n  temperature: 0.9\n"
    blob = GitRepo.blob_id(content)
    object_lock = root / ".git" / "objects" / blob[:2] / (blob[2:] + ".lock")
    object_lock.parent.mkdir(exist_ok=True)
    object_lock.write_bytes(b"half an object")
    ref_lock = root / ".git" / "refs" / "heads" / "main.lock"
    ref_lock.write_bytes(b"0" * 40)
    stray = root / ".vpa-tmp-left"
    stray.write_bytes(b"half a file")
    store = ConfigStore.open(root)

    # With no dead holder on record the ref lock may be a live git's: refused.
    with pytest.raises(StorageError, match="lock file exists"):
        store.import_file("a.yaml", content, actor=ACTOR)
    assert working_tree(root)["a.yaml"] == SEED_FILES["a.yaml"]

    (root / ".git" / "vpa-config.lock.json").write_text(
        json.dumps({"pid": 999999, "host": "gone", "since": "then"})
    )
    store.import_file("a.yaml", content, actor=ACTOR)
    store.flush()

    assert not object_lock.exists() and not ref_lock.exists() and not stray.exists()
    assert working_tree(root)["a.yaml"] == content
    assert leftovers(root) == []
    store.close()
    git(root, "fsck", "--strict")


def test_cli_writer_killed_by_sigkill_frees_the_lock(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The kernel drops a killed process's flock: nobody waits for a dead holder."""
    import sys

    from conftest import ROOT, cli_env

    root = tmp_path / "store"
    free_form_store(root, SEED_FILES)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from vpa_config.store import ConfigStore\n"
            "s = ConfigStore.open(sys.argv[1]); s.lock.acquire(5)\n"
            "print('held', flush=True); time.sleep(60)\n",
            str(root),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        busy = run_cli(
            "set",
            "b.json",
            "n",
            "1",
            store=root,
            env={"VPA_CONFIG_LOCK_TIMEOUT": "0.3"},
        )
        assert busy.returncode == 4, busy.stderr
        assert f"pid {holder.pid}" in busy.stderr
        assert "Traceback" not in busy.stderr
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()

    done = run_cli(
        "set", "b.json", "n", "2", store=root, env={"VPA_CONFIG_LOCK_TIMEOUT": "2"}
    )
    assert done.returncode == 0, done.stderr

"""The key-change index is never the source of truth.

A store with hundreds of revisions is audited against a reference computed
with the git CLI alone; then the index is deleted, left stale, corrupted,
interrupted mid-rebuild and outlived by a rewritten history, and every
answer must stay the same.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ACTOR, ROOT, git
from vpa_config import keyindex
from vpa_config.keyindex import INDEX_FILE
from vpa_config.store import ConfigStore

sys.path.insert(0, str(ROOT / "benchmarks"))
from fixtures import build_history_store  # noqa: E402

FILES = ["services/svc-00.yaml", "services/svc-01.yaml", "services/svc-02.yaml"]
KEYS = ["service.replicas", "service.timeout_s", "service.log_level"]


@pytest.fixture(name="built_store", scope="module")
def _built_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 3 files with 300 revisions, one key of one file each (built once)."""
    path = tmp_path_factory.mktemp("built") / "long"
    build_history_store(path, files=3, revisions=300, seed=11)
    return path


@pytest.fixture(name="long_store")
def _long_store(built_store: Path, tmp_path: Path) -> Path:
    """A copy of the built store for one test, without any index."""
    path = tmp_path / "long"
    shutil.copytree(built_store, path, symlinks=True)
    _delete_index(path)
    return path


def reference_audit(path: Path, file: str, key: str) -> list[tuple[str, Any, Any]]:
    """(revision, old, new) of each change of ``key``, newest first, by the git CLI."""
    revisions = git(path, "rev-list", "--reverse", "HEAD").split()
    batch = subprocess.run(
        ["git", "-C", str(path), "cat-file", "--batch"],
        input="".join(f"{rev}:{file}\n" for rev in revisions),
        capture_output=True, text=True, check=True,
    ).stdout
    values = _batch_values(batch, key.split("."))
    changes = []
    previous: Any = _ABSENT
    for rev, value in zip(revisions, values):
        if value != previous:
            changes.append((rev, previous, value))
        previous = value
    return changes[::-1]


_ABSENT = "(absent)"


def _batch_values(batch: str, parts: list[str]) -> list[Any]:
    values = []
    rest = batch
    while rest:
        header, _, rest = rest.partition("\n")
        if header.endswith("missing"):
            values.append(_ABSENT)
            continue
        size = int(header.split()[2])
        body, rest = rest[:size], rest[size + 1 :]
        node: Any = yaml.safe_load(body)
        for part in parts:
            node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        values.append(node)
    return values


def answers(path: Path) -> dict[str, Any]:
    """Everything the index answers, from a freshly opened store."""
    store = ConfigStore.open(path)
    try:
        return {
            "audit": {
                (file, key): [e.to_dict() for e in store.audit(file, key)]
                for file in FILES for key in KEYS
            },
            "blame": {file: [b.to_dict() for b in store.blame(file)] for file in FILES},
            "log": {file: [e.to_dict() for e in store.log(file)] for file in FILES},
            "log_key": [e.revision for e in store.log(key=f"{FILES[0]}:{KEYS[0]}")],
            "recent": [e.to_dict() for e in store.log(limit=20)],
            "log_all": [e.to_dict() for e in store.log()],
        }
    finally:
        store.close()


def test_audit_matches_a_reference_built_with_the_git_cli(long_store: Path) -> None:
    store = ConfigStore.open(long_store)

    for file in FILES:
        for key in KEYS:
            found = [
                (e.who.revision, e.old if e.change != "added" else _ABSENT, e.new)
                for e in store.audit(file, key)
            ]
            assert found == reference_audit(long_store, file, key), (file, key)
    store.close()


def test_log_of_a_file_matches_git_log(long_store: Path) -> None:
    store = ConfigStore.open(long_store)

    for file in FILES:
        mine = [entry.revision for entry in store.log(file)]
        assert mine == git(long_store, "log", "--format=%H", "--", file).split()
    assert [e.revision for e in store.log(limit=20)] == git(
        long_store, "log", "-20", "--format=%H"
    ).split()
    store.close()


def reference_log(path: Path) -> list[tuple[str, str, int, str, list[str]]]:
    """(revision, author, time, subject, files) of every revision, by the git CLI."""
    out = git(path, "log", "--format=%x01%H%x00%an <%ae>%x00%at%x00%s", "--name-only")
    entries = []
    for chunk in out.split("\x01")[1:]:
        head, _, names = chunk.partition("\n")
        sha, author, when, subject = head.split("\x00")
        entries.append((sha, author, int(when), subject, names.split()))
    return entries


def mine_log(entries: list[Any]) -> list[tuple[str, str, int, str, list[str]]]:
    return [(e.revision, e.author, e.time, e.subject, list(e.files)) for e in entries]


def test_the_whole_log_matches_git_log_through_every_change_of_head(
    long_store: Path, run_cli: Any
) -> None:
    def check() -> None:
        store = ConfigStore.open(long_store)
        mine = mine_log(store.log())
        store.close()
        assert mine == reference_log(long_store)
        done = run_cli("log", "--json", store=long_store)
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(d["revision"], d["files"]) for d in lines] == [
            (sha, files) for sha, _, _, _, files in mine
        ]

    check()  # builds the index
    text = re.sub(r"replicas: \d+", "replicas: 77", (long_store / FILES[2]).read_text())
    (long_store / FILES[2]).write_text(text)
    git(long_store, "-c", "user.name=Carol", "-c", "user.email=c@example.org",
        "commit", "-q", "--no-verify", "-am", "behind the tool's back")
    check()  # the git CLI's commit is indexed on the next read
    assert reference_log(long_store)[0][1:4:2] == ("Carol <c@example.org>", "behind "
                                                   "the tool's back")
    git(long_store, "reset", "-q", "--hard", "HEAD~40")
    check()  # the 40 lost revisions are dropped
    assert len(reference_log(long_store)) == 301 - 40


def test_a_deleted_index_gives_the_same_answers(long_store: Path) -> None:
    before = answers(long_store)
    index = long_store / ".git" / INDEX_FILE
    assert index.exists()

    for suffix in ("", "-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)

    assert answers(long_store) == before
    assert index.exists()


def test_a_stale_index_catches_up_with_tool_and_git_cli_commits(long_store: Path) -> None:
    answers(long_store)
    index = long_store / ".git" / INDEX_FILE
    saved = long_store.parent / "saved.sqlite"
    _checkpoint(long_store)
    shutil.copy(index, saved)
    store = ConfigStore.open(long_store)
    store.set(FILES[0], KEYS[0], 41, actor=ACTOR, reason="via the tool")
    store.close()
    text = re.sub(r"log_level: \w+", "log_level: verbose",
                  (long_store / FILES[1]).read_text())
    (long_store / FILES[1]).write_text(text)
    git(long_store, "-c", "user.name=Carol", "-c", "user.email=c@example.org",
        "commit", "-q", "--no-verify", "-am", "by hand")
    current = answers(long_store)

    _checkpoint(long_store)
    shutil.copy(saved, index)
    Path(str(index) + "-wal").unlink(missing_ok=True)
    Path(str(index) + "-shm").unlink(missing_ok=True)

    assert answers(long_store) == current
    assert current["audit"][(FILES[0], KEYS[0])][0]["new"] == 41
    assert current["audit"][(FILES[1], KEYS[2])][0]["author"] == "Carol <c@example.org>"
    assert current["audit"][(FILES[1], KEYS[2])][0]["new"] == "verbose"


def test_a_rewritten_history_drops_the_lost_revisions(long_store: Path) -> None:
    answers(long_store)
    lost = git(long_store, "rev-parse", "HEAD").strip()
    git(long_store, "reset", "-q", "--hard", "HEAD~5")
    store = ConfigStore.open(long_store)
    store.set(FILES[2], KEYS[0], 42, actor=ACTOR, reason="after the reset")
    store.close()

    after = answers(long_store)
    _delete_index(long_store)

    assert answers(long_store) == after
    revisions = {e["revision"] for rows in after["audit"].values() for e in rows}
    assert lost not in revisions
    assert after["audit"][(FILES[2], KEYS[0])][0]["reason"] == "after the reset"


def test_a_corrupted_index_is_rebuilt(long_store: Path) -> None:
    before = answers(long_store)
    _checkpoint(long_store)
    index = long_store / ".git" / INDEX_FILE

    index.write_bytes(b"this is not a database" * 100)

    assert answers(long_store) == before


def test_an_index_another_process_holds_is_waited_for_never_removed(
    long_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vpa_config.sqlite import sqlite3

    answers(long_store)
    keyindex.close_all()
    index = long_store / ".git" / INDEX_FILE
    inode = index.stat().st_ino
    real_open = keyindex.KeyIndex._open_db
    refusals = []

    def busy_twice(self: keyindex.KeyIndex, where: object) -> object:
        if len(refusals) < 2:
            refusals.append(where)
            raise sqlite3.OperationalError("database is locked")
        return real_open(self, where)

    monkeypatch.setattr(keyindex.KeyIndex, "_open_db", busy_twice)

    store = ConfigStore.open(long_store)
    try:
        found = store.audit(FILES[0], KEYS[0])
    finally:
        store.close()

    assert len(refusals) == 2 and found
    assert index.stat().st_ino == inode  # the same file: waited for, not reset


def test_an_interrupted_rebuild_resumes(
    long_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = answers(long_store)
    _delete_index(long_store)
    monkeypatch.setattr(keyindex, "BATCH", 50)
    real = keyindex.KeyIndex._index_one
    calls = {"n": 0}

    def dies_after_120(self: Any, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 120:
            raise KeyboardInterrupt
        real(self, *args)

    monkeypatch.setattr(keyindex.KeyIndex, "_index_one", dies_after_120)
    store = ConfigStore.open(long_store)
    with pytest.raises(KeyboardInterrupt):
        store.audit(FILES[0], KEYS[0])
    store.close()
    monkeypatch.setattr(keyindex.KeyIndex, "_index_one", real)
    partial = keyindex.KeyIndex(ConfigStore.open(long_store).repo)

    assert partial.tip()[0] == 99  # two batches of 50 kept
    assert answers(long_store) == before


def test_two_processes_building_the_index_at_once_agree(long_store: Path) -> None:
    from conftest import cli_env

    argv = [sys.executable, "-m", "vpa_config", "--store", str(long_store),
            "audit", FILES[0], KEYS[0], "--json"]
    env = cli_env(long_store.parent)
    children = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=300) for child in children]

    assert [child.returncode for child in children] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]
    expected = reference_audit(long_store, FILES[0], KEYS[0])
    assert [json.loads(line)["revision"] for line in outputs[0][0].splitlines()] == [
        rev for rev, _, _ in expected
    ]


def test_audit_of_a_file_never_in_the_store_is_not_found(long_store: Path) -> None:
    from vpa_config.errors import NotFoundError

    store = ConfigStore.open(long_store)

    with pytest.raises(NotFoundError, match="nope.yaml: no such file in the store's history"):
        store.audit("nope.yaml", "a.b")
    store.close()


def test_each_commit_keeps_the_index_current(long_store: Path) -> None:
    answers(long_store)
    store = ConfigStore.open(long_store)

    store.set(FILES[0], KEYS[1], 12.5, actor=ACTOR, reason="quick")
    index = keyindex.KeyIndex(store.repo)

    assert index.is_current()
    rows = index.key_rows(FILES[0], ("service", "timeout_s"), 0, 1 << 40)
    assert rows[0].new_value() == 12.5
    store.close()


def test_queued_records_are_written_by_a_read_and_a_commit_between_them_is_caught_up(
    long_store: Path,
) -> None:
    """A process's later records wait in a queue (KeyIndex.record); a commit
    another process makes between two of them must not go missing."""
    answers(long_store)
    store = ConfigStore.open(long_store)
    store.set(FILES[0], KEYS[0], 51, actor=ACTOR, reason="first: written at once")
    store.set(FILES[0], KEYS[0], 52, actor=ACTOR, reason="queued")
    other = ConfigStore.open(long_store)  # another process's store, as the CLI's
    other.set(FILES[1], KEYS[0], 53, actor="Carol <c@example.org>", reason="between")
    other.close()
    store.set(FILES[0], KEYS[0], 54, actor=ACTOR, reason="queued on Carol's")
    store.set(FILES[2], KEYS[0], 55, actor=ACTOR, reason="queued too")

    mine = [(e.new, e.who.reason) for e in store.audit(FILES[0], KEYS[0])][:3]
    store.close()

    assert mine == [(54, "queued on Carol's"), (52, "queued"), (51, "first: written at once")]
    assert answers(long_store) == _rebuilt_answers(long_store)
    assert keyindex.KeyIndex(ConfigStore.open(long_store).repo).is_current()


def test_closing_the_store_writes_the_queued_records(long_store: Path) -> None:
    answers(long_store)
    store = ConfigStore.open(long_store)
    for value in (61, 62, 63):
        store.set(FILES[0], KEYS[0], value, actor=ACTOR, reason=f"to {value}")
    store.close()

    index = keyindex.KeyIndex(ConfigStore.open(long_store).repo)  # no catching up
    assert index.is_current()
    rows = index.key_rows(FILES[0], ("service", "replicas"), 0, 1 << 40)
    assert [row.new_value() for row in rows[:3]] in ([63, 62, 61], [61, 62, 63])


def _rebuilt_answers(path: Path) -> dict[str, Any]:
    """The answers of an index built afresh from git."""
    _delete_index(path)
    return answers(path)


def _checkpoint(path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path / ".git" / INDEX_FILE)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _delete_index(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (path / ".git" / (INDEX_FILE + suffix)).unlink(missing_ok=True)


def test_an_index_that_cannot_be_written_is_kept_in_memory(long_store: Path) -> None:
    expected = reference_audit(long_store, FILES[0], KEYS[0])
    blocker = long_store / ".git" / INDEX_FILE
    blocker.mkdir()  # neither a database nor removable: like a read-only store

    store = ConfigStore.open(long_store)
    found = [e.who.revision for e in store.audit(FILES[0], KEYS[0])]
    store.close()

    assert found == [rev for rev, _, _ in expected]
    assert blocker.is_dir()


def _index_files(path: Path) -> dict[str, int]:
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        file = path / ".git" / (INDEX_FILE + suffix)
        if file.exists():
            found[file.name] = file.stat().st_mode & 0o777
    return found


def test_the_index_and_its_side_files_are_closed_to_others(
    store: ConfigStore, store_path: Path
) -> None:
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    store.audit("assistant.yaml", "llm.temperature")  # the first read builds it
    made = _index_files(store_path)
    store.close()
    for name in made:  # closing the store closed the index: its log is gone
        if (store_path / ".git" / name).exists():
            (store_path / ".git" / name).chmod(0o644)  # made before the rule

    reopened = ConfigStore.open(store_path)
    reopened.set("assistant.yaml", "llm.temperature", 0.4, actor=ACTOR)
    fixed = _index_files(store_path)
    reopened.close()

    assert INDEX_FILE in made and INDEX_FILE + "-wal" in made, made
    assert set(made.values()) == {0o600}, made
    assert fixed and set(fixed.values()) == {0o600}, fixed


class _Terminal:
    """A stand-in stderr that says it is a terminal and keeps what was drawn."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_a_long_rebuild_draws_a_bar_only_on_a_terminal(
    long_store: Path, monkeypatch: pytest.MonkeyPatch, tty: bool
) -> None:
    terminal = _Terminal(tty)
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(keyindex, "PROGRESS_FROM", 100)
    keyindex.show_progress()
    try:
        store = ConfigStore.open(long_store)
        store.log(FILES[0])
        store.close()
    finally:
        keyindex.show_progress(False)

    if tty:
        assert "indexing history [" in terminal.text
        assert "300/300 revisions" in terminal.text
        assert terminal.text.endswith("\r\x1b[2K")  # erased when done
    else:
        assert terminal.text == ""


def test_a_library_caller_sees_no_bar(
    long_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal(True)
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(keyindex, "PROGRESS_FROM", 100)

    store = ConfigStore.open(long_store)
    store.log(FILES[0])
    store.close()

    assert terminal.text == ""


def test_changes_on_an_index_behind_head_try_once_then_a_read_catches_up(
    long_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ConfigStore.open(long_store)
    try:
        store.log(FILES[0])  # the index is built, at HEAD
        git(long_store, "-c", "user.name=G", "-c", "user.email=g@example.org",
            "commit", "-q", "--no-verify", "--allow-empty", "-m", "outside")
        attempts: list[int] = []
        write = keyindex.KeyIndex._write_records

        def counted(self: keyindex.KeyIndex, entries: list[Any]) -> bool:
            attempts.append(len(entries))
            return write(self, entries)

        monkeypatch.setattr(keyindex.KeyIndex, "_write_records", counted)
        for replicas in (41, 42, 43):
            store.set(FILES[0], "service.replicas", replicas, actor=ACTOR)
        monkeypatch.undo()

        changes = store.audit(FILES[0], "service.replicas")
    finally:
        store.close()

    assert attempts == [1]  # found behind once; the next changes do not retry
    assert [change.new for change in changes[:3]] == [43, 42, 41]
    assert [change.who.revision for change in changes] == [
        revision for revision, _old, _new in reference_audit(
            long_store, FILES[0], "service.replicas")
    ]

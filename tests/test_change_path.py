"""The in-process change path: git's index, the branch and the reflog, shared parses.

Each change writes git's index and moves the branch without dulwich's
porcelain; these tests check the result with the git CLI, including when git
itself has touched the index or holds a lock in between.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from conftest import git
from reliability import (
    ACTOR,
    fork_child,
    free_form_store,
    leftovers,
    read_all,
    wait_status,
    working_tree,
)

from vpa_config import documents, fsutil, gitindex
from vpa_config.errors import StorageError
from vpa_config.layout import journal_left
from vpa_config.store import ConfigStore

SEED = {
    "a.yaml": b"a: 1\nnested:\n  b: 2  # a comment\n",
    "sub/c.yaml": b"c: [1, 2]\n",
}


@pytest.fixture(name="root")
def _root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    free_form_store(root, SEED)
    return root


def _git_clean(root: Path) -> None:
    """git sees the working tree clean, by stat alone and by content."""
    assert git(root, "diff-files", "--name-only") == ""
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "diff-index", "--cached", "--name-only", "HEAD") == ""


def test_changes_leave_git_status_clean(root: Path) -> None:
    store = ConfigStore.open(root)
    for value in range(3):
        store.set("a.yaml", "nested.b", value, actor=ACTOR)
        store.set("sub/c.yaml", "c.0", value, actor=ACTOR)
    store.import_file("sub/new.yaml", b"n: 1\n", actor=ACTOR)
    store.remove("sub/c.yaml", actor=ACTOR)
    store.close()

    _git_clean(root)
    staged = git(root, "ls-files", "-s").splitlines()
    assert [line.split("\t")[1] for line in staged] == [
        ".vpa-config/settings.yaml", "a.yaml", "sub/new.yaml"
    ]
    for line in staged:
        mode_sha, name = line.split("\t")
        sha = mode_sha.split()[1]
        assert git(root, "rev-parse", f"HEAD:{name}").strip() == sha
    git(root, "fsck", "--strict")


def test_index_staged_by_git_between_changes_is_kept(root: Path) -> None:
    """A hand ``git add`` rewrites the index: the next change reads it again."""
    store = ConfigStore.open(root)
    store.set("a.yaml", "a", 2, actor=ACTOR)  # the index is now known in-process
    (root / "sub" / "c.yaml").write_bytes(b"c: [9]\n")
    git(root, "add", "sub/c.yaml")

    store.set("a.yaml", "a", 3, actor=ACTOR)
    store.close()

    assert git(root, "diff", "--cached", "--name-only") == "sub/c.yaml\n"
    staged = git(root, "ls-files", "-s", "sub/c.yaml").split()[1]
    assert git(root, "hash-object", "sub/c.yaml").strip() == staged
    assert git(root, "diff-files", "--name-only") == ""


def test_index_version_4_is_left_to_dulwich(root: Path) -> None:
    git(root, "update-index", "--index-version", "4")
    store = ConfigStore.open(root)

    store.set("a.yaml", "a", 5, actor=ACTOR)
    store.close()

    _git_clean(root)
    assert git(root, "show", "HEAD:a.yaml").startswith("a: 5\n")


def test_index_with_a_cached_tree_is_rewritten_without_it(root: Path) -> None:
    """git's optional extensions (here the cached tree) are dropped, not corrupted."""
    git(root, "read-tree", "HEAD")  # writes a TREE extension
    git(root, "update-index", "--refresh")
    store = ConfigStore.open(root)

    store.set("sub/c.yaml", "c.1", 7, actor=ACTOR)
    store.close()

    _git_clean(root)
    assert b"TREE" not in (root / ".git" / "index").read_bytes()
    git(root, "fsck", "--strict")


def test_a_git_holding_the_index_lock_does_not_fail_the_change(root: Path) -> None:
    store = ConfigStore.open(root)
    lock = root / ".git" / "index.lock"
    lock.write_bytes(b"a git command is writing")

    result = store.set("a.yaml", "a", 4, actor=ACTOR)

    assert result.committed
    assert lock.read_bytes() == b"a git command is writing"  # not ours to touch
    lock.unlink()
    store.set("a.yaml", "a", 5, actor=ACTOR)
    store.close()
    _git_clean(root)


def test_parse_of_an_index_file_this_module_cannot_read_says_so(tmp_path: Path) -> None:
    controldir = tmp_path / ".git"
    controldir.mkdir()
    (controldir / "index").write_bytes(b"DIRC not an index at all")

    assert not gitindex.update(controldir, tmp_path, {}, [])
    assert not gitindex.update(tmp_path / "absent", tmp_path, {}, [])


def test_branch_move_writes_git_readable_ref_and_reflog(root: Path) -> None:
    store = ConfigStore.open(root)
    before = store.repo.head()

    after = store.set("a.yaml", "a", 8, actor=ACTOR).revision
    store.close()

    assert git(root, "rev-parse", "refs/heads/main").strip() == after
    last = git(root, "reflog", "show", "--format=%H %gs", "-1", "main").split()
    assert last[0] == after
    log = (root / ".git" / "logs" / "refs" / "heads" / "main").read_bytes()
    line = log.splitlines()[-1]
    who = "vpa-config <vpa-config@localhost>"
    assert line.startswith(f"{before} {after} {who} ".encode())
    assert line.endswith(f"\tvpa-config: {before} -> {after}".encode())
    git(root, "fsck", "--strict")


def test_branch_locked_by_git_refuses_and_rolls_back(root: Path) -> None:
    store = ConfigStore.open(root)
    head = store.repo.head()
    before = working_tree(root)
    lock = root / ".git" / "refs" / "heads" / "main.lock"
    lock.write_bytes(b"0" * 40 + b"\n")

    with pytest.raises(StorageError, match="lock file exists"):
        store.set("a.yaml", "a", 9, actor=ACTOR)

    assert store.repo.head() == head
    assert working_tree(root) == before
    assert lock.read_bytes() == b"0" * 40 + b"\n"
    lock.unlink()
    assert store.set("a.yaml", "a", 9, actor=ACTOR).committed
    store.close()
    assert leftovers(root) == []


def test_packed_branch_is_moved_through_dulwich(root: Path) -> None:
    git(root, "pack-refs", "--all")
    assert not (root / ".git" / "refs" / "heads" / "main").exists()
    store = ConfigStore.open(root)

    after = store.set("a.yaml", "a", 10, actor=ACTOR).revision
    again = store.set("a.yaml", "a", 11, actor=ACTOR).revision
    store.close()

    assert git(root, "rev-parse", "main").strip() == again
    assert git(root, "rev-parse", "main~1").strip() == after
    git(root, "fsck", "--strict")


def test_shared_parse_serves_one_object_and_refuses_alike() -> None:
    first = documents.parse_shared("x.yaml", b"a: {b: 1}\n")
    again = documents.parse_shared("y.yaml", "a: {b: 1}\n")

    assert first is again and first == {"a": {"b": 1}}
    assert documents.parse_shared("x.json", '{"a": {"b": 1}}') == first
    for _ in range(2):
        with pytest.raises(documents.ParseError, match=r"x\.yaml"):
            documents.parse_shared("x.yaml", b"a: [\n")


def test_change_results_do_not_share_parsed_values(root: Path) -> None:
    """Values handed to the caller are copies: changing them changes no later parse."""
    store = ConfigStore.open(root)
    result = store.set("a.yaml", "added", {"deep": [1]}, actor=ACTOR)
    key = next(key for change in result.files for key in change.keys)
    key.new["deep"].append("mine")

    again = store.set("a.yaml", "a", 12, actor=ACTOR)
    store.close()

    assert store.get("a.yaml", "added") == {"deep": [1]}
    assert [k.dotted for change in again.files for k in change.keys] == ["a"]


def test_staged_writes_place_synced_files_and_discard_the_rest(tmp_path: Path) -> None:
    staged = fsutil.StagedWrites()
    kept = tmp_path / "new" / "deeper" / "kept.yaml"
    dropped = tmp_path / "dropped.yaml"
    journal = tmp_path / "journal"
    staged.write(kept, b"k: 1\n", 0o600)
    staged.write(dropped, b"d: 1\n", 0o644)
    staged.write_over(journal, b"{}", 0o644)
    assert not kept.exists() and journal.read_bytes() == b"{}"

    staged.sync()
    folders = staged.place([kept])
    staged.discard()

    assert kept.read_bytes() == b"k: 1\n"
    assert kept.stat().st_mode & 0o777 == 0o600
    # the new folders' own entries are synced too, in their parents
    assert folders == {str(kept.parent), str(tmp_path / "new"), str(tmp_path)}
    assert not dropped.exists()
    assert list(fsutil.stray_temp_files(tmp_path)) == []
    assert kept.is_file()  # its folders hold it: discard leaves them


def test_writing_over_a_kept_file_leaves_the_tail_of_a_longer_one(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal"
    journal.write_bytes(b"a much longer record than the next\n")
    staged = fsutil.StagedWrites()
    staged.write_over(journal, b"short\n", 0o644)
    staged.sync()

    assert journal.read_bytes() == b"short\n longer record than the next\n"
    fsutil.write_first_byte(journal, b"-")
    assert journal.read_bytes().startswith(b"-hort\n")


def test_staged_writes_discarded_remove_the_folders_they_made(tmp_path: Path) -> None:
    staged = fsutil.StagedWrites()
    staged.write(tmp_path / "new" / "never.yaml", b"n: 1\n", 0o644)
    staged.write(tmp_path / "new" / "deeper" / "never.yaml", b"n: 1\n", 0o644)

    staged.discard()

    assert list(tmp_path.iterdir()) == []


def test_parallel_fsyncs_work_in_a_forked_child(tmp_path: Path) -> None:
    """The fsync threads are not inherited by a child: it makes its own."""
    fds = [os.open(tmp_path / name, os.O_RDWR | os.O_CREAT) for name in "ab"]
    fsutil.fsync_all(fds)  # the parent's threads exist now

    def child(out: int) -> None:
        signal.alarm(20)  # a child waiting on threads it lacks would hang
        fsutil.fsync_all(fds)
        os.write(out, b"synced\n")

    pid, pipe = fork_child(child)
    lines = read_all(pipe)
    assert wait_status(pid) == ("exit", 0), lines
    assert lines == ["synced"]
    for fd in fds:
        os.close(fd)


def test_a_journal_cut_short_is_dropped_and_changes_nothing(root: Path) -> None:
    """The journal is written in place: a kill or a power cut mid-write leaves
    a prefix, which was written before any file was touched."""
    store = ConfigStore.open(root)
    head = store.repo.head()
    store.close()
    before = working_tree(root)
    record = {"commit": "0" * 40, "parent": head, "pid": 1, "files": {}}
    (root / ".git" / "vpa-config.journal").write_text(json.dumps(record)[:25])
    (root / ".git" / "vpa-config.lock.json").write_text(
        json.dumps({"pid": 999999, "host": "gone", "since": "then"})
    )

    store = ConfigStore.open(root)

    assert store.repo.head() == head
    assert working_tree(root) == before
    assert not journal_left(root / ".git")
    assert store.set("a.yaml", "a", 13, actor=ACTOR).committed
    store.close()
    assert leftovers(root) == []


def test_the_journal_is_read_by_its_first_byte_and_its_digest() -> None:
    from vpa_config.layout import JOURNAL_DONE, journal_bytes, journal_record

    record = json.dumps({"commit": "1" * 40, "files": {}}).encode()
    live = journal_bytes(record)
    longer_before = live + b"what a longer record left}\n"

    assert journal_record(live) == record
    assert journal_record(longer_before) == record
    assert journal_record(JOURNAL_DONE + live[1:]) is None  # marked done
    torn = live[:40] + b"x" + live[41:]  # a write cut short over an older one
    assert journal_record(torn) is None
    assert journal_record(b"") is None
    assert journal_record(record) == record  # as earlier versions wrote it


def test_a_torn_journal_over_an_old_one_is_dropped_and_changes_nothing(
    root: Path,
) -> None:
    from vpa_config.layout import journal_bytes

    store = ConfigStore.open(root)
    head = store.repo.head()
    store.close()
    before = working_tree(root)
    record = {"commit": "0" * 40, "parent": head, "pid": 1,
              "files": {"a.yaml": {"before": None, "after": None}}}
    live = journal_bytes(json.dumps(record).encode())
    (root / ".git" / "vpa-config.journal").write_bytes(live[:-9] + b"older tail\n")

    store = ConfigStore.open(root)

    assert store.repo.head() == head
    assert working_tree(root) == before
    assert not journal_left(root / ".git")
    store.close()


def test_objects_of_a_change_are_loose_objects_git_reads(root: Path) -> None:
    store = ConfigStore.open(root)
    revision = store.set("sub/c.yaml", "c.0", 21, actor=ACTOR).revision
    store.close()
    assert revision is not None

    tree = git(root, "rev-parse", f"{revision}^{{tree}}").strip()
    sub = git(root, "rev-parse", f"{revision}:sub").strip()
    blob = git(root, "rev-parse", f"{revision}:sub/c.yaml").strip()
    kinds = {revision: "commit", tree: "tree", sub: "tree", blob: "blob"}
    for sha, kind in kinds.items():
        assert git(root, "cat-file", "-t", sha).strip() == kind
        assert (root / ".git" / "objects" / sha[:2] / sha[2:]).is_file()
    assert git(root, "cat-file", "-p", blob) == "c: [21, 2]\n"
    git(root, "fsck", "--strict")


def test_index_version_3_keeps_the_flags_of_other_entries(root: Path) -> None:
    git(root, "update-index", "--skip-worktree", "sub/c.yaml")  # needs version 3
    store = ConfigStore.open(root)

    store.set("a.yaml", "a", 14, actor=ACTOR)
    store.close()

    assert (root / ".git" / "index").read_bytes()[4:8] == b"\0\0\0\3"
    listed = git(root, "ls-files", "-v").splitlines()
    flags = dict(line.split(" ", 1)[::-1] for line in listed)
    assert flags["sub/c.yaml"] == "S" and flags["a.yaml"] == "H"
    assert git(root, "status", "--porcelain") == ""


def test_a_damaged_index_does_not_fail_a_committed_change(root: Path) -> None:
    """git's index is a cache: a change is committed even when it cannot be read."""
    index = root / ".git" / "index"
    index.write_bytes(b"DIRC\0\0\0\2\0\0\0\7 damaged")
    store = ConfigStore.open(root)
    head = store.repo.head()

    result = store.set("a.yaml", "a", 15, actor=ACTOR)

    assert result.committed and store.repo.head() == result.revision != head
    assert working_tree(root)["a.yaml"].startswith(b"a: 15\n")
    store.close()
    index.unlink()
    git(root, "reset", "-q")  # git rebuilds its index
    assert git(root, "status", "--porcelain") == ""
    assert leftovers(root) == []


def test_a_failed_change_leaves_no_folder_it_made(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the new file's copy was written takes its folders away."""
    store = ConfigStore.open(root)
    head = store.repo.head()
    before = working_tree(root)

    def fail_at(point: str) -> None:
        if point == "after-journal":
            raise OSError(5, "input/output error")

    monkeypatch.setattr(store, "maybe_crash", fail_at)
    with pytest.raises(OSError):
        store.import_file("fresh/deep/new.yaml", b"n: 1\n", actor=ACTOR)
    monkeypatch.undo()

    assert store.repo.head() == head
    assert working_tree(root) == before
    assert not (root / "fresh").exists()
    assert leftovers(root) == []
    store.close()

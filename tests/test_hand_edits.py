"""Hand edits are seen however they were made, even when no file is read.

The store tells an unchanged working file by the stat git's index recorded
for it (``worktree.py``); these tests edit files in every way that keeps
the size, or the modification time, or both, and check that a change or a
restore still refuses to overwrite them, on real stores on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import ACTOR, git, snapshot
from vpa_config import gitindex, worktree
from vpa_config.errors import HandEditsError
from vpa_config.store import ConfigStore

FILE = "assistant.yaml"


def _same_size_edit(path: Path) -> bytes:
    """Change one letter of the file in place; its size stays."""
    before = path.read_bytes()
    edited = before.replace(b"name: Vee", b"name: Vex", 1)
    assert edited != before and len(edited) == len(before)
    with open(path, "r+b") as handle:  # the same inode, written in place
        handle.write(edited)
    return edited


def _index_after_files(store: ConfigStore) -> None:
    """Date the index a second after every working file, as when it is written
    a moment after the files (the entries are then not racily clean)."""
    index = store.repo.controldir / "index"
    newest = max(os.lstat(store.root / name).st_mtime_ns
                 for name in store.repo.files(store.repo.head()))
    os.utime(index, ns=(newest + 10**9, newest + 10**9))


def _changed(store: ConfigStore) -> None:
    store.set(FILE, "llm.temperature", 0.5, actor=ACTOR)


def _old_revision(store: ConfigStore) -> str:
    _changed(store)
    old = store.repo.head()
    store.set(FILE, "llm.temperature", 0.4, actor=ACTOR)
    return old


def test_files_the_index_vouches_for_are_not_read(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _changed(store)
    _index_after_files(store)
    tree = store.repo.files(store.repo.head())

    def no_reading(name: str, committed: object) -> tuple[bool, object]:
        raise AssertionError(f"{name} was read")

    monkeypatch.setattr(ConfigStore, "_state_on_disk", no_reading)

    assert store.hand_edited(tree, sorted(tree)) == set()
    assert store.snapshot_working_file(FILE, tree) == [
        tree[FILE][1], os.lstat(store.root / FILE).st_mode & 0o777
    ]


def test_a_same_size_edit_with_its_mtime_put_back_is_seen(store: ConfigStore) -> None:
    old = _old_revision(store)
    _index_after_files(store)
    path = store.root / FILE
    st = os.lstat(path)
    _same_size_edit(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as before
    before = snapshot(store.root)

    with pytest.raises(HandEditsError, match=f"{FILE}: uncommitted hand edits"):
        store.restore(old, actor=ACTOR)
    with pytest.raises(HandEditsError, match=f"{FILE} has uncommitted hand edits"):
        store.set(FILE, "llm.temperature", 0.9, actor=ACTOR)

    assert snapshot(store.root) == before
    assert [edit.path for edit in store.status().hand_edits] == [FILE]


def test_a_file_replaced_by_another_of_the_same_size_and_mtime_is_seen(
    store: ConfigStore,
) -> None:
    old = _old_revision(store)
    _index_after_files(store)
    path = store.root / FILE
    st = os.lstat(path)
    other = store.root / "other.tmp"
    other.write_bytes(path.read_bytes().replace(b"name: Vee", b"name: Vex", 1))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)  # as an editor saves: a new inode in its place

    with pytest.raises(HandEditsError, match=FILE):
        store.restore(old, actor=ACTOR)

    assert b"name: Vex" in path.read_bytes()


def test_a_racily_clean_entry_is_not_trusted(store: ConfigStore) -> None:
    # git's race: the file is edited and its entry written in the same tick,
    # so the entry holds the edited file's stat beside the committed blob.
    old = _old_revision(store)
    path = store.root / FILE
    tree = store.repo.files(store.repo.head())
    edited = _same_size_edit(path)
    controldir = store.repo.controldir
    assert gitindex.update(controldir, store.root, tree, [FILE])
    mtime = os.lstat(path).st_mtime_ns
    os.utime(controldir / "index", ns=(mtime, mtime))  # written in the same tick

    assert FILE not in worktree.unchanged(controldir, store.root, tree, [FILE])
    with pytest.raises(HandEditsError, match=FILE):
        store.restore(old, actor=ACTOR)
    assert path.read_bytes() == edited
    assert store.snapshot_working_file(FILE, tree)[0] == store.repo.blob_id(edited)


def test_an_entry_of_a_newer_index_for_another_blob_is_not_trusted(
    store: ConfigStore,
) -> None:
    old = _old_revision(store)
    path = store.root / FILE
    _same_size_edit(path)
    git(store.root, "add", FILE)  # git records the edit's blob and stat
    _index_after_files(store)

    with pytest.raises(HandEditsError, match=FILE):
        store.restore(old, actor=ACTOR)


@pytest.mark.parametrize("index", ["absent", "damaged"])
def test_without_a_readable_index_every_file_is_read(
    store: ConfigStore, index: str
) -> None:
    old = _old_revision(store)
    path = store.root / FILE
    _same_size_edit(path)
    index_file = store.repo.controldir / "index"
    if index == "absent":
        index_file.unlink()
    else:
        index_file.write_bytes(b"DIRC" + b"\0" * 40)
    tree = store.repo.files(store.repo.head())

    assert worktree.unchanged(store.repo.controldir, store.root, tree, tree) == {}
    assert store.hand_edited(tree, sorted(tree)) == {FILE}
    with pytest.raises(HandEditsError, match=FILE):
        store.restore(old, actor=ACTOR)


def test_a_deleted_or_emptied_file_is_seen(store: ConfigStore) -> None:
    _changed(store)
    _index_after_files(store)
    tree = store.repo.files(store.repo.head())
    (store.root / FILE).unlink()
    (store.root / "logging.json").write_bytes(b"")

    assert store.hand_edited(tree, sorted(tree)) == {FILE, "logging.json"}


def test_restore_brings_back_every_file_and_leaves_the_index_trusted(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.repo.head()
    names = ["assistant.yaml", "plugins.yaml", "logging.json"]
    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)
    store.set("assistant.yaml", "assistant.name", "Ada", actor=ACTOR)
    store.remove("plugins.yaml", actor=ACTOR)
    latest = store.repo.head()

    result = store.restore(first, actor=ACTOR, reason="back to the start")

    assert result.committed
    assert git(store.root, "diff", "--stat", first, "HEAD") == ""
    for name in names:
        assert (store.root / name).read_text() == git(store.root, "show", f"{first}:{name}")
    assert git(store.root, "status", "--porcelain") == ""
    git(store.root, "fsck", "--strict")

    # Right after the restore, its own entries vouch for the files it wrote.
    _index_after_files(store)
    reads: list[str] = []
    original = ConfigStore._state_on_disk

    def counted(self: ConfigStore, name: str, committed: object) -> tuple[bool, object]:
        reads.append(name)
        return original(self, name, committed)

    monkeypatch.setattr(ConfigStore, "_state_on_disk", counted)
    again = store.restore(latest, actor=ACTOR)

    assert again.committed and reads == []
    assert git(store.root, "diff", "--stat", latest, "HEAD") == ""
    assert not (store.root / "plugins.yaml").exists()
    assert git(store.root, "status", "--porcelain") == ""


def test_discarding_a_same_size_edit_restores_the_old_content(
    store: ConfigStore,
) -> None:
    old = _old_revision(store)
    _index_after_files(store)
    path = store.root / FILE
    st = os.lstat(path)
    _same_size_edit(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    result = store.restore(old, actor=ACTOR, hand_edits="discard")

    assert result.committed
    assert path.read_text() == git(store.root, "show", f"{old}:{FILE}")
    assert git(store.root, "status", "--porcelain") == ""


def test_an_edit_made_while_a_change_finishes_is_seen(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index records each file as the change renamed it into place, not
    # as it is when the index is written a moment later.
    _changed(store)
    original = store.repo.update_index

    def edit_first(*args: object) -> None:
        _same_size_edit(store.root / FILE)
        original(*args)

    monkeypatch.setattr(store.repo, "update_index", edit_first)
    store.set(FILE, "llm.temperature", 0.6, actor=ACTOR)
    monkeypatch.undo()
    _index_after_files(store)
    tree = store.repo.files(store.repo.head())

    assert store.hand_edited(tree, sorted(tree)) == {FILE}
    with pytest.raises(HandEditsError, match=FILE):
        store.set(FILE, "llm.temperature", 0.7, actor=ACTOR)


def _journaled(store: ConfigStore) -> dict:
    import json

    data = (store.repo.controldir / "vpa-config.journal").read_bytes()
    line = data[1:].split(b"\n", 1)[0]  # marked done: the record is still there
    return json.loads(line.partition(b" ")[2])


@pytest.mark.parametrize("vouched", [True, False], ids=["index", "content"])
def test_a_change_journals_the_state_its_hand_edit_check_found(
    store: ConfigStore, monkeypatch: pytest.MonkeyPatch, vouched: bool
) -> None:
    path = store.root / FILE
    os.chmod(path, 0o640)
    store.set(".vpa-config/settings.yaml", "allow_unschematized", True, actor=ACTOR)
    store.set(FILE, "llm.temperature", 0.4, actor=ACTOR)
    if vouched:
        _index_after_files(store)
    else:
        path.write_bytes(path.read_bytes())  # same content, new stat: read to know
    before = store.repo.files(store.repo.head())[FILE][1]

    def read_again(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("the journal read the file again")

    monkeypatch.setattr(ConfigStore, "snapshot_working_file", read_again)
    with store.transaction(subject="two files", actor=ACTOR) as tx:
        tx.set(FILE, "llm.temperature", 0.3)
        tx.write("extra.yaml", b"a: 1\n")
    monkeypatch.undo()

    files = _journaled(store)["files"]
    assert files[FILE]["before"] == [before, 0o640]
    assert files["extra.yaml"]["before"] is None
    assert store.get(FILE, "llm.temperature") == 0.3

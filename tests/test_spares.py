"""Spare files: a process's next change renames files made ahead, creates none.

Real stores on disk; the files a change creates are seen by watching
``os.open`` and ``os.link`` while it runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from reliability import ACTOR, free_form_store, leftovers

from vpa_config import fsutil, spares
from vpa_config.errors import StorageError
from vpa_config.store import ConfigStore


@pytest.fixture(name="root")
def _root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    free_form_store(root, {"sub/c.yaml": b"c: 1\n"})
    return root


def _spare_names(root: Path) -> list[str]:
    folder = root / ".git" / spares.FOLDER
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def _created_during(monkeypatch: pytest.MonkeyPatch, change) -> list[str]:
    """The files ``change()`` created by name (not spares: those it linked)."""
    created: list[str] = []
    real_open = os.open

    def watching(path, flags, *args, **kwargs):
        new = flags & os.O_CREAT and not os.path.exists(path)
        fd = real_open(path, flags, *args, **kwargs)
        if new:
            created.append(os.fspath(path))
        return fd

    monkeypatch.setattr(os, "open", watching)
    try:
        change()
    finally:
        monkeypatch.undo()
    return created


def test_changes_after_the_first_create_no_file_and_close_removes_the_spares(
    root: Path, monkeypatch: pytest.MonkeyPatch
):
    store = ConfigStore.open(root)
    try:
        first = _created_during(
            monkeypatch, lambda: store.set("sub/c.yaml", "c", 2, actor=ACTOR)
        )
        fsutil.settle()  # the spares are made in the background
        made = _spare_names(root)
        later = _created_during(
            monkeypatch, lambda: store.set("sub/c.yaml", "c", 3, actor=ACTOR)
        )
        fsutil.settle()
    finally:
        store.close()

    # objects, the file's copy, the branch's and git index's locks
    assert len(first) == 7, first
    assert len(made) == len(first), first
    assert later == []
    assert _spare_names(root) == []
    assert store.get("sub/c.yaml", "c") == 3
    assert git(root, "status", "--porcelain") == ""
    git(root, "fsck", "--strict", "--no-progress")
    assert leftovers(root) == []
    # the spare that became the index and the branch: modes as git makes them
    assert (root / ".git" / "index").stat().st_mode & 0o777 == 0o644
    assert (root / ".git" / "refs" / "heads" / "main").stat().st_mode & 0o777 == 0o644


def test_a_command_line_process_makes_no_spares(root: Path):
    (root / ".git" / spares.FOLDER).rmdir()  # the seeding library changes' (empty)
    done = subprocess.run(
        [sys.executable, "-m", "vpa_config", "--store", str(root), "set",
         "sub/c.yaml", "c", "5", "--actor", ACTOR],
        capture_output=True, text=True, check=False,
    )

    assert done.returncode == 0, done.stderr
    assert not (root / ".git" / spares.FOLDER).exists()


def test_a_spare_removed_behind_the_process_is_not_used(root: Path):
    store = ConfigStore.open(root)
    try:
        store.set("sub/c.yaml", "c", 2, actor=ACTOR)
        fsutil.settle()
        for name in _spare_names(root):
            (root / ".git" / spares.FOLDER / name).unlink()
        store.set("sub/c.yaml", "c", 3, actor=ACTOR)
        fsutil.settle()
    finally:
        store.close()

    assert store.get("sub/c.yaml", "c") == 3
    git(root, "fsck", "--strict", "--no-progress")
    assert leftovers(root) == []


def test_a_lock_a_git_program_holds_still_refuses_the_change(root: Path):
    store = ConfigStore.open(root)
    lock = root / ".git" / "refs" / "heads" / "main.lock"
    try:
        store.set("sub/c.yaml", "c", 2, actor=ACTOR)
        fsutil.settle()
        ready = _spare_names(root)
        lock.write_text("held by git\n")
        with pytest.raises(StorageError, match="its lock file exists"):
            store.set("sub/c.yaml", "c", 3, actor=ACTOR)
        assert lock.read_text() == "held by git\n"
        lock.unlink()
        store.set("sub/c.yaml", "c", 4, actor=ACTOR)
    finally:
        store.close()

    assert ready
    assert store.get("sub/c.yaml", "c") == 4
    assert leftovers(root) == []


def test_the_spares_of_ended_processes_are_swept_and_live_ones_kept(root: Path):
    folder = root / ".git" / spares.FOLDER
    folder.mkdir(exist_ok=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (int(ended.stdout), live.pid):
            (folder / f"{fsutil.TMP_PREFIX}{pid}-0").write_bytes(b"")

        store = ConfigStore.open(root)
        try:
            store.set("sub/c.yaml", "c", 2, actor=ACTOR)  # its spares sweep first
            fsutil.settle()
            names = _spare_names(root)
        finally:
            store.close()
    finally:
        live.kill()
        live.wait()

    assert f"{fsutil.TMP_PREFIX}{live.pid}-0" in names
    assert f"{fsutil.TMP_PREFIX}{int(ended.stdout)}-0" not in names
    assert _spare_names(root) == [f"{fsutil.TMP_PREFIX}{live.pid}-0"]


def test_a_forked_child_takes_none_of_its_parents_spares(root: Path):
    store = ConfigStore.open(root)
    try:
        store.set("sub/c.yaml", "c", 2, actor=ACTOR)
        fsutil.settle()
        held = store.repo.spares
        ready = _spare_names(root)
        pid = os.fork()
        if pid == 0:  # pragma: no cover (runs in the child)
            code = 0 if held.take(str(root / "sub")) is None else 1
            held._remove()  # what the child's exit runs: removes none of them
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _spare_names(root) == ready
        assert held.take(str(root / "sub")) is not None  # the parent's own
    finally:
        store.close()


EXIT_WITHOUT_CLOSE = """
import sys
from vpa_config.store import ConfigStore
store = ConfigStore.open(sys.argv[1])
for value in range(3):
    store.set("sub/c.yaml", "c", value, actor="T <t@example.org>")
"""


def test_a_process_that_exits_without_closing_leaves_no_spares(root: Path):
    # The last change's spares are still being made as the interpreter exits.
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", EXIT_WITHOUT_CLOSE, str(root)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert _spare_names(root) == []


def test_a_file_system_without_hard_links_gets_its_lock_files_created(
    root: Path, monkeypatch: pytest.MonkeyPatch
):
    store = ConfigStore.open(root)
    try:
        store.set("sub/c.yaml", "c", 2, actor=ACTOR)
        fsutil.settle()

        def refused(*_args, **_kwargs):
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", refused)
        store.set("sub/c.yaml", "c", 3, actor=ACTOR)
        monkeypatch.undo()
        fsutil.settle()
    finally:
        store.close()

    assert store.get("sub/c.yaml", "c") == 3
    assert store.repo.spares._links is False
    git(root, "fsck", "--strict", "--no-progress")
    assert leftovers(root) == []

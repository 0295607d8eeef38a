"""Full disks, read-only stores and permission bits.

The full disk and the read-only store are real: a small tmpfs mounted by the
test (then remounted read-only). Where mounting is not permitted (not root,
or a container without the capability) those tests skip and say so.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, cli_env, git, snapshot
from reliability import (
    ACTOR,
    committed_tree,
    fork_child,
    free_form_store,
    leftovers,
    mount_tmpfs,
    read_all,
    report,
    unmount,
    wait_status,
    working_tree,
)

from vpa_config.errors import StorageError
from vpa_config.layout import journal_left
from vpa_config.settings import SETTINGS_FILE
from vpa_config.store import ConfigStore

SEED = {
    "a.yaml": b"a: 1\nlist: [1, 2]\n",
    "b.json": b'{"n": 1}\n',
    "c.toml": b"n = 1\n",
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(name="small_disk")
def _small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, or a skip naming why there is none."""
    where = tmp_path / "small"
    if not mount_tmpfs(where, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        unmount(where)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until about ``leave`` bytes stay free (unbuffered writes)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def _cli(root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpa_config", "--store", str(root), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=cli_env(tmp_path),
        timeout=60,
    )


def test_full_disk_refuses_cleanly_at_every_stage(
    small_disk: Path, tmp_path: Path, capsys: Any
) -> None:
    root = small_disk / "store"
    free_form_store(root, SEED)
    store = ConfigStore.open(root)
    value = "v" * 20_000
    outcomes = {"committed": 0, "refused: disk full": 0}

    # From no room at all to enough: each step runs out at a later write
    # (objects, journal, the first file, the second, the ref, the index).
    for leave in range(0, 160_000, 4096):
        _fill(small_disk, leave)
        before = snapshot(root)
        try:
            with store.transaction(subject="big", actor=ACTOR, reason=str(leave)) as tx:
                tx.write("a.yaml", f"a: {value}\nleave: {leave}\n".encode())
                tx.write("b.json", f'{{"n": "{value}"}}\n'.encode())
        except StorageError as exc:
            assert "the disk is full" in str(exc)
            assert snapshot(root) == before
            assert not journal_left(root / ".git")
            outcomes["refused: disk full"] += 1
        else:
            outcomes["committed"] += 1
        store.flush()
        (small_disk / "filler").unlink()
        assert leftovers(root) == []
        assert working_tree(root) == committed_tree(store)

    _fill(small_disk, 0)
    done = _cli(root, tmp_path, "set", "c.toml", "n", '"' + "x" * 50_000 + '"')
    (small_disk / "filler").unlink()
    report(
        capsys,
        "full disk (1 MiB tmpfs)",
        {
            "changes tried, free space 0..156 KiB": sum(outcomes.values()),
            **outcomes,
            "CLI exit on a full disk": done.returncode,
        },
    )
    assert done.returncode == 6, done.stderr
    assert done.stderr.count("\n") == 1 and "the disk is full" in done.stderr
    assert outcomes["committed"] and outcomes["refused: disk full"]
    assert store.set("c.toml", "n", 2, actor=ACTOR).committed  # space again: works
    store.close()
    git(root, "fsck", "--strict")


def test_read_only_store_reads_and_refuses_changes(
    small_disk: Path, tmp_path: Path
) -> None:
    root = small_disk / "store"
    free_form_store(root, SEED)
    before = snapshot(root)
    done = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
    try:
        changed = _cli(root, tmp_path, "set", "a.yaml", "a", "2")
        read = _cli(root, tmp_path, "get", "a.yaml", "a")
        status = _cli(root, tmp_path, "status")
        store = ConfigStore.open(root)
        with pytest.raises(StorageError, match="read-only file system"):
            store.set("b.json", "n", 5, actor=ACTOR)
        assert store.get("b.json", "n") == 1
        store.close()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)

    assert changed.returncode == 6, changed.stderr
    assert changed.stderr.count("\n") == 1 and "read-only" in changed.stderr
    assert read.returncode == 0 and read.stdout.strip() == "1", read.stderr
    assert status.returncode == 0, status.stderr
    assert snapshot(root) == before
    assert _cli(root, tmp_path, "set", "a.yaml", "a", "3").returncode == 0


# --- permission bits ----------------------------------------------------------


def _changes(store: ConfigStore, root: Path) -> Iterator[str]:
    """Every kind of change to a.yaml, one after another."""
    store.set("a.yaml", "a", 2, actor=ACTOR)
    yield "set"
    store.unset("a.yaml", "list", actor=ACTOR)
    yield "unset"
    store.import_file("a.yaml", b"a: 3\n", actor=ACTOR)
    yield "import"
    store.replace("a.yaml", b"a: 4\n", actor=ACTOR)
    yield "edit"
    (root / "a.yaml").write_bytes(b"a: 5\n")  # a hand edit keeps its inode
    store.adopt(actor=ACTOR)
    yield "commit (hand edits)"
    store.restore("HEAD~2", ["a.yaml"], actor=ACTOR)
    yield "restore"
    store.undo(actor=ACTOR)
    yield "undo"
    store.restore("HEAD~4", actor=ACTOR)
    yield "restore (all files)"


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o664, 0o755], ids=oct)
def test_permission_bits_survive_every_kind_of_change(
    tmp_path: Path, mode: int
) -> None:
    root = tmp_path / "store"
    free_form_store(root, SEED)
    os.chmod(root / "a.yaml", mode)
    store = ConfigStore.open(root)

    seen = {kind: _mode(root / "a.yaml") for kind in _changes(store, root)}

    assert seen == dict.fromkeys(seen, mode)
    assert working_tree(root) == committed_tree(store)
    store.close()


def test_rolled_back_change_restores_mode_and_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that fails after its files were written puts them back, mode too."""
    root = tmp_path / "store"
    free_form_store(root, SEED)
    os.chmod(root / "a.yaml", 0o640)
    store = ConfigStore.open(root)

    def fail_at(point: str) -> None:
        if point == "before-ref":
            assert (root / "a.yaml").read_bytes() == b"a: 99\n"  # written
            raise OSError(5, "input/output error")

    monkeypatch.setattr(store, "maybe_crash", fail_at)
    with pytest.raises(OSError):
        with store.transaction(subject="fails", actor=ACTOR) as tx:
            tx.write("a.yaml", b"a: 99\n", 0o644)
            tx.write("b.json", b'{"n": 99}\n')
    monkeypatch.undo()
    store.close()

    assert (root / "a.yaml").read_bytes() == SEED["a.yaml"]
    assert _mode(root / "a.yaml") == 0o640
    assert (root / "b.json").read_bytes() == SEED["b.json"]


def test_a_killed_change_is_finished_with_its_mode(tmp_path: Path) -> None:
    """Killed once its journal was durable: recovery writes what it committed."""
    root = tmp_path / "store"
    free_form_store(root, SEED)
    os.chmod(root / "a.yaml", 0o640)

    def work(fd: int) -> None:  # pragma: no cover (runs in the child)
        os.environ["VPA_CONFIG_TEST_CRASH"] = "between-files"
        store = ConfigStore.open(root)
        with store.transaction(subject="dies", actor=ACTOR) as tx:
            tx.write("a.yaml", b"a: 99\n", 0o600)
            tx.write("b.json", b'{"n": 99}\n')

    pid, fd = fork_child(work)
    read_all(fd)
    assert wait_status(pid) == ("exit", 137)
    assert (root / "b.json").read_bytes() == SEED["b.json"]  # not written yet

    store = ConfigStore.open(root)  # the open recovers
    assert working_tree(root) == committed_tree(store)
    store.close()

    assert (root / "a.yaml").read_bytes() == b"a: 99\n"
    assert _mode(root / "a.yaml") == 0o600
    assert (root / "b.json").read_bytes() == b'{"n": 99}\n'


def test_example_store_keeps_its_api_key_file_from_others(tmp_path: Path) -> None:
    store, _ = ConfigStore.init(tmp_path / "store", example=True, actor=ACTOR)
    root = store.root

    assert _mode(root / "assistant.yaml") == 0o600  # llm.api_key
    assert _mode(root / "plugins.yaml") == 0o644
    store.close()


def test_secret_by_settings_pattern_tightens_and_never_loosens(tmp_path: Path) -> None:
    root = tmp_path / "store"
    free_form_store(root, SEED)
    store = ConfigStore.open(root)
    os.chmod(root / "b.json", 0o640)

    store.set("new.yaml", "db.password", "hunter22", actor=ACTOR)
    store.set("a.yaml", "db.password", "hunter22", actor=ACTOR)
    store.set("b.json", "db.password", "hunter22", actor=ACTOR)
    store.set("c.toml", "service.api_key", "k" * 12, actor=ACTOR)
    modes = {
        name: _mode(root / name) for name in ("new.yaml", "a.yaml", "b.json", "c.toml")
    }
    store.unset("a.yaml", "db", actor=ACTOR)

    assert modes == {
        "new.yaml": 0o600,
        "a.yaml": 0o600,
        "b.json": 0o640,
        "c.toml": 0o600,
    }
    assert _mode(root / "a.yaml") == 0o600  # a removed secret does not loosen it
    store.close()


def test_secret_by_schema_alone_tightens(tmp_path: Path) -> None:
    store, _ = ConfigStore.init(tmp_path / "store", example=True, actor=ACTOR)
    root = store.root
    store.set(SETTINGS_FILE, "secrets", [], actor=ACTOR)  # no pattern matches now
    os.chmod(root / "assistant.yaml", 0o644)

    store.set("assistant.yaml", "llm.temperature", 0.3, actor=ACTOR)

    assert _mode(root / "assistant.yaml") == 0o600  # llm.api_key is writeOnly
    store.close()


def test_hand_edit_adding_a_secret_is_committed_closed(tmp_path: Path) -> None:
    root = tmp_path / "store"
    free_form_store(root, SEED)
    store = ConfigStore.open(root)
    (root / "a.yaml").write_bytes(b"a: 1\nsmtp:\n  password: hunter22\n")

    store.adopt(actor=ACTOR)

    assert _mode(root / "a.yaml") == 0o600
    assert working_tree(root) == committed_tree(store)
    store.close()

"""The store lock's holder record, kept in the lock file itself.

A holder writes who it is into ``.git/vpa-config.lock`` and empties the file
before letting go; a record found there by the next holder means the last
one died mid-change. A record left in ``vpa-config.lock.json`` by an older
version means the same.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest
from reliability import ACTOR, fork_child, free_form_store, leftovers, wait_status

from vpa_config import logs
from vpa_config.errors import StoreLockedError
from vpa_config.lock import StoreLock
from vpa_config.store import ConfigStore


@pytest.fixture(name="root")
def _root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    free_form_store(root, {"a.yaml": b"a: 1\n"})
    return root


def _events(events: list[dict], name: str) -> list[dict]:
    return [event for event in events if event["event"] == name]


def _die_holding(root: Path, leave: Path | None = None) -> int:
    """A child takes the store lock (and leaves ``leave`` behind), then is killed."""

    def work(fd: int) -> None:
        store = ConfigStore.open(root)
        store.lock.acquire(5)
        if leave is not None:
            leave.write_bytes(b"half a file")
        os.write(fd, b"held\n")
        signal.pause()

    pid, read_fd = fork_child(work)
    with os.fdopen(read_fd) as pipe:
        assert pipe.readline() == "held\n"
        os.kill(pid, signal.SIGKILL)
    wait_status(pid)
    return pid


def test_the_holder_record_is_in_the_lock_file_while_held(root: Path) -> None:
    lock = StoreLock(root / ".git")
    lock.acquire(1)
    try:
        record = json.loads((root / ".git" / "vpa-config.lock").read_bytes())
        assert record["pid"] == os.getpid()
        assert record["host"] == socket.gethostname()
        assert StoreLock(root / ".git").holder() == record
        assert not (root / ".git" / "vpa-config.lock.json").exists()
    finally:
        lock.release()
    assert (root / ".git" / "vpa-config.lock").read_bytes() == b""
    assert StoreLock(root / ".git").holder() is None
    assert lock.recovered_from is None


def test_a_change_leaves_the_lock_file_empty(root: Path) -> None:
    store = ConfigStore.open(root)
    try:
        store.set("a.yaml", "a", 2, actor=ACTOR)
        store.flush()  # the change's fsyncs end in the background, lock held
        assert (root / ".git" / "vpa-config.lock").read_bytes() == b""
        assert store.lock.recovered_from is None
    finally:
        store.close()
    assert leftovers(root) == []


def test_a_killed_holders_record_is_reported_and_its_leftovers_swept(
    root: Path,
) -> None:
    store = ConfigStore.open(root)  # before the death: the change recovers
    stray = root / ".vpa-tmp-left-by-the-dead"
    pid = _die_holding(root, leave=stray)
    assert json.loads((root / ".git" / "vpa-config.lock").read_bytes())["pid"] == pid

    try:
        with logs.capture() as events:
            assert store.set("a.yaml", "a", 3, actor=ACTOR).committed
    finally:
        store.close()

    (event,) = _events(events, "lock.stale_recovered")
    assert event["holder"]["pid"] == pid
    assert not stray.exists()
    assert (root / ".git" / "vpa-config.lock").read_bytes() == b""
    assert leftovers(root) == []


def test_opening_a_store_recovers_from_a_killed_holder(root: Path) -> None:
    stray = root / ".vpa-tmp-left-by-the-dead"
    pid = _die_holding(root, leave=stray)

    with logs.capture() as events:
        store = ConfigStore.open(root)
    store.close()

    (event,) = _events(events, "lock.stale_recovered")
    assert event["holder"]["pid"] == pid
    assert not stray.exists()
    assert StoreLock(root / ".git").holder() is None


def test_a_record_cut_short_still_counts_as_a_dead_holder(root: Path) -> None:
    (root / ".git" / "vpa-config.lock").write_bytes(b'{"pid": 12')
    stray = root / ".vpa-tmp-left"
    stray.write_bytes(b"half a file")

    store = ConfigStore.open(root)
    store.close()

    assert not stray.exists()
    assert (root / ".git" / "vpa-config.lock").read_bytes() == b""


def test_a_record_left_by_an_older_version_is_recovered_and_removed(
    root: Path,
) -> None:
    legacy = root / ".git" / "vpa-config.lock.json"
    legacy.write_text(json.dumps({"pid": 999999, "host": "gone", "since": "then"}))
    stray = root / ".vpa-tmp-left"
    stray.write_bytes(b"half a file")

    with logs.capture() as events:
        store = ConfigStore.open(root)
    try:
        assert store.set("a.yaml", "a", 4, actor=ACTOR).committed
    finally:
        store.close()

    (event,) = _events(events, "lock.stale_recovered")
    assert event["holder"]["pid"] == 999999
    assert not legacy.exists() and not stray.exists()
    assert leftovers(root) == []


def test_a_holder_of_an_older_version_is_named_from_its_record(root: Path) -> None:
    """A live holder of an older version keeps its record beside the lock."""
    import fcntl

    legacy = root / ".git" / "vpa-config.lock.json"
    fd = os.open(root / ".git" / "vpa-config.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        legacy.write_text(json.dumps({"pid": 4242, "host": "old", "since": "then"}))
        assert StoreLock(root / ".git").holder() == {
            "pid": 4242, "host": "old", "since": "then",
        }
    finally:
        os.close(fd)


def test_the_settings_timeout_is_read_only_when_the_lock_is_busy(root: Path) -> None:
    store = ConfigStore.open(root)
    try:
        store.set(".vpa-config/settings.yaml", "lock_timeout_s", 0.2, actor=ACTOR)
        asked: list[float] = []
        settings_timeout = store.lock_timeout()
        assert callable(settings_timeout)

        def counted() -> float:
            asked.append(settings_timeout())
            return asked[-1]

        store.lock.acquire(counted)  # free: taken without asking
        store.lock.release()
        assert asked == []

        holder = StoreLock(root / ".git")
        holder.acquire(1)
        try:
            with pytest.raises(StoreLockedError, match=r"waited 0\.2s"):
                store.lock.acquire(counted)
        finally:
            holder.release()
        assert asked == [0.2]
    finally:
        store.close()

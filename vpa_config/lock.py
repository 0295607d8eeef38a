"""The store lock: one change at a time, across processes and threads.

The lock is an ``flock`` on ``.git/vpa-config.lock``. The kernel drops it when
its holder dies, so a dead process can never keep the store locked. The
holder writes who it is (pid, host, since when) into the lock file itself,
and empties it again before letting go: a waiting process can name the holder
in its error, and the next holder can tell that the previous one died
mid-change (its record is still there) and report the recovery. Writing the
record into the file already open costs no new file per change.

A change that has committed may leave work for after it returns (the fsyncs
its journal stands in for until then, ``synctail.SyncTail``): it hands
that to :meth:`StoreLock.release`, which runs it before the file lock goes,
in this thread or, for a library process, on a background thread that then
lets go of the lock. Until that ends no other change begins, in this process
or any other.

Earlier versions wrote the record to ``vpa-config.lock.json`` beside the
lock and removed it on release; a record such a version left behind is still
read (and removed), so a holder of an older version that was killed is
recovered from too.

``fcntl`` is used directly rather than a lock library: it is the standard
library's own, it is what such libraries use on POSIX, and it keeps tens of
milliseconds of imports off every command's start-up.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path

try:  # weakref's WeakSet, already loaded by threading, without weakref's imports
    from _weakrefset import WeakSet
except ImportError:  # pragma: no cover (an interpreter without it)
    from weakref import WeakSet

from vpa_config.errors import StoreLockedError
from vpa_config.fsutil import storage_error, unlink_then_free

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any, Callable

POLL_S = 0.01


class StoreLock:
    """A re-entrant (per thread) inter-process lock on one store."""

    def __init__(self, controldir: Path) -> None:
        self.path = controldir / "vpa-config.lock"
        # Where earlier versions kept the holder record (see above).
        self.legacy_path = controldir / "vpa-config.lock.json"
        # A plain lock, not an RLock: the thread that lets it go may be a
        # background one (see release). Re-entry is counted by _owner/_depth.
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._fd: int | None = None
        # Work to end before the file lock goes (see release), oldest first.
        self._after: list[Callable[[], None]] = []
        self._tail: Any = None  # the job of a release in the background
        # Whether work left by a change (release's ``after``) runs on a
        # background thread; the store sets it (a command's runs inline).
        self.background = False
        self.recovered_from: dict[str, Any] | None = None
        _locks.add(self)

    def acquire(self, timeout: float | Callable[[], float]) -> None:
        """Take the lock, waiting up to ``timeout`` seconds.

        ``timeout`` may be a function, asked only when the lock is busy: a
        free lock (the usual case) is taken without working out how long to
        wait (the store reads its settings for that).
        """
        started = time.monotonic()
        wait: list[float] = []  # the timeout, once asked for

        def seconds() -> float:
            if not wait:
                wait.append(timeout() if callable(timeout) else timeout)
            return wait[0]

        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            # A change inside this hold begins once the last one's work is done.
            self._run_after()
            return
        self.wait_for_tail()
        if not self._mutex.acquire(blocking=False) and not (
            self._mutex.acquire(timeout=max(seconds(), 0.001))
        ):
            raise StoreLockedError(self._busy_message(seconds()))
        try:
            self._fd = self._take_flock(started, seconds)
        except BaseException:
            self._mutex.release()
            raise
        self._owner, self._depth = me, 1
        self.recovered_from = self._take_over(self._fd)

    def _take_flock(self, started: float, seconds: Callable[[], float]) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error(exc, self.path) from None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= started + seconds():
                    os.close(fd)
                    raise StoreLockedError(self._busy_message(seconds())) from None
                time.sleep(POLL_S)

    def _take_over(self, fd: int) -> dict[str, Any] | None:
        """The record a dead holder left (None: none), then this holder's written."""
        try:
            left = os.pread(fd, _RECORD_MAX, 0)
        except OSError:
            left = b""
        dead = _parse_record(left) if left else self._read_legacy()
        if left or dead is not None:
            dead = dead or {"pid": None}  # a record cut short still says one died
        data = json.dumps(_own_record()).encode()
        try:
            os.pwrite(fd, data, 0)
            if len(left) > len(data):
                os.ftruncate(fd, len(data))
        except OSError:
            pass  # the record only names the holder; the flock is the lock
        if dead is not None:  # rare: a holder died (and so any record goes)
            with _ignored_os_errors():
                unlink_then_free(self.legacy_path)
        return dead

    def release(self, after: Callable[[], None] | None = None) -> None:
        """Give the lock back (the outermost release unlocks the file).

        ``after`` (which must not raise) runs before the file lock goes: at
        the outermost release, or at the next re-entry if that comes first.
        With :attr:`background` the outermost release returns at once and a
        background thread runs it, then lets go of the lock; meanwhile every
        thread's :meth:`acquire` waits, this one's too.
        """
        if after is not None:
            self._after.append(after)
        self._depth -= 1
        if self._depth:
            return
        self._owner = None
        if self._after and self.background:
            from vpa_config.fsutil import background as in_background

            try:
                self._tail = in_background(self._run_after_then_unlock)
                return
            except RuntimeError:  # the interpreter is shutting down: here, then
                pass
        self._run_after_then_unlock()

    def wait_for_tail(self) -> None:
        """Wait until the background release of this process's last hold has
        ended (see :meth:`release`): it is bounded work, not a busy lock."""
        tail = self._tail
        if tail is not None and self._owner != threading.get_ident():
            try:
                tail.result()
            except Exception:  # noqa: BLE001 (its work reports its own failures)
                pass
            self._tail = None

    def _run_after(self) -> None:
        while self._after:
            self._after.pop(0)()

    def _run_after_then_unlock(self) -> None:
        try:
            self._run_after()
        finally:
            if self._fd is not None:
                try:
                    with _ignored_os_errors():
                        os.ftruncate(self._fd, 0)  # empty: no holder, none died
                finally:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None
            self._mutex.release()

    def _reset_in_child(self) -> None:
        """After a fork: a hold of another thread's, or a background one, is not
        the child's (its file lock stays the parent's: the copy is closed, not
        unlocked)."""
        if self._owner == threading.get_ident() or not self._mutex.locked():
            return
        if self._fd is not None:
            with _ignored_os_errors():
                os.close(self._fd)
        self._mutex = threading.Lock()
        self._owner, self._depth, self._fd, self._after = None, 0, None, []
        self._tail = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now, or None when it is free."""
        try:
            # Read-only: flock needs no write access, and a read-only store
            # (a read-only mount) must still answer.
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._record_of(fd) or {"pid": None}
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def record_left(self) -> bool:
        """Whether a holder record is on disk: a holder's now, or a dead one's."""
        try:
            if os.stat(self.path).st_size:
                return True
        except OSError:
            pass
        return os.path.exists(self.legacy_path)

    def _record_of(self, fd: int) -> dict[str, Any] | None:
        try:
            data = os.pread(fd, _RECORD_MAX, 0)
        except OSError:
            data = b""
        return _parse_record(data) if data else self._read_legacy()

    def _read_info(self) -> dict[str, Any] | None:
        """The holder record on disk, whoever wrote it."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return self._read_legacy()
        try:
            return self._record_of(fd)
        finally:
            os.close(fd)

    def _read_legacy(self) -> dict[str, Any] | None:
        try:
            fd = os.open(self.legacy_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _parse_record(os.read(fd, _RECORD_MAX)) or {"pid": None}
        except OSError:
            return {"pid": None}
        finally:
            os.close(fd)

    def _busy_message(self, timeout: float) -> str:
        return (
            f"store is locked by {describe_holder(self._read_info())}; "
            f"waited {timeout:g}s. Try again when that change has finished."
        )


# A holder record is about 100 bytes; anything longer is not one of ours.
_RECORD_MAX = 4096
# Every lock of this process, for the fork handler below.
_locks: WeakSet[StoreLock] = WeakSet()


def _reset_locks_in_child() -> None:
    for lock in list(_locks):
        lock._reset_in_child()


os.register_at_fork(after_in_child=_reset_locks_in_child)


def _own_record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": os.uname().nodename,  # gethostname(2), no socket import
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "thread": threading.current_thread().name,
    }


def _parse_record(data: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class _ignored_os_errors:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return isinstance(kind, type) and issubclass(kind, OSError)


def describe_holder(info: dict[str, Any] | None) -> str:
    """``pid N on HOST since TIME``, or what is known of a holder without a record."""
    if not info or info.get("pid") is None:
        return "another process (it left no holder record)"
    since = info.get("since", "an unknown time")
    return f"pid {info['pid']} on {info.get('host', '?')} since {since}"

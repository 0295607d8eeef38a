"""The store lock: one change at a time, across processes and threads.

The lock is an ``flock`` on ``.git/vpa-config.lock``. The kernel drops it when
its holder dies, so a dead process can never keep the store locked. The
holder writes who it is (pid, host, since when) into the lock file itself,
and empties it again before letting go: a waiting process can name the holder
in its error, and the next holder can tell that the previous one died
mid-change (its record is still there) and report the recovery. Writing the
record into the file already open costs no new file per change.

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
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self.recovered_from: dict[str, Any] | None = None

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

        if not self._thread_lock.acquire(blocking=False) and not (
            self._thread_lock.acquire(timeout=max(seconds(), 0.001))
        ):
            raise StoreLockedError(self._busy_message(seconds()))
        if self._depth:
            self._depth += 1
            return
        try:
            self._fd = self._take_flock(started, seconds)
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1
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

    def release(self) -> None:
        """Give the lock back (the outermost release unlocks the file)."""
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            try:
                with _ignored_os_errors():
                    os.ftruncate(self._fd, 0)  # empty: no holder, none died
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
        self._thread_lock.release()

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

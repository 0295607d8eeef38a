"""The store lock: one change at a time, across processes and threads.

The lock is an ``flock`` on ``.git/vpa-config.lock``. The kernel drops it when
its holder dies, so a dead process can never keep the store locked; the holder
writes who it is (pid, host, since when) beside it, so a waiting process can
name the holder in its error, and the next holder can tell that the previous
one died mid-change (its record is still there) and report the recovery.

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
    from typing import Any

POLL_S = 0.01


class StoreLock:
    """A re-entrant (per thread) inter-process lock on one store."""

    def __init__(self, controldir: Path) -> None:
        self.path = controldir / "vpa-config.lock"
        self.info_path = controldir / "vpa-config.lock.json"
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self.recovered_from: dict[str, Any] | None = None

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=max(timeout, 0.001)):
            raise StoreLockedError(self._busy_message(timeout))
        if self._depth:
            self._depth += 1
            return
        try:
            self._fd = self._take_flock(deadline, timeout)
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth = 1
        self.recovered_from = self._read_info()
        self._write_info()

    def _take_flock(self, deadline: float, timeout: float) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error(exc, self.path) from None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreLockedError(self._busy_message(timeout)) from None
                time.sleep(POLL_S)

    def release(self) -> None:
        """Give the lock back (the outermost release unlocks the file)."""
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            try:
                unlink_then_free(self.info_path)
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
            return self._read_info() or {"pid": None}
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def _read_info(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_info(self) -> None:
        info = {
            "pid": os.getpid(),
            "host": os.uname().nodename,  # gethostname(2), no socket import
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "thread": threading.current_thread().name,
        }
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            fd = os.open(self.info_path, flags, 0o666)
            try:
                os.write(fd, json.dumps(info).encode())
            finally:
                os.close(fd)
        except OSError:
            pass  # the record only names the holder; the flock is the lock

    def _busy_message(self, timeout: float) -> str:
        return (
            f"store is locked by {describe_holder(self._read_info())}; "
            f"waited {timeout:g}s. Try again when that change has finished."
        )


def describe_holder(info: dict[str, Any] | None) -> str:
    """``pid N on HOST since TIME``, or what is known of a holder without a record."""
    if not info or info.get("pid") is None:
        return "another process (it left no holder record)"
    since = info.get("since", "an unknown time")
    return f"pid {info['pid']} on {info.get('host', '?')} since {since}"

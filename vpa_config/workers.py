"""A few threads that run blocking system calls (fsync, close) for a change.

A change hands its fsyncs to other threads so that they reach the file system
together, and the closes that free replaced files so that it need not wait
for them. That needs little: run a call on a thread, wait for its return or
its exception. :mod:`concurrent.futures` does it too, but importing it loads
:mod:`logging` and more, about 6 ms at the start of every process that
changes something.
"""

from __future__ import annotations

import sys
import threading

try:  # the C queue that queue.SimpleQueue is, without queue's other imports
    from _queue import SimpleQueue
except ImportError:  # pragma: no cover (an interpreter without _queue)
    from queue import SimpleQueue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Job:
    """One call handed to :class:`Workers`; :meth:`result` waits for it."""

    __slots__ = ("_ended", "_value", "_error")

    def __init__(self) -> None:
        self._ended = threading.Lock()
        self._ended.acquire()  # released when the call has returned or raised
        self._value: Any = None
        self._error: BaseException | None = None

    def _run(self, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = call(*args)
        except BaseException as exc:  # noqa: BLE001 (handed to result())
            self._error = exc
        finally:
            self._ended.release()

    def done(self) -> bool:
        """Whether the call has ended."""
        return not self._ended.locked()

    def result(self) -> Any:
        """The call's return value, once it has ended; its exception raised."""
        with self._ended:
            pass
        if self._error is not None:
            raise self._error
        return self._value


class Workers:
    """Up to ``size`` daemon threads taking calls in the order they came.

    A thread is started when a call finds none idle, as long as fewer than
    ``size`` run. Every call a change depends on is waited for (``result``)
    before the change returns, so no call is lost with a daemon thread.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._calls: SimpleQueue[tuple[Job, Callable[..., Any], tuple[Any, ...]]]
        self._calls = SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads = 0
        self._lock = threading.Lock()

    def submit(self, call: Callable[..., Any], *args: Any) -> Job:
        """Run ``call(*args)`` on a worker thread; RuntimeError at shutdown."""
        if sys.is_finalizing():
            raise RuntimeError("the interpreter is shutting down")
        job = Job()
        self._calls.put((job, call, args))
        if not self._idle.acquire(blocking=False):
            self._grow()
        return job

    def _grow(self) -> None:
        with self._lock:
            if self._threads >= self._size:
                return
            self._threads += 1
            number = self._threads
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{number}", daemon=True
        )
        thread.start()

    def _work(self) -> None:
        while True:
            job, call, args = self._calls.get()
            job._run(call, args)
            self._idle.release()

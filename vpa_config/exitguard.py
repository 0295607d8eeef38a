"""``os._exit`` refused to trusted plugin code, which runs in vpa-config's process.

``os._exit`` ends a process at once (no exception, no ``finally``, no atexit),
so a trusted plugin calling it would end a command half-way, with an exit
code of the plugin's choosing and the store's lock still held. While a
plugin call runs (:func:`run_refusing_exit`, in the call's worker thread),
``os._exit`` raises :class:`ExitRequested` instead, and the call fails even
if the plugin catches that. Every other caller still exits: vpa-config's own
code, a thread the plugin started itself, a child the plugin forked.
``posix._exit``, a call through ``ctypes`` and crashes are not caught: only the
sandbox contains those.
"""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_real_exit = os._exit
_guarded = threading.local()
_install_lock = threading.Lock()


class ExitRequested(BaseException):
    """Plugin code called ``os._exit``; its call unwinds instead of the process."""

    def __init__(self, status: int) -> None:
        super().__init__(
            f"called os._exit({status!r}) to exit with code {status!r}; "
            "vpa-config did not exit"
        )
        self.status = status


def _refusing_exit(status: int) -> None:
    if getattr(_guarded, "pid", None) != os.getpid():
        _real_exit(status)
    _guarded.status = status
    raise ExitRequested(status)


def _install() -> None:
    with _install_lock:
        if os._exit is not _refusing_exit:
            os._exit = _refusing_exit


def run_refusing_exit(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in this thread, with ``os._exit`` raising ExitRequested."""
    _install()
    _guarded.pid, _guarded.status = os.getpid(), None
    try:
        result = func(*args)
    except ExitRequested:
        raise
    except BaseException as exc:
        if _guarded.status is None:
            raise
        raise ExitRequested(_guarded.status) from exc  # caught, then raised anew
    else:
        if _guarded.status is not None:  # the plugin caught it and went on
            raise ExitRequested(_guarded.status)
        return result
    finally:
        del _guarded.pid, _guarded.status

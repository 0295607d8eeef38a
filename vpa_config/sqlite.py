"""The sqlite3 module the history index and the fact cache use.

It is the C module that the standard ``sqlite3`` package re-exports: the
package itself adds only the DB-API's default adapters and converters for
dates and times, and imports :mod:`datetime` for them (about 3 ms of a
history read's start). Neither the index nor the cache stores a date, and
every class, function and exception is the same object either way.
"""

from __future__ import annotations

try:
    import _sqlite3 as sqlite3
except ImportError:  # pragma: no cover (an interpreter without the C module)
    import sqlite3

__all__ = ["sqlite3"]

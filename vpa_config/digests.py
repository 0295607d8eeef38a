"""SHA-1 and SHA-256 hash objects, without OpenSSL for what a change hashes.

Importing :mod:`hashlib` loads OpenSSL, about 2.5 ms of the start of every
process that would hash anything. The interpreter's own ``_sha1`` and
``_sha256`` modules give the same digests with no import cost, but several
times more slowly per byte: they hash what a command usually hashes (a config
file's git object, an audit record, the git index of a store), and OpenSSL's
hashes anything of :data:`LARGE` bytes or more (a big schema or blob).
"""

from __future__ import annotations

try:
    from _sha1 import sha1 as _small_sha1
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import sha1 as _small_sha1
try:
    from _sha256 import sha256 as _small_sha256
except ImportError:  # pragma: no cover (Python 3.12 names the module _sha2)
    try:
        from _sha2 import sha256 as _small_sha256
    except ImportError:
        from hashlib import sha256 as _small_sha256

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

# From this many bytes on, OpenSSL's speed repays its import.
LARGE = 1 << 16


def sha1(data: bytes = b"", size: int | None = None) -> Any:
    """A SHA-1 hash object holding ``data``; ``size``: all the bytes it will hash."""
    if (len(data) if size is None else size) < LARGE:
        return _small_sha1(data)
    import hashlib

    return hashlib.sha1(data)


def sha256(data: bytes = b"", size: int | None = None) -> Any:
    """A SHA-256 hash object holding ``data``; ``size``: all the bytes it will hash."""
    if (len(data) if size is None else size) < LARGE:
        return _small_sha256(data)
    import hashlib

    return hashlib.sha256(data)

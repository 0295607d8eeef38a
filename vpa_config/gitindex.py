"""git's index file (``.git/index``), read and written without dulwich.

After each change the store updates the index entries of the files it wrote,
so that ``git status`` in the store shows them clean. dulwich parses and
writes the whole index in Python and fsyncs it; for a store of 50 files that
was about a fifth of a change's time. Here the index is kept parsed between
changes, keyed by the index file's identity (inode, size, modification and
change times): any other writer (``git add``, ``git commit``) renames a new
file into place, which gives a new identity, so the cached copy is dropped and
the file read again.

The index is a cache of the working tree that git can rebuild; it is written
through ``index.lock`` as git does (so a git command that holds the lock is
never overwritten) but not fsynced: a power cut may leave the previous index,
which only makes ``git status`` re-read the files. Only index versions 2 and 3
without required extensions are handled; anything else returns None and the
caller falls back to dulwich. Optional extensions (the cached tree, the
untracked cache) are dropped on write, which git allows: it rebuilds them.
"""

from __future__ import annotations

try:  # the interpreter's own SHA-1, without OpenSSL (hashlib costs ~2.5 ms)
    import _sha1 as hashlib
except ImportError:  # pragma: no cover (an interpreter built without it)
    import hashlib
import os
import struct
import threading
from collections.abc import Mapping
from pathlib import Path

from vpa_config import fsutil

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

_HEADER = struct.Struct(">4sII")
_STAT = struct.Struct(">IIIIIIIIII")
_FLAG_EXTENDED = 0x4000
_FLAG_STAGE = 0x3000
_NAME_MASK = 0xFFF
_SHA_LEN = 20
_FIXED = _STAT.size + _SHA_LEN + 2  # stat fields, object id, flags
_lock = threading.Lock()


class IndexBusyError(Exception):
    """Another program holds ``index.lock``; the index was left alone."""


class _Parsed:
    """An index file as last read: its identity, version and entries by path."""

    __slots__ = ("key", "version", "entries")

    def __init__(
        self, key: tuple[int, ...], version: int, entries: dict[bytes, bytes]
    ) -> None:
        self.key = key
        self.version = version
        self.entries = entries


_cache: dict[str, _Parsed] = {}


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _parse(data: bytes) -> tuple[int, dict[bytes, bytes]] | None:
    """(version, name -> entry bytes), or None for what this module does not handle."""
    if len(data) < _HEADER.size + _SHA_LEN:
        return None
    body, checksum = data[:-_SHA_LEN], data[-_SHA_LEN:]
    if hashlib.sha1(body).digest() != checksum:
        return None
    signature, version, count = _HEADER.unpack_from(body)
    if signature != b"DIRC" or version not in (2, 3):
        return None
    entries: dict[bytes, bytes] = {}
    offset = _HEADER.size
    for _ in range(count):
        if offset + _FIXED > len(body):
            return None
        (flags,) = struct.unpack_from(">H", body, offset + _FIXED - 2)
        if flags & _FLAG_STAGE:
            return None  # a merge conflict: leave it to dulwich
        start = offset + _FIXED + (2 if flags & _FLAG_EXTENDED else 0)
        end = body.find(b"\0", start)
        if end == -1:
            return None
        size = (end - offset + 8) & ~7
        name = body[start:end]
        entries[name] = body[offset : offset + size]
        offset += size
    while offset + 8 <= len(body):
        signature = body[offset : offset + 4]
        (length,) = struct.unpack_from(">I", body, offset + 4)
        if not signature[:1].isupper():
            return None  # a required extension (split or sparse index)
        offset += 8 + length
    if offset != len(body):
        return None
    return version, entries


def stat_fields(st: os.stat_result, mode: int) -> tuple[int, ...]:
    """The ten stat fields of an entry for ``st``, in the index's order.

    ctime seconds and nanoseconds, mtime seconds and nanoseconds, device,
    inode, mode, uid, gid, size; each kept to 32 bits, as git keeps them.
    """
    return (
        (st.st_ctime_ns // 1_000_000_000) & 0xFFFFFFFF,
        st.st_ctime_ns % 1_000_000_000,
        (st.st_mtime_ns // 1_000_000_000) & 0xFFFFFFFF,
        st.st_mtime_ns % 1_000_000_000,
        st.st_dev & 0xFFFFFFFF,
        st.st_ino & 0xFFFFFFFF,
        mode,
        st.st_uid & 0xFFFFFFFF,
        st.st_gid & 0xFFFFFFFF,
        st.st_size & 0xFFFFFFFF,
    )


def _entry(name: bytes, st: os.stat_result, mode: int, sha: str) -> bytes:
    """One version-2 entry for a file as it is on disk, padded as git pads it."""
    fields = _STAT.pack(*stat_fields(st, mode))
    raw = fields + bytes.fromhex(sha) + struct.pack(">H", min(len(name), _NAME_MASK))
    raw += name
    return raw + b"\0" * (8 - len(raw) % 8)


def _load(path: Path) -> _Parsed | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    key = _identity(st)
    known = _cache.get(str(path))
    if known is not None and known.key == key:
        return known
    with open(path, "rb") as handle:
        data = handle.read()
        again = _identity(os.fstat(handle.fileno()))
    parsed = _parse(data) if again == key else None
    if parsed is None:
        _cache.pop(str(path), None)
        return None
    found = _cache[str(path)] = _Parsed(key, parsed[0], parsed[1])
    return found


class StatView:
    """What the index recorded of each file, to tell an unchanged file by its stat.

    ``entries`` maps a path to its raw entry; ``written_ns`` is the index
    file's modification time, the reference of git's racy-clean rule.
    """

    __slots__ = ("written_ns", "entries")

    def __init__(self, written_ns: int, entries: dict[bytes, bytes]) -> None:
        self.written_ns = written_ns
        self.entries = entries


def stat_view(controldir: Path) -> StatView | None:
    """The index's entries as last read (reread when the file changed), or None.

    None when there is no index, or one this module does not read.
    """
    with _lock:
        try:
            parsed = _load(controldir / "index")
        except OSError:
            return None
    if parsed is None:
        return None
    return StatView(parsed.key[3], parsed.entries)


def entry_fields(raw: bytes) -> tuple[tuple[int, ...], str]:
    """(the ten stat fields as :func:`stat_fields` orders them, the object id)."""
    return _STAT.unpack_from(raw), raw[_STAT.size : _STAT.size + _SHA_LEN].hex()


def update(
    controldir: Path,
    root: Path,
    tree: dict[str, tuple[int, str]],
    paths: list[str],
    placed: Mapping[Path, os.stat_result] | None = None,
    spares: Any = None,
) -> bool:
    """Set the entries of ``paths`` from ``tree`` and the files on disk.

    A file in ``placed`` gets the stat recorded there (taken when it was
    renamed into place), so that an edit made since does not pass as clean.
    ``index.lock`` is one of ``spares`` (spares.Spares) when one is ready.

    Returns False when the index is one this module leaves to dulwich (absent,
    version 4, a conflict, a required extension). Raises
    :class:`IndexBusyError` when ``index.lock`` exists, and OSError when the
    disk refuses.
    """
    path = controldir / "index"
    with _lock:
        parsed = _load(path)
        if parsed is None:
            return False
        entries = dict(parsed.entries)
        for name in paths:
            key = name.encode("utf-8", "surrogateescape")
            if name in tree:
                mode, sha = tree[name]
                path_of = root / name
                st = placed.get(path_of) if placed else None
                entries[key] = _entry(key, st or os.lstat(path_of), mode, sha)
            else:
                entries.pop(key, None)
        body = _HEADER.pack(b"DIRC", parsed.version, len(entries)) + b"".join(
            entries[name] for name in sorted(entries)
        )
        lock = controldir / "index.lock"
        try:
            fd = fsutil.create_exclusively(lock, 0o644, spares)
        except FileExistsError:
            raise IndexBusyError(str(lock)) from None
        try:
            try:
                view = memoryview(body + hashlib.sha1(body).digest())
                while view:
                    view = view[os.write(fd, view):]
                inode = os.fstat(fd).st_ino
            finally:
                os.close(fd)
            fsutil.replace_then_free(lock, path)
        except BaseException:
            lock.unlink(missing_ok=True)
            raise
        st = os.stat(path)
        if st.st_ino == inode:  # else another writer came in between: reread
            _cache[str(path)] = _Parsed(_identity(st), parsed.version, entries)
    return True

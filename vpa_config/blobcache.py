"""Facts worked out from a blob's content, kept across runs by content address.

A restore of 50 files would otherwise parse 100 documents, validate 50 and
walk each against its schema for secrets, although every one of those blobs
was judged when it was committed. This cache keeps, in an SQLite file under
``<git dir>/vpa-config-cache/``:

- the parsed document of a blob (``parsed``), by file type and blob id;
- the validation problems of a file (``verdict``), by its name, blob id, the
  schema's URI and sha256, the fingerprint of every schema a ``$ref`` could
  reach, and the settings' secret patterns;
- the secret key paths of a file (``secrets``), by the same.

Every key also holds the *engine*: the size and modification time of each
module of vpa-config and the names (with versions) of the packages installed
beside jsonschema and PyYAML, so new code or a new validator never reads an
old answer. A key is therefore never stale; nothing is ever invalidated.

The cache is only ever a shortcut. Each value carries a checksum over its key
and content; a value that fails it, a file SQLite cannot read, a locked or
read-only folder: each means "not cached", and the answer is worked out again
(a broken file is replaced). Writes are batched and not fsynced: losing them
in a crash costs only the work of recomputing.
"""

from __future__ import annotations

import contextlib

import marshal
import os
import sys
import threading
import time
from pathlib import Path

from vpa_config.errors import Problem

try:
    # hashlib's own BLAKE2, without hashlib: importing hashlib loads OpenSSL
    # (a few milliseconds of a history read's start) for nothing used here.
    from _blake2 import blake2b
except ImportError:  # pragma: no cover (an interpreter built without it)
    from hashlib import blake2b

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

CACHE_DIR = "vpa-config-cache"
CACHE_FILE = "facts.sqlite"
FORMAT = b"facts-1"
MISS: Any = object()
_SUM = 16
MEMORY_ENTRIES = 4096
FLUSH_EVERY = 1024
# Committed changes' facts are written in batches of this many, or this often.
KEEP_BATCH = 256
KEEP_WAIT_S = 1.0
# Facts are not written when the disk would keep less than this free, and
# the write-ahead log is truncated back to this size after each checkpoint.
MIN_FREE_BYTES = 64 * 1024 * 1024
WAL_LIMIT_BYTES = 1024 * 1024

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS facts (key BLOB PRIMARY KEY, value BLOB NOT NULL) "
    "WITHOUT ROWID"
)
_caches: dict[Path, BlobCache] = {}
_engine: bytes | None = None


def for_dir(controldir: Path) -> BlobCache:
    """The process's cache of the repository at ``controldir``."""
    cache = _caches.get(controldir)
    if cache is None:
        cache = _caches[controldir] = BlobCache(controldir / CACHE_DIR / CACHE_FILE)
    return cache


def flush_all(keep: bool = True) -> None:
    """Keep every cache's pending facts (best effort), and report what they saved.

    Kept facts are written a batch at a time (:meth:`BlobCache.keep`).
    Without ``keep`` (a change that was not committed) they are dropped
    instead: the candidate's documents, a refused secret among them, never
    reach the file, and facts of committed content are worked out again.
    """
    for cache in list(_caches.values()):
        written = cache.keep() if keep else cache.discard()
        if cache.hits or cache.misses or written:
            from vpa_config import logs

            logs.emit(
                "cache.facts", level="debug", hits=cache.hits, misses=cache.misses,
                written=written,
            )
        cache.hits = cache.misses = 0


def close_dir(controldir: Path) -> None:
    """Write and close the cache of one repository (its store was closed)."""
    cache = _caches.pop(controldir, None)
    if cache is not None:
        cache.close()


def _forget_in_child() -> None:
    # SQLite connections must not be used across a fork: a child starts
    # afresh, and keeps the parent's objects referenced so that none is
    # closed (closing would release locks the parent still holds).
    _inherited.extend(_caches.values())
    _caches.clear()


_inherited: list[BlobCache] = []
os.register_at_fork(after_in_child=_forget_in_child)


# TODO(#9): prune facts of blobs no longer reachable from any ref once the file
# grows past a size worth reclaiming; until then it grows with history (about
# a kilobyte per committed file version).
class BlobCache:
    """Parsed documents, verdicts and secret paths by content address."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._broken = path is None
        self._pending: dict[bytes, bytes] = {}
        # Facts of committed changes not yet written (see keep), and since when.
        self._kept: dict[bytes, bytes] = {}
        self._kept_at = 0.0
        self._memory: dict[bytes, Any] = {}
        self._restarted = False
        # One connection shared by the threads of a process (an application
        # may change its store from several), used under this lock.
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    # --- the three kinds of fact ----------------------------------------

    def parsed(self, kind: str, blob: str) -> Any:
        """The parsed document of ``blob`` read as ``kind``, or :data:`MISS`.

        Shared with every other caller in the process, as ``documents.parse_shared``
        results are: never mutate it.
        """
        return self._get(_key(b"parsed", kind, blob))

    def put_parsed(self, kind: str, blob: str, data: Any) -> None:
        """Remember a parsed document (one of plain data types only)."""
        self._put(_key(b"parsed", kind, blob), data)

    def verdict(self, parts: tuple[str, ...]) -> list[Problem] | None:
        """The problems recorded under a verdict key, or None when unknown."""
        found = self._get(_key(b"verdict", *parts))
        if found is MISS:
            return None
        return [Problem(f, tuple(p), m, r, ln, col, s) for f, p, m, r, ln, col, s in found]

    def put_verdict(self, parts: tuple[str, ...], problems: list[Problem]) -> None:
        """Remember the problems of a file under a verdict key."""
        rows = [
            (p.file, tuple(p.path), p.message, p.rule, p.line, p.column, p.source)
            for p in problems
        ]
        self._put(_key(b"verdict", *parts), rows)

    def secrets(self, parts: tuple[str, ...]) -> set[tuple[Any, ...]] | None:
        """The secret key paths recorded under a key, or None when unknown."""
        found = self._get(_key(b"secrets", *parts))
        return None if found is MISS else {tuple(path) for path in found}

    def put_secrets(self, parts: tuple[str, ...], paths: set[tuple[Any, ...]]) -> None:
        """Remember the secret key paths of a file."""
        self._put(_key(b"secrets", *parts), [tuple(path) for path in paths])

    # --- storage ---------------------------------------------------------

    def _get(self, key: bytes) -> Any:
        value = self._memory.get(key, MISS)
        if value is MISS:
            raw = self._read(key)
            value = MISS if raw is None else _decode(key, raw)
            if value is not MISS:
                self._remember(key, value)
        if value is MISS:
            self.misses += 1
            return MISS
        self.hits += 1
        return value

    def _put(self, key: bytes, value: Any) -> None:
        try:
            payload = marshal.dumps(value)
        except ValueError:
            return  # a type marshal cannot keep (a date, say): worked out each time
        self._remember(key, marshal.loads(payload))
        self._pending[key] = _checksum(key, payload) + payload
        if len(self._pending) >= FLUSH_EVERY:
            self.flush()  # a change of thousands of files: memory stays bounded

    def _remember(self, key: bytes, value: Any) -> None:
        if len(self._memory) >= MEMORY_ENTRIES:
            self._memory.clear()
        self._memory[key] = value

    def _read(self, key: bytes) -> bytes | None:
        from vpa_config.sqlite import sqlite3

        kept = self._kept.get(key)
        if kept is not None:
            return kept
        db = self._connect()
        if db is None:
            return None
        try:
            with self._lock:
                row = db.execute("SELECT value FROM facts WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            if _damaged(exc):
                self._reset()
            return None
        return bytes(row[0]) if row else None

    def keep(self) -> int:
        """Keep the pending facts (their change was committed); how many were written.

        They are written with those kept before once :data:`KEEP_BATCH` wait
        or the oldest has waited :data:`KEEP_WAIT_S`, and when the store is
        closed (:meth:`close`): a run of changes pays one SQLite commit for
        many. Kept facts are read from memory meanwhile.
        """
        if not self._pending:
            return 0
        if not self._kept:
            self._kept_at = time.monotonic()
        self._kept.update(self._pending)
        self._pending = {}
        waited = time.monotonic() - self._kept_at
        if len(self._kept) >= KEEP_BATCH or waited >= KEEP_WAIT_S:
            return self.flush()
        return 0

    def flush(self) -> int:
        """Write kept and pending facts in one SQLite transaction; how many.

        On any failure they are dropped: each is worked out again when needed.
        """
        if not self._pending and not self._kept:
            return 0
        from vpa_config.sqlite import sqlite3

        rows = list({**self._kept, **self._pending}.items())
        self._pending, self._kept = {}, {}
        db = self._connect()
        if db is None or not self._room_for(rows):
            return 0
        try:
            with self._lock:
                _insert(db, rows)
        except sqlite3.DatabaseError as exc:
            # Locked by another process, a read-only store: keep going without.
            if _damaged(exc):
                self._reset()
            return 0
        return len(rows)

    def discard(self) -> int:
        """Forget the pending facts (their change was not committed) and those in
        memory; facts kept from committed changes stay. None were written."""
        self._pending = {}
        self._memory.clear()
        return 0

    def _room_for(self, rows: list[tuple[bytes, bytes]]) -> bool:
        """Whether the disk has room to spare: the cache never takes its last space."""
        assert self.path is not None
        try:
            st = os.statvfs(self.path.parent)
        except (OSError, AttributeError):
            return True  # no statvfs (Windows): SQLite still refuses on a full disk
        needed = sum(len(key) + len(value) for key, value in rows)
        return st.f_bavail * st.f_frsize - needed >= MIN_FREE_BYTES

    def close(self) -> None:
        """Write what is pending and close the file."""
        self.flush()
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None

    def _connect(self) -> sqlite3.Connection | None:
        with self._lock:
            return self._connect_once()

    def _connect_once(self) -> sqlite3.Connection | None:
        from vpa_config.sqlite import sqlite3

        if self._db is not None or self._broken:
            return self._db
        assert self.path is not None
        try:
            _private_file(self.path)
            db = sqlite3.connect(
                self.path, timeout=0.05, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA wal_autocheckpoint=256")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            # A damaged file is replaced, once; otherwise (a folder that cannot
            # be made, a file locked by another process) memory only, this time.
            if isinstance(exc, sqlite3.DatabaseError) and _damaged(exc) and (
                self._remove_file()
            ):
                return self._connect_once()
            self._broken = True
            return None
        self._db = db
        return db

    def _reset(self) -> None:
        """Throw away a file SQLite reports as damaged and start a new one."""
        if self._db is not None:
            with self._lock:
                self._db.close()
            self._db = None
        if not self._remove_file():
            self._broken = True

    def _remove_file(self) -> bool:
        """Delete the file and its WAL, once per process (never a loop)."""
        if self._restarted or self.path is None:
            return False
        self._restarted = True
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError:
            return False
        return True


def _private_file(path: Path) -> None:
    """Make the cache file readable by its owner only.

    Parsed documents hold the files' secrets, whose working files are never
    readable by others; SQLite gives its log files the database file's mode.
    The folder keeps its mode: the validated settings beside the file hold no
    secret, and other readers of the store use them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        # A cache made before this rule; another user's store is left as it is.
        with contextlib.suppress(PermissionError):
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


# A change's few facts go in one statement, its own transaction (SQLite
# keeps 32,766 parameters to a statement from version 3.32, 999 before).
_ROWS_IN_ONE = 16


def _insert(db: sqlite3.Connection, rows: list[tuple[bytes, bytes]]) -> None:
    from vpa_config.sqlite import sqlite3

    if len(rows) <= _ROWS_IN_ONE:
        marks = ",".join(["(?,?)"] * len(rows))
        db.execute(
            f"INSERT OR REPLACE INTO facts VALUES {marks}",  # noqa: S608
            [part for row in rows for part in row],
        )
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?)", rows)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


def _damaged(exc: Exception) -> bool:
    """Whether SQLite says the file itself is broken (not locked, not misused)."""
    from vpa_config.sqlite import sqlite3

    return type(exc) is sqlite3.DatabaseError


def _key(kind: bytes, *parts: str) -> bytes:
    # A change asks for the same few keys several times (the old and the new
    # side of each file, its verdict, its secrets): each is hashed once.
    code = engine()
    known = _keys.get((code, kind, parts))
    if known is not None:
        return known
    digest = blake2b(FORMAT + b"\0" + kind + b"\0" + code, digest_size=32)
    for part in parts:
        digest.update(b"\0" + part.encode("utf-8", "surrogateescape"))
    if len(_keys) >= MEMORY_ENTRIES:
        _keys.clear()
    found = _keys[(code, kind, parts)] = digest.digest()
    return found


_keys: dict[tuple[bytes, bytes, tuple[str, ...]], bytes] = {}


def _checksum(key: bytes, payload: bytes) -> bytes:
    return blake2b(key + payload, digest_size=_SUM).digest()


def _decode(key: bytes, raw: bytes) -> Any:
    payload = raw[_SUM:]
    if len(raw) < _SUM or raw[:_SUM] != _checksum(key, payload):
        return MISS
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return MISS


def engine() -> bytes:
    """What, besides the content, a fact depends on: this code and its packages."""
    global _engine
    if _engine is None:
        digest = blake2b(sys.version.encode(), digest_size=32)
        digest.update(stamp(os.path.dirname(os.path.realpath(__file__)), ".py"))
        for folder in _package_folders():
            try:
                names = sorted(n for n in os.listdir(folder) if n.endswith(".dist-info"))
            except OSError:
                continue
            digest.update(("\0".join(names) + "\n").encode("utf-8", "surrogateescape"))
        _engine = digest.digest()
    return _engine


def stamp(folder: str | os.PathLike[str], suffix: str) -> bytes:
    """``relative/path:size:mtime_ns`` of every file named ``*suffix`` under ``folder``.

    In the order of ``sorted(Path(folder).rglob("*" + suffix))``; a file that
    cannot be stat'ed is left out.
    """
    lines = []
    found = _files(os.fspath(folder), "", suffix)
    for relative, entry in sorted(found, key=_path_order):
        try:
            st = entry.stat()
        except OSError:
            continue
        lines.append(f"{relative}:{st.st_size}:{st.st_mtime_ns}\0")
    return "".join(lines).encode("utf-8", "surrogateescape")


def _files(folder: str, prefix: str, suffix: str) -> list[tuple[str, os.DirEntry[str]]]:
    """Every ``*suffix`` under ``folder`` as (relative path, entry)."""
    found: list[tuple[str, os.DirEntry[str]]] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    found += _files(entry.path, f"{prefix}{entry.name}/", suffix)
                elif entry.name.endswith(suffix):
                    found.append((prefix + entry.name, entry))
    except OSError:
        pass
    return found


def _path_order(item: tuple[str, Any]) -> list[str]:
    return item[0].split("/")  # the order of sorted(Path.rglob(...))


def _package_folders() -> list[str]:
    """Folders that hold jsonschema and PyYAML (found without importing them)."""
    from importlib.util import find_spec

    folders = []
    for name in ("jsonschema", "yaml"):
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            folder = str(Path(spec.origin).parent.parent)
            if folder not in folders:
                folders.append(folder)
    return folders

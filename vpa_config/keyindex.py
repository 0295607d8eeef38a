"""The key-change index: which revision changed which key, without a walk.

An SQLite file beside the repository (``.git/vpa-config-history.sqlite``)
holds one row per revision along the first-parent chain, one row per file a
revision changed, and one row per key change (file, key path, change kind,
old and new values as JSON). ``audit``, ``blame``, ``log FILE`` and ``get
--at`` are then index lookups instead of a walk of every commit.

The index is never the source of truth. Each reader calls :meth:`KeyIndex.sync`
first, which compares the index's chain with HEAD: commits made around
vpa-config (the git CLI) are indexed then, a history that was rewritten (a
reset, a force push) throws the rows of the lost commits away, and a missing
or unreadable file is rebuilt from git. The rebuild works oldest first in
batches, each its own SQLite transaction, so an interrupted rebuild resumes
where it stopped. Parsed documents are cached by blob id while it runs.

Each change made through vpa-config is indexed in the same step as its
commit (:func:`record`), from the key-level diff the transaction already made
for validation, so the index stays current at about a millisecond a change.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence

from vpa_config import documents, logs
from vpa_config.errors import ParseError
from vpa_config.history import (
    CONTINUES_FROM,
    FileChange,
    KeyChange,
    diff_documents,
    parse_message,
    renames_of,
)
from vpa_config.keypath import Part, format_pointer
from vpa_config.sqlite import sqlite3

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from vpa_config.gitrepo import CommitInfo, GitRepo

INDEX_FILE = "vpa-config-history.sqlite"
# 2: an unparsable text is a revision of its own ("unparsable"), not the
# removal of every key.
FORMAT = "2"
# The action of a file whose text in a revision does not parse.
UNPARSABLE = "unparsable"
BATCH = 500
PARSE_CACHE = 256
# SQLite's own threshold (pages of its log) for the checkpoint that copies
# them into the index file; see KeyIndex._commit_record.
AUTOCHECKPOINT = 1000
CHECKPOINT_EVERY = 4  # index commits between background checkpoints
RECORD_BATCH = 16  # records a process queues before writing them together
RECORD_WAIT_S = 1.0  # nor does the oldest wait longer (see KeyIndex.record)
MISSING: Any = object()


OPEN_WAIT_S = 30.0  # as long as a statement waits for another's lock


class _OtherFormat(sqlite3.DatabaseError):
    """An index written in another format than :data:`FORMAT`."""


def _busy(exc: BaseException) -> bool:
    """Whether SQLite refused because another connection holds the file."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


# Today's secret judgement of a file, by a digest of everything it depends on
# (added to indexes of format 1 when first needed: no rebuild).
_JUDGEMENTS = """
CREATE TABLE IF NOT EXISTS judgements (
    key TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    patterns TEXT NOT NULL
) WITHOUT ROWID;
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commits (
    seq INTEGER PRIMARY KEY,
    sha TEXT NOT NULL UNIQUE,
    parent TEXT,
    time INTEGER NOT NULL,
    tz INTEGER NOT NULL,
    ctime INTEGER NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    tool TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    trailers TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER NOT NULL,
    file TEXT NOT NULL,
    action TEXT NOT NULL,
    renamed_from TEXT,
    blob TEXT,
    PRIMARY KEY (file, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_seq ON files (seq);
CREATE TABLE IF NOT EXISTS keys (
    seq INTEGER NOT NULL,
    file TEXT NOT NULL,
    path TEXT NOT NULL,
    change TEXT NOT NULL,
    old TEXT,
    new TEXT
);
CREATE INDEX IF NOT EXISTS keys_by_path ON keys (file, path, seq);
CREATE INDEX IF NOT EXISTS keys_by_seq ON keys (seq);
CREATE TABLE IF NOT EXISTS secrets (
    file TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (file, path)
) WITHOUT ROWID;
""" + _JUDGEMENTS


# The rows are collections.namedtuple classes: typing.NamedTuple's class form
# turns each (postponed) annotation into a ForwardRef, and the first of those
# compiles costs a history read about a millisecond.


class Revision(
    namedtuple(
        "Revision",
        "seq sha parent time tz author kind source tool subject reason trailers",
    )
):
    """One indexed revision: who, when, why, what kind.

    ``seq``, ``time`` and ``tz`` are ints, ``parent`` None for the first
    revision, ``trailers`` (key, value) pairs; the rest are text.
    """

    __slots__ = ()


class FileRow(namedtuple("FileRow", "seq file action renamed_from blob")):
    """One file one revision changed.

    ``action`` is "added", "removed" or "modified"; ``renamed_from`` and
    ``blob`` (the id after the change) may be None.
    """

    __slots__ = ()


class KeyRow(namedtuple("KeyRow", "seq file path change old new")):
    """One key change of one file in one revision (values as JSON text).

    ``path`` is a JSON Pointer; ``old`` is None for an added key, ``new`` for
    a removed one.
    """

    __slots__ = ()

    def old_value(self) -> Any:
        """The value before, or MISSING when the key was added."""
        return MISSING if self.old is None else json.loads(self.old)

    def new_value(self) -> Any:
        """The value after, or MISSING when the key was removed."""
        return MISSING if self.new is None else json.loads(self.new)


_REVISION_COLUMNS = (
    "seq, sha, parent, time, tz, author, kind, source, tool, subject, reason, trailers"
)


class _Queued:
    """A commit's record waiting to be written (see :meth:`KeyIndex.record`)."""

    __slots__ = ("info", "files", "blobs", "message", "renames", "parent")

    def __init__(
        self,
        info: CommitInfo,
        files: Sequence[FileChange],
        blobs: Sequence[tuple[str, str | None, str | None]],
        message: Any,
        renames: dict[str, str],
    ) -> None:
        self.info = info
        self.files = files
        self.blobs = blobs
        self.message = message
        self.renames = renames
        self.parent = info.parents[0] if info.parents else None


class KeyIndex:
    """The index of one store's repository."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo
        self.path = repo.controldir / INDEX_FILE
        self._db: sqlite3.Connection | None = None
        self._blobs: OrderedDict[str, Any] = OrderedDict()
        self._checks: dict[tuple[tuple[str, str], ...], Any] = {}
        self._config: dict[str, str] = {}
        self._tree: dict[str, str] = {}
        self._schema_marks: dict[str, bool] = {}
        self._hits: dict[tuple[str, tuple[Part, ...]], bool] = {}
        self._hits_state = 0
        self._matcher: Any = None
        self._config_dir = ".vpa-config/"
        self._recorded = 0  # index transactions that recorded commits
        self._queue: list[_Queued] = []  # records waiting (see record)
        self._queued_at = 0.0
        self._queued_by = 0  # the process that queued them
        self._in_memory = False
        self._checkpointer: threading.Thread | None = None
        # Until when records are not attempted: the index was found behind
        # HEAD (another process committed, or it was never built past its
        # start), and only a sync catches it up (see record).
        self._behind_until = 0.0

    # --- the connection ----------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """The open database, created (empty) when absent or unreadable."""
        if self._db is None:
            self._db = self._connect()
        return self._db

    def _connect(self) -> sqlite3.Connection:
        level = "warning"
        try:
            return self._open_waiting(self.path)
        except _OtherFormat:
            level = "info"  # an upgrade's, built again once: nothing is wrong
        except sqlite3.OperationalError as exc:
            if _busy(exc):  # another process holds it still: never removed
                return self._in_memory_db(exc)
        except sqlite3.DatabaseError:
            pass
        try:
            logs.emit("history.index_reset", level=level, path=str(self.path))
            for suffix in ("", "-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            return self._open_db(self.path)
        except (OSError, sqlite3.DatabaseError) as exc:
            # A store that cannot be written (read-only mount, other owner) is
            # still readable: the index is built in memory, for this process.
            return self._in_memory_db(exc)

    def _in_memory_db(self, exc: BaseException) -> sqlite3.Connection:
        logs.emit("history.index_in_memory", level="warning", path=str(self.path),
                  error=f"{type(exc).__name__}: {exc}")
        self._in_memory = True
        return self._open_db(":memory:")

    def _open_waiting(self, where: Path) -> sqlite3.Connection:
        """:meth:`_open_db`, tried again while another process holds the file.

        Two processes that build the index at once meet here: the one that
        creates it holds it while it writes the schema, and the other's
        journal-mode switch is refused as busy at once, without SQLite's
        wait. Taken for damage, that refusal had the index removed under
        the first process.
        """
        deadline = time.monotonic() + OPEN_WAIT_S
        while True:
            try:
                return self._open_db(where)
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _open_db(self, where: Path | str) -> sqlite3.Connection:
        if where != ":memory:":
            _owner_only(str(where))
        db = sqlite3.connect(where, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # The index can always be rebuilt: a power cut may lose its last
            # rows (found stale and caught up), never corrupt it.
            db.execute("PRAGMA synchronous=NORMAL")
            version = _meta(db, "format")
            if version not in (None, FORMAT):
                db.close()
                raise _OtherFormat(f"index format {version}")
            if version is None:
                db.executescript(_SCHEMA)
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,)
                )
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Write the queued records (see :meth:`record`) and close the database."""
        if self._db is not None:
            try:
                self.write_queued()
            except sqlite3.Error as exc:  # the index catches up on its next read
                logs.emit("history.index_failed", level="warning",
                          error=f"{type(exc).__name__}: {exc}")
            self._db.close()
            self._db = None

    # --- keeping up with HEAD ---------------------------------------------

    def tip(self) -> tuple[int, str] | None:
        """(seq, sha) of the newest indexed revision."""
        row = self.db.execute(
            "SELECT seq, sha FROM commits ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None

    def is_current(self) -> bool:
        """Whether the index ends exactly at HEAD."""
        tip = self.tip()
        return (tip[1] if tip else None) == self.repo.head()

    def sync(self, max_new: int | None = None) -> bool:
        """Bring the index up to HEAD; False if that needs more than ``max_new``."""
        self.write_queued()
        self._behind_until = 0.0
        head = self.repo.head()
        tip = self.tip()
        if (tip or (0, None))[1] == head:
            return True
        missing, base = self._missing_since_indexed(head, max_new)
        if missing is None:
            return False
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.tip() != tip:
                # Another process moved the index while this one walked.
                missing, base = self._missing_since_indexed(head, None)
            assert missing is not None
            self._truncate_after(base)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        if missing:
            logs.emit("history.index_update", level="debug", revisions=len(missing))
            if not self._index_commits(missing, base):
                # Another process is indexing the same commits: follow it.
                return self.sync(max_new)
        return True

    def _missing_since_indexed(
        self, head: str | None, limit: int | None
    ) -> tuple[list[CommitInfo] | None, int]:
        """Commits from HEAD back to the newest indexed one, oldest first."""
        chain: list[CommitInfo] = []
        if head is None:
            return chain, -1
        empty = self.tip() is None
        for info in self.repo.walk(head):
            row = None if empty else self.db.execute(
                "SELECT seq FROM commits WHERE sha = ?", (info.sha,)
            ).fetchone()
            if row is not None:
                chain.reverse()
                return chain, int(row[0])
            if limit is not None and len(chain) >= limit:
                return None, -1
            chain.append(info)
        chain.reverse()
        return chain, -1

    def _truncate_after(self, seq: int) -> None:
        for table in ("commits", "files", "keys"):
            self.db.execute(f"DELETE FROM {table} WHERE seq > ?", (seq,))  # noqa: S608

    def rebuild(self) -> None:
        """Forget every row and index the whole history again."""
        self.db.execute("BEGIN IMMEDIATE")
        self._truncate_after(-1)
        self.db.execute("DELETE FROM secrets")
        self.db.execute("COMMIT")
        self.sync()

    def _index_commits(self, chain: list[CommitInfo], base: int) -> bool:
        from vpa_config.layout import SETTINGS_FILE

        previous_tree = self._tree_of_seq(base)
        config_dir = SETTINGS_FILE.split("/")[0] + "/"
        before = self._sha_of_seq(base)
        self._tree = {
            name: entry[1]
            for name, entry in (self.repo.files(before) if before else {}).items()
        }
        self._config = {
            name: blob for name, blob in self._tree.items() if name.startswith(config_dir)
        }
        self._config_dir = config_dir
        expected = (base, before) if before else None
        meter = _meter(len(chain))
        try:
            for start in range(0, len(chain), BATCH):
                batch = chain[start : start + BATCH]
                self.db.execute("BEGIN IMMEDIATE")
                if self.tip() != expected:
                    self.db.execute("ROLLBACK")
                    return False
                try:
                    for offset, info in enumerate(batch):
                        seq = base + 1 + start + offset
                        self._index_one(seq, info, previous_tree)
                        previous_tree = info.tree.encode()
                        if meter is not None and offset % 100 == 99:
                            meter(start + offset + 1)
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                expected = (base + start + len(batch), batch[-1].sha)
                if meter is not None:
                    meter(start + len(batch))
        finally:
            if meter is not None:
                meter(None)
        return True

    def _sha_of_seq(self, seq: int) -> str | None:
        row = self.db.execute("SELECT sha FROM commits WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def _tree_of_seq(self, seq: int) -> bytes | None:
        sha = self._sha_of_seq(seq)
        return self.repo.commit(sha).tree.encode() if sha else None

    def _index_one(self, seq: int, info: CommitInfo, parent_tree: bytes | None) -> None:
        message = parse_message(info.message)
        changes = self.repo.tree_file_changes(parent_tree, info.tree.encode())
        config_changed = False
        for path, _old, new in changes:
            targets = [self._tree]
            if path.startswith(self._config_dir):
                targets.append(self._config)
                config_changed = True
            for target in targets:
                if new is None:
                    target.pop(path, None)
                else:
                    target[path] = new
        renames = _renames(message.trailer_values(*CONTINUES_FROM), changes)
        file_changes = [
            self._file_change(path, old, new, renames, changes, info, seq)
            for path, old, new in changes
        ]
        if config_changed:
            file_changes += self._rejudge_secrets({path for path, _, _ in changes})
        self._insert(seq, info, message, file_changes, renames, changes)

    def _rejudge_secrets(self, skip: set[str]) -> list[FileChange]:
        """Secrets of every unchanged file under new settings or schemas.

        Each document is judged when a revision brings it (its new side);
        when the rules change, the files that stayed are judged again.
        """
        found = []
        for name, blob in sorted(self._tree.items()):
            if name in skip:
                continue
            data = self._parsed(name, blob)
            if data is not MISSING:
                paths = self._secrets_of(name, data)
                if paths:
                    found.append(FileChange(name, "", [], set(paths)))
        return found

    def _file_change(
        self,
        path: str,
        old_blob: str | None,
        new_blob: str | None,
        renames: dict[str, str],
        changes: list[tuple[str, str | None, str | None]],
        info: CommitInfo,
        seq: int,
    ) -> FileChange:
        """One file's change in revision ``seq``.

        A text that does not parse (a direct commit can bring one) changes no
        key: its revision is recorded as ``unparsable``, and the revision
        that makes the file readable again is compared with the last one
        that was, so no key reads as removed and added back.
        """
        source = path
        if new_blob is not None and old_blob is None and path in renames:
            source = renames[path]
            old_blob = next((o for p, o, _ in changes if p == source), None)
            if old_blob is None:
                old_blob = self._blob_at_parent(info, source)
        if self._unreadable(path, new_blob):
            return FileChange(path, UNPARSABLE, [])
        old = self._parsed(path, old_blob)
        if self._unreadable(source, old_blob):
            old = self._last_readable(source, seq)
        new = self._parsed(path, new_blob)
        action = "added" if old_blob is None else "removed" if new_blob is None else "modified"
        change = FileChange(path, action, document_changes(old, new))
        if new is not MISSING:
            # The old side was judged by the revision that brought it.
            change.secret_paths |= self._secrets_of(path, new)
        return change

    def _unreadable(self, name: str, blob: str | None) -> bool:
        """Whether ``blob`` is a config file's text that does not parse."""
        return (
            blob is not None
            and name.lower().endswith(documents.SUFFIXES)
            and self._parsed(name, blob) is MISSING
        )

    def _last_readable(self, name: str, before: int) -> Any:
        """The document of ``name``'s newest text before ``before`` that parses."""
        rows = self.db.execute(
            "SELECT blob FROM files WHERE file = ? AND seq < ? ORDER BY seq DESC",
            (name, before),
        )
        for (blob,) in rows:
            if blob is None:
                return MISSING  # removed: nothing was there to compare with
            data = self._parsed(name, blob)
            if data is not MISSING:
                return data
        return MISSING

    def _blob_at_parent(self, info: CommitInfo, name: str) -> str | None:
        if not info.parents:
            return None
        entry = self.repo.files(info.parents[0]).get(name)
        return entry[1] if entry else None

    def _parsed(self, name: str, blob: str | None) -> Any:
        """A blob's document (cached by blob id); MISSING for none or unparsable."""
        if blob is None or not name.lower().endswith(documents.SUFFIXES):
            return MISSING
        if blob in self._blobs:
            self._blobs.move_to_end(blob)
            return self._blobs[blob]
        try:
            data = documents.parse(name, self.repo.blob(blob))
        except ParseError:
            data = MISSING
        self._blobs[blob] = data
        if len(self._blobs) > PARSE_CACHE:
            self._blobs.popitem(last=False)
        return data

    def parsed_blob(self, name: str, blob: str) -> Any:
        """A blob's document, cached; MISSING when it does not parse."""
        return self._parsed(name, blob)

    def _secrets_of(self, name: str, data: Any) -> set[tuple[Part, ...]]:
        """What ``CandidateCheck.secrets_of`` finds, with its slow parts cached.

        A schema with no secret keyword anywhere is not walked, and whether a
        settings pattern matches a key path is remembered per rules state.
        """
        from vpa_config.errors import SchemaError
        from vpa_config.validation import SECRET_KEYWORDS, SecretMatcher, secret_paths

        check = self._check_for(self._config)
        found: set[tuple[Part, ...]] = set()
        try:
            source = check.schema_for(name, data)
        except SchemaError:
            source = None
        if source is not None:
            schema = source.load()
            marked = self._schema_marks.get(source.digest)
            if marked is None:
                text = json.dumps(schema)
                marked = any(f'"{word}"' in text for word in SECRET_KEYWORDS)
                self._schema_marks[source.digest] = marked
            if marked:
                found.update(secret_paths(schema, data))
        state = id(check)
        if self._hits_state != state:
            self._hits_state = state
            self._hits = {}
            self._matcher = SecretMatcher(check.settings.secrets)
        for path in _all_paths(data, ()):
            key = (name, path)
            hit = self._hits.get(key)
            if hit is None:
                if len(self._hits) > 200_000:
                    self._hits.clear()
                hit = self._hits[key] = self._matcher.matches(name, path)
            if hit:
                found.add(path)
        return found

    def _check_for(self, config: dict[str, str]) -> Any:
        """The secrets judge of one state of the settings and schemas (cached)."""
        from vpa_config.verdict import CandidateCheck

        state = tuple(sorted(config.items()))
        if state not in self._checks:
            blobs = dict(config)

            def read(name: str) -> bytes | None:
                blob = blobs.get(name)
                return self.repo.blob(blob) if blob else None

            if len(self._checks) > 16:
                self._checks.clear()
            self._checks[state] = CandidateCheck(read, list(blobs), read)
        return self._checks[state]

    def _insert(
        self,
        seq: int,
        info: CommitInfo,
        message: Any,
        changes: Iterable[FileChange],
        renames: dict[str, str],
        blobs: Sequence[tuple[str, str | None, str | None]],
    ) -> None:
        db = self.db
        db.execute(
            "INSERT INTO commits VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                seq, info.sha, info.parents[0] if info.parents else None,
                info.author_time, info.author_tz, info.commit_time or info.author_time,
                info.author,
                message.trailer("Kind", "git"), message.trailer("Source", "git"),
                message.trailer("Tool", ""), message.subject, message.reason,
                json.dumps(message.trailers),
            ),
        )
        new_blob = {path: new for path, _old, new in blobs}
        # One statement per table for the whole commit (a restore of 50
        # files made 100 statements of a few rows each).
        files, keys, secrets = [], [], []
        for change in changes:
            secrets += [(change.path, format_pointer(p)) for p in change.secret_paths]
            if not change.action:
                continue
            files.append(
                (seq, change.path, change.action, renames.get(change.path),
                 new_blob.get(change.path))
            )
            keys += [
                (seq, change.path, format_pointer(key.path), key.kind,
                 _json(key.old) if key.kind != "added" else None,
                 _json(key.new) if key.kind != "removed" else None)
                for key in change.keys
            ]
        db.executemany("INSERT INTO files VALUES (?,?,?,?,?)", files)
        db.executemany("INSERT INTO keys VALUES (?,?,?,?,?,?)", keys)
        if secrets:
            db.executemany("INSERT OR IGNORE INTO secrets VALUES (?,?)", secrets)

    # --- recording a commit as it is made ---------------------------------

    def record(
        self,
        info: CommitInfo,
        files: Sequence[FileChange],
        blobs: Sequence[tuple[str, str | None, str | None]],
        message: Any = None,
    ) -> bool:
        """Index a commit just made on top of the indexed tip; False if not possible.

        A process's first record (a command's only one) is written at once.
        Its later ones wait in a queue, written together in one transaction
        when :data:`RECORD_BATCH` wait or the oldest has waited
        :data:`RECORD_WAIT_S`, and before this process reads the index
        (:meth:`sync`) or closes it: a run of changes pays one SQLite commit
        for many. Another process finds the index behind HEAD meanwhile and
        catches up from git itself (see :meth:`_write_records`).
        """
        if self._behind_until > time.monotonic():
            return False  # behind still, most likely: the next sync catches up
        message = parse_message(info.message) if message is None else message
        renames = _renames(message.trailer_values(*CONTINUES_FROM), blobs)
        entry = _Queued(info, files, blobs, message, renames)
        if self._recorded == 0 or self._in_memory:
            return self._written([entry])
        if not self._queue:
            self._queued_at = time.monotonic()
            self._queued_by = os.getpid()
        self._queue.append(entry)
        waited = time.monotonic() - self._queued_at
        if len(self._queue) >= RECORD_BATCH or waited >= RECORD_WAIT_S:
            return self.write_queued()
        return True

    def write_queued(self) -> bool:
        """Write the queued records (see :meth:`record`); False if they were stale.

        A forked child drops its parent's queue: the parent writes it.
        """
        queued, self._queue = self._queue, []
        if not queued or self._queued_by != os.getpid():
            return True
        return self._written(queued)

    def _written(self, entries: list[_Queued]) -> bool:
        """:meth:`_write_records`; when the index is behind, the records of
        the next :data:`RECORD_WAIT_S` are not attempted (each attempt is a
        write transaction that changes nothing)."""
        if self._write_records(entries):
            return True
        self._behind_until = time.monotonic() + RECORD_WAIT_S
        return False

    def _write_records(self, entries: list[_Queued]) -> bool:
        """Insert records on top of the indexed tip, in one transaction.

        The tip is read once, inside the write transaction. Records another
        process has indexed meanwhile are passed over; the rest are written
        for as long as each is the child of the one before (a commit another
        process made between two of them would be missing): the index then
        catches up from git on its next :meth:`sync`. False when none could
        be written.
        """
        self.db.execute("BEGIN IMMEDIATE")
        try:
            tip = self.tip()
            sha = tip[1] if tip else None
            start = next(
                (n for n, entry in enumerate(entries) if entry.parent == sha), None
            )
            if start is None:
                self.db.execute("ROLLBACK")
                return False
            seq = tip[0] + 1 if tip else 0
            for entry in entries[start:]:
                if entry.parent != sha:
                    break
                self._insert(
                    seq, entry.info, entry.message, entry.files, entry.renames,
                    entry.blobs,
                )
                seq, sha = seq + 1, entry.info.sha
            self._commit_record()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return True

    def _commit_record(self) -> None:
        """COMMIT recorded changes; a process's later ones leave the checkpoint
        to a thread.

        SQLite checkpoints in the committing thread once its log passes
        :data:`AUTOCHECKPOINT` pages: copying them into the file and two
        fsyncs, which made every fifth restore (200 pages each) half as slow
        again. A process that records change after change does that in the
        background instead, every :data:`CHECKPOINT_EVERY` commits of the
        index; its first record (a command's only one) commits as SQLite does.
        """
        self._recorded += 1
        if self._recorded == 1 or self._in_memory:
            self.db.execute("COMMIT")
            return
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        try:
            self.db.execute("COMMIT")
        finally:
            self.db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT}")
        if self._recorded % CHECKPOINT_EVERY == 0:
            running = self._checkpointer
            if running is None or not running.is_alive():
                self._checkpointer = threading.Thread(
                    target=_checkpoint, args=(str(self.path),),
                    name="vpa-index-checkpoint",
                )
                self._checkpointer.start()

    # --- queries ------------------------------------------------------------

    def revision(self, seq: int) -> Revision:
        """The revision at ``seq``."""
        row = self.db.execute(
            f"SELECT {_REVISION_COLUMNS} FROM commits WHERE seq = ?", (seq,)  # noqa: S608
        ).fetchone()
        return _revision(row)

    def revisions(self, seqs: Iterable[int]) -> dict[int, Revision]:
        """Revisions by seq."""
        wanted = sorted(set(seqs))
        found: dict[int, Revision] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT {_REVISION_COLUMNS} FROM commits WHERE seq IN ({marks})",  # noqa: S608
                chunk,
            ):
                found[row[0]] = _revision(row)
        return found

    def seq_of(self, sha: str) -> int | None:
        """The seq of a revision, or None when it is not on the indexed chain."""
        row = self.db.execute("SELECT seq FROM commits WHERE sha = ?", (sha,)).fetchone()
        return int(row[0]) if row else None

    def newest(
        self,
        *,
        file: str | None = None,
        kind: str | None = None,
        author: str | None = None,
        since: int | None = None,
        until: int | None = None,
        seqs: Sequence[int] | None = None,
        limit: int | None = None,
    ) -> Iterator[Revision]:
        """Revisions newest first, filtered."""
        where, args = [], []
        if file is not None:
            where.append("seq IN (SELECT seq FROM files WHERE file = ?)")
            args.append(file)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if author is not None:
            where.append("instr(lower(author), ?) > 0")
            args.append(author.lower())
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if until is not None:
            where.append("time <= ?")
            args.append(until)
        if seqs is not None:
            where.append(f"seq IN ({','.join(str(int(s)) for s in seqs) or 'NULL'})")
        sql = f"SELECT {_REVISION_COLUMNS} FROM commits"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self.db.execute(sql, args):
            yield _revision(row)

    def files_of(self, seqs: Iterable[int]) -> dict[int, list[FileRow]]:
        """The files each revision changed."""
        found: dict[int, list[FileRow]] = {}
        wanted = sorted(set(seqs))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT seq, file, action, renamed_from, blob FROM files "  # noqa: S608
                f"WHERE seq IN ({marks}) ORDER BY seq, file",
                chunk,
            ):
                found.setdefault(row[0], []).append(FileRow(*row))
        return found

    def file_rows(
        self, file: str, low: int = -1, high: int | None = None
    ) -> list[FileRow]:
        """The revisions that changed ``file`` within [low, high], newest first."""
        rows = self.db.execute(
            "SELECT seq, file, action, renamed_from, blob FROM files "
            "WHERE file = ? AND seq >= ? AND seq <= ? ORDER BY seq DESC",
            (file, low, high if high is not None else 1 << 62),
        )
        return [FileRow(*row) for row in rows]

    def file_state(self, file: str, at: int) -> FileRow | None:
        """The last change of ``file`` at or before ``at``."""
        row = self.db.execute(
            "SELECT seq, file, action, renamed_from, blob FROM files "
            "WHERE file = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (file, at),
        ).fetchone()
        return FileRow(*row) if row else None

    def lineage(self, file: str, high: int | None = None) -> list[tuple[str, int, int]]:
        """(name, low, high) segments of a file's history, newest first, following renames."""
        segments: list[tuple[str, int, int]] = []
        name, top = file, (high if high is not None else 1 << 62)
        while len(segments) < 100:
            row = self.db.execute(
                "SELECT seq, renamed_from FROM files WHERE file = ? AND seq <= ? "
                "AND renamed_from IS NOT NULL ORDER BY seq DESC LIMIT 1",
                (name, top),
            ).fetchone()
            if row is None:
                segments.append((name, -1, top))
                break
            segments.append((name, row[0], top))
            name, top = row[1], row[0] - 1
        return segments

    def key_rows(
        self, file: str, path: Sequence[Part], low: int, high: int
    ) -> list[KeyRow]:
        """Rows at, above (ancestors) or below ``path`` of ``file``, newest first."""
        pointer = format_pointer(path)
        ancestors = [format_pointer(path[:n]) for n in range(len(path))]
        marks = ",".join("?" * (len(ancestors) + 1))
        rows = self.db.execute(
            "SELECT seq, file, path, change, old, new FROM keys "
            f"WHERE file = ? AND seq >= ? AND seq <= ? AND (path IN ({marks}) "  # noqa: S608
            "OR (path > ? AND path < ?)) ORDER BY seq DESC",
            (file, low, high, *ancestors, pointer, pointer + "/", pointer + "0"),
        )
        return [KeyRow(*row) for row in rows]

    def last_change(
        self, file: str, path: Sequence[Part], low: int, high: int,
        below: bool = False,
    ) -> int | None:
        """The newest seq in [low, high] that changed ``path`` itself or an ancestor
        (with ``below``, a key under ``path`` too: an emptied mapping's last change
        is the removal of its last key)."""
        pointers = [format_pointer(path[:n]) for n in range(len(path) + 1)]
        marks = ",".join("?" * len(pointers))
        query = (
            "SELECT max(seq) FROM keys WHERE file = ? AND seq >= ? AND seq <= ? "
            f"AND (path IN ({marks})"  # noqa: S608
        )
        args: list[Any] = [file, low, high, *pointers]
        if below:
            prefix = pointers[-1] + "/"
            query += " OR substr(path, 1, ?) = ?"
            args += [len(prefix), prefix]
        row = self.db.execute(query + ")", args).fetchone()
        return row[0] if row and row[0] is not None else None

    def secret_paths(self, files: Iterable[str]) -> set[tuple[str, str]]:
        """(file, pointer) of every path ever judged secret in these files."""
        found: set[tuple[str, str]] = set()
        for name in set(files):
            found.update(
                (name, row[0])
                for row in self.db.execute("SELECT path FROM secrets WHERE file = ?", (name,))
            )
        return found

    def secret_values(self, limit: int = 64) -> list[str]:
        """The newest distinct texts (at most ``limit``) secret keys have held.

        Keys the secrets table names, the keys below them, and keys whose name
        marks a secret (:func:`vpa_config.redaction.is_secret_key_path`): what
        a reason that names a secret would name, for outputs to hide.
        """
        from vpa_config.redaction import is_secret_key_path

        db = self.db
        paths = set(db.execute("SELECT file, path FROM secrets"))
        paths.update(
            (file, path)
            for file, path in db.execute("SELECT DISTINCT file, path FROM keys")
            if is_secret_key_path(path.split("/"), file)
        )
        rows: list[tuple[int, str | None, str | None]] = []
        for file, path in paths:
            rows += _rows_at_or_below(db, file, path, limit)
        rows.sort(key=lambda row: row[0], reverse=True)
        found: dict[str, None] = {}
        for _seq, old, new in rows:
            for text in (new, old):
                if text is not None:
                    found.update(dict.fromkeys(_strings(json.loads(text))))
            if len(found) >= limit:
                break
        return list(found)[:limit]

    def tip_state(self, name: str) -> list[tuple[str, str | None]]:
        """Blob ids at the indexed tip of ``name`` and of the store's own files.

        Settings and schemas live under the store's folder, so with the code
        that reads them this is all a file's secret judgement depends on.
        """
        from vpa_config.layout import SETTINGS_FILE

        folder = SETTINGS_FILE.split("/")[0] + "/"
        rows = self.db.execute(
            "SELECT file, blob FROM files AS f WHERE file >= ? AND file < ? "
            "AND seq = (SELECT max(seq) FROM files WHERE file = f.file) ORDER BY file",
            (folder, folder[:-1] + chr(ord("/") + 1)),
        ).fetchall()
        state = self.file_state(name, 1 << 62)
        return [(name, state.blob if state else None), *rows]

    def judgement(self, key: str) -> tuple[set[str], list[str]] | None:
        """(secret pointers, secret patterns) kept under ``key``, or None."""
        try:
            row = self.db.execute(
                "SELECT secret, patterns FROM judgements WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.OperationalError:
            return None  # an index made before the table (created on first write)
        if row is None:
            return None
        return set(json.loads(row[0])), json.loads(row[1])

    def keep_judgement(self, key: str, secret: set[str], patterns: list[str]) -> None:
        """Remember a judgement (best effort: a read-only index only costs time)."""
        values = (key, json.dumps(sorted(secret)), json.dumps(list(patterns)))
        try:
            self.db.executescript(_JUDGEMENTS)
            self.db.execute("INSERT OR REPLACE INTO judgements VALUES (?,?,?)", values)
        except sqlite3.OperationalError as exc:
            logs.emit("history.judgement_not_kept", level="debug", error=str(exc))

    def at_time(self, moment: int) -> int | None:
        """The newest revision committed at or before ``moment``."""
        row = self.db.execute(
            "SELECT max(seq) FROM commits WHERE ctime <= ?", (moment,)
        ).fetchone()
        return row[0] if row and row[0] is not None else None


def document_changes(old: Any, new: Any) -> list[KeyChange]:
    """Key changes of a file from ``old`` to ``new`` (MISSING: no document)."""
    if old is MISSING and new is MISSING:
        return []
    if old is MISSING:
        return [KeyChange((), "added", new=new)]
    if new is MISSING:
        return [KeyChange((), "removed", old=old)]
    return diff_documents(old, new)


def _renames(
    trailers: Sequence[str], changes: Sequence[tuple[str, str | None, str | None]]
) -> dict[str, str]:
    """new name -> old name, from trailers, else exact renames within the commit."""
    found = renames_of(trailers)
    removed = {old: path for path, old, new in changes if new is None and old}
    for path, old, new in changes:
        if old is None and new is not None and path not in found and new in removed:
            found[path] = removed.pop(new)
    return found


def _all_paths(data: Any, path: tuple[Part, ...]) -> Iterator[tuple[Part, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*path, key)
            yield here
            if isinstance(value, (dict, list)):
                yield from _all_paths(value, here)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            here = (*path, index)
            if isinstance(value, (dict, list)):
                yield from _all_paths(value, here)


def _rows_at_or_below(
    db: sqlite3.Connection, file: str, path: str, limit: int
) -> list[tuple[int, str | None, str | None]]:
    """(seq, old, new) of the newest changes of ``path`` of ``file`` and below it."""
    rows = db.execute(
        "SELECT seq, path, old, new FROM keys WHERE file = ? AND path >= ? "
        "AND path < ? ORDER BY seq DESC LIMIT ?",
        (file, path, path + "0", limit),
    )
    below = path + "/"
    return [
        (seq, old, new)
        for seq, found, old, new in rows
        if found == path or found.startswith(below) or not path
    ]


def _strings(value: Any) -> Iterator[str]:
    """The text scalars of a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=False)


def _meta(db: sqlite3.Connection, name: str) -> str | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def _revision(row: Sequence[Any]) -> Revision:
    return Revision(
        seq=row[0], sha=row[1], parent=row[2], time=row[3], tz=row[4], author=row[5],
        kind=row[6], source=row[7], tool=row[8], subject=row[9], reason=row[10],
        trailers=tuple(tuple(pair) for pair in json.loads(row[11])),  # type: ignore[misc]
    )


# --- progress on a terminal ---------------------------------------------------

# Set by the command line (:func:`show_progress`): a library caller's
# terminal is left alone.
_progress = False
PROGRESS_FROM = 1000  # revisions to index before a bar is worth showing


def show_progress(enabled: bool = True) -> None:
    """Draw a bar on stderr, when it is a terminal, while many revisions are indexed."""
    global _progress
    _progress = enabled


def _meter(total: int) -> Callable[[int | None], None] | None:
    """A function drawing ``done``/``total`` on the terminal (None: erase it)."""
    import sys

    stream = sys.stderr
    if not _progress or total < PROGRESS_FROM or not stream.isatty():
        return None

    def draw(done: int | None) -> None:
        if done is None:
            stream.write("\r\x1b[2K")
        else:
            filled = done * 30 // total
            stream.write(
                f"\rindexing history [{'#' * filled}{'.' * (30 - filled)}] "
                f"{done:,}/{total:,} revisions"
            )
        stream.flush()

    return draw


# --- one index per open repository ------------------------------------------

_open: weakref.WeakKeyDictionary[Any, KeyIndex] = weakref.WeakKeyDictionary()


def _owner_only(path: str) -> None:
    """Make the index and its SQLite side files readable by their owner only.

    The index holds every old value, secrets among them (whose working files
    are closed to others). SQLite gives its side files the database file's
    mode, so a new index is created 0600 first; the files of an index made
    before this rule are closed too. A store this user cannot change (a
    read-only mount, another owner) is left as it is.
    """
    for suffix in ("", "-wal", "-shm", "-journal"):
        name = path + suffix
        try:
            mode = os.stat(name).st_mode
            if mode & 0o077 and mode & 0o170000 == 0o100000:  # a plain file
                os.chmod(name, 0o600)
        except FileNotFoundError:
            if not suffix:
                _create_private(name)
        except OSError:
            pass


def _create_private(name: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        os.close(os.open(name, flags, 0o600))
    except OSError:
        pass  # made by another process meanwhile, or not ours to make


def index_for(repo: GitRepo) -> KeyIndex:
    """The repository's index, opened once per process (not yet synced)."""
    index = _open.get(repo)
    if index is None:
        index = _open[repo] = KeyIndex(repo)
    return index


def close_all() -> None:
    """Close every index this process opened (the end of a command-line process).

    An index left open is closed when its repository is collected; a process
    about to exit closes them itself, so that SQLite ends its write-ahead log
    as it does on close (no ``-wal`` or ``-shm`` file left behind).
    """
    for index in list(_open.values()):
        index.close()


def close_for(repo: GitRepo) -> None:
    """Write the queued records of ``repo``'s index and close it (its store closed)."""
    index = _open.get(repo)
    if index is not None:
        index.close()


def secret_values_of(repo: GitRepo) -> list[str]:
    """The secret values the repository's index knows (:meth:`KeyIndex.secret_values`).

    As the index is: not synced, and none when the store has no index yet
    (a read that never needed one is not made to build it).
    """
    if repo not in _open and not (repo.controldir / INDEX_FILE).exists():
        return []
    try:
        return index_for(repo).secret_values()
    except sqlite3.Error as exc:  # outputs are still scrubbed by the patterns
        logs.emit("history.secret_values_unread", level="debug", error=str(exc))
        return []


def synced(repo: GitRepo) -> KeyIndex:
    """The repository's index, brought up to HEAD."""
    index = index_for(repo)
    index.sync()
    return index


def _checkpoint(path: str) -> None:
    """Copy the index's log into its file, waiting for no reader or writer."""
    from pathlib import Path

    try:
        where = Path(path).as_uri() + "?mode=rw"  # never creates a file
        db = sqlite3.connect(where, uri=True, timeout=0)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()
    except sqlite3.Error:
        pass  # the next checkpoint (or SQLite's own) copies what this left


def record_commit(
    repo: GitRepo,
    commit: str,
    parent_tree: dict[str, tuple[int, str]],
    files: Sequence[FileChange],
    changed: dict[str, tuple[bytes, int] | None],
) -> None:
    """Index a commit the transaction just made; a failure only leaves it stale.

    ``files`` are the transaction's key-level changes (the same diff that was
    shown and validated), so nothing is parsed again except for a renamed
    file, whose keys are compared with the file it was renamed from.
    """
    index = index_for(repo)
    if index._db is None and not index.path.exists():
        return  # never built: the first read builds it, with this commit
    try:
        info = repo.commit(commit)
        blobs = [
            (
                name,
                parent_tree[name][1] if name in parent_tree else None,
                None if entry is None else repo.blob_id(entry[0]),
            )
            for name, entry in sorted(changed.items())
        ]
        if any(getattr(change, "unparsable", ()) for change in files):
            # Its rows compare with the last readable text: the next read
            # indexes it from git (KeyIndex._file_change), as a direct commit.
            logs.emit("history.index_stale", level="debug", revision=commit)
            return
        message = parse_message(info.message)
        renames = _renames(message.trailer_values(*CONTINUES_FROM), blobs)
        normalised = [
            _normalise(index, change, renames, parent_tree, changed) for change in files
        ]
        if not index.record(info, normalised, blobs, message):
            logs.emit("history.index_stale", level="debug", revision=commit)
    except Exception as exc:  # noqa: BLE001 (the index is rebuilt on the next read)
        logs.emit(
            "history.index_failed", level="warning", revision=commit,
            error=f"{type(exc).__name__}: {exc}",
        )


def _normalise(
    index: KeyIndex,
    change: FileChange,
    renames: dict[str, str],
    parent_tree: dict[str, tuple[int, str]],
    changed: dict[str, tuple[bytes, int] | None],
) -> FileChange:
    """Whole-document rows for added and removed files; renames against their source."""
    keys = change.keys
    if change.action == "added" and change.path in renames:
        source = parent_tree.get(renames[change.path])
        entry = changed.get(change.path)
        old = index.parsed_blob(renames[change.path], source[1]) if source else MISSING
        new = _parse_or_missing(change.path, entry[0]) if entry else MISSING
        keys = document_changes(old, new)
    elif change.action in ("added", "removed") and len(keys) == 1 and keys[0].path == ():
        only = keys[0]
        keys = [
            KeyChange((), "added", new=only.new)
            if change.action == "added"
            else KeyChange((), "removed", old=only.old)
        ]
    elif change.action in ("added", "removed"):
        keys = []
    result = FileChange(change.path, change.action, keys)
    result.secret_paths = set(change.secret_paths)
    return result


def _parse_or_missing(name: str, content: bytes) -> Any:
    if not name.lower().endswith(documents.SUFFIXES):
        return MISSING
    try:
        return documents.parse(name, content)
    except ParseError:
        return MISSING

"""The audit trail: one record per user action, hash-chained, beside the repository.

Records are JSON lines in ``.git/vpa-config-audit.jsonl``: inside the store's
git directory, so they are not versioned with the config and a checkout or a
restore never touches them. Each record says what was done (``kind``, the
``subject``), when (``time``, UTC), by whom (``actor``), from where (``host``,
``pid``, ``argv``, ``source``), to what (``files``, ``keys``), how it ended
(``outcome``: committed, unchanged, refused, failed, detected), why (``reason``
given by the actor, ``error`` when refused or failed) and the revisions before
and after. Secrets are redacted before a record is written.

Records are written whatever the log level is and whether or not logging is
configured. Each one carries ``prev``, the SHA-256 of the line before it (64
zeros for the first), so editing or removing a record breaks the chain, which
:func:`verify_chain` reports along with recorded revisions that are no longer
in history and commits no record covers. A change a killed process left is
recorded by the process that recovers it (``recoveryrecord.py``). The store
also compares HEAD with the last recorded revision when it opens and in every
transaction: if HEAD no longer descends from it, history was rewritten under
the store, and that is reported as a security event (and recorded, so it is
reported once).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path

from vpa_config import logs
from vpa_config.records import FrozenRecord, Record

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    from vpa_config.store import ConfigStore
    from vpa_config.transaction import ChangeRequest, Transaction

# TODO(#5): anchor the chain's head outside the file (a trailer in each commit,
# or a remote log) so that a wholesale rewrite of the trail, or an edit of its
# newest record, is evident too; until then the chain shows edits and
# removals of records that have a successor.
AUDIT_FILE = "vpa-config-audit.jsonl"
GENESIS = "0" * 64
_TAIL_CHUNK = 8192
_local_lock = threading.Lock()


def audit_path(store: ConfigStore) -> Path:
    """Where a store's audit trail lives."""
    return store.repo.controldir / AUDIT_FILE


def line_hash(line: bytes) -> str:
    """The hash the next record carries as ``prev``."""
    from vpa_config.digests import sha256

    return sha256(line).hexdigest()


def _utc_stamp(now: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1_000_000):06d}Z"


# --- writing --------------------------------------------------------------------


def append(
    store: ConfigStore, record: dict[str, Any], sync_also: Collection[Path] = ()
) -> dict[str, Any]:
    """Write one record at the end of the chain; returns it as written.

    ``seq``, ``time``, ``prev`` and where it comes from (host, pid, argv,
    correlation id) are added here. Appends from several processes and
    threads are serialised by an ``flock`` on the file itself. The folders
    ``sync_also`` (a change's last renames) are fsynced with the record, in
    one round.
    """
    full, syncing = append_started(store, record, sync_also)
    syncing.wait()
    return full


def append_notice(
    store: ConfigStore,
    kind: str,
    outcome: str,
    subject: str,
    *,
    before: str | None,
    after: str | None,
    actor: str | None = None,
    reason: str = "",
    **fields: Any,
) -> dict[str, Any]:
    """:func:`append` a record of no change to the files: something detected
    (a rewrite, commits made outside vpa-config) or accepted by someone.

    Commits that ``before`` is ahead of the last recorded revision are noted
    as ``external_commits``, as a change notes them: the record's revisions
    would otherwise pass over them.
    """
    ahead = _ahead_of_trail(store, before)
    if ahead:
        fields.setdefault("external_commits", ahead)
    return append(store, {
        "kind": kind, "outcome": outcome, "actor": actor, "source": store.source,
        "subject": subject, "reason": reason, "files": [], "keys": {}, **fields,
        "revision_before": before, "revision_after": after,
    })


def _ahead_of_trail(store: ConfigStore, head: str | None) -> int:
    recorded = (last_record(store) or {}).get("revision_after")
    if not recorded or not head or recorded == head:
        return 0
    return commits_ahead(store, recorded, head) or 0


def append_started(
    store: ConfigStore,
    record: dict[str, Any],
    sync_also: Collection[Path] = (),
    redacted: tuple[dict[str, Any], list[str]] | None = None,
    tail: Any = None,
) -> tuple[dict[str, Any], Any]:
    """:func:`append`, but the record's fsync (with ``sync_also``) only started.

    Returns the record as written and a :class:`fsutil.BackgroundSync` that
    the caller waits for before anything relies on the record, or the
    folders, being durable. ``redacted`` is :func:`redact` of ``record``,
    when the caller made it earlier. With ``tail`` (a committed change's
    synctail.SyncTail, whose journal stands in for the record meanwhile) the
    record and the folders are handed to it instead, and None is returned
    in place of the sync.
    """
    from vpa_config import fsutil

    path = audit_path(store)
    with _local_lock:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        files = [(fd, path)]
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            full = _write_record(fd, record, str(path), redacted)
            # The next writer may append now: its line follows this one in the
            # file, and its fsync covers this line too.
            fcntl.flock(fd, fcntl.LOCK_UN)
            for folder in sync_also:
                files.append((os.open(folder, os.O_RDONLY | os.O_DIRECTORY), folder))
        except BaseException:
            for opened, _name in files:
                os.close(opened)
            raise
    if tail is not None:
        for opened, name in files:
            tail.add(opened, name)
        return full, None
    return full, fsutil.BackgroundSync(files)


def redact(record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``record`` and this process's command line with their secrets replaced.

    A change makes this while its first fsyncs run, so that only the
    record's place in the chain is left to fill in once its branch moved.
    """
    from vpa_config.redaction import Redactor

    redactor = Redactor()
    return redactor.scrub(record), redactor.scrub_argv(sys.argv)


def _write_record(
    fd: int,
    record: dict[str, Any],
    path: str,
    redacted: tuple[dict[str, Any], list[str]] | None = None,
) -> dict[str, Any]:
    """Append ``record``, completed and redacted, to the trail open at ``fd``.

    Each top-level field is redacted on its own (a secret is told by its
    name and its value, never by its neighbours), so the record's fields
    redacted beforehand (``redacted``) join the ones added here unchanged.
    """
    from vpa_config.redaction import Redactor

    body, argv = redacted if redacted is not None else redact(record)
    tail = _tail(fd, path)
    last = tail.last
    redactor = Redactor()
    full = {
        **redactor.scrub({
            "seq": tail.seq + 1 if tail.seq is not None else _next_seq(fd, last),
            "time": _utc_stamp(time.time()),
        }),
        **body,
        **redactor.scrub({
            "host": os.uname().nodename,  # gethostname(2), no socket import
            "pid": os.getpid(),
            "correlation_id": logs.current_correlation_id(),
        }),
        "argv": argv,
        "prev": line_hash(last) if last is not None else GENESIS,
    }
    line = json.dumps(full, ensure_ascii=False, separators=(",", ":")).encode()
    lead = b"\n" if last is not None and not tail.newline else b""
    data = lead + line + b"\n"
    if os.write(fd, data) == len(data):
        seq = full["seq"] if isinstance(full["seq"], int) else None
        _tails[path] = _Tail(_stat_key(os.fstat(fd)), line, True, seq)
    return full


def _next_seq(fd: int, last: bytes | None) -> int:
    """One more than the seq of the last readable record (1 for the first).

    Damaged lines at the end (edited, or cut short) are passed over, so the
    sequence goes on from the last record that reads; verify_chain reports
    the damaged lines.
    """
    seq = _seq_of(last) if last is not None else None
    if last is not None and seq is None:
        seq = next((n for n in map(_seq_of, lines_backwards(fd)) if n is not None), 0)
    return 1 if seq is None else seq + 1


def _seq_of(line: bytes) -> int | None:
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return seq if type(seq) is int else None


def lines_backwards(fd: int) -> Iterator[bytes]:
    """The trail's lines, newest first, read from the end in chunks."""
    end = os.fstat(fd).st_size
    rest = b""
    while end > 0:
        step = min(_TAIL_CHUNK, end)
        end -= step
        lines = (os.pread(fd, step, end) + rest).split(b"\n")
        rest = lines[0]
        yield from reversed(lines[1:])
    yield rest


class _Tail:
    """The end of a trail file as this process last wrote or read it.

    ``key`` is the file's stat then (device, inode, size, modification and
    change times): an append by any process changes the size, a rewrite the
    inode or the times, and the end is read again. ``seq`` is the last
    record's, when this process wrote it; ``record`` the last line parsed.
    """

    __slots__ = ("key", "last", "newline", "seq", "record")

    def __init__(
        self, key: tuple[int, ...], last: bytes | None, newline: bool,
        seq: int | None = None,
    ) -> None:
        self.key = key
        self.last = last
        self.newline = newline  # the file ends with a newline (or is empty)
        self.seq = seq
        self.record: dict[str, Any] | None = None


_tails: dict[str, _Tail] = {}


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _tail(fd: int, path: str) -> _Tail:
    """The end of the trail open at ``fd``: as known, or read from the file."""
    st = os.fstat(fd)
    key = _stat_key(st)
    known = _tails.get(path)
    if known is not None and known.key == key:
        return known
    last, newline = _last_line(fd, st.st_size)
    found = _tails[path] = _Tail(key, last, newline)
    return found


def _last_line(fd: int, size: int) -> tuple[bytes | None, bool]:
    """The last record's bytes (without its newline), reading from the end;
    and whether the file ends with a newline."""
    if size == 0:
        return None, True
    newline = os.pread(fd, 1, size - 1) == b"\n"
    start = size - 1 if newline else size
    tail = b""
    while start > 0:
        step = min(_TAIL_CHUNK, start)
        start -= step
        tail = os.pread(fd, step, start) + tail
        cut = tail.rfind(b"\n")
        if cut != -1:
            return tail[cut + 1 :], newline
    return tail, newline


def last_record(store: ConfigStore) -> dict[str, Any] | None:
    """The newest record, or None for an empty (or missing) trail."""
    path = audit_path(store)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        tail = _tail(fd, str(path))
    finally:
        os.close(fd)
    if tail.record is None and tail.last is not None:
        try:
            data = json.loads(tail.last)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        tail.record = data
    return dict(tail.record) if tail.record is not None else None


def acquire_recorded(store: ConfigStore, request: ChangeRequest) -> None:
    """Take the store lock for a change; a change that cannot get it is recorded."""
    from vpa_config.errors import VpaConfigError

    try:
        store.lock.acquire(store.lock_timeout())
    except VpaConfigError as exc:
        if not request.dry_run:
            append_quietly(store, change_record(store, request, None, exc))
        raise


def append_quietly(store: ConfigStore, record: dict[str, Any]) -> None:
    """:func:`append`, a failure only reported (``audit.write_failed``)."""
    try:
        append(store, record)
    except Exception as exc:  # noqa: BLE001 (the change itself is done or refused)
        logs.emit(
            "audit.write_failed",
            level="error",
            path=str(audit_path(store)),
            error=f"{type(exc).__name__}: {exc}",
        )


class ChangeRecorder:
    """Records a transaction's outcome when its block ends (``store.transaction``).

    A committed change is recorded as soon as its branch has moved
    (:meth:`record_committed`, called by the transaction). Its record's fsync
    joins the change's others (``tx.tail``, synctail.py), which run after
    the change returns: until they end, the change's journal stands in for
    them, and a power cut before then has recovery record the change from
    its commit (recoveryrecord.py). A change with no tail (a store's first)
    has its record synced before it returns.
    """

    def __init__(self, store: ConfigStore, request: ChangeRequest) -> None:
        self.store = store
        self.request = request
        self._tx: Transaction | None = None
        self.external = 0
        self._recorded = False
        self._syncing: Any = None
        # The record of the commit about to be made, redacted while the
        # change's first fsyncs ran (see prepare): (commit, redacted record).
        self._prepared: tuple[str, Any] | None = None
        # HEAD when the block began (read by the history check, lock held).
        self.head: str | None = None

    @property
    def tx(self) -> Transaction | None:
        """The transaction recorded; it is told of this recorder."""
        return self._tx

    @tx.setter
    def tx(self, tx: Transaction | None) -> None:
        self._tx = tx
        if tx is not None:
            tx.recorder = self

    def __enter__(self) -> ChangeRecorder:
        """Check history first (the store lock is held): a rewrite is reported."""
        from vpa_config import fsutil

        # The files the last change replaced are freed by now, or soon: at
        # most one change's worth is ever left to free in the background.
        fsutil.settle()
        ahead, self.head = history_check(self.store, limit=None)
        self.external = max(ahead, 0)
        return self

    def record_committed(self) -> None:
        """Write the record of a change whose branch has just moved; start its sync.

        The change's last renames (the branch) are synced with the record.
        """
        assert self.tx is not None and not self._recorded
        self._recorded = True
        prepared, self._prepared = self._prepared, None
        try:
            record = self._record(None)
            redacted = None
            if prepared is not None and prepared[0] == record["revision_after"]:
                redacted = prepared[1]
            _full, self._syncing = append_started(
                self.store, record, (), redacted, self.tx.tail
            )
        except Exception as exc:  # noqa: BLE001 (the change itself is done)
            _write_failed(self.store, exc)

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> bool:
        if self._recorded:
            # The replaced files' closes go on in the background (freeing
            # their blocks is no part of the change's durability).
            self._wait_for_record()
            return False
        try:
            if self.request.dry_run or isinstance(error, GeneratorExit):
                return False
            append(self.store, self._record(error))
        except Exception as exc:  # noqa: BLE001 (the change itself is done or refused)
            _write_failed(self.store, exc)
        return False

    def prepare(self, result: Any) -> None:
        """Redact the record of the commit ``result`` names, before it is made.

        Called while the change's first fsyncs run (the thread would only
        wait): :meth:`record_committed` then writes it at once. Any failure
        here leaves that to do the whole work, and report it.
        """
        try:
            record = self._record(None, result)
            self._prepared = (result.revision, redact(record))
        except Exception:  # noqa: BLE001 (record_committed tries again)
            self._prepared = None

    def _record(
        self, error: BaseException | None, result: Any = None
    ) -> dict[str, Any]:
        record = change_record(self.store, self.request, self.tx, error, result)
        if self.external:
            record["external_commits"] = self.external
        return record

    def _wait_for_record(self) -> None:
        syncing, self._syncing = self._syncing, None
        if syncing is None:
            return
        try:
            syncing.wait()
        except OSError as exc:
            _write_failed(self.store, exc)


def _write_failed(store: ConfigStore, exc: BaseException) -> None:
    logs.emit(
        "audit.write_failed",
        level="error",
        path=str(audit_path(store)),
        error=f"{type(exc).__name__}: {exc}",
    )


def change_record(
    store: ConfigStore,
    request: ChangeRequest,
    tx: Transaction | None,
    error: BaseException | None,
    result: Any = None,
) -> dict[str, Any]:
    """The audit record of one change, committed or not.

    ``result`` stands in for ``tx.result`` (a commit's, before it is made).
    """
    from vpa_config.errors import RefusedError

    if result is None:
        result = tx.result if tx is not None else None
    before = tx.head if tx is not None else store.repo.head()
    after = result.revision if result is not None and result.committed else before
    if error is None:
        outcome = (
            "committed" if result is not None and result.committed else "unchanged"
        )
    else:
        outcome = "refused" if isinstance(error, RefusedError) else "failed"
    record: dict[str, Any] = {
        "kind": request.kind,
        "outcome": outcome,
        "actor": str(request.actor),
        "actor_origin": request.actor.origin,
        "source": request.source,
        "subject": request.subject,
        "reason": request.reason,
        **_targets(tx, result, error),
        "revision_before": before,
        "revision_after": after,
    }
    if request.force:
        record["forced"] = True
    if error is not None:
        record["error"] = _error_text(error)
    return record


def _targets(
    tx: Transaction | None, result: Any, error: BaseException | None
) -> dict[str, Any]:
    if result is not None and result.files:
        return {
            "files": [change.path for change in result.files],
            "keys": {
                change.path: [key.dotted for key in change.keys]
                for change in result.files
            },
        }
    files = sorted(tx.writes) if tx is not None else []
    keys: dict[str, list[str]] = {}
    for problem in getattr(error, "problems", None) or []:
        keys.setdefault(problem.file, []).append(problem.dotted or "(document)")
    return {"files": files, "keys": keys}


def _error_text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 2000 else text[:1997] + "..."


# --- history rewrites -----------------------------------------------------------


OPEN_WALK_LIMIT = 100


def check_history(store: ConfigStore, limit: int | None = OPEN_WALK_LIMIT) -> int:
    """Report (once) that HEAD no longer descends from the last recorded revision.

    Returns how many commits HEAD is ahead of the last recorded revision
    (commits made outside vpa-config), or -1 when history was rewritten.
    At most ``limit`` commits are walked (the store's open passes a small
    limit so reads stay fast; a transaction passes None): when that is not
    enough to decide, 0 is returned and the next transaction decides. The
    trail is read before HEAD, so a change committed meanwhile by another
    process is never mistaken for a rewrite.
    """
    return history_check(store, limit)[0]


def history_check(
    store: ConfigStore, limit: int | None = OPEN_WALK_LIMIT
) -> tuple[int, str | None]:
    """:func:`check_history`, and HEAD as it was read for it (after the trail)."""
    last = last_record(store)
    head = store.repo.head()
    if last is None:
        return 0, head
    recorded = last.get("revision_after")
    if not recorded or recorded == head:
        return 0, head
    ahead = commits_ahead(store, recorded, head, limit)
    if ahead is None:
        return 0, head
    if ahead > 0:
        return ahead, head
    _report_rewrite(store, last, recorded, head)
    return -1, head


def _report_rewrite(
    store: ConfigStore, last: dict[str, Any], recorded: str, head: str | None
) -> None:
    logs.emit(
        "security.history_rewritten",
        level="critical",
        category="security",
        recorded_revision=recorded,
        head=head,
        recorded_seq=last.get("seq"),
        recorded_at=last.get("time"),
    )
    try:
        append_notice(
            store, "history_rewritten", "detected",
            "HEAD no longer descends from the last recorded revision",
            before=recorded, after=head,
        )
    except OSError as exc:
        logs.emit("audit.write_failed", level="error", error=str(exc))


def record_external_commits(store: ConfigStore) -> int:
    """Record that commits made outside vpa-config are on top of the trail.

    Takes the store lock. Returns how many there were (0: none, -1: history
    was rewritten, which is reported instead). Tools that write commits
    directly (an import, a fixture) call this so the store need not walk them.
    """
    store.lock.acquire(store.lock_timeout())
    try:
        ahead = check_history(store, limit=None)
        if ahead > 0:
            append_notice(
                store, "external_commits", "detected",
                f"{ahead} commits made outside vpa-config",
                before=(last_record(store) or {}).get("revision_after"),
                after=store.repo.head(),
            )
        return ahead
    finally:
        store.lock.release()


def commits_ahead(
    store: ConfigStore, ancestor: str, descendant: str | None, limit: int | None = None
) -> int | None:
    """How many commits ``descendant`` is ahead of ``ancestor``; 0: not a descendant.

    None when ``limit`` commits were walked without deciding.
    """
    if descendant is None or not store.repo.has_object(ancestor):
        return 0
    for count, sha in enumerate(reachable(store, descendant)):
        if sha == ancestor:
            return max(count, 1)
        if limit is not None and count >= limit:
            return None
    return 0


def is_ancestor(store: ConfigStore, ancestor: str, descendant: str) -> bool:
    """Whether ``ancestor`` is ``descendant`` or reachable from it through parents."""
    return ancestor == descendant or bool(commits_ahead(store, ancestor, descendant))


def reachable(store: ConfigStore, start: str | None) -> Iterator[str]:
    """Every commit reachable from ``start`` through all parents, newest first."""
    if start is None:
        return
    seen = {start}
    queue = [start]
    while queue:
        sha = queue.pop(0)
        yield sha
        try:
            parents = store.repo.commit(sha).parents
        except Exception:  # noqa: BLE001 (a missing object ends this line of history)
            continue
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)


# --- reading and verifying ------------------------------------------------------


class TrailLine(FrozenRecord):
    """One line of the trail: its number, its bytes, and the record if it parses."""

    _fields = ("number", "raw", "record")
    __slots__ = _fields

    number: int
    raw: bytes
    record: dict[str, Any] | None

    def __init__(self, number: int, raw: bytes, record: dict[str, Any] | None) -> None:
        init = object.__setattr__
        init(self, "number", number)
        init(self, "raw", raw)
        init(self, "record", record)


def read_lines(store: ConfigStore) -> Iterator[TrailLine]:
    """Every line of the trail, oldest first."""
    try:
        data = audit_path(store).read_bytes()
    except FileNotFoundError:
        return
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        yield TrailLine(number, raw, record if isinstance(record, dict) else None)


def records(store: ConfigStore) -> Iterator[dict[str, Any]]:
    """Every readable record, oldest first."""
    for line in read_lines(store):
        if line.record is not None:
            yield line.record


class ChainProblem(FrozenRecord):
    """One thing wrong with the trail."""

    _fields = ("line", "message", "kind", "revision")
    __slots__ = _fields

    line: int
    message: str
    # "unreadable", "edited", "removed", "out_of_order", "revision_missing",
    # "unrecorded_commits"
    kind: str
    revision: str  # the missing revision, for "revision_missing"

    def __init__(self, line: int, message: str, kind: str, revision: str = "") -> None:
        init = object.__setattr__
        init(self, "line", line)
        init(self, "message", message)
        init(self, "kind", kind)
        init(self, "revision", revision)

    def __str__(self) -> str:
        return f"audit trail line {self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"line": self.line, "kind": self.kind, "message": self.message}


class ChainReport(Record):
    """What :func:`verify_chain` found."""

    _fields = ("path", "records", "problems")

    def __init__(
        self, path: Path, records: int = 0, problems: list[ChainProblem] | None = None
    ) -> None:
        self.path = path
        self.records = records
        self.problems: list[ChainProblem] = [] if problems is None else problems

    @property
    def ok(self) -> bool:
        """Whether the chain is whole and every recorded revision is in history."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": str(self.path),
            "records": self.records,
            "ok": self.ok,
            "problems": [problem.to_dict() for problem in self.problems],
        }


def verify_chain(store: ConfigStore, would_drop: Collection[str] = ()) -> ChainReport:
    """Check the hash chain and that every recorded revision is still in history.

    An edited record no longer hashes to the ``prev`` of the record after
    it; a removed one leaves a gap in ``seq`` and a ``prev`` that matches
    nothing. A record whose ``revision_before`` is not the previous record's
    ``revision_after``, with commits between them that no record covers, is
    a gap in what was recorded (:func:`_gap_problems`). Each problem found is
    also logged as ``audit.chain_broken``. ``would_drop`` names revisions
    taken as accepted as gone (a dry run of ``verify --accept-rewrite``).
    """
    report = ChainReport(audit_path(store))
    lines = list(read_lines(store))
    history = list(reachable(store, store.repo.head()))
    known = _known_revisions(store, lines, history) | set(would_drop)
    previous: TrailLine | None = None
    highest: int | None = None  # the greatest seq so far, over damaged lines
    for line in lines:
        report.records += 1
        report.problems += _link_problems(previous, line)
        if line.record is not None:
            report.problems += _revision_problems(line, known)
            report.problems += _order_problems(line, highest)
            seq = line.record.get("seq")
            if type(seq) is int and (highest is None or seq > highest):
                highest = seq
        previous = line
    # A record removed is reported as such, not again as the gap it leaves.
    removed = {p.line for p in report.problems if p.kind == "removed"}
    report.problems += _gap_problems(lines, history, removed)
    for problem in report.problems:
        logs.emit(
            "audit.chain_broken",
            level="critical",
            category="security",
            line=problem.line,
            problem=problem.kind,
            detail=problem.message,
        )
    return report


def _known_revisions(
    store: ConfigStore, lines: list[TrailLine], history: list[str] | None = None
) -> set[str]:
    """Revisions a record may name: those in history, and those that a
    ``rewrite_accepted`` record says were dropped on purpose."""
    if history is None:
        history = list(reachable(store, store.repo.head()))
    dropped = {
        revision
        for line in lines
        if line.record is not None and line.record.get("kind") == "rewrite_accepted"
        for revision in line.record.get("revisions_dropped") or ()
    }
    return set(history) | dropped


def missing_revisions(store: ConfigStore) -> list[str]:
    """Revisions the trail names that are neither in history nor accepted as gone."""
    lines = list(read_lines(store))
    known = _known_revisions(store, lines)
    missing: dict[str, None] = {}
    for line in lines:
        for problem in _revision_problems(line, known) if line.record else ():
            missing[problem.revision] = None
    return list(missing)


def _link_problems(previous: TrailLine | None, line: TrailLine) -> list[ChainProblem]:
    record = line.record
    if record is None:
        return [
            ChainProblem(
                line.number, "not a readable record (edited or cut short)", "unreadable"
            )
        ]
    expected = GENESIS if previous is None else line_hash(previous.raw)
    if record.get("prev") == expected:
        return []
    seq = record.get("seq")
    if previous is None:
        return [
            ChainProblem(
                line.number, f"the records before seq {seq} were removed", "removed"
            )
        ]
    before = previous.record.get("seq") if previous.record else None
    if isinstance(seq, int) and isinstance(before, int) and seq != before + 1:
        gap = (
            f"seq {before + 1}" if seq == before + 2 else f"seq {before + 1}-{seq - 1}"
        )
        return [
            ChainProblem(
                line.number, f"record {gap} removed before seq {seq}", "removed"
            )
        ]
    return [
        ChainProblem(
            line.number - 1,
            f"record seq {before} was edited: it no longer matches the hash "
            f"that seq {seq} carries",
            "edited",
        )
    ]


def _order_problems(line: TrailLine, highest: int | None) -> list[ChainProblem]:
    """A seq that is not greater than every seq before it (past damaged lines)."""
    seq = (line.record or {}).get("seq")
    if type(seq) is not int or highest is None or seq > highest:
        return []
    how = "repeats" if seq == highest else "goes back"
    message = f"seq {seq} after seq {highest}: the sequence {how}"
    return [ChainProblem(line.number, message, "out_of_order")]


def _revision_problems(line: TrailLine, history: set[str]) -> list[ChainProblem]:
    record = line.record or {}
    fields = ["revision_after"]
    if record.get("kind") != "history_rewritten":
        fields.append("revision_before")
    problems = []
    for name in fields:
        revision = record.get(name)
        if revision and revision not in history:
            problems.append(
                ChainProblem(
                    line.number,
                    f"revision {revision[:12]} ({name} of seq {record.get('seq')}, "
                    f"{record.get('kind')}) is no longer in history",
                    "revision_missing",
                    revision,
                )
            )
    return problems


def _gap_problems(
    lines: list[TrailLine], history: list[str], skip: Collection[int] = ()
) -> list[ChainProblem]:
    """Commits between a record's ``revision_before`` and the ``revision_after``
    of the record before it that no record covers (``history`` newest first).

    Lines in ``skip`` are not reported (a removed record explains the gap).
    """
    position = {sha: index for index, sha in enumerate(history)}
    covered = _covered_commits(lines, history, position)
    problems = []
    previous: dict[str, Any] | None = None  # the last record naming a revision
    for line in lines:
        record = line.record
        if record is None:
            continue
        before = record.get("revision_before")
        if previous is not None and before and line.number not in skip:
            after = previous["revision_after"]
            between = _between(history, position, after, before)
            missing = [sha for sha in between if sha not in covered]
            if missing:
                problems.append(_gap_problem(line, previous, missing))
        if record.get("revision_after"):
            previous = record
    return problems


def _covered_commits(
    lines: list[TrailLine], history: list[str], position: dict[str, int]
) -> set[str]:
    """Commits a record accounts for: the revision a change (or a rewrite) made,
    and the commits a record says were made outside vpa-config."""
    covered: set[str] = set()
    for line in lines:
        record = line.record or {}
        before, after = record.get("revision_before"), record.get("revision_after")
        if after and after != before:
            covered.add(after)
        if record.get("kind") == "external_commits" and before and after:
            covered.update(_between(history, position, before, after))
        count = record.get("external_commits")
        if type(count) is int and before in position:
            covered.update(history[position[before] : position[before] + count])
    return covered


def _between(
    history: list[str], position: dict[str, int], old: str, new: str
) -> list[str]:
    """The commits after ``old`` up to ``new``, newest first; none when ``new`` does
    not come after ``old`` (TODO(#3): by position, while history is linear)."""
    if old not in position or new not in position or position[new] >= position[old]:
        return []
    return history[position[new] : position[old]]


def _gap_problem(
    line: TrailLine, previous: dict[str, Any], missing: list[str]
) -> ChainProblem:
    named = ", ".join(sha[:12] for sha in reversed(missing[-5:]))
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    what = "1 commit" if len(missing) == 1 else f"{len(missing)} commits"
    message = (
        f"{what} between seq {previous.get('seq')} and seq "
        f"{line.record.get('seq') if line.record else '?'} that no record covers: "
        f"{named}{more}"
    )
    return ChainProblem(line.number, message, "unrecorded_commits", missing[-1])

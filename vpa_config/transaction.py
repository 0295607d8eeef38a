"""The transaction: the one path every change takes.

::

    take the store lock (with timeout)
    recover a change a killed process left half done (the journal)
    build the candidate files in memory            (Transaction.write/remove)
    validate every affected candidate              -> refuse: nothing written
    write blobs, trees and the commit object       (not yet on the branch)
    write the journal: what each file was and will be, the new objects' bytes
    fsync the journal (the only fsync before the change returns)
    rename the objects and the files into place    -> on failure: files rolled back
    move the branch with a compare-and-swap
    write the audit record, update git's index; return
    fsync everything else, mark the journal done, release the lock
                                                   (synctail.py; in the background
                                                   for a library process)

A process killed once its journal is durable, or a power cut then, leaves
the journal behind (one killed before has touched no file); the next change
(or read) finds it and finishes the change from it: the objects it carries
are written again where missing or not whole, the branch moved, every file
put as committed. Only a branch another program moved meanwhile makes it put
every file back instead. So each file is always either as before or as
committed, never half written, and a change that returned is never lost.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from vpa_config import fsutil, logs
from vpa_config.errors import HandEditsError, InvalidConfigError, Problem
from vpa_config.gitrepo import EXEC_MODE, FILE_MODE, FileTree
from vpa_config.history import CommitMessage, FileChange, one_line
from vpa_config.identity import COMMITTER, Actor
# Named there, for opening a store without this module.
from vpa_config.layout import (
    JOURNAL,
    JOURNAL_DONE,
    journal_bytes,
    journal_left,
    journal_record,
)
from vpa_config.records import Record

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    from vpa_config.store import ConfigStore


class ChangeResult(Record):
    """What a change did, or would do (dry run), or why it was refused."""

    _fields = (
        "subject", "kind", "parent", "revision", "files", "problems", "dry_run",
        "forced", "discarded",
    )
    __slots__ = _fields

    def __init__(
        self,
        subject: str,
        kind: str,
        parent: str | None,
        revision: str | None = None,
        files: list[FileChange] | None = None,
        problems: list[Problem] | None = None,
        dry_run: bool = False,
        forced: bool = False,
        discarded: list[str] | None = None,
    ) -> None:
        self.subject = subject
        self.kind = kind
        self.parent = parent
        self.revision = revision
        self.files: list[FileChange] = [] if files is None else files
        self.problems: list[Problem] = [] if problems is None else problems
        self.dry_run = dry_run
        self.forced = forced
        # Hand-edited working files put back as the candidate has them, though
        # the candidate leaves them as in HEAD (a restore with discarded edits).
        self.discarded: list[str] = [] if discarded is None else discarded

    @property
    def committed(self) -> bool:
        """Whether a new revision was made."""
        return self.revision is not None

    @property
    def changed(self) -> bool:
        """Whether the change changes any file."""
        return bool(self.files)

    @property
    def valid(self) -> bool:
        """Whether every candidate validated."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, secret values redacted."""
        return {
            "subject": self.subject,
            "kind": self.kind,
            "parent": self.parent,
            "revision": self.revision,
            "committed": self.committed,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "discarded": list(self.discarded),
            "valid": self.valid,
            "files": [change.to_dict() for change in self.files],
            "problems": [problem.to_dict() for problem in self.problems],
        }


class Transaction:
    """Candidate files of one change, built in memory on top of HEAD."""

    def __init__(self, store: ConfigStore, head: str | None, tree: FileTree) -> None:
        self.store = store
        self.head = head
        self.tree = tree
        self.writes: dict[str, tuple[bytes, int | None] | None] = {}
        self.may_overwrite: set[str] = set()
        # What the journal records of a file as it was before the change,
        # found while looking for hand edits (ConfigStore.hand_edited): the
        # journal reads and hashes none of those again.
        self.known_before: dict[str, list[Any] | None] = {}
        # Hand-edited files whose working copy goes back to the candidate when
        # the change succeeds, even if the candidate equals HEAD (discard).
        self.put_back: set[str] = set()
        self.trailers: list[tuple[str, str]] = []
        self.result: ChangeResult | None = None
        self.request: ChangeRequest | None = None
        # What the committed change left to sync after it returns, its
        # journal standing in meanwhile (synctail.SyncTail), or None.
        self.tail: Any = None
        # The audit recorder of the change (audittrail.ChangeRecorder), which
        # records it as soon as the branch has moved.
        self.recorder: Any = None
        self._blob_ids: dict[str, tuple[bytes, str]] = {}
        # Written files whose blob the object store already holds, by name.
        self.stored_blobs: dict[str, str] = {}
        # Store paths of the changed files, checked once (fsutil.check_inside).
        self.paths: dict[str, Path] = {}
        # (id, files) of a stored tree the change may turn out to make (the
        # revision a restore brings back): then no tree is built.
        self.known_tree: tuple[str, FileTree] | None = None

    def read(self, name: str) -> bytes | None:
        """The candidate content of a file (the change so far, else HEAD)."""
        name = fsutil.clean_name(name)
        if name in self.writes:
            entry = self.writes[name]
            return None if entry is None else entry[0]
        if name in self.tree:
            return self.store.repo.blob(self.tree[name][1])
        return None

    def blob_of(self, name: str) -> str | None:
        """The blob id of the candidate content of ``name``; None when it has none."""
        if name not in self.writes:
            entry = self.tree.get(name)
            return entry[1] if entry else None
        written = self.writes[name]
        if written is None:
            return None
        known = self._blob_ids.get(name)
        if known is None or known[0] is not written[0]:
            known = self._blob_ids[name] = (written[0], self.store.repo.blob_id(written[0]))
        return known[1]

    def write(
        self,
        name: str,
        content: bytes,
        mode: int | None = None,
        *,
        stored_blob: str | None = None,
    ) -> None:
        """Make ``name`` hold ``content`` (mode kept from the file when None).

        ``stored_blob`` is the id of ``content`` when the object store already
        holds it (a restore's blobs): it is then neither hashed nor written.
        """
        name = fsutil.clean_name(name)
        self.writes[name] = (content, mode)
        if stored_blob is None:
            self.stored_blobs.pop(name, None)
        else:
            self._blob_ids[name] = (content, stored_blob)
            self.stored_blobs[name] = stored_blob

    def remove(self, name: str) -> None:
        """Delete ``name``."""
        self.writes[fsutil.clean_name(name)] = None

    def set(self, file: str, key: str | Sequence[str | int], value: Any) -> None:
        """Set ``key`` (a key path) of ``file`` to ``value``, editing the text round-trip.

        A file that does not exist yet is created; containers on the way are
        made as needed. ``value`` is JSON's data (values.py); validation
        happens when the transaction ends.
        """
        from vpa_config import documents
        from vpa_config.errors import KeyPathError
        from vpa_config.keypath import format_dotted, resolve
        from vpa_config.values import key_parts, plain_value

        name = fsutil.clean_name(file)
        parts = key_parts(key)
        current = self.read(name)
        text = documents.decode(name, current) if current is not None else ""
        data = documents.parse_shared(name, text) if text.strip() else {}
        path = resolve(data, parts, name)
        value = plain_value(name, path, value)
        edited = documents.set_value(name, text, path, value)
        try:
            content = documents.keep_bom(current, edited.encode())
        except UnicodeEncodeError:
            raise KeyPathError(
                f"{name}: {format_dotted(path)}: the value holds text that is not "
                "valid Unicode (a lone surrogate); nothing was written"
            ) from None
        self.write(name, content)

    def unset(self, file: str, key: str | Sequence[str | int]) -> None:
        """Remove ``key`` (a key or a list item) from ``file``.

        Raises:
            NotFoundError: the file or the key does not exist.
        """
        from vpa_config import documents
        from vpa_config.errors import NotFoundError
        from vpa_config.keypath import resolve
        from vpa_config.values import key_parts

        name = fsutil.clean_name(file)
        parts = key_parts(key)
        current = self.read(name)
        if current is None:
            raise NotFoundError(f"{name}: no such file in the store")
        text = documents.decode(name, current)
        path = resolve(documents.parse_shared(name, text), parts, name)
        edited = documents.unset_value(name, text, path).encode()
        self.write(name, documents.keep_bom(current, edited))

    def trailer(self, key: str, value: str) -> None:
        """Add a ``Vpa-KEY: value`` trailer to the commit."""
        self.trailers.append((f"Vpa-{key}", one_line(value)))

    def exists(self, name: str) -> bool:
        """Whether the candidate tree holds ``name`` (no content is read)."""
        name = fsutil.clean_name(name)
        if name in self.writes:
            return self.writes[name] is not None
        return name in self.tree

    def candidate_files(self) -> dict[str, bytes | None]:
        """Every file of the candidate tree that exists, lazily read."""
        names = set(self.tree) | set(self.writes)
        return {
            name: None
            for name in sorted(names)
            if (self.writes[name] is not None if name in self.writes else True)
        }

    def changed(self) -> dict[str, tuple[bytes, int] | None]:
        """Files whose candidate differs from HEAD, with their final mode."""
        out: dict[str, tuple[bytes, int] | None] = {}
        for name, entry in self.writes.items():
            committed = self.tree.get(name)
            if entry is None:
                if committed is not None:
                    out[name] = None
                continue
            content, mode = entry
            mode = mode if mode is not None else self.store.file_mode(name, committed)
            git_mode = EXEC_MODE if mode & 0o111 else FILE_MODE
            same_blob = committed and committed[1] == self.blob_of(name)
            if not (same_blob and committed and committed[0] == git_mode):
                out[name] = (content, mode)
        return out


class ChangeRequest(Record):
    """Who, why and what kind: the commit's facts besides the files."""

    _fields = (
        "subject", "kind", "actor", "reason", "source", "dry_run", "force", "tool",
    )
    __slots__ = _fields

    def __init__(
        self,
        subject: str,
        kind: str,
        actor: Actor,
        reason: str = "",
        source: str = "api",
        dry_run: bool = False,
        force: bool = False,
        tool: str = "",
    ) -> None:
        self.subject = subject
        self.kind = kind
        self.actor = actor
        self.reason = reason
        self.source = source
        self.dry_run = dry_run
        self.force = force
        self.tool = tool


def finish(store: ConfigStore, tx: Transaction, request: ChangeRequest) -> ChangeResult:
    """Validate, write and commit the transaction's candidate (lock held)."""
    started = time.perf_counter()
    tx.request = request  # validators (plugins) are shown who, why and what kind
    changed = tx.changed()
    result = ChangeResult(
        subject=request.subject,
        kind=request.kind,
        parent=tx.head,
        dry_run=request.dry_run,
        forced=False,  # set once validated: see below
    )
    if not changed:
        _discard_edits(store, tx, request, result, changed)
        return result

    # Symlinks on the way, a file where a folder must be, a name the file
    # system refuses: refused here, before anything is read or written.
    folders: set[str] = set()
    tx.paths = {
        name: fsutil.check_inside(store.root, name, folders) for name in changed
    }
    _refuse_over_hand_edits(store, tx, changed)
    verdict = store.validator_for(tx)
    _close_secret_files(store, verdict, changed)
    result.problems = verdict.validate_changed(set(changed))
    result.problems += store.run_plugin_validators(tx, changed)
    result.files = verdict.file_changes(changed)
    # Forced means past problems: --force on a valid change records nothing.
    result.forced = request.force and bool(result.problems)
    _note_secrets(result.files)
    if result.problems and not request.force:
        if request.dry_run:
            return result
        logs.emit(
            "config.refused",
            level="error",
            category="security",
            security_event="input_validation_fail",
            subject=request.subject,
            actor=str(request.actor),
            problems=[problem.to_dict() for problem in result.problems],
        )
        raise InvalidConfigError(result.problems)
    if request.dry_run:
        _discard_edits(store, tx, request, result, changed)
        return result

    _rename_trailers(store, tx, changed)
    message = _message(
        tx, request, verdict.schema_trailers(set(changed)), result.forced
    )
    staged = fsutil.StagedWrites(_spares_for(store))
    try:
        commit = store.repo.write_commit(
            changes={name: (entry[0], _git_mode(entry[1])) if entry else None
                     for name, entry in changed.items()},
            stored=_stored_blobs(tx, changed),
            tree=_known_tree(tx, changed),
            parent=tx.head,
            author=request.actor.ident,
            committer=COMMITTER,
            message=message,
            when=int(time.time()),
            staged=staged,
        )
        # The commit's id, for the audit record redacted while the first
        # fsyncs run; tx.result (what a failure is recorded by) waits.
        result.revision = commit
        recorder = tx.recorder
        try:
            apply_files(store, tx, changed, commit, staged,
                        meanwhile=recorder and (lambda: recorder.prepare(result)))
        except BaseException:
            store.repo.forget(commit)
            raise
    finally:
        staged.discard()
    tx.result = result
    if tx.recorder is not None:
        # Recorded now: the record's fsync and the branch folder's run while
        # the rest of the change (git's index, the journal) is done.
        tx.recorder.record_committed()
    finish_files(store, changed, commit, staged.placed)
    logs.set_live_revision(commit)
    from vpa_config.keyindex import record_commit

    record_commit(store.repo, commit, tx.tree, result.files, changed)
    from vpa_config.store import flush_fact_cache

    # Written while the audit record's fsync runs, not after the change returns.
    flush_fact_cache(committed=True)
    _discard_edits(store, tx, request, result, changed)
    logs.emit(
        "config.committed",
        revision=commit,
        parent=tx.head,
        actor=str(request.actor),
        kind=request.kind,
        files=sorted(changed),
        keys=[key.dotted for change in result.files for key in change.keys],
        duration_s=round(time.perf_counter() - started, 6),
    )
    _emit_sensitive_updates(request, result)
    return result


def _spares_for(store: ConfigStore) -> Any:
    """The files made ahead for this process's changes (spares.py), or None.

    A command-line process makes one change: it makes none.
    """
    if store.source == "cli":
        return None
    if store.repo.spares is None:
        from vpa_config.spares import Spares

        store.repo.spares = Spares(store.repo.controldir)
    return store.repo.spares


def _stored_blobs(
    tx: Transaction, changed: dict[str, tuple[bytes, int] | None]
) -> dict[str, str]:
    """The changed files' blobs the object store holds already, by name."""
    return {
        name: blob for name, blob in tx.stored_blobs.items()
        if changed.get(name) is not None and tx.blob_of(name) == blob
    }


def _known_tree(
    tx: Transaction, changed: dict[str, tuple[bytes, int] | None]
) -> str | None:
    """The id of ``tx.known_tree`` when the change makes exactly that tree."""
    if tx.known_tree is None:
        return None
    tree_id, files = tx.known_tree
    after = dict(tx.tree)
    for name, entry in changed.items():
        if entry is None:
            after.pop(name, None)
        else:
            after[name] = (_git_mode(entry[1]), tx.blob_of(name) or "")
    return tree_id if after == files else None


def _discard_edits(
    store: ConfigStore,
    tx: Transaction,
    request: ChangeRequest,
    result: ChangeResult,
    changed: dict[str, tuple[bytes, int] | None],
) -> None:
    """Put back the hand-edited files a change leaves as they are in HEAD.

    ``tx.put_back`` holds files found hand edited when the change was built.
    The files the change writes already hold their new content; the others
    get the candidate's (HEAD's) content, or are removed when it has none.
    Each is written atomically; nothing is committed for them.
    """
    names = sorted(name for name in tx.put_back if name not in changed)
    result.discarded = names
    if not names or request.dry_run:
        return
    placed: dict[Path, os.stat_result] = {}
    for name in names:
        path = fsutil.check_inside(store.root, name)
        content = tx.read(name)
        if content is None:
            fsutil.remove_file(path, store.root)
        else:
            fsutil.atomic_write(path, content, store.file_mode(name, tx.tree.get(name)))
            # The index records the file as it was put back, not as it is later.
            placed[path] = os.lstat(path)
    head = result.revision or tx.head
    store.repo.update_index(store.repo.files(head), store.root, names, placed)
    logs.emit(
        "config.edits_discarded", level="warning", category="audit",
        revision=head, actor=str(request.actor), kind=request.kind, files=names,
    )


def _close_secret_files(
    store: ConfigStore, verdict: Any, changed: dict[str, tuple[bytes, int] | None]
) -> None:
    for name, entry in changed.items():
        if entry is not None and store.holds_secrets(verdict, name):
            changed[name] = (entry[0], fsutil.secret_mode(entry[1]))


def _secret_keys(change: FileChange) -> set[str]:
    """Dotted secret paths a change touches (a whole-file change: every secret in it)."""
    from vpa_config.keypath import format_dotted

    found: set[str] = set()
    for key in change.keys:
        if not change.is_secret(key):
            continue
        if key.path:
            found.add(key.dotted)
        else:
            found.update(format_dotted(path) for path in change.secret_paths)
    return found


def _note_secrets(files: list[FileChange]) -> None:
    """Tell the event redactor which key paths and values of this change are secret."""
    from vpa_config.redaction import SECRETS

    for change in files:
        if change.secret_paths:
            values = [v for key in change.keys if change.is_secret(key)
                      for v in (key.old, key.new)]
            SECRETS.add(change.secret_paths, values)


def _emit_sensitive_updates(request: ChangeRequest, result: ChangeResult) -> None:
    if request.kind == "init":
        return  # a new store's seeded values are not an update
    for change in result.files:
        keys = sorted(_secret_keys(change))
        if keys:
            logs.emit(
                "config.sensitive_update", level="warning", category="security",
                revision=result.revision, file=change.path, keys=keys,
                actor=str(request.actor), kind=request.kind,
            )


def _git_mode(mode: int) -> int:
    return EXEC_MODE if mode & 0o111 else FILE_MODE


def _message(
    tx: Transaction, request: ChangeRequest, schema_trailers: list[str], forced: bool
) -> str:
    trailers = [
        ("Vpa-Kind", request.kind),
        ("Vpa-Source", request.source),
        ("Vpa-Correlation-Id", logs.current_correlation_id()),
    ]
    if request.tool:
        trailers.append(("Vpa-Tool", request.tool))
    trailers += tx.trailers
    if forced:
        trailers.append(("Vpa-Forced", "true"))
    trailers += [("Vpa-Schema", value) for value in schema_trailers]
    return CommitMessage(one_line(request.subject), request.reason, tuple(trailers)).render()


def _rename_trailers(
    store: ConfigStore, tx: Transaction, changed: dict[str, Any]
) -> None:
    """``Vpa-Renamed-From: OLD -> NEW`` when a change moves a file's content."""
    from vpa_config.history import rename_trailers

    added = {
        name: store.repo.blob_id(entry[0])
        for name, entry in changed.items()
        if entry is not None and name not in tx.tree
    }
    if not added:
        return
    removed = {
        name: tx.tree[name][1]
        for name, entry in changed.items()
        if entry is None and name in tx.tree
    }
    named = {value.partition(" -> ")[2] for key, value in tx.trailers
             if key == "Vpa-Renamed-From"}
    for value in rename_trailers(removed, added):
        if value.partition(" -> ")[2] not in named:
            tx.trailer("Renamed-From", value)


def _refuse_over_hand_edits(
    store: ConfigStore, tx: Transaction, changed: dict[str, Any]
) -> None:
    edited = store.hand_edited(
        tx.tree, [n for n in changed if n not in tx.may_overwrite], tx.known_before
    )
    if edited:
        names = ", ".join(sorted(edited))
        files = " ".join(_shell_word(name) for name in sorted(edited))
        raise HandEditsError(
            f"{names} {'has' if len(edited) == 1 else 'have'} uncommitted hand edits; "
            'see them with "vpa-config diff", keep them with "vpa-config commit" (they '
            f'are validated), or drop them with "vpa-config restore HEAD {files} '
            '--discard-edits". Nothing was written.'
        )


def _shell_word(name: str) -> str:
    """A file name as a shell takes it (quoted only when it must be)."""
    import shlex

    return shlex.quote(name)


# --- writing, journal, recovery -----------------------------------------------


def apply_files(
    store: ConfigStore,
    tx: Transaction,
    changed: dict[str, tuple[bytes, int] | None],
    commit: str,
    staged: fsutil.StagedWrites | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """Journal, write the files, move the branch; roll back on any failure.

    ``meanwhile`` runs while the journal's fsync does (it must not raise).

    :func:`finish_files` then brings git's index up to date; ``tx.tail``
    (synctail.py) syncs the rest later and marks the journal done.

    ``staged`` holds the commit's objects, written to temporary files but
    not synced. Every file of the change (the objects, the branch's new id,
    the new content of each file) is written beside its place, and the
    journal over its kept file (layout.py). The journal alone is fsynced: it
    names every file's state before and after, and carries the bytes of
    every object the change wrote, so it is all recovery needs to finish
    the change (:func:`recover`). Then the objects, the files and the branch
    are renamed into place, unsynced; their fsyncs and their folders' wait
    in ``tx.tail``, which the store lock outlives. A journal cut short by a
    kill or a power cut was written before any file was touched, and
    recovery ignores it. With no branch to move yet (the first commit) every
    file is synced with the journal and the folders before the branch is
    made, and there is no tail.
    """
    staged = staged if staged is not None else fsutil.StagedWrites()
    message = f"vpa-config: {tx.head} -> {commit}"
    store.maybe_crash("before-journal")
    journal: dict[str, Any] | None = None
    move = None
    try:
        if tx.head is not None:
            move = store.repo.prepare_advance(
                tx.head, commit, message, COMMITTER, staged
            )
        objects = staged.pending()
        record = _journal_record(
            store, changed, commit, tx.head, tx.tree, tx.blob_of, tx.known_before
        )
        record["objects"] = [_object_name(path) for path in objects]
        record["data"] = _object_data(staged, objects)
        journal_path = _journal_path(store)
        paths = {
            name: tx.paths.get(name) or fsutil.check_inside(store.root, name)
            for name in changed
        }
        for name, entry in changed.items():
            if entry is not None:
                staged.write(paths[name], entry[0], entry[1])
        journal = record  # from here on a failure puts the files back
        staged.write_over(
            journal_path, journal_bytes(json.dumps(record).encode()), 0o644
        )
        if move is None:
            staged.sync(meanwhile)
        else:
            staged.sync_first([journal_path], meanwhile)
        store.maybe_crash("after-journal")
        folders = staged.place(objects, sync_dirs=False, new=True)
        # The first file alone, then the others: a kill between leaves some
        # done (the crash tests stop there).
        names = list(changed)
        for index, group in enumerate((names[:1], names[1:])):
            if index and group:
                store.maybe_crash("between-files")
            written = [paths[name] for name in group if changed[name] is not None]
            folders |= staged.place(written, sync_dirs=False)
            for name in group:
                if changed[name] is None:
                    fsutil.remove_file(paths[name], store.root)
        store.maybe_crash("before-ref")
        if move is not None:
            move.finish(sync_folder=False)
            from vpa_config.synctail import SyncTail

            tx.tail = SyncTail(
                store.repo.controldir, *staged.detach(), folders | {str(move.folder)}
            )
        else:
            fsutil.sync_folders(folders)
            store.repo.advance(tx.head, commit, message, committer=COMMITTER)
    except BaseException:
        staged.discard()
        if move is not None:
            move.abort()
        if journal is not None:
            _roll_back(store, journal)
        raise
    store.maybe_crash("after-ref")


def _object_data(
    staged: fsutil.StagedWrites, objects: list[Path | str]
) -> dict[str, str]:
    """Each new object's file content (zlib), base64, by id: for the journal."""
    import binascii

    return {
        _object_name(path): binascii.b2a_base64(staged.contents[path], newline=False)
        .decode()
        for path in objects
    }


def finish_files(
    store: ConfigStore,
    changed: dict[str, tuple[bytes, int] | None],
    commit: str,
    placed: dict[Path, os.stat_result] | None = None,
) -> None:
    """After the branch moved: git's index (:func:`journal_done` follows).

    ``placed`` holds each file's stat as it was renamed into place
    (``StagedWrites.placed``): the index records that.
    """
    store.repo.update_index(
        store.repo.files(commit), store.root, sorted(changed), placed
    )
    store.maybe_crash("after-index")
    from vpa_config import settings_cache

    settings_cache.flush()


def journal_done(store: ConfigStore) -> None:
    """Mark the journal of a committed change done (store lock still held).

    Called once the branch's rename is durable (the audit record's round
    synced its folder): a mark that reached the disk before the branch did
    would leave a power cut's files ahead of HEAD with no journal to finish
    them. Done is one byte over the first: the next change writes over the
    same file, no file is removed. Not synced: a journal found again after a
    power cut is finished again, which changes nothing.
    """
    fsutil.write_first_byte(_journal_path(store), JOURNAL_DONE)


def _object_name(path: Path | str) -> str:
    """The id of the loose object at ``path`` (``objects/ab/cdef...``)."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.basename(folder) + name


def _journal_path(store: ConfigStore) -> Path:
    return store.repo.controldir / JOURNAL


def _journal_record(
    store: ConfigStore,
    changed: dict[str, tuple[bytes, int] | None],
    commit: str,
    parent: str | None,
    tree: FileTree | None = None,
    blob_of: Callable[[str], str | None] | None = None,
    known: dict[str, list[Any] | None] | None = None,
) -> dict[str, Any]:
    """The journal's record of a change; ``known``: files' states found already."""
    known = known or {}
    files: dict[str, Any] = {}
    clean: dict[str, int] = {}
    unknown = [name for name in changed if name not in known]
    if tree is not None and unknown:
        from vpa_config import worktree

        # One look at git's index for every file: those it vouches for by
        # their stat hold their blob in ``tree`` and are not read.
        clean = worktree.unchanged(store.repo.controldir, store.root, tree, unknown)
    for name, entry in changed.items():
        if name in known:
            before = known[name]
        elif name in clean:
            before = [tree[name][1], clean[name]] if tree is not None else None
        else:
            before = store.snapshot_working_file(name)
        blob = (blob_of(name) if blob_of else None) if entry is not None else None
        files[name] = {
            "before": before,
            "after": None if entry is None else [
                blob or store.repo.blob_id(entry[0]), entry[1]
            ],
        }
    return {"commit": commit, "parent": parent, "pid": os.getpid(), "files": files}


def _roll_back(store: ConfigStore, journal: dict[str, Any]) -> None:
    for name, record in journal["files"].items():
        _put(store, name, record["before"])
    _journal_path(store).unlink(missing_ok=True)


def _put(store: ConfigStore, name: str, state: list[Any] | None) -> None:
    path = store.root / name
    if state is None:
        fsutil.remove_file(path, store.root)
        return
    blob_id, mode = state
    content = store.repo.blob(blob_id)
    try:
        current = path.read_bytes() if not path.is_symlink() else None
    except OSError:
        current = None
    if current != content:
        fsutil.atomic_write(path, content, mode)


def recover(store: ConfigStore, on_recovered: Callable[[str, dict[str, Any]], None]) -> None:
    """Finish or undo a change a killed process left behind (lock held).

    Only a holder that died leaves anything to clean: its lock record (see
    ``lock.py``) or its journal. Then the lock and temporary files it left in
    the repository and the working tree are removed (no other vpa-config
    process can be writing: this one holds the store lock), and the journal
    decides every file it names.
    """
    path = _journal_path(store)
    dead = store.lock.recovered_from
    if dead is None and not journal_left(store.repo.controldir):
        return
    if dead is not None:
        logs.emit(
            "lock.stale_recovered", level="warning", category="security", holder=dead
        )
    _sweep_leftovers(store)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    try:
        found = journal_record(data)
        journal = json.loads(found) if found is not None else None
    except ValueError:
        journal = None
    if journal is None:
        # A journal cut short by a kill (or an empty file, or one marked
        # done: none) was written before any file was touched.
        path.unlink(missing_ok=True)
        return
    head = store.repo.head()
    if journal.get("data") is not None:
        committed = _roll_forward(store, journal, head)
        head = journal["commit"] if committed else head
    else:  # an earlier version's journal: its objects were synced first
        committed = head == journal["commit"]
        if committed and _objects_lost(store, journal):
            _move_branch_back(store, journal)
            committed = False
    for name, record in journal["files"].items():
        store.maybe_crash("recover-between-files")
        _put(store, name, record["after"] if committed else record["before"])
    if committed:
        store.repo.update_index(
            store.repo.files(head), store.root, sorted(journal["files"])
        )
    # Recorded before the journal goes: a kill between records it again, and
    # the record is found then (recoveryrecord.py), not made twice.
    on_recovered("completed" if committed else "rolled_back", journal)
    path.unlink(missing_ok=True)


def _roll_forward(
    store: ConfigStore, journal: dict[str, Any], head: str | None
) -> bool:
    """Finish the journal's change from the journal; False if it cannot be.

    The journal was durable before any file of its change was touched, and
    its change may have returned since (its other files unsynced): every
    object it carries that is missing, or not whole (a power cut before its
    fsync), is written again, and the branch moved if its move was lost.
    Only a branch that another program moved meanwhile, neither the
    change's parent nor its commit, makes the change go back instead.
    """
    import binascii

    commit, parent = journal["commit"], journal["parent"]
    if head not in (commit, parent):
        journal["branch_moved"] = True
        return False
    rewritten = []
    for sha, encoded in journal["data"].items():
        content = binascii.a2b_base64(encoded)
        path = store.repo.controldir / "objects" / sha[:2] / sha[2:]
        try:
            whole = path.read_bytes() == content
        except OSError:
            whole = False
        if not whole:
            path.parent.mkdir(exist_ok=True)
            fsutil.atomic_write(path, content, 0o444)
            rewritten.append(sha)
    if rewritten:
        logs.emit(
            "store.objects_rewritten", level="warning", revision=commit,
            objects=rewritten,
        )
    if head == parent:
        store.repo.advance(
            parent, commit,
            f"vpa-config: recovery: {parent} -> {commit} (finished from its journal)",
            committer=COMMITTER,
        )
        logs.emit(
            "store.change_finished", level="warning", revision=commit, parent=parent,
        )
    return True


def _objects_lost(store: ConfigStore, journal: dict[str, Any]) -> bool:
    """Whether an object the journal's change wrote is not in the store.

    Its temporary file was durable before the branch moved, but its rename
    was synced only with the branch's: a power cut can keep one and not the
    other. A journal of an earlier version names no objects (those synced
    them before the branch moved).
    """
    if journal.get("parent") is None:  # a first commit's objects were synced first
        return False
    return not all(store.repo.has_object(sha) for sha in journal.get("objects", ()))


def _move_branch_back(store: ConfigStore, journal: dict[str, Any]) -> None:
    """Put the branch back on the journal's parent: its commit is incomplete.

    The change never returned (the journal was live), so no one was told it
    was made; its files are then put back like those of any change whose
    branch had not moved.
    """
    commit, parent = journal["commit"], journal["parent"]
    store.repo.advance(
        commit, parent, f"vpa-config: recovery: {commit} -> {parent} (objects lost)",
        committer=COMMITTER,
    )
    journal["objects_lost"] = True
    logs.emit(
        "store.branch_moved_back", level="warning", revision=commit, parent=parent,
    )


def _sweep_leftovers(store: ConfigStore) -> None:
    controldir = store.repo.controldir
    stale = [
        *controldir.glob("*.lock"),
        *controldir.glob("refs/**/*.lock"),
        # dulwich writes each loose object through OBJECT.lock; a kill there
        # leaves a lock that would refuse every later write of that object.
        *controldir.glob("objects/??/*.lock"),
        *controldir.glob(f"objects/??/{fsutil.TMP_PREFIX}*"),
        *controldir.glob(fsutil.TMP_PREFIX + "*"),
        *fsutil.stray_temp_files(store.root),
    ]
    from vpa_config import spares

    spares.sweep(controldir)
    for leftover in stale:
        if leftover.name != store.lock.path.name:
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                raise fsutil.storage_error(exc, leftover) from None

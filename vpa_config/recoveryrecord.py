"""The audit record of a change that crash recovery settled.

A process killed once its journal was durable may not have written the
record of its change, which recovery finishes; a change recovery has to put
back instead (another program moved the branch meanwhile, or an earlier
version's journal lost objects) never recorded that it failed. The process
that recovers the journal (``transaction.recover``) appends the record in
its place, from what the journal and the commit tell: the author, the kind,
subject, reason and source of the commit's message and trailers, the
journal's parent and commit. The record says it was written by recovery
(``recovered``: completed or rolled_back) and by which process
(``recovered_by_pid``; ``change_pid`` is the killed one).

A journal may be recovered twice (a kill during recovery, a power cut that
brings back a removed journal): the newest records are looked at first, so
each change is recorded once.
"""

from __future__ import annotations

import json
import os

from vpa_config import audittrail

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    from vpa_config.store import ConfigStore

# Records read back, newest first, looking for the change's own.
_LOOK_BACK = 64
ROLLED_BACK_ERROR = (
    "the process making this change was killed before its branch moved; "
    "recovery put its files back"
)
BRANCH_MOVED_ERROR = (
    "the process making this change was killed, and another program moved the "
    "branch before recovery could finish the change; recovery put its files back"
)
OBJECTS_LOST_ERROR = (
    "the branch of this change had moved, but objects of its commit were lost "
    "(a power cut); recovery moved the branch back and put its files back"
)


def record_recovery(store: ConfigStore, outcome: str, journal: dict[str, Any]) -> None:
    """Append the record of the journal's change unless the trail has it (lock held).

    ``outcome`` is recover()'s: ``completed`` (the branch had moved) or
    ``rolled_back``.
    """
    if _already_recorded(store, outcome, journal):
        return
    audittrail.append_quietly(store, recovered_record(store, outcome, journal))


def recovered_record(
    store: ConfigStore, outcome: str, journal: dict[str, Any]
) -> dict[str, Any]:
    """The record of a recovered change, as far as its commit tells."""
    commit, parent = journal.get("commit"), journal.get("parent")
    completed = outcome == "completed"
    record: dict[str, Any] = {
        **_commit_facts(store, commit),
        "outcome": "committed" if completed else "failed",
        **_targets(store, journal, commit),
        "revision_before": parent,
        "revision_after": commit if completed else parent,
        "recovered": outcome,
        "recovered_by_pid": os.getpid(),
        "change_pid": journal.get("pid"),
    }
    forced = record.pop("forced")
    if completed and forced:
        record["forced"] = True
    if not completed:
        record["error"] = (
            OBJECTS_LOST_ERROR if journal.get("objects_lost")
            else BRANCH_MOVED_ERROR if journal.get("branch_moved")
            else ROLLED_BACK_ERROR
        )
        record["rolled_back_revision"] = commit
    return record


def _commit_facts(store: ConfigStore, commit: str | None) -> dict[str, Any]:
    """Who, what and why, from the commit (which a rolled-back change may lack)."""
    from vpa_config.history import parse_message

    facts: dict[str, Any] = {
        "kind": "change", "actor": None, "actor_origin": "commit",
        "source": store.source, "subject": "an interrupted change", "reason": "",
        "forced": False,
    }
    try:
        info = store.repo.commit(commit) if commit else None
    except Exception:  # noqa: BLE001 (its objects were never placed: facts unknown)
        info = None
    if info is None:
        return facts
    message = parse_message(info.message)
    facts.update(
        kind=message.trailer("Kind", "git"),
        actor=info.author,
        source=message.trailer("Source", store.source),
        subject=message.subject,
        reason=message.reason,
        # The journal, which only vpa-config writes, vouches for the trailer.
        forced=message.trailer("Forced") == "true",
    )
    return facts


def _targets(
    store: ConfigStore, journal: dict[str, Any], commit: str | None
) -> dict[str, Any]:
    """The files of the journal, and the keys the commit changed in each."""
    files = sorted(journal.get("files") or {})
    keys: dict[str, list[str]] = {name: ["(document)"] for name in files}
    try:
        from vpa_config.audit import show

        for change in show(store, commit or "").diff.files:
            keys[change.path] = [key.dotted for key in change.keys]
    except Exception:  # noqa: BLE001 (no commit, or unparsable: files only)
        pass
    return {"files": files, "keys": keys}


def _already_recorded(
    store: ConfigStore, outcome: str, journal: dict[str, Any]
) -> bool:
    """Whether a record since the change's parent tells how it ended.

    A completed change is recorded by the killed process itself when it died
    after writing its record (git's index not yet updated).
    """
    commit, parent = journal.get("commit"), journal.get("parent")
    for record in _newest_records(store):
        before, after = record.get("revision_before"), record.get("revision_after")
        if outcome == "completed" and (before, after) == (parent, commit):
            return record.get("outcome") == "committed"
        if outcome != "completed" and record.get("rolled_back_revision") == commit:
            return True
        if before != after:
            return False  # an earlier change: the trail goes back past this one
    return False


def _newest_records(store: ConfigStore) -> list[dict[str, Any]]:
    try:
        fd = os.open(audittrail.audit_path(store), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    found: list[dict[str, Any]] = []
    try:
        for line in audittrail.lines_backwards(fd):
            if len(found) >= _LOOK_BACK:
                break
            try:
                record = json.loads(line) if line.strip() else None
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
    finally:
        os.close(fd)
    return found

"""``verify``: re-check the whole history, and report what would not pass.

Each check is a function of the store that returns a :class:`CheckResult`;
:data:`CHECKS` lists them in order and :func:`register_check` adds one (the
audit-trail chain check plugs in here). The first check re-validates every
revision against the schemas of its day:

* the store's own schemas and settings as that revision's tree has them;
* a shipped schema as the commit's ``Vpa-Schema`` trailer names it, by its
  content hash, from ``.git/vpa-config/shipped-schemas/`` when vpa-config has
  seen that version before, else today's (and the report says so).

A revision whose changed files would be refused today, for example one made
with ``git commit --no-verify``, is listed and logged as the security event
``security.validation_bypassed``. Results are cached by blob id within a run
and, for revisions that pass, across runs (``.git/vpa-config/verified``, keyed
by the vpa-config, jsonschema and shipped-schema versions), so a second
``verify`` over a long history only checks what is new.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpa_config import logs
from vpa_config.errors import Problem
from vpa_config.history import parse_message
from vpa_config.layout import SCHEMA_DIR
from vpa_config.validation import CheckedSchemas, shipped_schema_dir
from vpa_config.verdict import CandidateCheck

if TYPE_CHECKING:
    from vpa_config.gitrepo import CommitInfo, FileTree
    from vpa_config.store import ConfigStore

Progress = Callable[[int, int], None]
STATE_DIR = "vpa-config"


@dataclass(frozen=True)
class RevisionFinding:
    """A revision that would not pass validation today."""

    revision: str
    time: int
    author: str
    subject: str
    kind: str
    direct: bool
    forced: bool
    problems: tuple[Problem, ...]
    # Who accepted it and why: a change forced past validation, or an
    # acceptance recorded with "verify --accept REV" ("": not accepted).
    accepted: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "accepted": self.accepted or None,
            "revision": self.revision,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time)),
            "author": self.author,
            "subject": self.subject,
            "kind": self.kind,
            "direct_git_commit": self.direct,
            "forced": self.forced,
            "problems": [problem.to_dict() for problem in self.problems],
        }


@dataclass
class CheckResult:
    """The outcome of one verify check."""

    name: str
    ok: bool
    summary: str
    findings: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "ok": self.ok,
            "summary": self.summary,
            "findings": [finding.to_dict() for finding in self.findings],
            "notes": list(self.notes),
            **self.details,
        }


@dataclass
class VerifyReport:
    """Every check's result."""

    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    def check(self, name: str) -> CheckResult:
        """One check's result by name."""
        return next(check for check in self.checks if check.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "checks": [check.to_dict() for check in self.checks]}


Check = Callable[["ConfigStore", "Progress | None"], CheckResult]


def check_schema_history(
    store: ConfigStore, progress: Progress | None, would_accept: Sequence[str] = ()
) -> CheckResult:
    """Re-validate every revision against the schemas of its day.

    ``would_accept``: revisions a dry run of ``--accept`` names, whose
    findings pass as they would once accepted.
    """
    return _HistoryCheck(store, would_accept).run(progress)


def check_audit_trail(
    store: ConfigStore, progress: Progress | None, would_drop: Sequence[str] = ()
) -> CheckResult:
    """The audit trail's hash chain is whole and its revisions are in history.

    ``would_drop``: revisions a dry run of ``--accept-rewrite`` names, taken
    as accepted as gone.
    """
    from vpa_config.audittrail import verify_chain

    report = verify_chain(store, would_drop)
    summary = (
        f"{_count(report.records, 'record')}, chain whole"
        if report.ok
        else f"{_count(len(report.problems), 'problem')} in "
        f"{_count(report.records, 'record')}"
    )
    notes = []
    if any(problem.kind == "revision_missing" for problem in report.problems):
        notes.append(
            "if history was rewritten on purpose, record who accepts it and why "
            'with "vpa-config verify --accept-rewrite -m REASON"'
        )
    if any(problem.kind == "unrecorded_commits" for problem in report.problems):
        notes.append(
            'commits no record covers were made without vpa-config knowing (see '
            'them with "vpa-config log"), or their records were removed'
        )
    return CheckResult(
        "audit_chain", report.ok, summary, findings=report.problems, notes=notes
    )


def accepted_revisions(store: ConfigStore) -> dict[str, str]:
    """Revisions whose findings are accepted, each with who accepted it and why.

    A change forced past validation was accepted by its actor when it was
    made; any other revision by a ``finding_accepted`` record. Both come from
    the audit trail, not from commit trailers, which a direct commit can forge.
    """
    from vpa_config import audittrail

    accepted: dict[str, str] = {}
    for record in audittrail.records(store):
        why = f": {record['reason']}" if record.get("reason") else ""
        if record.get("forced") and record.get("outcome") == "committed":
            revision = record.get("revision_after")
            if revision:
                accepted[revision] = f"forced by {record.get('actor')}{why}"
        elif record.get("kind") == "finding_accepted":
            for revision in record.get("revisions") or ():
                accepted[revision] = f"accepted by {record.get('actor')}{why}"
    return accepted


def accept_findings(
    store: ConfigStore,
    revisions: list[str],
    actor: str | None,
    reason: str,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Record that the findings of ``revisions`` are known and accepted, and why.

    Appends a ``finding_accepted`` record (who, why, the full ids) to the audit
    trail; ``verify`` then lists those revisions as accepted and passes. Only
    the revisions that have a finding not yet accepted are recorded: accepting
    one that passes, or one accepted before, would change nothing. Returns
    their full ids, in the order given; nothing is recorded with ``dry_run``.
    ``progress`` follows the history check that finds them.

    Raises:
        NothingToDoError: none of ``revisions`` has a finding not yet
            accepted (nothing recorded).
    """
    from vpa_config import audittrail

    who = _accepting_actor(store, actor, reason, "--accept")
    ids = list(dict.fromkeys(store.repo.resolve(spec) for spec in revisions))
    found = revisions_with_findings(store, progress)
    before = accepted_revisions(store)
    accepted = [sha for sha in ids if sha in found and sha not in before]
    if not accepted:
        raise _nothing_to_accept(ids, before)
    if not dry_run:
        head = store.repo.head()
        audittrail.append_notice(
            store, "finding_accepted", "committed",
            f"accept the findings of {_count(len(accepted), 'revision')}", before=head,
            after=head, actor=str(who), reason=reason, revisions=accepted,
        )
        logs.emit(
            "security.finding_accepted", level="warning", category="security",
            actor=str(who), reason=reason, revisions=accepted,
        )
    return accepted


def revisions_with_findings(
    store: ConfigStore, progress: Progress | None = None
) -> set[str]:
    """The revisions the schema history check finds would not pass today.

    The revisions that pass are remembered as ``verify`` remembers them, so a
    ``verify`` right after checks only these again.
    """
    result = check_schema_history(store, progress)
    return {finding.revision for finding in result.findings}


def _nothing_to_accept(ids: list[str], before: dict[str, str]) -> Exception:
    from vpa_config.errors import NothingToDoError

    named = ", ".join(sha[:12] for sha in ids)
    if all(sha in before for sha in ids):
        how = before[ids[0]] if len(ids) == 1 else "each"
        return NothingToDoError(
            f"{named}: already accepted ({how}); nothing recorded again"
        )
    if len(ids) == 1:
        subject = f"{named} has no finding (it passes validation)"
    else:
        subject = f"none of {named} has a finding (they pass validation)"
    return NothingToDoError(f"{subject}; nothing to accept, nothing recorded")


def _accepting_actor(
    store: ConfigStore, actor: str | None, reason: str, option: str
) -> Any:
    from vpa_config.errors import UsageError
    from vpa_config.identity import resolve_actor

    if not reason.strip():
        raise UsageError(f"{option} needs a reason (-m REASON): it is recorded")
    return resolve_actor(actor, store.repo.controldir / "config")


def accept_rewrite(
    store: ConfigStore, actor: str | None, reason: str, *, dry_run: bool = False
) -> list[str]:
    """Record that the revisions the trail names but history lost are gone on purpose.

    Appends a ``rewrite_accepted`` record naming them (``revisions_dropped``),
    its actor and reason, under the store lock; the audit-chain check then no
    longer reports them. Returns them; nothing is recorded when there are none
    or with ``dry_run``.
    """
    from vpa_config import audittrail
    from vpa_config.errors import NothingToDoError

    who = _accepting_actor(store, actor, reason, "--accept-rewrite")
    store.lock.acquire(store.lock_timeout())
    try:
        dropped = audittrail.missing_revisions(store)
        if not dropped:
            raise NothingToDoError(
                "every revision the audit trail names is in history; "
                "nothing to accept"
            )
        if not dry_run:
            head = store.repo.head()
            audittrail.append_notice(
                store, "rewrite_accepted", "committed",
                f"accept revisions dropped from history ({len(dropped)})",
                before=head, after=head, actor=str(who), reason=reason,
                revisions_dropped=dropped,
            )
            logs.emit(
                "security.rewrite_accepted", level="warning", category="security",
                actor=str(who), reason=reason, revisions=len(dropped), head=head,
            )
        return dropped
    finally:
        store.lock.release()


CHECKS: dict[str, Check] = {
    "schemas": check_schema_history,
    "audit_chain": check_audit_trail,
}


def register_check(name: str, check: Check) -> None:
    """Add a check that :func:`verify_store` runs after the ones before it."""
    CHECKS[name] = check


def verify_store(
    store: ConfigStore,
    progress: Progress | None = None,
    *,
    full: bool = False,
    would_accept: Sequence[str] = (),
    would_drop: Sequence[str] = (),
) -> VerifyReport:
    """Run every check of :data:`CHECKS` over the store's history.

    ``full`` forgets which revisions passed before, so every one is checked.
    ``would_accept`` and ``would_drop`` report as if a dry run's acceptances
    were recorded (see the checks of the same arguments).
    """
    from functools import partial

    if full:
        (store.repo.controldir / STATE_DIR / "verified").unlink(missing_ok=True)
    checks = dict(CHECKS)
    if checks.get("schemas") is check_schema_history:
        checks["schemas"] = partial(check_schema_history, would_accept=would_accept)
    if checks.get("audit_chain") is check_audit_trail:
        checks["audit_chain"] = partial(check_audit_trail, would_drop=would_drop)
    return VerifyReport([
        _run_check(name, check, store, progress) for name, check in checks.items()
    ])


def _run_check(
    name: str, check: Check, store: ConfigStore, progress: Progress | None
) -> CheckResult:
    """One check's result; a damaged ref or object on its way fails it."""
    from vpa_config.errors import damage_of

    try:
        return check(store, progress)
    except Exception as exc:  # noqa: BLE001 (only damage is a finding)
        damage = damage_of(exc)
        if damage is None:
            raise
        return CheckResult(name, False, str(damage))


# --- the schema history check ---------------------------------------------------


class _HistoryCheck:
    def __init__(self, store: ConfigStore, would_accept: Sequence[str] = ()) -> None:
        self.store = store
        self.repo = store.repo
        state = self.repo.controldir / STATE_DIR
        self.archive = ShippedArchive(state / "shipped-schemas")
        self.verified = VerifiedRevisions(state / "verified", self.archive.key())
        self.checked = CheckedSchemas(state / "checked-schemas")
        self.results: dict[tuple[str, ...], list[Problem]] = {}
        self.notes: set[str] = set()
        self.registries: dict[tuple[Any, ...], Any] = {}
        self.accepted = {
            **dict.fromkeys(would_accept, "would be accepted (dry run)"),
            **accepted_revisions(store),
        }

    def run(self, progress: Progress | None) -> CheckResult:
        self.archive.remember_current()
        # TODO(#3): follow every parent once a store can receive merges (sync);
        # until then history is linear and first parents are all of it.
        chain = list(self.repo.walk())[::-1]
        findings: list[RevisionFinding] = []
        skipped = 0
        # The files of the previous revision, kept up to date by applying each
        # revision's tree diff (one small diff instead of flattening two trees).
        files: dict[str, str] | None = {}
        previous_tree: bytes | None = None
        for done, info in enumerate(chain, start=1):
            tree_id = info.tree.encode()
            if info.sha in self.verified:
                skipped += 1
                files = None  # resumed from the tree when next needed
            else:
                if files is None:
                    files = _blobs(self.repo.files(info.parents[0] if info.parents else None))
                changes = self.repo.tree_file_changes(previous_tree, tree_id)
                before = files
                files = dict(before)
                for path, _old, new in changes:
                    if new is None:
                        files.pop(path, None)
                    else:
                        files[path] = new
                finding = self._revision(info, files, before, [c[0] for c in changes])
                if finding is None:
                    self.verified.add(info.sha)
                else:
                    findings.append(finding)
            previous_tree = tree_id
            if progress is not None:
                progress(done, len(chain))
        self.verified.flush()
        return self._result([info.sha for info in chain], findings, skipped)

    def _result(
        self, ids: list[str], findings: list[RevisionFinding], skipped: int
    ) -> CheckResult:
        count = len(ids)
        failing = [finding for finding in findings if not finding.accepted]
        accepted = len(findings) - len(failing)
        if failing:
            summary = f"{len(failing)} of {count} revisions would not pass validation"
        elif accepted:
            summary = f"{count - accepted} of {count} revisions pass validation"
        else:
            summary = f"all {count} revisions pass validation"
        if accepted:
            verb = "is" if accepted == 1 else "are"
            summary += f"; {accepted} that would not {verb} accepted"
        return CheckResult(
            name="schemas",
            ok=not failing,
            summary=summary,
            findings=findings[::-1],
            notes=sorted(self.notes),
            details={"revisions": count, "cached": skipped},
        )

    def _revision(
        self,
        info: CommitInfo,
        tree: dict[str, str],
        before: dict[str, str],
        changed: list[str],
    ) -> RevisionFinding | None:
        message = parse_message(info.message)
        overrides = self._shipped_of_its_day(message.trailer_values("Schema"))
        check = _RevisionCheck(
            self._config_state(tree, overrides),
            self.registries,
            self._reader(tree),
            tree,
            self._reader(before),
            blob_of=tree.get,
            results=self.results,
            shipped_overrides=overrides,
            checked=self.checked,
        )
        problems = check.validate_changed(set(changed))
        if not problems:
            return None
        kind = message.trailer("Kind", "git")
        finding = RevisionFinding(
            revision=info.sha,
            time=info.author_time,
            author=info.author,
            subject=message.subject,
            kind=kind,
            direct=not message.trailer("Kind"),
            forced=message.trailer("Forced") == "true",
            problems=tuple(problems),
            accepted=self.accepted.get(info.sha, ""),
        )
        _log_finding(finding)
        return finding

    @staticmethod
    def _config_state(tree: dict[str, str], overrides: dict[str, bytes]) -> tuple[Any, ...]:
        """What a revision's schema registry is made of: its schema files, shipped versions."""
        schemas = tuple(sorted(
            (name, blob) for name, blob in tree.items() if name.startswith(SCHEMA_DIR)
        ))
        shipped = tuple(sorted(
            (name, hashlib.sha256(content).hexdigest()) for name, content in overrides.items()
        ))
        return schemas, shipped

    def _reader(self, tree: dict[str, str]) -> Callable[[str], bytes | None]:
        # A check reads a changed file up to three times (exists? parse, text
        # for line numbers): read it once.
        seen: dict[str, bytes] = {}

        def read(name: str) -> bytes | None:
            blob = tree.get(name)
            if blob is None:
                return None
            if blob not in seen:
                if len(seen) > 8:
                    seen.clear()
                seen[blob] = self.repo.blob(blob)
            return seen[blob]

        return read

    def _shipped_of_its_day(self, trailers: list[str]) -> dict[str, bytes]:
        overrides: dict[str, bytes] = {}
        for value in trailers:
            parts = value.rsplit(" ", 2)
            if len(parts) != 3 or not parts[1].startswith("shipped:"):
                continue
            file, label, digest = parts
            name = label.partition(":")[2]
            digest = digest.removeprefix("sha256:")
            if self.archive.current_digest(name) == digest:
                continue
            content = self.archive.get(digest)
            if content is not None:
                overrides[name] = content
            else:
                self.notes.add(
                    f"{name}: the shipped version of sha256:{digest} is not on this "
                    "machine; revisions that used it were checked against today's"
                )
        return overrides


class _RevisionCheck(CandidateCheck):
    """A revision's check whose schema registry is shared with every revision
    that has the same schema files and shipped versions (built once, not per
    revision: the registry is a function of exactly those)."""

    def __init__(
        self, state: tuple[Any, ...], registries: dict[tuple[Any, ...], Any],
        *args: Any, **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._state = state
        self._registries = registries

    @cached_property
    def registry(self) -> Any:  # type: ignore[override]
        found = self._registries.get(self._state)
        if found is None:
            if len(self._registries) > 16:
                self._registries.clear()
            found = self._registries[self._state] = super().registry
        return found


def _blobs(tree: FileTree) -> dict[str, str]:
    return {name: entry[1] for name, entry in tree.items()}


def _log_finding(finding: RevisionFinding) -> None:
    files = sorted({problem.file for problem in finding.problems})
    logs.emit(
        "security.validation_bypassed",
        level="warning" if finding.forced or finding.accepted else "error",
        category="security",
        revision=finding.revision,
        author=finding.author,
        kind=finding.kind,
        direct_git_commit=finding.direct,
        forced=finding.forced,
        accepted=finding.accepted or None,
        files=files,
        problems=len(finding.problems),
    )


class ShippedArchive:
    """Every shipped schema version vpa-config has seen, by short content hash."""

    def __init__(self, folder: Path, shipped_dir: Path | None = None) -> None:
        self.folder = folder
        self.shipped_dir = shipped_dir or shipped_schema_dir()
        self._current: dict[str, str] | None = None

    def current(self) -> dict[str, bytes]:
        """Today's shipped schemas by name."""
        from vpa_config.validation import _shipped_contents

        return _shipped_contents(self.shipped_dir)

    def current_digest(self, name: str) -> str | None:
        """Today's short digest of a shipped schema, or None if it is gone."""
        if self._current is None:
            self._current = {
                name: hashlib.sha256(content).hexdigest()[:16]
                for name, content in self.current().items()
            }
        return self._current.get(name)

    def key(self) -> str:
        """A digest of today's shipped schemas and the versions that judge."""
        from importlib.metadata import version

        from vpa_config import __version__

        digest = hashlib.sha256(f"{__version__} {version('jsonschema')}".encode())
        for name, content in sorted(self.current().items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        return digest.hexdigest()

    def remember_current(self) -> None:
        """Keep a copy of today's shipped schemas for the verifies of tomorrow."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for content in self.current().values():
                target = self.folder / (hashlib.sha256(content).hexdigest()[:16] + ".json")
                if not target.exists():
                    target.write_bytes(content)
        except OSError:
            pass  # a read-only store is still verified, only without the copy

    def get(self, digest: str) -> bytes | None:
        """A shipped schema version by short digest, if it was ever seen here."""
        if not all(c in "0123456789abcdef" for c in digest) or not digest:
            return None
        try:
            return (self.folder / f"{digest}.json").read_bytes()
        except OSError:
            return None


class VerifiedRevisions:
    """Revisions that passed, for one judging key (first line of the file)."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self._new: list[str] = []
        self._known: set[str] = set()
        try:
            lines = path.read_text().split()
        except (OSError, UnicodeDecodeError):
            lines = []
        self._fresh = not lines or lines[0] != key
        if not self._fresh:
            self._known.update(lines[1:])

    def __contains__(self, sha: str) -> bool:
        return sha in self._known

    def add(self, sha: str) -> None:
        """Remember that ``sha`` passed."""
        self._known.add(sha)
        self._new.append(sha)

    def flush(self) -> None:
        """Write what was learnt (best effort)."""
        if not self._new:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._fresh:
                self.path.write_text(self.key + "\n")
                self._fresh = False
            with self.path.open("a") as handle:
                handle.write("".join(sha + "\n" for sha in self._new))
            self._new = []
        except OSError:
            pass


def _count(number: int, noun: str) -> str:
    """``1 revision``, ``2 revisions``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"

"""Who changed what: key-level diff, show, audit of a key, blame, time travel.

``diff`` and ``show`` compare two trees directly (one revision is cheap to
read). ``audit``, ``blame``, ``value_at`` and the filtered ``log`` read the
key-change index (:mod:`vpa_config.keyindex`), which is brought up to HEAD
first, so their answers are the same whether the index was current, stale
or missing.

Identity is kept in three separate fields everywhere: ``author`` (the
commit's author, the person or program that acted), ``tool`` (the
``Vpa-Tool`` trailer: the plugin or watcher that made the change, empty for
a change a person made) and ``reason``. A change made by a tool is shown as
made by that tool.

Secret values never leave this module in clear: a key is secret when the
schema or a settings pattern marks it so, at the revision that changed it or
today.
"""

from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence

from vpa_config import documents, fsutil
from vpa_config.errors import NotFoundError, ParseError
from vpa_config.history import (
    CONTINUES_FROM,
    FileChange,
    KeyChange,
    diff_documents,
    parse_message,
)
from vpa_config.keyindex import MISSING, UNPARSABLE, KeyIndex, KeyRow, Revision, synced
from vpa_config.keypath import Part, format_dotted, format_pointer, parse_key_path, resolve
from vpa_config.records import FrozenRecord, Record

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    from vpa_config.store import ConfigStore

Reader = Callable[[str], "bytes | None"]


def iso_time(seconds: int) -> str:
    """UTC ISO 8601 with a Z (what ``datetime.isoformat`` writes)."""
    if type(seconds) is int:  # a commit's time: no datetime to import
        t = time.gmtime(seconds)
        if 1 <= t.tm_year <= 9999:
            return (
                f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"
            )
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace(
        "+00:00", "Z"
    )


def _redacted() -> str:
    from vpa_config.explain import REDACTED

    return REDACTED


# --- who: the identity of a revision ------------------------------------------


# The answers are collections.namedtuple classes (see keyindex.Revision).


class Who(namedtuple("Who", "revision time author tool kind source reason subject")):
    """The revision, and who made it, when (seconds, UTC) and why."""

    __slots__ = ()

    @classmethod
    def of(cls, rev: Revision) -> Who:
        """From an index row."""
        return cls(rev.sha, rev.time, rev.author, rev.tool, rev.kind, rev.source,
                   rev.reason, rev.subject)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "revision": self.revision,
            "time": iso_time(self.time),
            "author": self.author,
            "tool": self.tool or None,
            "kind": self.kind,
            "source": self.source,
            "reason": self.reason,
            "subject": self.subject,
        }

    def by(self) -> str:
        """``Ada <a@x>``, or ``tool watcher (author ...)`` for a tool's change."""
        if self.tool:
            return f"tool {self.tool} (as {self.author})"
        return self.author


# --- diff and show ------------------------------------------------------------


class RevisionDiff(Record):
    """Key-level changes between two states of the store."""

    _fields = ("old", "new", "files", "renames", "texts")

    def __init__(
        self,
        old: str | None,
        new: str,
        files: list[FileChange],
        renames: dict[str, str] | None = None,
        texts: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.old = old
        self.new = new  # a revision id, or "working" for the files on disk
        self.files = files
        self.renames: dict[str, str] = {} if renames is None else renames
        self.texts: dict[str, tuple[str, str]] = {} if texts is None else texts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, secret values redacted."""
        files = []
        for change in self.files:
            data = change.to_dict()
            if change.path in self.renames:
                word = "copied" if change.action == "copied" else "renamed"
                data[f"{word}_from"] = self.renames[change.path]
            files.append(data)
        return {"from": self.old, "to": self.new, "files": files}

    def unified(self) -> str:
        """The line diff of every changed file, secret values masked."""
        import difflib  # only for this view: audit and blame never need it

        out: list[str] = []
        for change in self.files:
            before, after = self.texts.get(change.path, ("", ""))
            lines = difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                f"a/{change.path}",
                f"b/{change.path}",
            )
            mask = _masker(change)
            out.extend(mask(line) for line in lines)
            if out and not out[-1].endswith("\n"):
                out[-1] += "\n"
        return "".join(out)


def _masker(change: FileChange) -> Callable[[str], str]:
    """Hide the secret values of a file in its text lines (masking.py's rules)."""
    from vpa_config.masking import scrub_text

    secrets = sorted((v for v in secret_texts(change) if v), key=len, reverse=True)

    def hide(line: str) -> str:
        for secret in secrets:
            line = line.replace(secret, _redacted())
        return scrub_text(line)

    return hide


def secret_texts(change: FileChange) -> set[str]:
    """The scalars of a file's change, as text, that outputs show as redacted."""
    mask = change.mask()
    values: set[str] = set()
    for key in change.keys:
        for value in (key.old, key.new):
            values.update(_secret_scalars(mask, value, key.path))
    for doc in change.documents:
        values.update(_secret_scalars(mask, doc, ()))
    return values


def _secret_scalars(mask: Any, value: Any, path: tuple[Part, ...]) -> Iterable[str]:
    """The scalars of ``value`` (at ``path``) that ``mask`` hides."""
    if mask.covers(path):
        yield from _scalars(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_scalars(mask, item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_scalars(mask, item, (*path, index))


def _scalars(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _lookup(doc: Any, path: Sequence[Part]) -> Any:
    node = doc
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            raise KeyError(part)
    return node


def diff(
    store: ConfigStore,
    old: str | None = None,
    new: str | None = None,
    file: str | None = None,
) -> RevisionDiff:
    """Key-level diff: ``old`` to ``new``; ``new`` None = working files; both None = HEAD to working."""
    repo = store.repo
    name = fsutil.clean_name(file) if file else None
    old_sha = repo.resolve(old) if old else repo.head()
    if new is None:
        return _diff_working(store, old_sha, name)
    new_sha = repo.resolve(new)
    return _diff_trees(store, old_sha, new_sha, name)


def _diff_trees(
    store: ConfigStore, old_sha: str | None, new_sha: str, name: str | None
) -> RevisionDiff:
    repo = store.repo
    old_tree = repo.files(old_sha)
    new_tree = repo.files(new_sha)
    changes = [
        (path, o, n)
        for path, o, n in repo.file_changes(old_sha, new_sha)
        if name is None or path == name
    ]
    if name is not None and name not in old_tree and name not in new_tree:
        raise NotFoundError(f"{name}: no such file in either revision")
    old_read = _tree_reader(store, old_tree)
    new_read = _tree_reader(store, new_tree)
    trailers = (
        parse_message(repo.commit(new_sha).message).trailer_values(*CONTINUES_FROM)
        if old_sha and repo.commit(new_sha).parents[:1] == (old_sha,)
        else []
    )
    renames = _detect_renames(trailers, changes)
    return _build_diff(old_sha, new_sha, [p for p, _, _ in changes], old_read, new_read,
                       set(new_tree), set(old_tree), renames)


def _diff_working(store: ConfigStore, base: str | None, name: str | None) -> RevisionDiff:
    repo = store.repo
    tree = repo.files(base)
    edits = _working_against(store, tree)
    if name is not None and name not in tree and name not in edits:
        raise NotFoundError(
            f"{name}: no such file in the revision or the working files"
        )
    names = [n for n in sorted(edits) if name is None or n == name]
    read_old = _tree_reader(store, tree)

    def read_new(candidate: str) -> bytes | None:
        return edits[candidate] if candidate in edits else read_old(candidate)

    new_names = (set(tree) | set(edits)) - {n for n, c in edits.items() if c is None}
    return _build_diff(base, "working", names, read_old, read_new, new_names, set(tree), {})


def _working_against(
    store: ConfigStore, tree: dict[str, tuple[int, str]]
) -> dict[str, bytes | None]:
    """Working files that differ from ``tree``: content, or None if deleted."""
    on_disk = set(fsutil.working_files(store.root))
    changes: dict[str, bytes | None] = {}
    for name in sorted(on_disk | set(tree)):
        path = store.root / name
        if name not in on_disk:
            changes[name] = None
        elif not path.is_symlink():
            content = path.read_bytes()
            if name not in tree or tree[name][1] != store.repo.blob_id(content):
                changes[name] = content
    return changes


def _tree_reader(store: ConfigStore, tree: dict[str, tuple[int, str]]) -> Reader:
    def read(name: str) -> bytes | None:
        entry = tree.get(name)
        return store.repo.blob(entry[1]) if entry else None

    return read


def _detect_renames(
    trailers: Sequence[str], changes: Sequence[tuple[str, str | None, str | None]]
) -> dict[str, str]:
    from vpa_config.keyindex import _renames

    found = _renames(trailers, changes)
    names = {path for path, _, _ in changes}
    return {new: old for new, old in found.items() if new in names}


def _build_diff(
    old: str | None,
    new: str,
    names: list[str],
    read_old: Reader,
    read_new: Reader,
    new_names: set[str],
    old_names: set[str],
    renames: dict[str, str],
) -> RevisionDiff:
    from vpa_config.verdict import CandidateCheck

    new_check = CandidateCheck(read_new, new_names, read_old)
    old_check = CandidateCheck(read_old, old_names, read_old)
    result = RevisionDiff(old, new, [], renames)
    for path in names:
        if path in renames.values() and path not in new_names:
            continue  # shown as the rename of the file it became
        source = renames.get(path)
        old_raw = read_old(source or path)
        new_raw = read_new(path)
        old_doc = _quiet(path, old_raw)
        new_doc = _quiet(path, new_raw)
        action = (
            ("copied" if source in new_names else "renamed") if source
            else "added" if old_raw is None
            else "removed" if new_raw is None else "modified"
        )
        keys = _display_changes(old_doc, new_doc)
        problem = _parse_problem(path, new_raw, new_doc) or _parse_problem(
            source or path, old_raw, old_doc
        )
        if problem is not None:
            action, keys = "unparsable", []
        change = FileChange(path, action, keys, problem=problem)
        change.secret_paths = _secrets(new_check, path, new_doc) | _secrets(
            old_check, source or path, old_doc
        )
        change.documents = [d for d in (old_doc, new_doc) if d is not MISSING]
        result.files.append(change)
        result.texts[path] = (_text(old_raw), _text(new_raw))
    return result


def _display_changes(old: Any, new: Any) -> list[KeyChange]:
    """Key changes, a new or deleted file's shown key by key."""
    if old is MISSING and new is MISSING:
        return []
    if old is MISSING:
        return diff_documents({} if isinstance(new, dict) else [], new) if isinstance(
            new, (dict, list)) else [KeyChange((), "added", new=new)]
    if new is MISSING:
        return diff_documents(old, {} if isinstance(old, dict) else []) if isinstance(
            old, (dict, list)) else [KeyChange((), "removed", old=old)]
    return diff_documents(old, new)


def _unparsable(name: str, raw: bytes | None, doc: Any) -> bool:
    """A config file whose text does not parse (no key-level diff for it)."""
    return raw is not None and doc is MISSING and name.lower().endswith(documents.SUFFIXES)


def _parse_problem(name: str, raw: bytes | None, doc: Any) -> Any:
    """The parse error (a located Problem) of an unparsable file, else None."""
    if not _unparsable(name, raw, doc):
        return None
    try:
        documents.parse(name, raw)
    except ParseError as exc:
        return exc.as_problem()
    return None  # pragma: no cover (it failed to parse a moment ago)


def _secrets(check: Any, name: str, data: Any) -> set[tuple[Any, ...]]:
    if data is MISSING:
        return set()
    return set(check.secrets_of(name, data))


def _quiet(name: str, raw: bytes | None) -> Any:
    if raw is None or not name.lower().endswith(documents.SUFFIXES):
        return MISSING
    try:
        return documents.parse(name, raw)
    except ParseError:
        return MISSING


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8", "replace")


class RevisionShow(Record):
    """One revision: who, when, why, and its key-level changes."""

    _fields = ("who", "parent", "trailers", "diff")

    def __init__(
        self,
        who: Who,
        parent: str | None,
        trailers: tuple[tuple[str, str], ...],
        diff: RevisionDiff,
    ) -> None:
        self.who = who
        self.parent = parent
        self.trailers = trailers
        self.diff = diff

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, secret values redacted."""
        data = self.who.to_dict()
        data["parent"] = self.parent
        data["trailers"] = [list(pair) for pair in self.trailers]
        data["files"] = self.diff.to_dict()["files"]
        return data

    def secret_texts(self) -> set[str]:
        """The secret values the revision changed, from and to (as text)."""
        return {text for change in self.diff.files for text in secret_texts(change)}


def show(store: ConfigStore, rev: str) -> RevisionShow:
    """The revision ``rev`` with its changes against its first parent."""
    repo = store.repo
    sha = repo.resolve(rev)
    info = repo.commit(sha)
    message = parse_message(info.message)
    parent = info.parents[0] if info.parents else None
    who = Who(
        sha, info.author_time, info.author, message.trailer("Tool"),
        message.trailer("Kind", "git"), message.trailer("Source", "git"),
        message.reason, message.subject,
    )
    return RevisionShow(who, parent, message.trailers, _diff_trees(store, parent, sha, None))


# --- audit of one key -----------------------------------------------------------


class AuditEntry(
    namedtuple(
        "AuditEntry",
        "who file key change old new secret renamed_from changes mask parts",
        defaults=(None, (), None, ()),
    )
):
    """One revision that changed the key: who, and the value before and after.

    ``change`` is "added", "removed" or "changed", or "unparsable" when the
    file's text stopped parsing (a direct commit; ``new`` is MISSING then,
    and the revision that mends it shows the key only if its value
    changed); ``old`` or ``new`` is
    :data:`MISSING` for a key that was not there; ``changes`` are the
    :class:`KeyChange` below the key when it changed as a whole document.
    ``secret`` says whether the key is, or holds, a secret; ``mask``
    (masking.py) shows its values with only the secret ones hidden, and
    ``parts`` is the key path it judges them at.
    """

    __slots__ = ()

    def shown(self, value: Any) -> Any:
        """``old`` or ``new`` as outputs show it (secrets in it hidden)."""
        if self.mask is None:
            return _redacted() if self.secret else value
        return self.mask.show(value, self.parts)

    def sub_changes(self) -> tuple[KeyChange, ...]:
        """The changes below the key (those of a mapping or list changed in place)."""
        if self.changes:
            return tuple(self.changes)
        if isinstance(self.old, dict | list) and isinstance(self.new, dict | list):
            return tuple(diff_documents(self.old, self.new))
        return ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, secret values redacted."""
        data = self.who.to_dict()
        data.update(file=self.file, key=self.key, change=self.change)
        if self.old is not MISSING:
            data["old"] = self.shown(self.old)
        if self.new is not MISSING:
            data["new"] = self.shown(self.new)
        if self.renamed_from:
            data["renamed_from"] = self.renamed_from
        if self.changes:
            if self.mask is None:
                data["changes"] = [c.to_dict(redact=self.secret) for c in self.changes]
            else:
                data["changes"] = [
                    self.mask.show_change(c, self.parts) for c in self.changes
                ]
        return data


def audit(store: ConfigStore, file: str, key: str) -> list[AuditEntry]:
    """Every revision that changed ``key`` of ``file``, newest first."""
    index = synced(store.repo)
    name = fsutil.clean_name(file)
    parts = parse_key_path(key)
    if index.file_state(name, 1 << 62) is None:
        raise NotFoundError(f"{name}: no such file in the store's history")
    segments = index.lineage(name)
    secret, mask = _secret_judge(store, index, name, [seg[0] for seg in segments])
    found: list[tuple[int, str, str, Any, Any, tuple[KeyChange, ...]]] = []
    renamed: dict[int, str] = {}
    for position, (seg_name, low, high) in enumerate(segments):
        if position + 1 < len(segments):
            renamed[low] = segments[position + 1][0]
        rows = index.key_rows(seg_name, parts, low, high)
        for seq, group in _by_seq(rows):
            entry = _key_values(index, seg_name, parts, seq, group, segments)
            if entry is not None:
                found.append((seq, seg_name, *entry))
        for row in index.file_rows(seg_name, low, high):
            if row.action == UNPARSABLE:
                entry = _unparsable_entry(index, seg_name, parts, row.seq, segments)
                if entry is not None:
                    found.append((row.seq, seg_name, *entry))
    found.sort(key=lambda item: -item[0])
    revisions = index.revisions(seq for seq, *_ in found)
    dotted = format_dotted(parts)
    is_secret = secret(parts)
    return [
        AuditEntry(
            Who.of(revisions[seq]), seg_name, dotted, change, old, new, is_secret,
            renamed.get(seq), subs, mask, parts,
        )
        for seq, seg_name, change, old, new, subs in found
    ]


def _by_seq(rows: list[KeyRow]) -> Iterable[tuple[int, list[KeyRow]]]:
    group: list[KeyRow] = []
    for row in rows:
        if group and group[0].seq != row.seq:
            yield group[0].seq, group
            group = []
        group.append(row)
    if group:
        yield group[0].seq, group


def _key_values(
    index: KeyIndex,
    name: str,
    parts: Sequence[str],
    seq: int,
    rows: list[KeyRow],
    segments: list[tuple[str, int, int]],
) -> tuple[str, Any, Any, tuple[KeyChange, ...]] | None:
    """(change, old, new, sub-changes) of the key in one revision, or None if untouched."""
    pointer = format_pointer(parts)
    chain = [row for row in rows if len(row.path) <= len(pointer)]
    subs: tuple[KeyChange, ...] = ()
    if chain:
        row = max(chain, key=lambda r: len(r.path))
        rest = _rest(parts, row.path)
        old = _value_in(row.old_value(), rest)
        new = _value_in(row.new_value(), rest)
    else:
        old = _value_in(_document_at(index, name, seq - 1, segments), parts)
        new = _value_in(_document_at(index, name, seq, segments), parts)
        subs = tuple(
            KeyChange(_relative(row.path, pointer), row.change,
                      None if row.old is None else row.old_value(),
                      None if row.new is None else row.new_value())
            for row in rows
        )
    if old is MISSING and new is MISSING:
        return None
    if old is not MISSING and new is not MISSING:
        if type(old) is type(new) and old == new:
            return None
        return "changed", old, new, subs
    return ("added" if old is MISSING else "removed"), old, new, subs


def _unparsable_entry(
    index: KeyIndex,
    name: str,
    parts: Sequence[str],
    seq: int,
    segments: list[tuple[str, int, int]],
) -> tuple[str, Any, Any, tuple[KeyChange, ...]] | None:
    """The key's value lost to a text that stopped parsing in revision ``seq``.

    Only the first of a run of such revisions counts, and only for a key the
    last readable text had; the revision that makes the file readable again
    is compared with that text (keyindex.py), so the key reappears only if
    its value changed.
    """
    old = _value_in(_document_at(index, name, seq - 1, segments), parts)
    if old is MISSING:
        return None
    return "unparsable", old, MISSING, ()


def _rest(parts: Sequence[str], pointer: str) -> list[str]:
    depth = 0 if pointer == "" else pointer.count("/")
    return list(parts[depth:])


def _relative(pointer: str, base: str) -> tuple[Part, ...]:
    tail = pointer[len(base) + 1 :]
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in tail.split("/"))


def _value_in(document: Any, parts: Sequence[str]) -> Any:
    if document is MISSING:
        return MISSING
    try:
        return _lookup(document, resolve(document, parts))
    except (KeyError, IndexError, TypeError, ValueError):
        return MISSING
    except Exception as exc:  # noqa: BLE001 (a key path that does not fit this document)
        from vpa_config.errors import KeyPathError

        if isinstance(exc, KeyPathError):
            return MISSING
        raise


def _document_at(
    index: KeyIndex, name: str, seq: int, segments: list[tuple[str, int, int]]
) -> Any:
    """The file's document just after revision ``seq`` (following renames)."""
    for seg_name, low, high in segments:
        if low <= seq <= high or (seg_name == segments[-1][0] and seq <= high):
            state = index.file_state(seg_name, seq)
            if state is None or state.blob is None:
                return MISSING
            return index.parsed_blob(seg_name, state.blob)
    return MISSING


def _secret_judge(
    store: ConfigStore, index: KeyIndex, name: str, names: Sequence[str],
    document: Any = MISSING,
) -> tuple[Callable[[Sequence[Any]], bool], Any]:
    """Whether a key path is (or holds) a secret, by history or by today's rules;
    and the :class:`~vpa_config.masking.Mask` that shows values by the same rules.
    """
    from vpa_config.explain import SecretMatcher
    from vpa_config.masking import Mask

    known = {pointer for _file, pointer in index.secret_paths(names)}
    today, patterns = _head_judgement(store, index, name, document)
    known |= today
    matcher_names = list(names)
    matcher = SecretMatcher(patterns)

    # Answers by path: an audit asks of the same keys in every revision.
    answers: dict[tuple[Any, ...], bool] = {(): "" in known}

    def covered(path: Sequence[Any]) -> bool:
        typed = tuple(path)
        found = answers.get(typed)
        if found is None:
            found = covered(typed[:-1]) or _secret_here(typed)
            if len(answers) < 65536:
                answers[typed] = found
        return found

    def _secret_here(typed: tuple[Any, ...]) -> bool:
        pointer = format_pointer(typed)
        return pointer in known or any(matcher.matches(n, typed) for n in matcher_names)

    mask = Mask(
        covered, (frozenset(known), tuple(patterns), tuple(matcher_names)), name
    )

    def judge(path: Sequence[Any]) -> bool:
        pointer = format_pointer(path)
        for secret in known:
            if secret.startswith(pointer + "/") or pointer == "":
                return True
        return mask.covers(path)

    return judge, mask


def _head_judgement(
    store: ConfigStore, index: KeyIndex, name: str, document: Any
) -> tuple[set[str], list[str]]:
    """Secret pointers of ``name`` at HEAD by HEAD's rules, and HEAD's patterns.

    The index (synced to HEAD) keeps the answer under a digest of what it
    depends on: the file's blob, every blob of the store's own folder, the
    shipped schemas and the code (``blobcache.engine``). A read that finds it
    opens no repository object and parses nothing.
    """
    key = _judgement_key(index.tip_state(name))
    kept = index.judgement(key)
    if kept is not None:
        return kept
    check = store._head_check()  # noqa: SLF001 (today's settings and schemas)
    try:
        found = check.secrets_of(name, store.get(name) if document is MISSING else document)
    except (NotFoundError, ParseError):
        found = set()
    today = {format_pointer(path) for path in found}
    patterns = list(check.settings.secrets)
    index.keep_judgement(key, today, patterns)
    return today, patterns


def _judgement_key(state: list[tuple[str, str | None]]) -> str:
    import json

    from vpa_config.blobcache import blake2b, engine, stamp
    from vpa_config.layout import shipped_schema_dir

    digest = blake2b(b"head-judgement-2\0" + engine(), digest_size=32)
    digest.update(stamp(shipped_schema_dir(), ".json"))
    digest.update(json.dumps(state).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# --- blame ------------------------------------------------------------------------


class BlameLine(namedtuple("BlameLine", "key value who file secret")):
    """The last change of one key of the current file (``who`` None if unknown)."""

    __slots__ = ()

    def shown(self) -> Any:
        """The value as outputs show it: redacted if secret, text scrubbed."""
        if self.secret:
            return _redacted()
        if isinstance(self.value, str):
            from vpa_config.masking import scrub_text

            return scrub_text(self.value)
        return self.value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data: dict[str, Any] = {"key": self.key, "value": self.shown(), "file": self.file}
        if self.who is not None:
            data.update(self.who.to_dict())
        return data


def blame(store: ConfigStore, file: str) -> list[BlameLine]:
    """For each leaf key of the current ``file``, the revision that last set it."""
    index = synced(store.repo)
    name = fsutil.clean_name(file)
    document = _head_document(store, index, name)
    segments = index.lineage(name)
    secret, _mask = _secret_judge(
        store, index, name, [seg[0] for seg in segments], document
    )
    found: list[tuple[tuple[Part, ...], Any, int | None, str]] = []
    for path, value in _leaves(document, ()):
        seq, where = None, name
        # An empty mapping or list was last changed by what emptied it.
        emptied = isinstance(value, (dict, list)) and not value
        for seg_name, low, high in segments:
            seq = index.last_change(seg_name, path, low, high, below=emptied)
            if seq is not None:
                where = seg_name
                break
        found.append((path, value, seq, where))
    revisions = index.revisions(seq for _, _, seq, _ in found if seq is not None)
    return [
        BlameLine(
            format_dotted(path), value,
            Who.of(revisions[seq]) if seq is not None else None, where,
            secret(path) and not (isinstance(value, (dict, list)) and not value),
        )
        for path, value, seq, where in found
    ]


def _head_document(store: ConfigStore, index: KeyIndex, name: str) -> Any:
    """``store.get(name)``; the parse kept by blob id (blobcache.py) when known.

    The index is synced, so its last row of the file names HEAD's blob.
    """
    state = index.file_state(name, 1 << 62)
    if state is None or state.blob is None or not name.lower().endswith(
        documents.SUFFIXES
    ):
        return store.get(name)
    from vpa_config import blobcache

    cache = blobcache.for_dir(store.repo.controldir)
    kind = documents.format_of(name)
    found = cache.parsed(kind, state.blob)
    if found is blobcache.MISS:
        found = store.get(name)
        cache.put_parsed(kind, state.blob, found)
    return found


def _leaves(node: Any, path: tuple[Part, ...]) -> Iterable[tuple[tuple[Part, ...], Any]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for position, value in enumerate(node):
            yield from _leaves(value, (*path, position))
    else:
        yield path, node


# --- time travel -------------------------------------------------------------------


class ValueAt(FrozenRecord):
    """A key's value at a moment, and the revision it came from."""

    _fields = ("value", "file", "key", "at", "who", "set_by")
    __slots__ = _fields

    value: Any
    file: str
    key: str
    at: int
    who: Who  # the revision that was current at that moment
    set_by: Who | None  # the revision that last changed the key before then

    def __init__(
        self, value: Any, file: str, key: str, at: int, who: Who, set_by: Who | None
    ) -> None:
        init = object.__setattr__
        init(self, "value", value)
        init(self, "file", file)
        init(self, "key", key)
        init(self, "at", at)
        init(self, "who", who)
        init(self, "set_by", set_by)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (values as ``get`` prints them)."""
        return {
            "file": self.file,
            "key": self.key,
            "at": iso_time(self.at),
            "value": self.value,
            "revision": self.who.to_dict(),
            "changed_in": self.set_by.to_dict() if self.set_by else None,
        }


def value_at(store: ConfigStore, file: str, key: str | None, moment: int) -> ValueAt:
    """The value of ``key`` (None: the whole document) of ``file`` at ``moment``."""
    index = synced(store.repo)
    name = fsutil.clean_name(file)
    seq = index.at_time(moment)
    if seq is None:
        raise NotFoundError(f"the store has no revision at or before {iso_time(moment)}")
    current = Who.of(index.revision(seq))
    segments = _segments_until(index, name, seq)
    where = segments[0][0] if segments else name
    state = index.file_state(where, seq)
    if state is None or state.blob is None:
        raise NotFoundError(
            f"{name}: no such file at {iso_time(moment)} (revision {current.revision[:12]})"
        )
    document = documents.parse(where, store.repo.blob(state.blob))
    if key is None:
        return ValueAt(document, where, "", moment, current, None)
    parts = parse_key_path(key)
    value = _value_in(document, parts)
    if value is MISSING:
        raise NotFoundError(
            f"{name}: key {key} not found at {iso_time(moment)} "
            f"(revision {current.revision[:12]})"
        )
    set_by = None
    for seg_name, low, high in segments:
        last = index.last_change(seg_name, resolve(document, parts), low, high)
        if last is not None:
            set_by = Who.of(index.revision(last))
            break
    return ValueAt(value, where, format_dotted(parts), moment, current, set_by)


def _segments_until(index: KeyIndex, name: str, seq: int) -> list[tuple[str, int, int]]:
    """The lineage of today's ``name`` as it stood at ``seq`` (renamed since or not)."""
    return [
        (seg_name, low, min(high, seq))
        for seg_name, low, high in index.lineage(name)
        if low <= seq
    ]


# --- log by key ---------------------------------------------------------------------


def key_revisions(store: ConfigStore, file: str, key: str) -> list[str]:
    """Revision ids that changed ``key`` of ``file``, newest first."""
    return [entry.who.revision for entry in audit(store, file, key)]

"""History read as configuration: log entries and key-level diffs.

A commit made by vpa-config carries its facts in the message: the subject
says what changed, the body is the reason, and trailers carry the kind of
change, its source, the correlation id and, for a restore, the revision
restored from. :func:`parse_message` reads them back; :func:`diff_documents`
compares two parsed documents key by key.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterator

from vpa_config.keypath import Part, format_dotted
from vpa_config.records import FrozenRecord, Record

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

TRAILER_PREFIX = "Vpa-"
_MISSING: Any = object()
# Compiled on first use: a read answered from the history index parses no
# commit message.
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(name: str) -> re.Pattern[str]:
    found = _PATTERNS.get(name)
    if found is None:
        found = _PATTERNS[name] = re.compile(_PATTERN_TEXT[name])
    return found


_PATTERN_TEXT = {
    "trailer": r"^([A-Za-z][A-Za-z0-9-]*): (.*)$",
    "control": r"[\x00-\x08\x0b-\x1f\x7f]",
    "paragraphs": r"\n\s*\n",
}


class CommitMessage(FrozenRecord):
    """The parts of a commit message."""

    _fields = ("subject", "reason", "trailers")
    __slots__ = _fields

    subject: str
    reason: str
    trailers: tuple[tuple[str, str], ...]

    def __init__(
        self, subject: str, reason: str, trailers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        init = object.__setattr__
        init(self, "subject", subject)
        init(self, "reason", reason)
        init(self, "trailers", trailers)

    def trailer(self, name: str, default: str = "") -> str:
        """The first value of a trailer, by name without the ``Vpa-`` prefix."""
        for key, value in self.trailers:
            if key.lower() in (name.lower(), (TRAILER_PREFIX + name).lower()):
                return value
        return default

    def trailer_values(self, *names: str) -> list[str]:
        """Every value of a trailer that may repeat (of any of ``names``)."""
        wanted = {n.lower() for name in names for n in (name, TRAILER_PREFIX + name)}
        return [value for key, value in self.trailers if key.lower() in wanted]

    def render(self) -> str:
        """The full message text: subject, reason, trailers.

        Control characters other than newline and tab are written as escapes
        (``\\x00``): git refuses a commit object with a NUL byte in it.
        """
        parts = [self.subject.strip()]
        if self.reason.strip():
            parts.append(self.reason.strip())
        if self.trailers:
            parts.append("\n".join(f"{key}: {value}" for key, value in self.trailers))
        return _pattern("control").sub(_escape_control, "\n\n".join(parts) + "\n")


def _escape_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def parse_message(text: str) -> CommitMessage:
    """Split a message into subject, reason and trailers."""
    paragraphs = [p for p in _pattern("paragraphs").split(text.strip()) if p.strip()]
    if not paragraphs:
        return CommitMessage("", "")
    subject = paragraphs[0].strip()
    trailers: tuple[tuple[str, str], ...] = ()
    last = paragraphs[-1].splitlines() if len(paragraphs) > 1 else []
    trailer = _pattern("trailer")
    if last and all(trailer.match(line) for line in last):
        trailers = tuple(
            trailer.match(line).groups() for line in last  # type: ignore[union-attr]
        )
        paragraphs = paragraphs[:-1]
    reason = "\n\n".join(p.strip() for p in paragraphs[1:])
    return CommitMessage(subject, reason, trailers)


def one_line(text: str, limit: int = 200) -> str:
    """A reason or value safe for a subject line or a trailer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- key-level diff -----------------------------------------------------------


class KeyChange(FrozenRecord):
    """One key that was added, removed or changed between two documents."""

    _fields = ("path", "kind", "old", "new")
    __slots__ = _fields

    path: tuple[Part, ...]
    kind: str  # "added", "removed" or "changed"
    old: Any
    new: Any

    def __init__(
        self, path: tuple[Part, ...], kind: str, old: Any = None, new: Any = None
    ) -> None:
        init = object.__setattr__
        init(self, "path", path)
        init(self, "kind", kind)
        init(self, "old", old)
        init(self, "new", new)

    @property
    def dotted(self) -> str:
        """The key path, dotted."""
        return format_dotted(self.path) or "(document)"

    def to_dict(self, redact: bool = False) -> dict[str, Any]:
        """JSON-ready form; values replaced when ``redact``."""
        from vpa_config.explain import REDACTED

        data: dict[str, Any] = {"path": self.dotted, "change": self.kind}
        if self.kind != "added":
            data["old"] = REDACTED if redact else self.old
        if self.kind != "removed":
            data["new"] = REDACTED if redact else self.new
        return data


class FileChange(Record):
    """One file's change: added, removed, modified, with its key changes."""

    _fields = (
        "path", "action", "keys", "secret_paths", "problem", "documents", "unparsable",
    )
    _compared = _shown = _fields[:5]

    def __init__(
        self,
        path: str,
        action: str,
        keys: list[KeyChange] | None = None,
        secret_paths: set[tuple[Part, ...]] | None = None,
        documents: list[Any] | None = None,
        problem: Any = None,
        unparsable: tuple[str, ...] = (),
    ) -> None:
        self.path = path
        self.action = action
        # An unparsable file's parse error (a Problem: where, and what).
        self.problem = problem
        self.keys: list[KeyChange] = [] if keys is None else keys
        self.secret_paths: set[tuple[Part, ...]] = (
            set() if secret_paths is None else secret_paths
        )
        # The documents compared (to mask secrets in a text diff): not compared.
        self.documents: list[Any] = [] if documents is None else documents
        # The sides ("old", "new") whose text did not parse (diffed as null).
        self.unparsable = unparsable

    def is_secret(self, change: KeyChange) -> bool:
        """Whether a key change touches a secret value (at, below or above a
        secret key, or below a key whose name marks a secret)."""
        from vpa_config.redaction import is_secret_key_path

        return (
            any(change.path[: len(s)] == s for s in self.secret_paths)
            or any(s[: len(change.path)] == change.path for s in self.secret_paths)
            or is_secret_key_path(change.path, self.path)
        )

    def mask(self) -> Any:
        """The :class:`~vpa_config.masking.Mask` that shows this file's values."""
        from vpa_config.masking import Mask

        return Mask.of_paths(self.secret_paths, self.path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with secret values redacted (masking.py)."""
        mask = self.mask()
        data: dict[str, Any] = {
            "file": self.path,
            "action": self.action,
            "keys": [mask.show_change(key) for key in self.keys],
        }
        if self.problem is not None:
            data["problem"] = self.problem.to_dict()
        if self.unparsable:
            data["unparsable"] = list(self.unparsable)
        return data


def diff_documents(old: Any, new: Any) -> list[KeyChange]:
    """Key-level differences from ``old`` to ``new``, in document order."""
    return list(_diff(old, new, ()))


def _identical(old: Any, new: Any) -> bool:
    """Whether two containers are equal with every value of the same type.

    ``==`` alone takes 1, 1.0 and True for one another; their marshalled
    forms differ. Values marshal cannot write (dates) are compared key by key.
    """
    if old != new:
        return False
    try:
        return marshal.dumps(old) == marshal.dumps(new)
    except ValueError:
        return False


def _diff(old: Any, new: Any, path: tuple[Part, ...]) -> Iterator[KeyChange]:
    if old is new and isinstance(old, (dict, list)):
        return  # one section in both (an edit in place shares what it kept)
    if isinstance(old, (dict, list)) and _identical(old, new):
        return  # an unchanged section: nothing below it to walk
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            if key not in new:
                yield KeyChange((*path, key), "removed", old=value)
            else:
                yield from _diff(value, new[key], (*path, key))
        for key, value in new.items():
            if key not in old:
                yield KeyChange((*path, key), "added", new=value)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            if index >= len(new):
                yield KeyChange((*path, index), "removed", old=old[index])
            elif index >= len(old):
                yield KeyChange((*path, index), "added", new=new[index])
            else:
                yield from _diff(old[index], new[index], (*path, index))
    elif type(old) is not type(new) or old != new:
        if old is _MISSING:
            yield KeyChange(path, "added", new=new)
        else:
            yield KeyChange(path, "changed", old=old, new=new)


# Trailers naming the file whose history a file continues: a rename (the old
# file is gone) or a copy (``import STORE-FILE --as NEW``: the old one stays).
CONTINUES_FROM = ("Renamed-From", "Copied-From")


def renames_of(values: list[str] | tuple[str, ...] | Any) -> dict[str, str]:
    """new name -> old name from ``Vpa-Renamed-From: OLD -> NEW`` trailer values."""
    found: dict[str, str] = {}
    for value in values:
        old, arrow, new = value.partition(" -> ")
        if arrow and old.strip() and new.strip():
            found[new.strip()] = old.strip()
    return found


def rename_trailers(
    removed: dict[str, str], added: dict[str, str]
) -> list[str]:
    """``OLD -> NEW`` for each added file whose content is a removed file's.

    ``removed`` and ``added`` map file names to blob ids.
    """
    by_blob = {blob: name for name, blob in sorted(removed.items())}
    out = []
    for name, blob in sorted(added.items()):
        if blob in by_blob:
            out.append(f"{by_blob.pop(blob)} -> {name}")
    return out

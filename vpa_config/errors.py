"""One exception hierarchy for every failure a person is shown.

Each class carries the process exit code the CLI uses for it, so code that
fails only raises; ``cli.main`` turns the exception into one line on stderr and
that exit code. Library users catch :class:`VpaConfigError` or a subclass.

Exit codes (also in the README):

====  =====================================================================
0     success
1     refused: an invalid change, a conflict, nothing to restore
2     usage: bad arguments or options (click's own code)
3     internal error: a bug; the traceback goes to a log file
4     the store is locked by another process and the wait timed out
5     not found: no store, no such file, key, list position or revision
6     storage failure: disk full, read-only store, permission denied, or
      a damaged ref or object in the store's git repository
====  =====================================================================
"""

from __future__ import annotations

from vpa_config.records import FrozenRecord


class VpaConfigError(Exception):
    """Base for failures shown to a person without a traceback."""

    exit_code = 1


class RefusedError(VpaConfigError):
    """A change was refused; nothing was written."""

    exit_code = 1


class Problem(FrozenRecord):
    """One validation problem, located in the source text.

    ``line`` and ``column`` are 1-based and ``None`` when the location is not
    known (for example a key that is missing altogether).
    """

    _fields = ("file", "path", "message", "rule", "line", "column", "source", "at")
    __slots__ = _fields
    # ``at``: parts below ``path`` that place it better in the text (an
    # unexpected key's own name): used to find the line, not shown or compared.
    _compared = _shown = _fields[:-1]

    file: str
    path: tuple[str | int, ...]
    message: str
    rule: str
    line: int | None
    column: int | None
    source: str
    at: tuple[str | int, ...]

    def __init__(
        self,
        file: str,
        path: tuple[str | int, ...],
        message: str,
        rule: str = "",
        line: int | None = None,
        column: int | None = None,
        source: str = "schema",
        at: tuple[str | int, ...] = (),
    ) -> None:
        init = object.__setattr__
        init(self, "file", file)
        init(self, "path", path)
        init(self, "message", message)
        init(self, "rule", rule)
        init(self, "line", line)
        init(self, "column", column)
        init(self, "source", source)
        init(self, "at", at)

    @property
    def dotted(self) -> str:
        """The key path in dotted form, with literal dots escaped."""
        from vpa_config.keypath import format_dotted

        return format_dotted(self.path)

    @property
    def pointer(self) -> str:
        """The key path as a JSON Pointer."""
        from vpa_config.keypath import format_pointer

        return format_pointer(self.path)

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = self.dotted or "(document)"
        return f"{where}: {key}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, for ``--json`` output and events."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.dotted,
            "pointer": self.pointer,
            "rule": self.rule,
            "message": self.message,
            "source": self.source,
        }


class InvalidConfigError(RefusedError):
    """One or more candidate files do not validate; nothing was written."""

    def __init__(
        self, problems: list[Problem] | None = None, note: str = "Nothing was written."
    ) -> None:
        self.problems: list[Problem] = [] if problems is None else problems
        self.note = note
        super().__init__(str(self))

    def __repr__(self) -> str:
        name = type(self).__qualname__
        return f"{name}(problems={self.problems!r}, note={self.note!r})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        theirs: InvalidConfigError = other  # type: ignore[assignment]
        return (self.problems, self.note) == (theirs.problems, theirs.note)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        count = len(self.problems)
        if count == 1:
            return f"{self.problems[0]}. {self.note}"
        lines = [f"{count} problems. {self.note}"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


class ParseError(RefusedError):
    """A document could not be parsed (bad syntax, duplicate key, limits).

    ``path`` is the key path of the value at fault when there is one (a NaN,
    a duplicate key); ``()`` for a syntax error.
    """

    def __init__(
        self,
        file: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
        path: tuple[str | int, ...] = (),
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.detail = message
        where = file if line is None else f"{file}:{line}"
        if line is not None and column is not None:
            where += f":{column}"
        if path:
            from vpa_config.keypath import format_dotted

            where += f": {format_dotted(path)}"
        super().__init__(f"{where}: {message}")

    def as_problem(self) -> Problem:
        """This parse failure as a validation problem."""
        return Problem(
            file=self.file,
            path=self.path,
            message=self.detail,
            rule="syntax",
            line=self.line,
            column=self.column,
            source="parser",
        )


class ValueSyntaxError(ParseError):
    """A command line's VALUE is not valid YAML: a bad argument, as a
    malformed key path is (exit 2), not a refused change."""

    exit_code = 2


class UsageError(VpaConfigError):
    """A malformed argument: an actor, a ``--key`` spec (the CLI's usage error)."""

    exit_code = 2


class KeyPathError(RefusedError):
    """A key path is malformed, or cannot be applied to the document."""


class KeyPathSyntaxError(KeyPathError):
    """A key path that is malformed whatever the document (a usage error)."""

    exit_code = 2


class KeyPathNotFoundError(KeyPathError):
    """A key path that names nothing this document can hold (a name where a
    list needs a position): not found, like a missing key or position."""

    exit_code = 5


class UnsafePathError(RefusedError):
    """A file name escapes the store or names something that is not a file."""


class HandEditsError(RefusedError):
    """Uncommitted hand edits stand in the way of an operation."""


class ConflictError(RefusedError):
    """A file changed under a change that was built on what it held before."""


class NothingToDoError(RefusedError):
    """There is nothing to restore or undo."""


class SchemaError(RefusedError):
    """A schema is itself invalid, missing, or refers to what is not there."""


class SchemaNotFoundError(SchemaError):
    """A schema asked for by name or path does not exist (not found, like a file)."""

    exit_code = 5


class StoreLockedError(VpaConfigError):
    """The store lock is held by another process past the timeout."""

    exit_code = 4


class NotFoundError(VpaConfigError):
    """A store, file, key or revision that was asked for does not exist."""

    exit_code = 5


class StoreNotFoundError(NotFoundError):
    """No store at the given location."""


class RevisionNotFoundError(NotFoundError):
    """A revision name does not resolve."""


class StorageError(VpaConfigError):
    """The disk refused: full, read-only, or permission denied."""

    exit_code = 6


class DamagedStoreError(StorageError):
    """A ref or object of the store's git repository cannot be read."""


# Raised by dulwich for a ref or object it cannot parse; the built-in types
# only count when dulwich raised them (see damage_of).
_DULWICH_DAMAGE = (
    "ObjectFormatException", "ChecksumMismatch", "FileFormatException",
    "NotCommitError", "NotTreeError", "NotBlobError", "NotTagError",
)
_BUILTIN_DAMAGE = (ValueError, AssertionError, KeyError)


def damage_of(exc: BaseException, what: str = "") -> DamagedStoreError | None:
    """``exc`` as a :class:`DamagedStoreError`, when reading the repository
    raised it because a ref or object is damaged; None for anything else.

    ``what`` names what was being read (``commit 3f52be8...``, say).
    """
    import zlib

    if isinstance(exc, DamagedStoreError):
        return exc
    kind = type(exc).__name__
    damaged = (
        (kind in _DULWICH_DAMAGE and type(exc).__module__.startswith("dulwich"))
        or isinstance(exc, zlib.error)
        or (isinstance(exc, _BUILTIN_DAMAGE) and _raised_in_dulwich(exc))
    )
    if not damaged:
        return None
    detail = str(exc).strip("'\"") or kind
    where = f"{what}: " if what else ""
    return DamagedStoreError(
        f"the store's git repository is damaged ({where}{detail}); "
        "`git fsck` in the store lists what is damaged"
    )


def _raised_in_dulwich(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is dulwich's."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return "/dulwich/" in tb.tb_frame.f_code.co_filename.replace("\\", "/")

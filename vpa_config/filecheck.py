"""Any files anywhere against one schema: what ``validate --schema`` runs.

Kept apart from the store's judgement so that checking files outside a store
imports neither the settings models (pydantic) nor the store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from vpa_config import documents
from vpa_config.errors import ParseError, Problem, SchemaNotFoundError
from vpa_config.records import FrozenRecord
from vpa_config.validation import SchemaRegistry, SchemaSource, validate

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any


class FileVerdict(FrozenRecord):
    """One file's verdict: the schema that applied and every problem."""

    _fields = ("file", "schema", "problems")
    __slots__ = _fields

    file: str
    schema: str | None
    problems: tuple[Problem, ...]

    def __init__(
        self, file: str, schema: str | None, problems: tuple[Problem, ...] = ()
    ) -> None:
        init = object.__setattr__
        init(self, "file", file)
        init(self, "schema", schema)
        init(self, "problems", problems)

    @property
    def valid(self) -> bool:
        """Whether the file has no problem."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "file": self.file,
            "schema": self.schema,
            "valid": self.valid,
            "problems": [problem.to_dict() for problem in self.problems],
        }




def file_verdicts(paths: Sequence[Path], schema: str) -> list[FileVerdict]:
    """Verdicts of files anywhere against ``schema`` (a path, or a shipped name).

    A schema's ``$ref`` may reach its neighbours on disk (``file:`` only),
    never the network. A bad schema raises :class:`SchemaError` up front.
    """
    if not schema.strip():
        from vpa_config.errors import UsageError

        raise UsageError("--schema is empty; expected a schema file or a shipped name")
    registry = SchemaRegistry(local_files=True)
    schema_path = Path(schema)
    if schema_path.is_dir():
        raise SchemaNotFoundError(f"schema {schema} is a folder; expected a schema file")
    if schema_path.is_file():
        source = registry.add_file(schema_path)
    else:
        source = _named_schema(registry, schema)
    registry.ensure_checked(source)
    return [_file_verdict(path, source, registry) for path in paths]


def _named_schema(registry: SchemaRegistry, schema: str) -> SchemaSource:
    """A known schema by name; a name that is a path names a file that is not there."""
    try:
        return registry.get(schema)
    except SchemaNotFoundError:
        if _looks_like_path(schema):
            raise SchemaNotFoundError(f"schema file {schema} not found") from None
        shipped = ", ".join(name for name, _origin in registry.names())
        raise SchemaNotFoundError(
            f"schema {schema!r} is no file ({Path(schema).absolute()} does not "
            f"exist) and no shipped schema's name; expected a schema file's path "
            f"or one of: {shipped}"
        ) from None


# The rule of the problem of a FILE that does not exist (``validate`` exits 5).
MISSING_RULE = "missing"


def _looks_like_path(name: str) -> bool:
    """``any/x.json``, ``./x.json``, ``~/x.json``: a file meant, not a schema name."""
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in name for sep in separators) or name.startswith((".", "~"))


def _file_verdict(path: Path, source: SchemaSource, registry: SchemaRegistry) -> FileVerdict:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > documents.MAX_BYTES:
            raise ParseError(
                name, f"file is {size} bytes; the limit is {documents.MAX_BYTES} bytes"
            )
        text = documents.decode(name, path.read_bytes())
        data = documents.parse(name, text)
    except ParseError as exc:
        return FileVerdict(name, source.label, (exc.as_problem(),))
    except FileNotFoundError:
        problem = Problem(name, (), "no such file", MISSING_RULE)
        return FileVerdict(name, source.label, (problem,))
    except OSError as exc:
        problem = Problem(name, (), f"cannot read the file: {exc.strerror}", "read")
        return FileVerdict(name, source.label, (problem,))
    problems = validate(name, data, source, registry, text)
    return FileVerdict(name, source.label, tuple(problems))

"""Where a refused document is at fault: the key path of the value a reader refused.

A reader stops at the first value vpa-config cannot store (a NaN, an
infinity, an integer too long to read, a duplicate key) and its error names
no key. These functions run only once a document has been refused, to name
the key path of that value; the line comes from :func:`documents.locate` or
the reader's own mark.

* JSON and TOML are read again with hooks that put a :class:`Unreadable`
  marker where the value was, and the first marker in document order is it.
* YAML is composed (nodes, not values: no number is read, no alias
  expanded) and the node that starts where the reader stopped is found.
* A TOML syntax error is worded again from the line it points at
  (:func:`toml_syntax`): tomllib names what its parser met there, which is
  not always what is wrong.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

from vpa_config.documents import NOT_FINITE, finite_float

Path = tuple["str | int", ...]


class Unreadable:
    """Stands where a reader met a value it refuses; says why."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def first_unreadable(data: Any) -> tuple[Path, str] | None:
    """The key path and message of the first :class:`Unreadable`, in document order."""
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, Unreadable):
            return path, node.message
        if isinstance(node, dict):
            items = [(path + (key,), value) for key, value in node.items()]
        elif isinstance(node, list):
            items = [(path + (index,), value) for index, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(items))
    return None


def _float(text: str) -> Any:
    number, problem = finite_float(text)
    return Unreadable(problem) if problem is not None else number


def _int(text: str) -> Any:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (CVE-2020-10735)
        return Unreadable(f"integer of {len(text)} digits is too long to read")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            value = Unreadable(f"duplicate key {key!r}; each key may appear once")
        mapping[key] = value
    return mapping


def json_fault(text: str) -> tuple[Path, str] | None:
    """The first value of a JSON text its reader refuses, if the text reads."""
    try:
        data = json.loads(
            text, object_pairs_hook=_pairs, parse_float=_float, parse_int=_int,
            parse_constant=lambda word: Unreadable(f"number {word} {NOT_FINITE}"),
        )
    except (ValueError, RecursionError):
        return None
    return first_unreadable(data)


def toml_fault(text: str) -> tuple[Path, str] | None:
    """The first number of a TOML text that cannot be stored, if the text reads."""
    import tomllib

    try:
        data = tomllib.loads(text, parse_float=_float)
    except (ValueError, RecursionError):
        return None
    return first_unreadable(data)


_TOML_AT = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")
# What tomllib says for an unclosed header: it reads the header's name and checks
# it against the tables so far before it looks for the closing bracket.
_HEADER_ERRORS = ("Cannot declare", "Cannot overwrite", "Cannot mutate", "Expected ']")
_QUOTED = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'")
_STRING_OPENS = re.compile(r"#[^\n]*|\"\"\"|'''|\"|'")
_STRING_ENDS = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
    '"""': re.compile(r'(?:\\.|[^\\])*?"""', re.S),
    "'''": re.compile(r".*?'''", re.S),
}
_VALUES = "a string (in quotes), number, true or false, date, array or inline table"


def toml_syntax(text: str, error: str) -> tuple[str, int | None, int | None]:
    """A message, line and column for tomllib's syntax ``error`` in ``text``.

    The line the error points at is read again to say what was expected there:
    ``[cpu`` below an earlier ``[cpu]`` reads "Cannot declare ('cpu',) twice"
    to tomllib, and "expected ']' to close the table header '[cpu'" here.
    """
    at = _TOML_AT.search(error)
    if at is None:
        return error, None, None
    said = error[: at.start()]
    if at.group(1) is None:
        return _toml_at_end(text, said)
    line, column = int(at.group(1)), int(at.group(2))
    message, column = _toml_reason(said, _line_of(text, line), column)
    return message, line, column


def _toml_at_end(text: str, said: str) -> tuple[str, int | None, int | None]:
    """An error tomllib places at the end of the document, placed where it began."""
    if said == "Unterminated string" or said.startswith('Expected "'):
        opened = _unclosed_string(text)
        if opened is not None:
            line, column, quote = opened
            end = "the line" if len(quote) == 1 else "the file"
            message = f"unclosed string; expected {quote!r} before the end of {end}"
            return message, line, column
    line = max(1, len(text.splitlines()))
    source = _line_of(text, line)
    message, column = _toml_reason(said, source, len(source) + 1)
    return message, line, column


def _toml_reason(said: str, source: str, column: int) -> tuple[str, int]:
    code = source[: len(_masked(source))]
    header = code.strip()
    if header.startswith("[") and said.startswith(_HEADER_ERRORS):
        return _toml_header_reason(said, header, _masked(source)), column
    if said == "Cannot overwrite a value":
        key = code.split("=", 1)[0].strip()
        return _toml_key_reason(key), len(source) - len(source.lstrip()) + 1
    if said in ("Illegal character '\\n'", "Found invalid character '\\n'"):
        quote = '"' if said.startswith("Illegal") else "'"
        return f"unclosed string; expected {quote!r} before the end of the line", column
    if said == "Invalid value":
        return _toml_bad_value(source, column), column
    return said, column


def _toml_header_reason(said: str, header: str, masked: str) -> str:
    closer = "]]" if header.startswith("[[") else "]"
    if closer not in masked:
        return f"expected {closer!r} to close the table header {header!r}"
    if said.startswith("Cannot declare"):
        return f"table {header!r} is defined twice; a table may be defined once"
    if said == "Cannot overwrite a value":
        return f"table {header!r} names a key that already holds a value"
    return said


def _toml_key_reason(key: str) -> str:
    if "." in _masked(key):
        return f"key {key!r} is set twice, or goes below a key that holds a value"
    return f"duplicate key {key!r}; each key may appear once"


def _toml_bad_value(source: str, column: int) -> str:
    if _masked(source[column - 1 :]).strip():
        return f"invalid value; expected {_VALUES}"
    return f"expected a value after {source[: column - 1].strip()!r}"


def _masked(source: str) -> str:
    """``source`` with quoted text blanked out and its comment cut off."""
    masked = _QUOTED.sub(lambda match: "x" * len(match.group()), source)
    cut = masked.find("#")
    return masked if cut < 0 else masked[:cut]


def _line_of(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _unclosed_string(text: str) -> tuple[int, int, str] | None:
    """The line, column and quote of the first string of ``text`` never closed."""
    pos = 0
    while found := _STRING_OPENS.search(text, pos):
        token, pos = found.group(), found.end()
        if token.startswith("#"):
            continue
        closed = _STRING_ENDS[token].match(text, pos)
        if closed is None:
            start = found.start()
            line = text.count("\n", 0, start) + 1
            return line, start - text.rfind("\n", 0, start), token
        pos = closed.end()
    return None


def yaml_path_at(text: str, line: int, column: int) -> Path:
    """The key path of the YAML node that starts at 0-based ``line``, ``column``.

    A mapping key found there names its own path (a duplicate key); ``()``
    when no node starts there or the text does not compose.
    """
    from vpa_config.yamlimport import import_yaml

    yaml = import_yaml()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except (yaml.YAMLError, RecursionError):
        return ()
    spot = (line, column)
    seen: set[int] = set()
    stack: list[tuple[Path, Any]] = [((), root)] if root is not None else []
    while stack:
        path, node = stack.pop()
        if id(node) in seen:
            continue  # an alias: its node was looked at where it is anchored
        seen.add(id(node))
        if _starts_at(node, spot):
            return path
        children: list[tuple[Path, Any]] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                below = path + (_key_part(key),)
                if _starts_at(key, spot):
                    return below
                children.append((below, value))
        elif isinstance(node, yaml.SequenceNode):
            children = [(path + (i,), item) for i, item in enumerate(node.value)]
        stack.extend(reversed(children))  # the first child is looked at first
    return ()


def _starts_at(node: Any, spot: tuple[int, int]) -> bool:
    mark = node.start_mark
    return (mark.line, mark.column) == spot


def _key_part(node: Any) -> str:
    value = node.value
    return value if isinstance(value, str) else "?"

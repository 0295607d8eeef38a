"""Changing one JSON value by editing its text in place.

A JSON file written again from its data takes one layout for all of it: a
list kept on one line (``"ports": [80, 443]``) in an indented file would come
back spread over lines, and a set of one number would show in a diff as a
rewrite of every such list. Here the text of the value at the key path is
found with the standard library's own scanner (``raw_decode`` skips a whole
value in C), and only that text changes:

* a value the document has is replaced, a container in the layout the old
  value had (one line, or one item a line);
* a new key, or an item appended at the end of a list, goes after the last
  entry, with the same space before it as that entry has;
* a removed entry goes with the comma and space that join it to the others.

The caller checks the result reads as the document it expects, type for
type; anything this cannot do (an empty container on several lines, a
repeated key) returns None and the caller writes the document again whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence

from vpa_config.keypath import Part

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")

# An entry of an object or array: where it starts (its key, or the value of
# an item), its key (None in an array), and where its value starts and ends.
_Entry = tuple[int, "str | None", int, int]


def edit(
    text: str, path: Sequence[Part], value: Any, remove: bool, indent: str | None
) -> str | None:
    """``text`` with the entry at ``path`` set to ``value`` (or removed), or None."""
    if not path:
        return None
    try:
        if remove:
            return _remove(text, path)
        replaced = replace_value(text, path, value, indent)
        return replaced if replaced is not None else _insert(text, path, value, indent)
    except (ValueError, IndexError):  # text this scanner does not follow
        return None


def replace_value(
    text: str, path: Sequence[Part], value: Any, indent: str | None
) -> str | None:
    """``text`` with the value at ``path`` written as ``value``, or None.

    A container that was on several lines is written on several lines too,
    one ``indent`` a level, under the line it starts on; one that was on one
    line stays on one line.
    """
    span = _span(text, path)
    if span is None:
        return None
    start, end = span
    block = isinstance(value, (dict, list)) and "\n" in text[start:end]
    if block and not indent:
        return None
    rendered = _render(value, indent if block else None, _margin(text, start))
    return None if rendered is None else text[:start] + rendered + text[end:]


def same_document(a: Any, b: Any) -> bool:
    """Whether two documents are equal, type for type (1, 1.0 and true differ)."""
    return _typed(a) == _typed(b)


def _insert(
    text: str, path: Sequence[Part], value: Any, indent: str | None
) -> str | None:
    """A new last key of an object, or an item appended to an array.

    Keys on the way that the document lacks are made, as the set makes them:
    the first one is the new key, holding the rest as nested objects.
    """
    container = _span(text, path[:-1])
    while container is None and len(path) > 1:
        *path, last = path  # type: ignore[assignment]
        if not isinstance(last, str):
            return None
        value = {last: value}
        container = _span(text, path[:-1])
    if container is None:
        return None
    start, end = container
    entries = list(_entries(text, start))
    last = path[-1]
    if text[start] == "[" and last != len(entries):
        return None
    if text[start] == "{" and any(key == last for _at, key, _v, _e in entries):
        return None
    key = "" if text[start] == "[" else json.dumps(last, ensure_ascii=False) + ": "
    if not entries:
        if "\n" in text[start:end]:
            return None  # an empty block: its layout is the whole writer's
        rendered = _render(value, None, "")
        if rendered is None:
            return None
        return text[: start + 1] + key + rendered + text[end - 1 :]
    before = _space_before(text, start, entries)
    if "\n" not in before and not before and len(entries) == 1:
        before = " "  # {"a": 1} has no comma to copy the space after from
    # A new container is written as the last entry is: on one line or many.
    _at, _key, last_start, last_end = entries[-1]
    block = "\n" in before and "\n" in text[last_start:last_end]
    if block and isinstance(value, (dict, list)) and not indent:
        return None
    margin = before.rpartition("\n")[2]
    rendered = _render(value, indent if block else None, margin)
    if rendered is None:
        return None
    after = entries[-1][3]
    return f"{text[:after]},{before}{key}{rendered}{text[after:]}"


def _remove(text: str, path: Sequence[Part]) -> str | None:
    container = _span(text, path[:-1])
    if container is None:
        return None
    start, end = container
    entries = list(_entries(text, start))
    found = [
        index for index, (_at, key, _v, _e) in enumerate(entries)
        if (key == path[-1] if text[start] == "{" else index == path[-1])
    ]
    if len(found) != 1:
        return None
    index = found[0]
    if len(entries) == 1:
        return text[: start + 1] + text[end - 1 :]
    if index + 1 < len(entries):  # up to the next entry, its comma included
        return text[: entries[index][0]] + text[entries[index + 1][0] :]
    return text[: entries[index - 1][3]] + text[entries[index][3] :]


def _space_before(text: str, start: int, entries: list[_Entry]) -> str:
    """The space before the last entry: after the comma before it, or the bracket."""
    at = entries[-1][0]
    previous = entries[-2][3] if len(entries) > 1 else start + 1
    between = text[previous:at]
    return between.split(",", 1)[1] if "," in between else between


def _render(value: Any, indent: str | None, margin: str) -> str | None:
    try:
        rendered = json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent)
    except ValueError:
        return None
    return rendered.replace("\n", "\n" + margin) if indent else rendered


def _margin(text: str, at: int) -> str:
    """The space that starts the line ``at`` is on."""
    line_start = text.rfind("\n", 0, at) + 1
    return text[line_start : _skip(text, line_start)]


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return ("o", [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("a", [_typed(item) for item in value])
    kind = next((kind for kind in _SCALARS if isinstance(value, kind)), None)
    return (kind.__name__ if kind else repr(type(value)), value)


_SCALARS = (bool, int, float, str)  # bool first: True is an int too


def _span(text: str, path: Sequence[Part]) -> tuple[int, int] | None:
    """(start, end) of the text of the value at ``path``."""
    at = _skip(text, 0)
    try:
        for part in path:
            found = _child(text, at, part)
            if found is None:
                return None
            at = found
        _value, end = _DECODER.raw_decode(text, at)
    except (ValueError, IndexError):
        return None
    return at, end


def _child(text: str, at: int, part: Part) -> int | None:
    """Where the value of ``part`` starts, in the container that starts at ``at``."""
    opener = text[at : at + 1]
    if opener == "{" and isinstance(part, str):
        starts = [start for _at, key, start, _end in _entries(text, at) if key == part]
        return starts[0] if len(starts) == 1 else None  # a repeated key: not ours
    if opener == "[" and isinstance(part, int) and not isinstance(part, bool):
        for index, (_at, _key, start, _end) in enumerate(_entries(text, at)):
            if index == part:
                return start
    return None


def _entries(text: str, at: int) -> Iterator[_Entry]:
    """The entries of the object or array whose bracket is at ``at``."""
    is_object = text[at] == "{"
    closer = "}" if is_object else "]"
    at = _skip(text, at + 1)
    if text[at] == closer:
        return
    while True:
        entry = at
        key = None
        if is_object:
            if text[at] != '"':
                raise ValueError("expected a key")
            key, at = json.decoder.scanstring(text, at + 1)
            at = _skip(text, at)
            if text[at] != ":":
                raise ValueError("expected ':'")
            at = _skip(text, at + 1)
        _value, end = _DECODER.raw_decode(text, at)
        yield entry, key, at, end
        at = _skip(text, end)
        if text[at] == closer:
            return
        if text[at] != ",":
            raise ValueError("expected ','")
        at = _skip(text, at + 1)


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    return match.end() if match else at

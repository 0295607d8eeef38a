"""Setting one JSON value by editing its text in place.

A JSON file written again from its data takes one layout for all of it: a
list kept on one line (``"ports": [80, 443]``) in an indented file would come
back spread over lines, and a set of one number would show in a diff as a
rewrite of every such list. Here the text of the value at the key path is
found with the standard library's own scanner (``raw_decode`` skips a whole
value in C), and only that span is replaced: a scalar, or a container in the
layout the old value had (one line, or one item a line). The caller checks
the result reads as the document it expects, type for type; anything else
(a new key, a removal) returns None and the caller writes the document again
whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from vpa_config.keypath import Part

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


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
    try:
        rendered = json.dumps(
            value, ensure_ascii=False, allow_nan=False, indent=indent if block else None
        )
    except ValueError:
        return None
    if block:
        line_start = text.rfind("\n", 0, start) + 1
        margin = _SPACE.match(text, line_start).group()  # type: ignore[union-attr]
        rendered = rendered.replace("\n", "\n" + margin)
    return text[:start] + rendered + text[end:]


def same_document(a: Any, b: Any) -> bool:
    """Whether two documents are equal, type for type (1, 1.0 and true differ)."""
    return _typed(a) == _typed(b)


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
            opener = text[at : at + 1]
            if opener == "{" and isinstance(part, str):
                found = _member(text, at + 1, part)
            elif opener == "[" and isinstance(part, int) and not isinstance(part, bool):
                found = _item(text, at + 1, part)
            else:
                return None
            if found is None:
                return None
            at = found
        _value, end = _DECODER.raw_decode(text, at)
    except (ValueError, IndexError):
        return None
    return at, end


def _member(text: str, at: int, key: str) -> int | None:
    """Where the value of ``key`` starts, in the object whose ``{`` is before ``at``."""
    at = _skip(text, at)
    found = None
    while text[at] == '"':
        name, at = json.decoder.scanstring(text, at + 1)
        at = _skip(text, at)
        if text[at] != ":":
            return None
        at = _skip(text, at + 1)
        if name == key:
            if found is not None:
                return None  # a repeated key: not ours to pick
            found = at
        at = _after_value(text, at)
        if text[at] != ",":
            break
        at = _skip(text, at + 1)
    return found if text[at] == "}" else None


def _item(text: str, at: int, position: int) -> int | None:
    """Where item ``position`` starts, in the array whose ``[`` is before ``at``."""
    at = _skip(text, at)
    if text[at] == "]":
        return None
    for _index in range(position):
        at = _after_value(text, at)
        if text[at] != ",":
            return None
        at = _skip(text, at + 1)
    return at


def _after_value(text: str, at: int) -> int:
    _value, end = _DECODER.raw_decode(text, at)
    return _skip(text, end)


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    return match.end() if match else at

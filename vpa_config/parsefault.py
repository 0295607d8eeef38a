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
"""

from __future__ import annotations

import json
import math

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

from vpa_config.documents import NOT_FINITE

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
    number = float(text)
    if math.isnan(number) or text.lstrip("+-").lower().startswith("inf"):
        return Unreadable(f"number {text} {NOT_FINITE}")
    if math.isinf(number):
        return Unreadable(f"number {text} is beyond the range of a float")
    return number


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

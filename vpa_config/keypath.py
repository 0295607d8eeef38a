"""Key paths: ``assistant.voice``, ``plugins.0.name`` or ``/plugins/0/name``.

A dotted path splits on ``.``; a key that itself contains a dot is written with
the dot escaped as ``\\.`` (``labels.app\\.kubernetes\\.io/name``), and a
backslash as ``\\\\``. A path that starts with ``/`` is a JSON Pointer (RFC
6901). Parts made only of digits address list items when the container is a
list, and mapping keys otherwise, so both forms stay unambiguous against the
document they are applied to.
"""

from __future__ import annotations

import re

from collections.abc import Sequence

from vpa_config.errors import KeyPathNotFoundError, KeyPathSyntaxError

Part = str | int
Path = tuple[Part, ...]


def parse_key_path(text: str) -> tuple[str, ...]:
    """Split a dotted path or JSON Pointer into its raw string parts."""
    if text.startswith("/"):
        return _parse_pointer(text)
    if text == "":
        raise KeyPathSyntaxError(
            "empty key path; expected something like assistant.voice"
        )
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped not in (".", "\\"):
                raise KeyPathSyntaxError(
                    f"key path '{text}': a backslash must be followed by '.' or '\\'"
                )
            current.append(escaped)
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if any(part == "" for part in parts):
        raise KeyPathSyntaxError(f"key path '{text}' has an empty part")
    return tuple(parts)


def _parse_pointer(text: str) -> tuple[str, ...]:
    parts = text[1:].split("/")
    bad = re.search(r"~(?![01])", text)
    if bad:
        raise KeyPathSyntaxError(
            f"JSON Pointer '{text}': '~' at position {bad.start() + 1} must be "
            "followed by 0 (for ~) or 1 (for /)"
        )
    if "" in parts:
        # A key of no characters: a dotted path cannot name one either.
        raise KeyPathSyntaxError(
            f"JSON Pointer '{text}' has an empty part; expected a key or a list "
            "position after each '/', such as /llm/temperature"
        )
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in parts)


def format_dotted(path: Sequence[Part]) -> str:
    """The dotted form of a path, escaping dots and backslashes in keys."""
    return ".".join(
        str(part).replace("\\", "\\\\").replace(".", "\\.") for part in path
    )


def format_pointer(path: Sequence[Part]) -> str:
    """The JSON Pointer form of a path."""
    return "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in path
    )


def resolve(document: object, parts: Sequence[Part], file: str = "") -> Path:
    """Type each part against the document: list positions become ints.

    Parts below the deepest existing container are kept as strings (mapping
    keys), which is what ``set`` creates for them. ``file`` names the document
    in the error.

    Raises:
        KeyPathNotFoundError: a part that is not a position number addresses a
            list (``plugins.x`` when ``plugins`` is a list).
    """
    typed: list[Part] = []
    node: object = document
    for part in parts:
        if isinstance(node, list):
            index = _position(part)
            if index is None:
                raise not_a_position(file, parts, typed, len(node), part)
            typed.append(index)
            node = node[index] if index < len(node) else None
        else:
            typed.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(typed)


def _position(part: Part) -> int | None:
    """A list position from a part (``"2"`` or ``2``), or None if it is not one."""
    if isinstance(part, int) and not isinstance(part, bool):
        return part if part >= 0 else None
    if isinstance(part, str) and part.isascii() and part.isdigit():
        return int(part)
    return None


def not_a_position(
    file: str, path: Sequence[Part], parent: Sequence[Part], size: int, part: Part
) -> KeyPathNotFoundError:
    """The error for a part that is not a position into the list at ``parent``."""
    where = format_dotted(parent) or "the document"
    items = f"{size} item{'' if size == 1 else 's'}"
    return KeyPathNotFoundError(
        f"{file + ': ' if file else ''}{format_dotted(path)}: not found; "
        f"{where} is a list ({items}), so expected a position number there, "
        f"got {str(part)!r}"
    )


_MISSING = object()


def lookup(document: object, path: Sequence[Part]) -> object:
    """The value at ``path``, or raise ``KeyError`` naming the missing part."""
    node = document
    for depth, part in enumerate(path):
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(format_dotted(path[: depth + 1]))
    return node


def has_path(document: object, path: Sequence[Part]) -> bool:
    """Whether ``path`` exists in the document."""
    try:
        lookup(document, path)
    except KeyError:
        return False
    return True

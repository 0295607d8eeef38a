"""What a library caller may set: JSON's values, and nothing a format cannot hold.

:func:`plain_value` takes a value given to ``set`` (by the library or by the
CLI, whose VALUE text has been parsed by then) and returns it made of the
plain types every format writes the same way: ``None``, ``bool``, ``int``,
finite ``float``, ``str``, ``list`` (from a list or a tuple) and ``dict`` with
``str`` keys. Subclasses of those (an ``IntEnum``, an ``OrderedDict``) become
the plain type, which YAML's dumper would otherwise refuse or tag
(``!!omap``). Anything else is the change's one problem, located by the key
path inside the value, before anything is written.

:func:`key_parts` is the key path a library call names: a dotted path or JSON
Pointer (:mod:`vpa_config.keypath`), or a list or tuple of its parts.
"""

from __future__ import annotations

import math

from vpa_config.keypath import Part, parse_key_path

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# As deep as a parsed document may nest (documents.MAX_DEPTH).
MAX_DEPTH = 64
EXPECTED = "expected a string, number, boolean, null, list or mapping with string keys"
# What to give instead, for the types people try most.
_HINTS = {
    "set": "a set has no order: give a list",
    "frozenset": "a set has no order: give a list",
    "bytes": "bytes are not text: decode them to a string",
    "bytearray": "bytes are not text: decode them to a string",
    "datetime": "give the time as an ISO 8601 string",
    "date": "give the date as an ISO 8601 string",
    "Decimal": "give a float or a string",
    "complex": "give two numbers",
}


def key_parts(key: object) -> tuple[str, ...]:
    """The parts of a key path given as text or as a list or tuple of parts.

    Parts given as a sequence are taken as they are (no escaping): strings
    for mapping keys, and strings of digits or non-negative ints for list
    positions (an int is its digits, as in a dotted path: ``("q", 0)`` is
    ``q.0``, a position in a list and a key otherwise).

    Raises:
        KeyPathSyntaxError: not text, not a sequence of such parts, or empty.
    """
    from vpa_config.errors import KeyPathSyntaxError

    if isinstance(key, str):
        return key_parts(parse_key_path(key)) if not key.isascii() else (
            parse_key_path(key)
        )
    if not isinstance(key, list | tuple):
        raise KeyPathSyntaxError(
            f"a key path of type {type(key).__name__}; expected a dotted path "
            "such as llm.temperature, or a list of its parts"
        )
    if not key:
        raise KeyPathSyntaxError(
            "empty key path; expected something like assistant.voice"
        )
    parts: list[str] = []
    for part in key:
        if isinstance(part, str) and part:
            parts.append(str.__str__(part))
        elif isinstance(part, int) and not isinstance(part, bool) and part >= 0:
            parts.append(str(int(part)))
        else:
            raise KeyPathSyntaxError(
                f"key path {list(key)!r}: part {part!r} is not a key (a non-empty "
                "string) or a list position (an int of 0 or more)"
            )
    for part in parts:
        if not part.isascii():
            try:
                part.encode("utf-8")
            except UnicodeEncodeError:
                raise KeyPathSyntaxError(
                    f"key {part!r} is not valid UTF-8 text (it holds a byte that "
                    "was not UTF-8); expected text"
                ) from None
    return tuple(parts)


def plain_value(file: str, path: Sequence[Part], value: Any) -> Any:
    """``value`` made of plain JSON types, or refuse it.

    Raises:
        InvalidConfigError: one problem, at the key path (``path`` and the
            keys inside ``value``) of what no format can hold.
    """
    return _plain(file, tuple(path), value, 0, set())


def _plain(
    file: str, path: tuple[Part, ...], value: Any, depth: int, seen: set[int]
) -> Any:
    kind = type(value)
    if kind is str and not value.isascii():
        _refuse_unencodable(file, path, value)
    if value is None or kind is bool or kind is str or kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            from vpa_config.documents import NOT_FINITE  # the CLI's words for VALUE

            _refuse(file, path, f"{value} {NOT_FINITE}")
        return value
    if isinstance(value, dict | list | tuple):
        return _container(file, path, value, depth, seen)
    return _scalar(file, path, value)


def _scalar(file: str, path: tuple[Part, ...], value: Any) -> Any:
    """A subclass of a plain scalar type as that type, or refuse the value."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        value = str.__str__(value)
        if not value.isascii():
            _refuse_unencodable(file, path, value)
        return value
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return _plain(file, path, float.__float__(value), 0, set())
    name = type(value).__name__
    hint = _HINTS.get(name)
    _refuse(
        file, path,
        f"a value of type {name} cannot be stored; {EXPECTED}"
        + (f" ({hint})" if hint else ""),
    )


def _refuse_unencodable(
    file: str, path: tuple[Part, ...], value: str, what: str = "the value"
) -> None:
    """Refuse text no file can hold: a lone surrogate (undecodable bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        _refuse(
            file, path,
            f"{what} is not valid Unicode text (a lone surrogate, "
            f"{value[exc.start]!r}, at character {exc.start}: bytes that were "
            "not UTF-8); expected text",
        )


def _container(
    file: str, path: tuple[Part, ...], value: Any, depth: int, seen: set[int]
) -> Any:
    if depth >= MAX_DEPTH:
        _refuse(file, path, f"nested deeper than {MAX_DEPTH} levels; refused")
    if id(value) in seen:
        _refuse(file, path, f"the value contains itself; {EXPECTED}")
    seen.add(id(value))
    try:
        if isinstance(value, dict):
            out: Any = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    _refuse(
                        file, path,
                        f"mapping key {_shown(key)} (of type {type(key).__name__}) is "
                        "not a string; expected a mapping with string keys",
                    )
                key = str.__str__(key)
                if not key.isascii():
                    _refuse_unencodable(file, path, key, f"mapping key {key!r}")
                out[key] = _plain(file, (*path, key), item, depth + 1, seen)
            return out
        return [
            _plain(file, (*path, index), item, depth + 1, seen)
            for index, item in enumerate(value)
        ]
    finally:
        seen.discard(id(value))


def _shown(key: object) -> str:
    try:
        text = repr(key)
    except Exception:  # a key whose repr fails is still named
        return f"<{type(key).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse(file: str, path: tuple[Part, ...], message: str) -> None:
    from vpa_config.errors import InvalidConfigError, Problem

    raise InvalidConfigError([Problem(file, path, message, "value")])


def text_argument(what: str, value: object) -> str:
    """``value`` if it is text a commit can hold, else UsageError naming ``what``.

    An actor, a reason, a revision name: a number or None given for one, or a
    string with a lone surrogate (bytes that were not UTF-8, as the command
    line passes them), is refused here rather than deep in a commit.
    """
    from vpa_config.errors import UsageError

    if not isinstance(value, str):
        raise UsageError(f"{what} must be text; got {type(value).__name__} {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{what} {value!r} is not valid UTF-8 text (character {exc.start} "
            "stands for a byte that was not UTF-8)"
        ) from None
    return value

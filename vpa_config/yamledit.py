"""Setting one YAML scalar by editing its text in place.

The common change (``set FILE KEY VALUE`` on a key that already holds a
one-line plain scalar) needs no round-trip load and dump: libyaml's composer
gives the value's exact place in the text, the new value is written there and
nothing else of the file changes, comments and layout included. The result
must read as the old document with only that value changed, type for type
(see :func:`_edited_document` for how that is known without parsing it
again); anything else (a new key, a quoted or multi-line scalar, an anchor, a
value whose plain form would read differently) returns None and the caller
edits round trip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from vpa_config.keypath import Part

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
# Text that is a plain string in YAML 1.2 and in 1.1 alike (no bool, null,
# number or date look-alikes): starts with a letter, no indicator characters.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./@+-]*(?: [A-Za-z0-9_./@+-]+)*")
_YAML11_WORDS = {
    "y",
    "n",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "false",
    "null",
    "nan",
    "inf",
}


def replace_scalar(
    name: str, text: str, path: Sequence[Part], value: Any
) -> str | None:
    """``text`` with the scalar at ``path`` set to ``value``, or None (see above)."""
    rendered = render(value)
    if rendered is None or not path:
        return None
    key = (name, text, tuple(path))
    place = _places.get(key) or _place(text, path)
    if place is None:
        return None
    start, end = place
    edited = (
        text[:start]
        + rendered
        + _keep_comment_column(text, end, len(rendered) - (end - start))
    )
    if not _checked(name, text, edited, path, rendered, value):
        return None
    _remember_place((name, edited, key[2]), (start, start + len(rendered)))
    return edited


# Where the last edits left their value: (file, edited text, path) -> (start,
# end). The next change's text is usually this one's result, and a run of
# sets of one key then finds its place without composing the text again; the
# result is checked by _same_but all the same.
_PlaceKey = tuple[str, str, tuple[Part, ...]]
_places: dict[_PlaceKey, tuple[int, int]] = {}
_PLACES_MAX = 16


def _remember_place(key: _PlaceKey, place: tuple[int, int]) -> None:
    while len(_places) >= _PLACES_MAX:
        try:
            del _places[next(iter(_places))]
        except (KeyError, StopIteration, RuntimeError):
            break  # another thread evicted first
    _places[key] = place


def _place(text: str, path: Sequence[Part]) -> tuple[int, int] | None:
    """(start, end) of the one-line plain scalar at ``path``, found by composing."""
    node = _compose(text)
    if node is None:
        return None
    target = _find(node, path)
    if target is None:
        return None
    start, end = target.start_mark.index, target.end_mark.index
    if text[start:end] != target.value:
        return None
    return start, end


def _keep_comment_column(text: str, end: int, grown: int) -> str:
    """The rest of the text, a comment on the value's line kept in its column."""
    rest = text[end:]
    match = re.match(r"( +)#", rest)
    if not match or grown == 0:
        return rest
    spaces = max(1, len(match.group(1)) - grown)
    return " " * spaces + rest[len(match.group(1)) :]


def render(value: Any) -> str | None:
    """The plain YAML text of a scalar, or None when it has no safe plain form."""
    if value is None:
        return None  # the round trip writes an empty value; keep its form
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python converts (or YAML reads)
            return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    plain = isinstance(value, str) and _PLAIN.fullmatch(value)
    if plain and value.lower() not in _YAML11_WORDS:
        return str(value)
    return None


# TODO(#9): a key set for the first time in a text has its place found by
# composing the whole text (libyaml's events, then Python nodes), a parse
# nothing else reuses; a scan of the lines along the key path would do, if it
# proves as much (a one-line plain scalar, no anchor, no alias).
def _compose(text: str) -> Any:
    from vpa_config.documents import _yaml_loader_class

    loader = _yaml_loader_class()(text)
    try:
        return loader.get_single_node()
    except Exception:
        return None
    finally:
        loader.dispose()


def _find(node: Any, path: Sequence[Part]) -> Any:
    import yaml

    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = [
                value
                for key, value in node.value
                if isinstance(key, yaml.ScalarNode)
                and key.tag == "tag:yaml.org,2002:str"
                and key.value == part
            ]
            if len(found) != 1:
                return None
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return None
            node = node.value[part]
        else:
            return None
    if not isinstance(node, yaml.ScalarNode) or node.style not in (None, ""):
        return None
    if node.tag not in _TAGS or node.start_mark.line != node.end_mark.line:
        return None
    if node.start_mark.index == node.end_mark.index:
        return None
    return node


def _checked(
    name: str, old: str, new: str, path: Sequence[Part], rendered: str, value: Any
) -> bool:
    """Whether ``new`` reads as ``old`` with only ``path`` set to ``value``.

    Known from the old document when :func:`_edited_document` can tell (the
    new one is then shared for validation to reuse), else by parsing ``new``.
    """
    from vpa_config.documents import share

    after = _edited_document(name, old, path, rendered, value)
    if after is None:
        return _same_but(name, old, new, path, value)
    share(name, new, after)
    return True


def _edited_document(
    name: str, old: str, path: Sequence[Part], rendered: str, value: Any
) -> Any:
    """The document ``old`` makes with its plain scalar at ``path`` rewritten
    as ``rendered``, worked out without reading the new text; None if unsure.

    The new text is the old one up to the scalar, so a reader is in the same
    state where the scalar starts. ``rendered`` is a plain scalar in any
    context (no indicator first, no ``: ``, `` #``, flow indicators or line
    breaks in it), and what follows it is unchanged (or, before a comment,
    other blanks): a reader stops the scalar there as it stopped the old one
    and reads the rest alike. So the new document is the old with that one
    value replaced by what ``rendered`` reads as alone. A node reached by two
    paths (an alias) would change at both: texts with anchors or aliases are
    parsed again instead.
    """
    from vpa_config.documents import parse_shared
    from vpa_config.errors import ParseError

    if "&" in old or "*" in old:
        return None
    try:
        before = parse_shared(name, old)
        scalar = _scalar(rendered)
    except ParseError:
        return None
    if not _identical(scalar, value):
        return None
    after = _replaced(before, path, scalar)
    return None if after is _UNSURE else after


# What plain scalars read as alone, by text (a run of sets repeats values).
_scalars: dict[str, Any] = {}
_SCALARS_MAX = 64


def _scalar(rendered: str) -> Any:
    """What the plain scalar ``rendered`` reads as (raises ParseError)."""
    from vpa_config.documents import parse_value

    try:
        return _scalars[rendered]
    except KeyError:
        pass
    found = parse_value(rendered)
    if len(_scalars) >= _SCALARS_MAX:
        _scalars.clear()
    _scalars[rendered] = found
    return found


_UNSURE: Any = object()


def _replaced(node: Any, path: Sequence[Part], value: Any) -> Any:
    """A copy of ``node`` with the scalar at ``path`` set to ``value`` (the
    containers along the path are new, all else is shared); :data:`_UNSURE`
    unless the path leads through mappings and lists to a scalar."""
    if not path:
        return _UNSURE if isinstance(node, (dict, list)) else value
    part, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(part, str) and part in node:
        copy: Any = dict(node)
    elif isinstance(node, list) and type(part) is int and 0 <= part < len(node):
        copy = list(node)
    else:
        return _UNSURE
    copy[part] = _replaced(node[part], rest, value)
    return _UNSURE if copy[part] is _UNSURE else copy


def _same_but(name: str, old: str, new: str, path: Sequence[Part], value: Any) -> bool:
    """Whether ``new`` parses to ``old`` with only ``path`` set to ``value``.

    Both parses are shared (``parse_shared``): the caller's own parse of the
    old text, and validation's of the new one, reuse them, so neither is
    changed here.
    """
    from vpa_config.documents import parse_shared
    from vpa_config.errors import ParseError

    try:
        before = parse_shared(name, old)
        after = parse_shared(name, new)
    except ParseError:
        return False
    return _same_except(before, after, path, value)


def _same_except(before: Any, after: Any, path: Sequence[Part], value: Any) -> bool:
    """Whether ``after`` is ``before`` with the value at ``path`` being ``value``."""
    if not path:
        return _identical(value, after)
    if type(before) is not type(after):
        return False
    part, rest = path[0], path[1:]
    if isinstance(before, dict):
        if part not in before or list(before) != list(after):
            return False
        others = all(_identical(before[k], after[k]) for k in before if k != part)
    elif isinstance(before, list) and isinstance(part, int):
        if not 0 <= part < len(before) or len(before) != len(after):
            return False
        others = all(
            _identical(a, b) for i, (a, b) in enumerate(zip(before, after)) if i != part
        )
    else:
        return False
    return others and _same_except(before[part], after[part], rest, value)


def _identical(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_identical, a, b))
    return bool(a == b)

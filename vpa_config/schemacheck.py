"""A fast yes-or-don't-know JSON Schema check, so a valid change skips jsonschema.

:func:`compile_schema` turns a parsed schema into a tree of small closures
(built lazily, node by node, the first time a document reaches them) and
:meth:`CompiledSchema.is_valid` answers ``True`` (valid), ``False`` (not
valid) or ``None`` (cannot decide). It is a decider, not a reporter: on
``False`` or ``None`` :func:`vpa_config.validation.validate` runs jsonschema
exactly as before, so every error report stays jsonschema's. Only ``True``
changes anything: jsonschema is then not imported at all.

What it decides: drafts 2020-12, 2019-09, 7, 6 and 4, picked by ``$schema``
as :func:`vpa_config.validation.validator_class` picks them; every keyword
jsonschema's validator class of that draft applies, written to give the
same answer as jsonschema's own code (bool is not a number, ``1.0`` is an
integer from draft 6 on, ``1`` equals ``1.0`` but not ``True`` in ``enum``,
``const`` and ``uniqueItems``, ``pattern`` is :func:`re.search`, lengths count
code points, ``multipleOf`` divides floats as jsonschema does, ``$ref``
siblings are ignored up to draft 7, the draft-4 boolean
``exclusiveMinimum``, ``items``/``additionalItems`` against
``prefixItems``/``items``, ``dependencies`` against ``dependentRequired`` and
``dependentSchemas``, ``unevaluatedProperties`` and ``unevaluatedItems`` by
jsonschema's own walk in 2020-12); ``$ref`` to a JSON pointer or a plain-name
anchor in the same document or in another schema the registry holds; the
formats ``email``, ``idn-email``, ``ipv4``, ``ipv6``, ``regex``, ``date``,
``date-time``, ``time``, ``uuid``, ``json-pointer`` and
``relative-json-pointer`` exactly, and ``uri``, ``uri-reference``, ``iri``,
``iri-reference``, ``hostname``, ``idn-hostname``, ``uri-template`` and
``duration`` inside a plain subset of their grammar (strings only: like
jsonschema's checker, other values pass).

When it declines (answers ``None``, only when a document actually reaches the
construct): ``$dynamicRef``, ``$recursiveRef`` and 2019-09's
``unevaluated*``; a ``$ref`` through an embedded ``$id``, to a dynamic
anchor, to a metaschema or to any URI it cannot map to a schema; a subschema
whose ``$schema`` switches draft; a formatted string outside the subset it
decides; a keyword value of an unexpected shape; any exception at all.

Why it is sound: it answers ``True`` only when every applicable keyword was
evaluated by code that mirrors jsonschema's, so jsonschema finds no error
either; everything else becomes ``None`` or ``False``, and jsonschema has the
last word. :func:`covers` lets the caller confirm, with jsonschema loaded,
that a draft's keywords and formats are all known here before trusting it;
:mod:`vpa_config.validation` trusts it only for a schema whose metaschema and
``$ref`` checks passed in a jsonschema build before, with the same
neighbouring schemas and the same jsonschema installation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CompiledSchema",
    "Undecided",
    "compile_schema",
    "covers",
    "draft_of",
    "id_of",
]

if TYPE_CHECKING:  # names for annotations only
    Check = Callable[[Any], bool]
    Lookup = Callable[[str], "tuple[Any, str] | None"]

DRAFT_URIS = {
    "http://json-schema.org/draft-04/schema": "draft4",
    "http://json-schema.org/draft-06/schema": "draft6",
    "http://json-schema.org/draft-07/schema": "draft7",
    "https://json-schema.org/draft/2019-09/schema": "draft201909",
    "https://json-schema.org/draft/2020-12/schema": "draft202012",
}
# What jsonschema's validator_for knows (its keys, compared after urlsplit).
_SWITCH = {**DRAFT_URIS, "http://json-schema.org/draft-03/schema": "draft3"}
LEGACY = frozenset({"draft4", "draft6", "draft7"})

_COMMON = frozenset(
    {
        "$ref",
        "additionalProperties",
        "allOf",
        "anyOf",
        "enum",
        "format",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "not",
        "oneOf",
        "pattern",
        "patternProperties",
        "properties",
        "required",
        "type",
        "uniqueItems",
    }
)
_D6 = _COMMON | {
    "additionalItems",
    "const",
    "contains",
    "dependencies",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "items",
    "propertyNames",
}
_NEW = _COMMON | {
    "const",
    "contains",
    "dependentRequired",
    "dependentSchemas",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "if",
    "items",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
}
#: The keywords jsonschema's validator class applies, by draft.
KEYWORDS = {
    "draft4": _COMMON | {"additionalItems", "dependencies", "items"},
    "draft6": _D6,
    "draft7": _D6 | {"if"},
    "draft201909": _NEW | {"$recursiveRef", "additionalItems"},
    "draft202012": _NEW | {"$dynamicRef", "prefixItems"},
}

_ALL = ("email", "idn-email", "ipv6", "uri", "date-time", "regex")
_D4F = (*_ALL, "ipv4", "hostname")
_D6F = (*_D4F, "uri-reference", "json-pointer", "uri-template")
_D7F = (
    *_D6F,
    "idn-hostname",
    "iri",
    "iri-reference",
    "time",
    "date",
    "relative-json-pointer",
)
#: Every format jsonschema's checker of a draft may assert (with all extras).
FORMATS = {
    "draft4": frozenset(_D4F),
    "draft6": frozenset(_D6F),
    "draft7": frozenset(_D7F),
    "draft201909": frozenset((*_D7F, "duration", "uuid")),
    "draft202012": frozenset((*_D7F, "duration", "uuid")),
}


class Undecided(Exception):
    """Raised inside a check that cannot give jsonschema's answer."""


def draft_of(schema: Any) -> str | None:
    """The draft vpa-config validates ``schema`` with, or None if it would refuse."""
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if declared is None:
        return "draft202012"
    if not isinstance(declared, str):
        return None
    wanted = urldefrag(declared.strip())[0].replace(
        "https://json-schema.org/draft-0", "http://json-schema.org/draft-0"
    )
    return DRAFT_URIS.get(wanted)


def covers(draft: str, keywords: Any, formats: Any) -> bool:
    """Whether every keyword and format jsonschema applies is known here."""
    return set(keywords) <= KEYWORDS[draft] and set(formats) <= FORMATS[draft]


class CompiledSchema:
    """One schema, ready to answer :meth:`is_valid` for many documents."""

    def __init__(self, root: Check) -> None:
        self._root = root

    def is_valid(self, data: Any) -> bool | None:
        """True: jsonschema finds no error. False or None: ask jsonschema."""
        try:
            return bool(self._root(data))
        except Exception:  # Undecided, or anything jsonschema might raise
            return None


def compile_schema(
    schema: Any, *, uri: str, draft: str | None = None, lookup: Lookup | None = None
) -> CompiledSchema | None:
    """The compiled form of ``schema`` (None when it declines the whole schema).

    ``uri`` is where the registry keeps it; ``lookup`` maps any other URI to
    (schema, draft) for ``$ref`` between schemas.
    """
    draft = draft or draft_of(schema)
    if draft is None:
        return None
    word = "id" if draft == "draft4" else "$id"
    if isinstance(schema, dict) and word not in schema and "$ref" not in schema:
        base = uri  # vpa-config gives a schema without $id its place as $id
    else:
        base = id_of(schema, draft) or ""
    if not isinstance(base, str):
        return None
    compiler = _Compiler(lookup)
    compiler.resources[base] = (schema, draft)
    compiler.resources.setdefault(uri, (schema, draft))
    return CompiledSchema(compiler.lazy(schema, base, draft))


def id_of(node: Any, draft: str) -> str | None:
    """The node's own base URI per the draft, as referencing reads it."""
    if not isinstance(node, dict):
        return None
    if draft == "draft4":
        ident = None if "$ref" in node else node.get("id")
    elif draft in LEGACY:
        ident = None if "$ref" in node else node.get("$id")
    else:
        return node.get("$id")
    if isinstance(ident, str) and ident.startswith("#"):
        return None
    return ident


def _has_id(node: Any, draft: str) -> bool:
    """Whether the node starts a resource of its own (moves the base URI)."""
    if not isinstance(node, dict):
        return False
    if draft not in LEGACY:
        return "$id" in node
    ident = node.get("id" if draft == "draft4" else "$id")
    if ident is None or "$ref" in node:
        return False
    return not (isinstance(ident, str) and ident.startswith("#"))


def _undecided(_instance: Any) -> bool:
    raise Undecided


def _true(_instance: Any) -> bool:
    return True


def _false(_instance: Any) -> bool:
    return False


# --- jsonschema's notion of types and equality ---------------------------------


class _Numbers:
    """The kind of the checks that apply to numbers (jsonschema's "number")."""


def _is_number(value: Any) -> bool:
    """What jsonschema's "number" is: a :class:`numbers.Number`, not a bool.

    Parsed documents hold only int and float (and bool): the numbers module
    (about half a millisecond to import) is loaded for anything else only.
    """
    kind = type(value)
    if kind is int or kind is float:
        return True
    if kind in (bool, str, dict, list, type(None)):
        return False
    from numbers import Number as AnyNumber

    return isinstance(value, AnyNumber) and not isinstance(value, bool)


def _is_int4(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Check] = {
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}

_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def equal(one: Any, two: Any) -> bool:
    """JSON equality as jsonschema decides it: ``1 == 1.0``, ``1 != True``."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(map(equal, one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


def unique(items: list[Any]) -> bool:
    """No two items equal; every pair compared (jsonschema compares a subset)."""
    seen = [_unbool(item) for item in items]
    for index, item in enumerate(seen):
        for other in seen[index + 1 :]:
            if equal(item, other):
                return False
    return True


# --- formats -------------------------------------------------------------------

_RE_DATE = r"^\d{4}-\d{2}-\d{2}$"
_RE_DATETIME = (
    r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0123]):(?:[0-5]\d):(?:[0-5]\d)"
    r"(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0123]):[0-5]\d)$"
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date_time(text: str) -> bool:
    match = _pattern_of(_RE_DATETIME).match(text.upper())
    if match is None:
        return False
    year, month, day = map(int, match.groups())
    if not year:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = 29 if month == 2 and leap else _DAYS[month - 1]
    return 1 <= day <= last


def _date(text: str) -> bool:
    from datetime import date

    try:
        return bool(_pattern_of(_RE_DATE).fullmatch(text) and date.fromisoformat(text))
    except ValueError:
        return False


def _ipv4(text: str) -> bool:
    import ipaddress

    try:
        return bool(ipaddress.IPv4Address(text))
    except ipaddress.AddressValueError:
        return False


def _ipv6(text: str) -> bool:
    import ipaddress

    try:
        address = ipaddress.IPv6Address(text)
    except ipaddress.AddressValueError:
        return False
    return not getattr(address, "scope_id", "")


def _regex(text: str) -> bool:
    try:
        return bool(re.compile(text))
    except re.error:
        return False


def _uuid(text: str) -> bool:
    from uuid import UUID

    try:
        UUID(text)
    except ValueError:
        return False
    return all(text[position] == "-" for position in (8, 13, 18, 23))


# Formats jsonschema checks with third-party parsers (rfc3987 or
# rfc3986-validator, fqdn) are decided only inside a plain subset of their
# grammar, which those parsers accept; anything outside it is left to them.
_PCHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_PLAIN_URI = (
    rf"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~-]+(?::[0-9]{{1,5}})?"
    rf"(?:/{_PCHAR}*)*(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
)
_NC = r"(?:[A-Za-z0-9._~!$&'()*+,;=@-]|%[0-9A-Fa-f]{2})"
_PLAIN_RELATIVE = (
    rf"(?:/?{_NC}+(?:/{_PCHAR}*)*)?(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
)
_PLAIN_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){0,8}[a-z]{2,40}"


def _json_pointer(text: str) -> bool:
    """RFC 6901 as jsonpointer reads it: escapes ~0 and ~1 only, a leading /."""
    if re.search("(~[^01]|~$)", text):
        return False
    return text.split("/")[0] == ""


def _relative_json_pointer(text: str) -> bool:
    """jsonschema's reading: a non-negative integer, then # or a JSON pointer."""
    if not text:
        return False
    digits, rest = [], ""
    for index, character in enumerate(text):
        if character.isdigit():
            if index > 0 and int(text[index - 1]) == 0:
                return False
            digits.append(character)
            continue
        if not digits:
            return False
        rest = text[index:]
        break
    return rest == "#" or _json_pointer(rest)


def _pattern_of(text: str) -> re.Pattern[str]:
    """A format's regex, compiled on first use (ASCII classes, as jsonschema's)."""
    compiled = _PATTERNS.get(text)
    if compiled is None:
        flags = re.ASCII | (re.IGNORECASE if text in (_PLAIN_HOST,) else 0)
        compiled = _PATTERNS[text] = re.compile(text, flags)
    return compiled


_PATTERNS: dict[str, re.Pattern[str]] = {}


_PLAIN_IDN = r"(?:[a-z0-9]{1,20}(?:-[a-z0-9]{1,20}){0,2}\.){0,8}[a-z]{2,40}"
_TEMPLATE_CHAR = (
    r"(?:[A-Za-z0-9._~!$&()*+,;=:@/?#-]|%[0-9A-Fa-f]{2}|\{[A-Za-z0-9_]{1,20}\})"
)
_PLAIN_TEMPLATE = rf"{_TEMPLATE_CHAR}*"
_PLAIN_DURATION = (
    r"P(?:\d{1,6}W|(?=\d)(?:\d{1,6}Y)?(?:\d{1,6}M)?(?:\d{1,6}D)?"
    r"|(?:\d{1,6}Y)?(?:\d{1,6}M)?(?:\d{1,6}D)?T(?=\d)(?:\d{1,6}H)?(?:\d{1,6}M)?"
    r"(?:\d{1,6}S)?)"
)


def _subset(pattern: str, longest: int = 2000) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        if len(text) > longest or _pattern_of(pattern).fullmatch(text) is None:
            raise Undecided
        return True

    return check


def _plain_uri_reference(text: str) -> bool:
    plain = _pattern_of(_PLAIN_URI).fullmatch(text)
    if plain or _pattern_of(_PLAIN_RELATIVE).fullmatch(text):
        return True
    raise Undecided


_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "uri": _subset(_PLAIN_URI),
    "iri": _subset(_PLAIN_URI),
    "uri-reference": _plain_uri_reference,
    "iri-reference": _plain_uri_reference,
    "hostname": _subset(_PLAIN_HOST, 200),
    "idn-hostname": _subset(_PLAIN_IDN, 200),
    "uri-template": _subset(_PLAIN_TEMPLATE),
    "duration": _subset(_PLAIN_DURATION),
    "json-pointer": lambda text: _json_pointer(text),
    "relative-json-pointer": lambda text: _relative_json_pointer(text),
    "email": lambda text: "@" in text,
    "idn-email": lambda text: "@" in text,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "regex": _regex,
    "date": _date,
    "date-time": _date_time,
    "time": lambda text: _date_time("1970-01-01T" + text),
    "uuid": _uuid,
}


# --- the compiler -----------------------------------------------------------------


class _Compiler:
    """Closures per (schema node, base URI, draft), built when first reached."""

    def __init__(self, lookup: Lookup | None) -> None:
        self.lookup = lookup
        self.resources: dict[str, tuple[Any, str]] = {}
        self.memo: dict[tuple[int, str, str], Check] = {}
        self.anchor_cache: dict[str, dict[str, Any]] = {}

    def lazy(self, node: Any, base: str, draft: str) -> Check:
        """A check that compiles ``node`` on its first call."""
        if node is True:
            return _true
        if node is False:
            return _false
        key = (id(node), base, draft)
        done = self.memo.get(key)
        if done is not None:
            return done
        compiled: list[Check] = []

        def run(instance: Any) -> bool:
            if not compiled:
                compiled.append(self.compile(node, base, draft))
            return compiled[0](instance)

        self.memo[key] = run
        return run

    def sub(self, node: Any, base: str, draft: str) -> Check:
        """A subschema; one with its own ``$id`` (an embedded resource) declines.

        jsonschema moves the base URI into an embedded resource on some paths
        (descending) and not on others (``not``, ``if``, ``contains``), so
        refs below an embedded ``$id`` are left to it.
        """
        if _has_id(node, draft):
            return _undecided  # TODO(#9): embedded resources
        return self.lazy(node, base, draft)

    def compile(self, node: Any, base: str, draft: str) -> Check:
        if not isinstance(node, dict):
            return _undecided
        if "$schema" in node:
            declared = node["$schema"]
            if not isinstance(declared, str):
                return _undecided
            if _SWITCH.get(urlsplit(declared).geturl(), draft) != draft:
                return _undecided
        items = list(node.items())
        if draft in LEGACY and node.get("$ref") is not None:
            items = [("$ref", node["$ref"])]
        known = KEYWORDS[draft]
        general: list[Check] = []
        typed: dict[type, list[Check]] = {}
        for word, value in items:
            if word not in known:
                continue
            try:
                built = _BUILDERS[word](self, value, node, base, draft)
            except (TypeError, ValueError, KeyError, AttributeError, re.error):
                return _undecided
            if built is None:
                continue
            kind, check = built
            (general if kind is None else typed.setdefault(kind, [])).append(check)
        return _node_check(general, typed)

    # --- $ref ---------------------------------------------------------------

    def ref(self, ref: Any, base: str, draft: str) -> Check:
        """The check of what ``ref`` names, or one that declines."""
        target = self.resolve(ref, base, draft)
        if target is None:
            return _undecided
        return self.lazy(target[0], target[1], draft)

    def resolve(self, ref: Any, base: str, draft: str) -> tuple[Any, str] | None:
        """(node, base URI) that ``ref`` names, as referencing resolves it."""
        if not isinstance(ref, str):
            return None
        if ref.startswith("#"):
            uri, fragment = base, ref[1:]
        else:
            uri, fragment = urldefrag(urljoin(base, ref))
        resource = self.resources.get(uri)
        if resource is None and self.lookup is not None:
            resource = self.lookup(uri)
            if resource is not None:
                self.resources[uri] = resource
        if resource is None or resource[1] != draft:
            return None
        if fragment and not fragment.startswith("/"):
            target = self.anchors(uri, resource).get(fragment, _MISSING)
        else:
            target = _pointer(resource[0], fragment, draft)
        return None if target is _MISSING else (target, uri)

    def anchors(self, uri: str, resource: tuple[Any, str]) -> dict[str, Any]:
        """Plain-name anchors of one resource; none when finding them is unsure."""
        if uri not in self.anchor_cache:
            self.anchor_cache[uri] = _anchors(*resource)
        return self.anchor_cache[uri]


_MISSING = object()

# Where subschemas sit, by draft, as referencing crawls a resource for anchors.
_IN_VALUE = {
    "draft4": ("not",),
    "draft6": (
        "additionalItems",
        "additionalProperties",
        "contains",
        "not",
        "propertyNames",
    ),
    "draft7": (
        "additionalItems",
        "additionalProperties",
        "contains",
        "else",
        "if",
        "not",
        "propertyNames",
        "then",
    ),
    "draft201909": (
        "additionalItems",
        "additionalProperties",
        "contains",
        "contentSchema",
        "else",
        "if",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    ),
    "draft202012": (
        "additionalProperties",
        "contains",
        "contentSchema",
        "else",
        "if",
        "items",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    ),
}
_IN_ARRAY = {"draft202012": ("allOf", "anyOf", "oneOf", "prefixItems")}
_IN_VALUES = {
    "draft4": ("definitions", "patternProperties", "properties"),
    "draft6": ("definitions", "patternProperties", "properties"),
    "draft7": ("definitions", "patternProperties", "properties"),
}
_NEW_VALUES = (
    "$defs",
    "definitions",
    "dependentSchemas",
    "patternProperties",
    "properties",
)


def _subschemas(node: dict[str, Any], draft: str) -> list[Any]:
    found = [node[word] for word in _IN_VALUE[draft] if word in node]
    for word in _IN_ARRAY.get(draft, ("allOf", "anyOf", "oneOf")):
        found += node.get(word, [])
    for word in _IN_VALUES.get(draft, _NEW_VALUES):
        found += node.get(word, {}).values()
    if draft != "draft202012":
        items = node.get("items")
        if items is not None:
            found += items if isinstance(items, list) else [items]
    if draft in LEGACY:
        dependencies = list(node.get("dependencies", {}).values())
        if dependencies and isinstance(dependencies[0], dict):
            found += dependencies
    if draft == "draft4":
        found += [
            node[word]
            for word in ("additionalItems", "additionalProperties")
            if isinstance(node.get(word), dict)
        ]
    return found


def _anchor_names(node: dict[str, Any], draft: str) -> tuple[list[Any], bool]:
    """(plain anchors the node declares, whether it declares a dynamic one)."""
    if draft in LEGACY:
        ident = node.get("id" if draft == "draft4" else "$id", "")
        return ([ident[1:]] if ident.startswith("#") else []), False
    names = [node["$anchor"]] if "$anchor" in node else []
    return names, draft == "draft202012" and "$dynamicAnchor" in node


def _anchors(doc: Any, draft: str) -> dict[str, Any]:
    """Every plain-name anchor of a resource, by name.

    Empty (so every anchor ref declines) when the crawl could differ from
    referencing's: an embedded ``$id`` or ``$schema``, a dynamic anchor, an
    anchor declared twice, or anything of an unexpected shape.
    """
    found: dict[str, Any] = {}
    stack = [doc]
    try:
        while stack:
            node = stack.pop()
            if isinstance(node, bool):
                continue
            if node is not doc and (_has_id(node, draft) or "$schema" in node):
                return {}
            names, dynamic = _anchor_names(node, draft)
            if dynamic:
                return {}
            for name in names:
                if name in found:
                    return {}
                found[name] = node
            stack += _subschemas(node, draft)
    except (AttributeError, TypeError):
        return {}
    return found


def _pointer(doc: Any, fragment: str, draft: str) -> Any:
    """The node a JSON pointer names; _MISSING also when it crosses an ``$id``."""
    if not fragment:
        return doc
    node = doc
    for segment in unquote(fragment[1:]).split("/"):
        try:
            if isinstance(node, Sequence):
                node = node[int(segment)]
            else:
                node = node[segment.replace("~1", "/").replace("~0", "~")]
        except (LookupError, ValueError, TypeError):
            return _MISSING
        if _has_id(node, draft):
            return _MISSING  # TODO(#9): refs into embedded resources
    return node


def _node_check(general: list[Check], typed: dict[type, list[Check]]) -> Check:
    obj, arr, text = typed.get(dict, []), typed.get(list, []), typed.get(str, [])
    num = typed.get(_Numbers, [])
    if not (obj or arr or text or num):
        if not general:
            return _true
        if len(general) == 1:
            return general[0]

    def check(instance: Any) -> bool:
        for each in general:
            if not each(instance):
                return False
        if isinstance(instance, dict):
            extra = obj
        elif isinstance(instance, list):
            extra = arr
        elif isinstance(instance, str):
            extra = text
        elif _is_number(instance):
            extra = num
        else:
            return True
        return all(each(instance) for each in extra)

    return check


# --- one builder per keyword: (instance type it applies to, check) or None ------

Built = "tuple[type | None, Check] | None"


def _type(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise TypeError("type")
    integer = _is_int4 if draft == "draft4" else _is_int
    table = {**_TYPES, "integer": integer}
    preds = [table[name] for name in names]
    if len(preds) == 1:
        return None, preds[0]
    return None, lambda v: any(pred(v) for pred in preds)


def _enum(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if not isinstance(value, list):
        raise TypeError("enum")
    return None, lambda v: any(equal(each, v) for each in value)


def _const(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return None, lambda v: equal(v, value)


def _ref(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    cell: list[Check] = []

    def check(instance: Any) -> bool:
        if not cell:
            cell.append(c.ref(value, base, draft))
        return cell[0](instance)

    return None, check


def _decline(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return None, _undecided


def _all_of(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    checks = [c.sub(each, base, draft) for each in _schema_list(value)]
    return None, lambda v: all(check(v) for check in checks)


def _any_of(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    checks = [c.sub(each, base, draft) for each in _schema_list(value)]
    return None, lambda v: any(check(v) for check in checks)


def _one_of(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    checks = [c.sub(each, base, draft) for each in _schema_list(value)]
    return None, lambda v: sum(1 for check in checks if check(v)) == 1


def _not(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    inner = c.sub(_schema(value), base, draft)
    return None, lambda v: not inner(v)


def _if(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    cond = c.sub(_schema(value), base, draft)
    then = c.sub(_schema(node["then"]), base, draft) if "then" in node else _true
    other = c.sub(_schema(node["else"]), base, draft) if "else" in node else _true
    return None, lambda v: then(v) if cond(v) else other(v)


def _format(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if not isinstance(value, str):
        raise TypeError("format")
    if value not in FORMATS[draft]:
        return None  # jsonschema's checker ignores formats it does not know
    check = _FORMAT_CHECKS.get(value)
    return str, check if check is not None else _undecided


# strings


def _min_length(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return str, lambda v: not len(v) < value


def _max_length(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return str, lambda v: not len(v) > value


def _pattern(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    search = re.compile(value).search
    return str, lambda v: search(v) is not None


# numbers


def _minimum(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if draft == "draft4" and node.get("exclusiveMinimum", False):
        return _Numbers, lambda v: not v <= value
    return _Numbers, lambda v: not v < value


def _maximum(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if draft == "draft4" and node.get("exclusiveMaximum", False):
        return _Numbers, lambda v: not v >= value
    return _Numbers, lambda v: not v > value


def _exclusive_minimum(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    return _Numbers, lambda v: not v <= value


def _exclusive_maximum(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    return _Numbers, lambda v: not v >= value


def _multiple_of(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if isinstance(value, float):

        def check(v: Any) -> bool:
            quotient = v / value
            try:
                return int(quotient) == quotient
            except OverflowError:
                from fractions import Fraction

                return (Fraction(v) / Fraction(value)).denominator == 1

        return _Numbers, check
    return _Numbers, lambda v: not v % value


# arrays


def _min_items(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return list, lambda v: not len(v) < value


def _max_items(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return list, lambda v: not len(v) > value


def _unique_items(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return (list, unique) if value else None


def _items(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if draft == "draft202012":
        prefix = len(_schema_list(node.get("prefixItems", [])))
        if value is False:
            return list, lambda v: len(v) <= prefix
        each = c.sub(_schema(value), base, draft)
        return list, lambda v: all(each(item) for item in v[prefix:])
    if isinstance(value, list):
        return _positional(c, value, base, draft)
    if draft == "draft4" and not isinstance(value, dict):
        raise TypeError("items")
    each = c.sub(_schema(value), base, draft)
    return list, lambda v: all(each(item) for item in v)


def _prefix_items(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    return _positional(c, _schema_list(value), base, draft)


def _positional(c: _Compiler, schemas: list[Any], base: str, draft: str) -> Built:
    checks = [c.sub(_schema(each), base, draft) for each in schemas]
    return list, lambda v: all(
        check(item) for check, item in zip(checks, v, strict=False)
    )


def _additional_items(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    items = node.get("items", {})
    if isinstance(items, dict):
        return None
    if not isinstance(items, list):
        raise TypeError("additionalItems")
    start = len(items)
    if isinstance(value, dict):
        each = c.sub(value, base, draft)
        return list, lambda v: all(each(item) for item in v[start:])
    if not value:
        return list, lambda v: not len(v) > start
    return None


def _contains(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    inner = c.sub(_schema(value), base, draft)
    if draft in LEGACY:
        return list, lambda v: any(inner(item) for item in v)
    low = node.get("minContains", 1)
    high = node.get("maxContains", _MISSING)

    def check(v: list[Any]) -> bool:
        most = len(v) if high is _MISSING else high
        matches = 0
        for item in v:
            if inner(item):
                matches += 1
                if matches > most:
                    return False
        return not matches < low

    return list, check


# objects


def _properties(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if not isinstance(value, dict):
        raise TypeError("properties")
    checks = {name: c.sub(_schema(sub), base, draft) for name, sub in value.items()}

    def check(v: dict[Any, Any]) -> bool:
        if len(v) < len(checks):
            return all(checks[k](v[k]) for k in v if k in checks)
        return all(check(v[k]) for k, check in checks.items() if k in v)

    return dict, check


def _pattern_properties(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    if not isinstance(value, dict):
        raise TypeError("patternProperties")
    pairs = [
        (re.compile(pattern).search, c.sub(_schema(sub), base, draft))
        for pattern, sub in value.items()
    ]

    def check(v: dict[Any, Any]) -> bool:
        return all(
            each(item) for search, each in pairs for k, item in v.items() if search(k)
        )

    return dict, check


def _additional_properties(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    declared = node.get("properties", {})
    patterns = "|".join(node.get("patternProperties", {}))
    search = re.compile(patterns).search if patterns else None

    def extras(v: dict[Any, Any]) -> list[Any]:
        return [
            k for k in v if k not in declared and not (search is not None and search(k))
        ]

    if isinstance(value, dict):
        each = c.sub(value, base, draft)
        return dict, lambda v: all(each(v[k]) for k in extras(v))
    if not value:
        return dict, lambda v: not extras(v)
    return None


def _required(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    names = list(value)
    return dict, lambda v: all(name in v for name in names)


def _min_properties(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    return dict, lambda v: not len(v) < value


def _max_properties(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    return dict, lambda v: not len(v) > value


def _property_names(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    inner = c.sub(_schema(value), base, draft)
    return dict, lambda v: all(inner(k) for k in v)


def _dependent_required(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    if not isinstance(value, dict):
        raise TypeError("dependentRequired")
    pairs = [(name, list(needs)) for name, needs in value.items()]
    return dict, lambda v: all(
        each in v for name, needs in pairs if name in v for each in needs
    )


def _dependent_schemas(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    if not isinstance(value, dict):
        raise TypeError("dependentSchemas")
    pairs = [(name, c.sub(_schema(sub), base, draft)) for name, sub in value.items()]
    return dict, lambda v: all(check(v) for name, check in pairs if name in v)


def _dependencies(c: _Compiler, value: Any, node: Any, base: str, draft: str) -> Built:
    if not isinstance(value, dict):
        raise TypeError("dependencies")
    needs: list[tuple[str, list[Any]]] = []
    schemas: list[tuple[str, Check]] = []
    for name, dependency in value.items():
        if isinstance(dependency, list):
            needs.append((name, dependency))
        else:
            schemas.append((name, c.sub(_schema(dependency), base, draft)))

    def check(v: dict[Any, Any]) -> bool:
        for name, wanted in needs:
            if name in v and not all(each in v for each in wanted):
                return False
        return all(each(v) for name, each in schemas if name in v)

    return dict, check


# unevaluated*: jsonschema's own walk over the evaluated keys and items
# (2020-12 only; its 2019-09 walk differs and is left to it).


def _unevaluated_properties(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    if draft != "draft202012":
        return dict, _undecided  # TODO(#9): the 2019-09 walk
    each = c.sub(_schema(value), base, draft)

    def check(v: dict[Any, Any]) -> bool:
        seen = _evaluated_keys(c, node, base, v, True)
        return all(each(v[k]) for k in v if k not in seen)

    return dict, check


def _unevaluated_items(
    c: _Compiler, value: Any, node: Any, base: str, draft: str
) -> Built:
    if draft != "draft202012":
        return list, _undecided  # TODO(#9): the 2019-09 walk
    _schema(value)

    def check(v: list[Any]) -> bool:
        seen = _evaluated_items(c, node, base, v, True)
        return all(index in seen for index in range(len(v)))

    return list, check


def _walkable(c: _Compiler, node: Any, base: str, top: bool) -> Any:
    """The node for an evaluated-keys walk; Undecided where the walk is unsure."""
    if not isinstance(node, dict):
        return None
    if "$dynamicRef" in node or (not top and _has_id(node, "draft202012")):
        raise Undecided
    if "$schema" in node and c.compile(node, base, "draft202012") is _undecided:
        raise Undecided
    return node


def _ref_target(
    c: _Compiler, node: dict[str, Any], base: str
) -> tuple[Any, str] | None:
    ref = node.get("$ref")
    if ref is None:
        return None
    target = c.resolve(ref, base, "draft202012")
    if target is None:
        raise Undecided
    return target


def _valid(c: _Compiler, sub: Any, base: str, instance: Any) -> bool:
    return bool(c.sub(_schema(sub), base, "draft202012")(instance))


def _evaluated_keys(
    c: _Compiler, node: Any, base: str, instance: dict[Any, Any], top: bool = False
) -> set[Any]:
    node = _walkable(c, node, base, top)
    if node is None:
        return set()
    seen: set[Any] = set()
    target = _ref_target(c, node, base)
    if target is not None:
        seen |= _evaluated_keys(c, target[0], target[1], instance, True)
    properties = node.get("properties")
    if isinstance(properties, dict):
        seen |= properties.keys() & instance.keys()
    for word in ("additionalProperties", "unevaluatedProperties"):
        sub = node.get(word)
        if sub is not None:
            seen |= {k for k, v in instance.items() if _valid(c, sub, base, v)}
    if "patternProperties" in node:
        for key in instance:
            if any(re.search(pattern, key) for pattern in node["patternProperties"]):
                seen.add(key)
    if "dependentSchemas" in node:
        for name, sub in node["dependentSchemas"].items():
            if name in instance:
                seen |= _evaluated_keys(c, sub, base, instance)
    for word in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(word, []):
            if _valid(c, sub, base, instance):
                seen |= _evaluated_keys(c, sub, base, instance)
    for branch in _if_branches(c, node, base, instance):
        seen |= _evaluated_keys(c, branch, base, instance)
    return seen


def _if_branches(
    c: _Compiler, node: dict[str, Any], base: str, instance: Any
) -> list[Any]:
    if "if" not in node:
        return []
    if _valid(c, node["if"], base, instance):
        return [node["if"], *([node["then"]] if "then" in node else [])]
    return [node["else"]] if "else" in node else []


def _evaluated_items(
    c: _Compiler, node: Any, base: str, instance: list[Any], top: bool = False
) -> set[int]:
    node = _walkable(c, node, base, top)
    if node is None:
        return set()
    if "items" in node:
        return set(range(len(instance)))
    seen: set[int] = set()
    target = _ref_target(c, node, base)
    if target is not None:
        seen |= _evaluated_items(c, target[0], target[1], instance, True)
    if "prefixItems" in node:
        seen |= set(range(len(node["prefixItems"])))
    for branch in _if_branches(c, node, base, instance):
        seen |= _evaluated_items(c, branch, base, instance)
    for word in ("contains", "unevaluatedItems"):
        if word in node:
            sub = node[word]
            seen |= {k for k, v in enumerate(instance) if _valid(c, sub, base, v)}
    for word in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(word, []):
            if _valid(c, sub, base, instance):
                seen |= _evaluated_items(c, sub, base, instance)
    return seen


def _schema(value: Any) -> Any:
    if not isinstance(value, (dict, bool)):
        raise TypeError("not a schema")
    return value


def _schema_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("not a list of schemas")
    return [_schema(each) for each in value]


_BUILDERS: dict[str, Callable[..., Any]] = {
    "$ref": _ref,
    "$dynamicRef": _decline,
    "$recursiveRef": _decline,
    "additionalItems": _additional_items,
    "additionalProperties": _additional_properties,
    "allOf": _all_of,
    "anyOf": _any_of,
    "const": _const,
    "contains": _contains,
    "dependencies": _dependencies,
    "dependentRequired": _dependent_required,
    "dependentSchemas": _dependent_schemas,
    "enum": _enum,
    "exclusiveMaximum": _exclusive_maximum,
    "exclusiveMinimum": _exclusive_minimum,
    "format": _format,
    "if": _if,
    "items": _items,
    "maxItems": _max_items,
    "maxLength": _max_length,
    "maxProperties": _max_properties,
    "maximum": _maximum,
    "minItems": _min_items,
    "minLength": _min_length,
    "minProperties": _min_properties,
    "minimum": _minimum,
    "multipleOf": _multiple_of,
    "not": _not,
    "oneOf": _one_of,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "prefixItems": _prefix_items,
    "properties": _properties,
    "propertyNames": _property_names,
    "required": _required,
    "type": _type,
    "unevaluatedItems": _unevaluated_items,
    "unevaluatedProperties": _unevaluated_properties,
    "uniqueItems": _unique_items,
}

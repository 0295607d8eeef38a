"""Plain words for schema errors, and the secrets they must never show.

Every message is written here from the failing keyword and the schema, never
copied from jsonschema's own text, because that text quotes the instance
(a whole document, or a secret value) and sometimes the whole schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence

from vpa_config.keypath import Part, format_dotted
from vpa_config.layout import SCHEMA_DIR, SCHEMA_VALUE_WORDS

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

SECRET_KEYWORDS = ("writeOnly", "x-secret")
REDACTED = "<redacted>"

_BOUNDS = {
    "minimum": "at least",
    "exclusiveMinimum": "more than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
}


def describe(error: Any, secret: bool = False) -> str:
    """A plain-words message for one jsonschema error; values only if not secret."""
    rule = str(error.validator)
    value = REDACTED if secret else show(error.instance)
    prefix = _key_name_prefix(error, value)
    handler = _HANDLERS.get(rule)
    text = handler(error, value) if handler else f"fails the {rule!r} rule"
    return prefix + text


def _key_name_prefix(error: Any, value: str) -> str:
    if "propertyNames" in list(error.relative_schema_path)[:-1]:
        return f"key name {value}: "
    return ""


def _type(error: Any, value: str) -> str:
    expected = error.validator_value
    kinds = expected if isinstance(expected, list) else [expected]
    return f"expected {' or '.join(map(str, kinds))}; got {type_name(error.instance)}"


def _enum(error: Any, value: str) -> str:
    choices = ", ".join(show(choice) for choice in error.validator_value)
    return f"expected one of {short(choices, 200)}; got {value}"


def _const(error: Any, value: str) -> str:
    return f"expected {show(error.validator_value)}; got {value}"


def _required(error: Any, value: str) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    missing = [key for key in error.validator_value if key not in instance]
    noun = "key" if len(missing) == 1 else "keys"
    return f"missing required {noun} {', '.join(map(repr, missing))}"


def extra_keys(error: Any) -> list[str]:
    """The keys an ``additionalProperties``/``unevaluatedProperties`` error refuses."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = schema.get("properties") or {}
    patterns = list((schema.get("patternProperties") or {}).keys())
    extra = [
        key
        for key in instance
        if key not in known and not any(_search(p, key) for p in patterns)
    ]
    if error.validator == "unevaluatedProperties" or not extra:
        extra = re.findall(r"'([^']*)'", str(error.message).rpartition("(")[2])
    return [key for key in extra if isinstance(key, str)]


def _extra_keys(error: Any, value: str) -> str:
    extra = extra_keys(error)
    keys = ", ".join(repr(key) for key in extra[:10]) or "a key"
    more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
    noun = "key" if len(extra) == 1 else "keys"
    return f"unexpected {noun} {keys}{more}; the schema does not allow it"


def _search(pattern: str, key: str) -> bool:
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


def _extra_items(error: Any, value: str) -> str:
    return "unexpected items beyond the ones the schema allows"


def _bound(error: Any, value: str) -> str:
    return f"expected {_BOUNDS[error.validator]} {error.validator_value}; got {value}"


def _length(error: Any, value: str) -> str:
    bound = "at least" if error.validator == "minLength" else "at most"
    got = len(error.instance) if isinstance(error.instance, str) else "?"
    return f"expected text of {bound} {error.validator_value} characters; got {got}"


def _items_count(error: Any, value: str) -> str:
    bound = "at least" if error.validator == "minItems" else "at most"
    got = len(error.instance) if isinstance(error.instance, list) else "?"
    return f"expected {bound} {error.validator_value} items; got {got}"


def _pattern(error: Any, value: str) -> str:
    pattern = short(repr(error.validator_value), 120)
    return f"expected text matching the pattern {pattern}; got {value}"


def _format(error: Any, value: str) -> str:
    return f"expected a valid {error.validator_value}; got {value}"


def _unique(error: Any, value: str) -> str:
    return "expected every item to be different; found a repeated item"


def _multiple(error: Any, value: str) -> str:
    return f"expected a multiple of {error.validator_value}; got {value}"


def _not(error: Any, value: str) -> str:
    return "matches a form the schema forbids (not)"


def _properties_count(error: Any, value: str) -> str:
    bound = "at least" if error.validator == "minProperties" else "at most"
    got = len(error.instance) if isinstance(error.instance, dict) else "?"
    return f"expected {bound} {error.validator_value} keys; got {got}"


def _false(error: Any, value: str) -> str:
    return "no value is allowed here"


def _contains(error: Any, value: str) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if "Too many" in str(error.message):
        most = schema.get("maxContains")
        return f"expected at most {most} items matching the 'contains' rule"
    least = schema.get("minContains", 1)
    noun = "item" if least == 1 else "items"
    return f"expected at least {least} {noun} matching the 'contains' rule"


def _dependent(error: Any, value: str) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    needs = []
    for key, wanted in (error.validator_value or {}).items():
        if key in instance and isinstance(wanted, list):
            needs += [(key, dep) for dep in wanted if dep not in instance]
    if not needs:
        return "a key requires another key that is missing"
    key, dep = needs[0]
    return f"key {key!r} requires key {dep!r}, which is missing"


def _one_of_many(error: Any, value: str) -> str:
    count = len(error.validator_value or [])
    return (
        f"matches more than one of the {count} allowed forms (oneOf); "
        "exactly one must match"
    )


def _any_of(error: Any, value: str) -> str:
    count = len(error.validator_value or [])
    return f"matches none of the {count} allowed forms ({error.validator})"


_HANDLERS = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "required": _required,
    "additionalProperties": _extra_keys,
    "unevaluatedProperties": _extra_keys,
    "additionalItems": _extra_items,
    "unevaluatedItems": _extra_items,
    "items": _extra_items,
    "minimum": _bound,
    "exclusiveMinimum": _bound,
    "maximum": _bound,
    "exclusiveMaximum": _bound,
    "minLength": _length,
    "maxLength": _length,
    "minItems": _items_count,
    "maxItems": _items_count,
    "pattern": _pattern,
    "format": _format,
    "uniqueItems": _unique,
    "multipleOf": _multiple,
    "not": _not,
    "minProperties": _properties_count,
    "maxProperties": _properties_count,
    "false": _false,
    "contains": _contains,
    "dependentRequired": _dependent,
    "dependencies": _dependent,
    "oneOf": _one_of_many,
    "anyOf": _any_of,
}


def type_name(value: Any) -> str:
    """The JSON Schema name of a Python value's type."""
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def show(value: Any) -> str:
    """A short rendering of a value: scalars as JSON, structures by size only."""
    if isinstance(value, (dict, list)):
        return f"{type_name(value)} of {len(value)} items"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of {len(str(abs(value)))} digits"
    return short(json.dumps(value, ensure_ascii=False, default=str), 60)


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- secrets -------------------------------------------------------------------


def is_secret_schema(schema: Any) -> bool:
    """Whether a (sub)schema marks its value secret."""
    return isinstance(schema, dict) and any(
        schema.get(word) is True for word in SECRET_KEYWORDS
    )


class SecretMatcher:
    """Settings patterns (``assistant.yaml:llm.api_key``, ``*:*.password``).

    A pattern is ``FILE-GLOB:KEY-GLOB``; the key glob is matched against the
    dotted key path, ``*`` matching across dots. A key glob that starts with
    ``*.`` names a key at any depth, the top level included: ``*.password``
    matches ``password``, ``db.password`` and ``a.b.password``, never
    ``passwords`` or ``password_hint``.
    """

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self._patterns = [self._split(pattern) for pattern in patterns]

    @staticmethod
    def _split(pattern: str) -> tuple[str, str, str | None]:
        """(file glob, key glob, the key glob at the top level if it differs)."""
        file, _, key = pattern.rpartition(":")
        return (file or "*", key, key[2:] if key.startswith("*.") else None)

    def matches(self, file: str, path: Sequence[Part]) -> bool:
        """Whether the key at ``path`` of ``file`` is secret by a pattern.

        In a store schema the patterns name keys the schema describes: the
        subschema of ``properties.api_key`` is no secret, but a value it
        gives the key (``default``, ``const``, ``enum``, ``examples``) is,
        and so is a key the patterns name inside such a value.
        """
        if not self._patterns:
            return False
        if file.startswith(SCHEMA_DIR):
            given = [
                index for index, part in enumerate(path)
                if index and part in SCHEMA_VALUE_WORDS
            ]
            # The key a value is for matches, or a key inside the value does.
            return bool(given) and (
                self._matches(file, path)
                or any(self._matches(file, path[:index]) for index in given)
            )
        return self._matches(file, path)

    def _matches(self, file: str, path: Sequence[Part]) -> bool:
        from fnmatch import fnmatchcase

        dotted = format_dotted(path)
        return any(
            fnmatchcase(file, file_glob)
            and (
                fnmatchcase(dotted, key_glob)
                or (top_glob is not None and fnmatchcase(dotted, top_glob))
            )
            for file_glob, key_glob, top_glob in self._patterns
        )


def secret_paths(schema: Any, data: Any, root: Any = None) -> Iterator[tuple[Part, ...]]:
    """Paths in ``data`` whose schema marks them secret.

    Follows properties, patternProperties, additionalProperties, items,
    prefixItems, allOf, anyOf, oneOf and local ``$ref`` (``#/...``).
    """
    root = schema if root is None else root
    yield from _secret_walk(schema, data, root, ())


def _secret_walk(
    schema: Any, data: Any, root: Any, path: tuple[Part, ...], depth: int = 0
) -> Iterator[tuple[Part, ...]]:
    if not isinstance(schema, dict) or depth > 64:
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        yield from _secret_walk(_local_ref(root, ref), data, root, path, depth + 1)
    if is_secret_schema(schema):
        yield path
        return
    for word in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(word) or []:
            yield from _secret_walk(sub, data, root, path, depth + 1)
    if isinstance(data, dict):
        for key, value in data.items():
            sub = _property_schema(schema, str(key))
            yield from _secret_walk(sub, value, root, (*path, key), depth + 1)
    elif isinstance(data, list):
        prefix = schema.get("prefixItems") or []
        for index, value in enumerate(data):
            sub = prefix[index] if index < len(prefix) else schema.get("items")
            yield from _secret_walk(sub, value, root, (*path, index), depth + 1)


def _property_schema(schema: dict[str, Any], key: str) -> Any:
    properties = schema.get("properties") or {}
    if key in properties:
        return properties[key]
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        if _search(pattern, key):
            return sub
    return schema.get("additionalProperties")


def _local_ref(root: Any, ref: str) -> Any:
    node = root
    for part in ref.lstrip("#").split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def all_paths(data: Any, path: tuple[Part, ...] = ()) -> Iterator[tuple[Part, ...]]:
    """Every key path of a document, parents before children."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key)
            yield from all_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from all_paths(value, (*path, index))


def scalars_below(data: Any) -> Iterable[str]:
    """Text of every scalar in ``data`` (to scrub from messages as a last line)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from scalars_below(value)
    elif isinstance(data, list):
        for value in data:
            yield from scalars_below(value)
    elif data is not None and not isinstance(data, bool):
        yield str(data)

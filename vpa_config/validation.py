"""Schemas and validation: which schema, compiled once, every error located.

Schemas come from two places, searched in this order: the store's own
``.vpa-config/schemas/`` (versioned with the config) and the ``schemas/``
folder shipped with vpa-config. Each schema gets a base URI from its place and
relative path (``file:///vpa-config/store/vpa/assistant.schema.json``), so
two schemas with the same file name in different folders never meet, and
relative ``$ref`` works between neighbours. Nothing is ever fetched: a
``$ref`` to anything not loaded here is an error that names it.

Draft 2020-12 is the default; ``$schema`` picks 2019-09 or 7. Format checking
is on. Error messages are written here from the failing keyword, never from
the instance value, so no document and no secret leaks into an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpa_config.errors import Problem, SchemaError
from vpa_config.keypath import Part, format_dotted

STORE_BASE = "file:///vpa-config/store/"
SHIPPED_BASE = "file:///vpa-config/shipped/"
SECRET_KEYWORDS = ("writeOnly", "x-secret")
REDACTED = "<redacted>"


def shipped_schema_dir() -> Path:
    """The ``schemas/`` folder: inside the wheel, or beside a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    return here / "schemas"


@dataclass(frozen=True)
class SchemaSource:
    """One schema document and where it came from."""

    name: str
    origin: str
    uri: str
    content: bytes

    @property
    def digest(self) -> str:
        """sha256 of the schema text, recorded in each commit's trailers."""
        return hashlib.sha256(self.content).hexdigest()[:16]

    def load(self) -> dict[str, Any]:
        """The schema as data; a bad schema is a :class:`SchemaError`."""
        try:
            data = json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SchemaError(f"schema {self.name} is not valid JSON: {exc}") from None
        if not isinstance(data, (dict, bool)):
            raise SchemaError(f"schema {self.name} must be a JSON object")
        return data  # type: ignore[return-value]


class SchemaRegistry:
    """All schemas the store can use, and compiled validators by content."""

    def __init__(
        self,
        store_schemas: dict[str, bytes] | None = None,
        shipped_dir: Path | None = None,
    ) -> None:
        self._store = dict(store_schemas or {})
        self._shipped_dir = shipped_dir or shipped_schema_dir()
        self._shipped: dict[str, bytes] | None = None
        self._validators: dict[str, Any] = {}
        self._registry: Any = None

    def _shipped_schemas(self) -> dict[str, bytes]:
        if self._shipped is None:
            self._shipped = _read_shipped(self._shipped_dir)
        return self._shipped

    def names(self) -> list[tuple[str, str]]:
        """(name, origin) of every known schema, store first."""
        found = [(name, "store") for name in sorted(self._store)]
        found += [(name, "shipped") for name in sorted(self._shipped_schemas())]
        return found

    def get(self, name: str) -> SchemaSource:
        """The schema called ``name``: the store's if it has one, else shipped."""
        if name in self._store:
            return SchemaSource(name, "store", STORE_BASE + name, self._store[name])
        shipped = self._shipped_schemas()
        if name in shipped:
            return SchemaSource(name, "shipped", SHIPPED_BASE + name, shipped[name])
        raise SchemaError(
            f"schema {name!r} not found in the store's .vpa-config/schemas/ "
            "or in vpa-config's shipped schemas"
        )

    def find(self, ref: str) -> str:
        """The schema a document's ``$schema`` names: a local name or a known ``$id``."""
        known = [name for name, _origin in self.names()]
        if ref in known:
            return ref
        for name in known:
            try:
                data = json.loads(self.get(name).content)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("$id") == ref:
                return name
        raise SchemaError(
            f"$schema {ref!r} is not a local schema; vpa-config never fetches "
            'schemas over the network (add it with "vpa-config schema add")'
        )

    def validator(self, source: SchemaSource) -> Any:
        """A compiled validator for the schema, built once per content.

        Compiled validators are shared by every registry of the process that
        holds the same schemas (the key covers the schema and every schema a
        ``$ref`` could reach), so a long-lived store checks and compiles each
        schema once, not once per change.
        """
        key = source.uri + "@" + source.digest
        cached = self._validators.get(key)
        if cached is None:
            shared = (key, self._fingerprint())
            cached = _COMPILED.get(shared)
            if cached is None:
                cached = self._build_validator(source)
                if len(_COMPILED) >= _COMPILED_MAX:
                    _COMPILED.clear()
                _COMPILED[shared] = cached
            self._validators[key] = cached
        return cached

    def _fingerprint(self) -> str:
        digest = hashlib.sha256(str(self._shipped_dir).encode())
        for name in sorted(self._store):
            digest.update(b"\0" + name.encode() + b"\0" + self._store[name])
        return digest.hexdigest()

    def _build_validator(self, source: SchemaSource) -> Any:
        from jsonschema import validators
        from jsonschema.exceptions import SchemaError as JsonSchemaError

        from vpa_config.settings_cache import flag_known, flag_set

        schema = source.load()
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        # A schema that passed its metaschema once is not checked again in a
        # later process (the check costs more than the rest of a change).
        checked = _checked_key(cls, source.content)
        try:
            if not flag_known(checked):
                cls.check_schema(schema)
                flag_set(checked)
        except JsonSchemaError as exc:
            where = format_dotted(tuple(exc.absolute_path)) or "(top)"
            raise SchemaError(
                f"schema {source.name} is not a valid {_draft_name(cls)} schema: "
                f"at {where}: {_short(exc.message, 160)}"
            ) from None
        registry = self._referencing_registry()
        resource = _resource(schema, cls)
        registry = registry.with_resource(source.uri, resource)
        return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)

    def _referencing_registry(self) -> Any:
        if self._registry is None:
            from referencing import Registry

            from jsonschema import validators

            resources = []
            for base, schemas in (
                (STORE_BASE, self._store),
                (SHIPPED_BASE, self._shipped_schemas()),
            ):
                for name, content in schemas.items():
                    try:
                        data = json.loads(content)
                    except ValueError:
                        continue
                    cls = validators.validator_for(
                        data, default=validators.Draft202012Validator
                    )
                    resources.append((base + name, _resource(data, cls)))
            self._registry = Registry(retrieve=_refuse_retrieval).with_resources(
                resources
            )
        return self._registry


def _checked_key(cls: Any, content: bytes) -> str:
    """Names a schema text checked valid against this metaschema."""
    digest = hashlib.sha256(cls.__name__.encode() + b"\0")
    digest.update(json.dumps(cls.META_SCHEMA, sort_keys=True).encode() + b"\0")
    digest.update(content)
    return "schema-checked-" + digest.hexdigest()[:32]


# Compiled validators by (schema, every reachable schema), across registries.
_COMPILED: dict[tuple[str, str], Any] = {}
_COMPILED_MAX = 256
_SHIPPED: dict[Path, dict[str, bytes]] = {}


def _read_shipped(folder: Path) -> dict[str, bytes]:
    """The shipped schemas of ``folder``, read once per process."""
    cached = _SHIPPED.get(folder)
    if cached is None:
        cached = {}
        if folder.is_dir():
            for path in sorted(folder.rglob("*.json")):
                cached[path.relative_to(folder).as_posix()] = path.read_bytes()
        _SHIPPED[folder] = cached
    return dict(cached)


def _resource(schema: Any, cls: Any) -> Any:
    from referencing import Resource
    from referencing.jsonschema import specification_with

    spec = specification_with(cls.META_SCHEMA["$schema"])
    return Resource(contents=schema, specification=spec)


def _refuse_retrieval(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)


def _draft_name(cls: Any) -> str:
    return str(getattr(cls, "__name__", "JSON Schema")).replace("Validator", "")


def schema_check(content: bytes, name: str) -> None:
    """Refuse a schema that is not valid against its metaschema."""
    registry = SchemaRegistry(store_schemas={name: content})
    registry.validator(registry.get(name))


# --- validating a document ----------------------------------------------------


def validate(
    file: str,
    data: Any,
    source: SchemaSource,
    registry: SchemaRegistry,
    text: str | None = None,
    secret_patterns: Sequence[str] = (),
) -> list[Problem]:
    """Every problem of ``data`` against the schema, located in ``text``."""
    from referencing.exceptions import Unresolvable

    validator = registry.validator(source)
    secrets = SecretMatcher(secret_patterns)
    try:
        errors = _drop_echoes(sorted(validator.iter_errors(data), key=_error_order))
        problems = list(dict.fromkeys(_problem(file, error, secrets) for error in errors))
    except Unresolvable as exc:
        ref = getattr(exc, "ref", str(exc))
        raise SchemaError(
            f"schema {source.name}: $ref {ref!r} cannot be resolved; only local "
            "schemas (the store's, the shipped ones and inline $defs) are used, "
            "never the network"
        ) from None
    return _locate_all(file, text, problems) if text is not None else problems


def _error_order(error: Any) -> tuple[Any, ...]:
    return (tuple(str(part) for part in error.absolute_path), error.validator)


def _drop_echoes(errors: list[Any]) -> list[Any]:
    """Drop ``unevaluatedProperties`` errors of objects that have errors inside.

    Annotations of a failing subschema are discarded (JSON Schema 2020-12), so
    one bad property under ``allOf: [{$ref}]`` makes every sibling it declares
    "unevaluated" too, and good keys would be reported as unexpected. A really
    unexpected key is still reported once the errors inside are fixed.
    """
    paths = [tuple(error.absolute_path) for error in errors]
    kept = []
    for error in errors:
        if error.validator == "unevaluatedProperties":
            base = tuple(error.absolute_path)
            if any(len(p) > len(base) and p[: len(base)] == base for p in paths):
                continue
        kept.append(error)
    return kept


def _locate_all(file: str, text: str, problems: list[Problem]) -> list[Problem]:
    from dataclasses import replace

    from vpa_config.documents import locate

    located = []
    for problem in problems:
        position = locate(file, text, problem.path)
        if position:
            problem = replace(problem, line=position[0], column=position[1])
        located.append(problem)
    return located


def _problem(file: str, error: Any, secrets: SecretMatcher) -> Problem:
    path = tuple(error.absolute_path)
    secret = _is_secret_schema(error.schema) or secrets.matches(file, path)
    if error.validator in ("anyOf", "oneOf") and error.context:
        best = _best_branch(error.context)
        inner = _problem(file, best, secrets)
        count = len({sub.relative_schema_path[0] for sub in error.context})
        message = (
            f"matches none of the {count} allowed forms ({error.validator}); "
            f"closest: {inner.dotted or '(document)'}: {inner.message}"
        )
        return Problem(file, path, message, str(error.validator))
    return Problem(file, path, describe(error, secret), str(error.validator))


def _best_branch(context: Iterable[Any]) -> Any:
    """The error of the branch that got furthest into the instance.

    A branch whose own root type does not fit is the least likely intent; among
    the others, the one whose errors reach deepest (a workflow job that is a
    normal job with one bad step, rather than a reusable-workflow call).
    """
    from jsonschema.exceptions import best_match

    branches: dict[Any, list[Any]] = {}
    for error in context:
        branches.setdefault(error.relative_schema_path[0], []).append(error)

    def furthest(errors: list[Any]) -> tuple[bool, int, int]:
        wrong_type = any(e.validator == "type" and not e.relative_path for e in errors)
        return (not wrong_type, max(len(e.relative_path) for e in errors), -len(errors))

    return best_match(max(branches.values(), key=furthest))


def describe(error: Any, secret: bool = False) -> str:
    """A plain-words message for one jsonschema error; values only if not secret."""
    rule = error.validator
    expected = error.validator_value
    value = REDACTED if secret else _show(error.instance)
    if rule == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        got = _type_name(error.instance)
        return f"expected {' or '.join(map(str, kinds))}; got {got}"
    if rule == "enum":
        choices = ", ".join(_show(choice) for choice in expected)
        return f"expected one of {_short(choices, 200)}; got {value}"
    if rule == "const":
        return f"expected {_show(expected)}; got {value}"
    if rule == "required":
        missing = [key for key in expected if key not in error.instance]
        return f"missing required key {', '.join(map(repr, missing))}"
    if rule in ("additionalProperties", "unevaluatedProperties"):
        extra = re.findall(r"'([^']*)'", error.message.split("(")[-1])
        keys = ", ".join(repr(key) for key in extra) or "keys"
        return f"unexpected key {keys}; the schema does not allow it"
    if rule in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }
        return f"expected {words[rule]} {expected}; got {value}"
    if rule in ("minLength", "maxLength"):
        bound = "at least" if rule == "minLength" else "at most"
        return f"expected text of {bound} {expected} characters"
    if rule in ("minItems", "maxItems"):
        bound = "at least" if rule == "minItems" else "at most"
        return f"expected {bound} {expected} items; got {len(error.instance)}"
    if rule == "pattern":
        return f"expected text matching the pattern {expected!r}; got {value}"
    if rule == "format":
        return f"expected a valid {expected}; got {value}"
    if rule == "uniqueItems":
        return "expected every item to be different; found a repeated item"
    if rule == "multipleOf":
        return f"expected a multiple of {expected}; got {value}"
    if rule == "not":
        return "matches a form the schema forbids (not)"
    if rule in ("minProperties", "maxProperties"):
        bound = "at least" if rule == "minProperties" else "at most"
        return f"expected {bound} {expected} keys"
    if rule == "false":
        return "no value is allowed here"
    if secret:
        return f"fails the {rule!r} rule"
    return _short(str(error.message), 200)


def _type_name(value: Any) -> str:
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


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"{_type_name(value)} of {len(value)} items"
    return _short(json.dumps(value, ensure_ascii=False, default=str), 60)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- secrets -------------------------------------------------------------------


def _is_secret_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and any(
        schema.get(word) is True for word in SECRET_KEYWORDS
    )


class SecretMatcher:
    """Settings patterns (``assistant.yaml:llm.api_key``, ``*:*.password``)."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self._patterns = [self._split(pattern) for pattern in patterns]

    @staticmethod
    def _split(pattern: str) -> tuple[str, str]:
        file, _, key = pattern.rpartition(":")
        return (file or "*", key)

    def matches(self, file: str, path: Sequence[Part]) -> bool:
        """Whether the key at ``path`` of ``file`` is secret by a pattern."""
        from fnmatch import fnmatchcase

        dotted = format_dotted(path)
        return any(
            fnmatchcase(file, file_glob) and fnmatchcase(dotted, key_glob)
            for file_glob, key_glob in self._patterns
        )


def secret_paths(schema: Any, data: Any, root: Any = None) -> Iterator[tuple[Part, ...]]:
    """Paths in ``data`` whose schema marks them secret.

    Follows properties, patternProperties, additionalProperties, items,
    prefixItems, allOf and local ``$ref`` (``#/...``); secrets marked only
    inside anyOf/oneOf branches are not followed (#3).
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
        target = _local_ref(root, ref)
        yield from _secret_walk(target, data, root, path, depth + 1)
    if _is_secret_schema(schema):
        yield path
        return
    for sub in schema.get("allOf", []) or []:
        yield from _secret_walk(sub, data, root, path, depth + 1)
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        patterns = schema.get("patternProperties") or {}
        for key, value in data.items():
            if key in properties:
                sub = properties[key]
            else:
                sub = next(
                    (s for p, s in patterns.items() if re.search(p, str(key))),
                    schema.get("additionalProperties"),
                )
            yield from _secret_walk(sub, value, root, (*path, key), depth + 1)
    elif isinstance(data, list):
        prefix = schema.get("prefixItems") or []
        for index, value in enumerate(data):
            sub = prefix[index] if index < len(prefix) else schema.get("items")
            yield from _secret_walk(sub, value, root, (*path, index), depth + 1)


def _local_ref(root: Any, ref: str) -> Any:
    node = root
    for part in ref.lstrip("#").split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit():
            node = node[int(part)]
        else:
            return None
    return node


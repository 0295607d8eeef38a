"""Schemas and validation: which schema, compiled once, every error located.

Schemas come from two places, searched in this order: the store's own
``.vpa-config/schemas/`` (versioned with the config) and the ``schemas/``
folder shipped with vpa-config. Each schema gets a base URI from its place and
relative path (``file:///vpa-config/store/vpa/assistant.schema.json``), so
two schemas with the same file name in different folders never meet, and
relative ``$ref`` works between neighbours. Nothing is ever fetched: a
``$ref`` to anything not loaded here is an error that names it, found when the
schema is first compiled rather than halfway through a document.

Draft 2020-12 is the default; ``$schema`` picks 2019-09, 7 (or the older 6
and 4). Format checking is on. Messages come from :mod:`vpa_config.explain`,
written from the failing keyword, so no document and no secret leaks.

Speed: a compiled validator is kept per process by schema content and the set
of schemas it can reach; the metaschema check, which costs about a second for
a schema the size of renovate's, is remembered across runs by content digest
(see :class:`CheckedSchemas`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

from vpa_config.digests import sha256
from vpa_config.errors import Problem, SchemaError, SchemaNotFoundError
from vpa_config.explain import (
    REDACTED,
    SECRET_KEYWORDS,
    SecretMatcher,
    all_paths,
    describe,
    is_secret_schema,
    scalars_below,
    secret_paths,
)
from vpa_config.keypath import Part, format_dotted
from vpa_config.layout import shipped_schema_dir
from vpa_config.records import FrozenRecord

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_KEYWORDS",
    "CheckedSchemas",
    "SchemaRegistry",
    "SchemaSource",
    "SecretMatcher",
    "describe",
    "schema_check",
    "secret_paths",
    "validate",
]

STORE_BASE = "file:///vpa-config/store/"
SHIPPED_BASE = "file:///vpa-config/shipped/"
DRAFTS = {
    "https://json-schema.org/draft/2020-12/schema": "Draft202012Validator",
    "https://json-schema.org/draft/2019-09/schema": "Draft201909Validator",
    "http://json-schema.org/draft-07/schema": "Draft7Validator",
    "http://json-schema.org/draft-06/schema": "Draft6Validator",
    "http://json-schema.org/draft-04/schema": "Draft4Validator",
}

# Process-wide: compiled validators by (uri, content, reachable schemas).
_VALIDATORS: dict[tuple[str, str, str], Any] = {}
_VALIDATORS_MAX = 256
_COMPILED = _VALIDATORS  # the name other modules and tests know it by
# Process-wide: schemacheck's compiled forms, by the same key.
_DECIDERS: dict[tuple[str, str, str], Any] = {}


class SchemaSource(FrozenRecord):
    """One schema document and where it came from."""

    _fields = ("name", "origin", "uri", "content")
    __slots__ = (*_fields, "_sha256")

    name: str
    origin: str
    uri: str
    content: bytes

    def __init__(self, name: str, origin: str, uri: str, content: bytes) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "origin", origin)
        init(self, "uri", uri)
        init(self, "content", content)
        init(self, "_sha256", None)

    @property
    def sha256(self) -> str:
        """Full sha256 of the schema text (hashed once per source)."""
        if self._sha256 is None:
            object.__setattr__(
                self, "_sha256", sha256(self.content).hexdigest()
            )
        return self._sha256

    @property
    def digest(self) -> str:
        """Short sha256 of the schema text, recorded in each commit's trailers."""
        return self.sha256[:16]

    @property
    def label(self) -> str:
        """``origin:name``, as trailers and reports name a schema."""
        return f"{self.origin}:{self.name}"

    def load(self) -> Any:
        """The schema as data (parsed once per content); bad JSON is a SchemaError."""
        data = _PARSED.get(self.sha256, _UNPARSED)
        if data is _UNPARSED:
            try:
                data = json.loads(self.content)
            except (ValueError, UnicodeDecodeError) as exc:
                raise SchemaError(f"schema {self.name} is not valid JSON: {exc}") from None
            if len(_PARSED) >= _VALIDATORS_MAX:
                _PARSED.clear()
            _PARSED[self.sha256] = data
        if not isinstance(data, (dict, bool)):
            raise SchemaError(f"schema {self.name} must be a JSON object")
        return data


def _source(name: str, origin: str, uri: str, content: bytes) -> SchemaSource:
    """The SchemaSource of these facts: one object for them in a process, so its
    sha256 is computed once (every change asks for its files' schemas)."""
    if len(content) > _SOURCE_MAX_BYTES:
        return SchemaSource(name, origin, uri, content)
    key = (name, origin, uri, content)
    found = _SOURCES.get(key)
    if found is None:
        if len(_SOURCES) >= _SOURCES_MAX:
            _SOURCES.clear()
        found = _SOURCES[key] = SchemaSource(name, origin, uri, content)
    return found


_SOURCES: dict[tuple[str, str, str, bytes], SchemaSource] = {}
_SOURCES_MAX = 64
_SOURCE_MAX_BYTES = 512 * 1024


# Parsed schemas by content digest; never mutated (a base $id is added to a copy).
_PARSED: dict[str, Any] = {}
_UNPARSED = object()


class CheckedSchemas:
    """Digests of schemas already found valid against their metaschema.

    Kept in memory and, when given a file, across runs (one digest a line).
    The key is the content's sha256 with the draft and the jsonschema version,
    so it is never stale.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._known: set[str] | None = None

    def _load(self) -> set[str]:
        if self._known is None:
            self._known = set()
            if self.path is not None:
                try:
                    self._known.update(self.path.read_text().split())
                except (OSError, UnicodeDecodeError):
                    pass
        return self._known

    def __contains__(self, key: str) -> bool:
        return key in self._load() or key in _CHECKED_IN_PROCESS

    def add(self, key: str) -> None:
        """Remember ``key``; best effort on disk (a read-only store still works)."""
        _CHECKED_IN_PROCESS.add(key)
        known = self._load()
        if key in known:
            return
        known.add(key)
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as handle:
                    handle.write(key + "\n")
            except OSError:
                pass


_CHECKED_IN_PROCESS: set[str] = set()


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vpa-config`` (default ``~/.cache/vpa-config``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vpa-config"


def default_checked() -> CheckedSchemas:
    """The per-user record of checked schemas, shared by stores and ``--schema``.

    One object per record file in a process: its digests are read once, not
    once per change.
    """
    where = (os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
    path = _CHECKED_PATHS.get(where)
    if path is None:
        path = _CHECKED_PATHS[where] = user_cache_dir() / "checked-schemas"
    found = _DEFAULT_CHECKED.get(path)
    if found is None:
        found = _DEFAULT_CHECKED[path] = CheckedSchemas(path)
    return found


_DEFAULT_CHECKED: dict[Path, CheckedSchemas] = {}
# The record's path by the variables user_cache_dir() reads it from (building
# the path with pathlib costs more than the rest of a change's schema lookup).
_CHECKED_PATHS: dict[tuple[str | None, str | None], Path] = {}


class SchemaRegistry:
    """All schemas the store can use, and compiled validators by content."""

    def __init__(
        self,
        store_schemas: dict[str, bytes] | None = None,
        shipped_dir: Path | None = None,
        *,
        shipped_overrides: dict[str, bytes] | None = None,
        checked: CheckedSchemas | None = None,
        local_files: bool = False,
    ) -> None:
        self._store = dict(store_schemas or {})
        self._shipped_dir = shipped_dir or shipped_schema_dir()
        self._shipped: dict[str, bytes] | None = None
        self._overrides = dict(shipped_overrides or {})
        self._registry: Any = None
        self._fingerprint: str | None = None
        self.checked = checked or default_checked()
        self.local_files = local_files
        self._extra: dict[str, SchemaSource] = {}
        self._decider_table: dict[str, tuple[Any, str]] | None = None

    def _shipped_schemas(self) -> dict[str, bytes]:
        if self._shipped is None:
            self._shipped = dict(_shipped_contents(self._shipped_dir))
            self._shipped.update(self._overrides)
        return self._shipped

    @property
    def fingerprint(self) -> str:
        """A digest of every schema a ``$ref`` could reach from here."""
        if self._fingerprint is None:
            digest = sha256(str(self._shipped_dir).encode())
            for base, schemas in (("s", self._store), ("o", self._overrides)):
                for name in sorted(schemas):
                    digest.update(f"{base}:{name}\0".encode())
                    digest.update(sha256(schemas[name]).digest())
            for uri in sorted(self._extra):
                digest.update(uri.encode() + self._extra[uri].sha256.encode())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def names(self) -> list[tuple[str, str]]:
        """(name, origin) of every known schema, store first."""
        found = [(name, "store") for name in sorted(self._store)]
        found += [(name, "shipped") for name in sorted(self._shipped_schemas())]
        return found

    def get(self, name: str) -> SchemaSource:
        """The schema called ``name``: the store's if it has one, else shipped."""
        if name in self._store:
            return _source(name, "store", STORE_BASE + name, self._store[name])
        shipped = self._shipped_schemas()
        if name in shipped:
            return _source(name, "shipped", SHIPPED_BASE + name, shipped[name])
        raise SchemaNotFoundError(
            f"schema {name!r} not found in the store's .vpa-config/schemas/ "
            "or in vpa-config's shipped schemas"
        )

    def add_file(self, path: Path) -> SchemaSource:
        """A schema file from anywhere on disk (``validate --schema``)."""
        resolved = path.resolve()
        try:
            content = resolved.read_bytes()
        except FileNotFoundError:
            raise SchemaNotFoundError(f"schema file {path} not found") from None
        except OSError as exc:
            raise SchemaError(f"cannot read schema {path}: {exc.strerror}") from None
        source = SchemaSource(str(path), "file", resolved.as_uri(), content)
        self._extra[source.uri] = source
        self._registry = None
        self._fingerprint = None
        self._decider_table = None
        return source

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
        """A compiled validator for the schema, built once per content."""
        key = (source.uri, source.sha256, self.fingerprint)
        cached = _VALIDATORS.get(key)
        if cached is None:
            cached = self._build_validator(source)
            if len(_VALIDATORS) >= _VALIDATORS_MAX:
                _VALIDATORS.clear()
            _VALIDATORS[key] = cached
        return cached

    def _build_validator(self, source: SchemaSource) -> Any:
        schema = source.load()
        cls = validator_class(schema, source.name)
        from vpa_config.settings_cache import flag_known, flag_set

        # A schema that passed its metaschema once is not checked again in a
        # later process (for renovate's 2.2 MB schema the check takes a second):
        # remembered per user, and per store in its git dir.
        check_key = f"{source.sha256}:{cls.__name__}:{_jsonschema_version()}"
        flag = _checked_key(cls, source.content)
        known = flag_known(flag)
        if check_key not in self.checked and not known:
            check_against_metaschema(schema, cls, source.name)
        if not known:
            flag_set(flag)
        self.checked.add(check_key)
        schema = _with_base(schema, cls, source.uri)
        registry = self._referencing_registry()
        registry = registry.with_resource(source.uri, _resource(schema, cls))
        validator = cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
        refs_key = f"{check_key}:refs:{self.fingerprint}"
        if refs_key not in self.checked:
            check_refs(registry, schema, source)
            self.checked.add(refs_key)
        if schemacheck_covers(cls):
            decided = self.decider_flag(source)
            flag_set(decided)
            self.checked.add(decided)
        return validator

    def passed_checks(self, source: SchemaSource) -> bool:
        """Whether a jsonschema build of this schema, here, succeeded before."""
        from vpa_config.settings_cache import flag_known, flag_set

        flag = self.decider_flag(source)
        if flag_known(flag):
            return True
        if flag not in self.checked:
            return False
        # Known from the per-user record (read whole, one digest a line): kept
        # with the store's flags too, so the next change need not read it.
        flag_set(flag)
        return True

    def ensure_checked(self, source: SchemaSource) -> None:
        """Raise SchemaError for a bad schema; free when it passed before."""
        if not self.passed_checks(source):
            self.validator(source)

    # --- the decider: valid documents without jsonschema --------------------

    def decider_flag(self, source: SchemaSource) -> str:
        """Names "this schema, with these neighbours, passed every schema check".

        Set once jsonschema built a validator for it (metaschema and ``$ref``
        checks passed); only then may :func:`validate` trust
        :mod:`vpa_config.schemacheck` without loading jsonschema.
        """
        parts = (source.uri, source.sha256, self.fingerprint, _jsonschema_stamp())
        text = "\0".join(parts)
        return "schema-decided-" + sha256(text.encode()).hexdigest()[:32]

    def decider(self, source: SchemaSource) -> Any:
        """The schema compiled by :mod:`vpa_config.schemacheck` (None: declined)."""
        key = (source.uri, source.sha256, self.fingerprint)
        if key not in _DECIDERS:
            from vpa_config import schemacheck

            try:
                schema = source.load()
            except SchemaError:
                compiled = None
            else:
                compiled = schemacheck.compile_schema(
                    schema, uri=source.uri, lookup=self._decider_lookup
                )
            if len(_DECIDERS) >= _VALIDATORS_MAX:
                _DECIDERS.clear()
            _DECIDERS[key] = compiled
        return _DECIDERS[key]

    def _decider_lookup(self, uri: str) -> tuple[Any, str] | None:
        if self._decider_table is None:
            self._decider_table = _decider_table(self._all_sources())
        return self._decider_table.get(uri)

    def _all_sources(self) -> list[tuple[str, bytes]]:
        found = [(STORE_BASE + name, content) for name, content in self._store.items()]
        found += [
            (SHIPPED_BASE + name, content)
            for name, content in self._shipped_schemas().items()
        ]
        found += [(uri, source.content) for uri, source in self._extra.items()]
        return found

    def _referencing_registry(self) -> Any:
        if self._registry is None:
            from referencing import Registry

            resources = []
            for base, schemas in (
                (STORE_BASE, self._store),
                (SHIPPED_BASE, self._shipped_schemas()),
            ):
                for name, content in schemas.items():
                    resource = _resource_of(content)
                    if resource is not None:
                        resources.append((base + name, resource))
            for uri, source in self._extra.items():
                resource = _resource_of(source.content)
                if resource is not None:
                    resources.append((uri, resource))
            retrieve = _local_file_retrieval if self.local_files else _refuse_retrieval
            self._registry = Registry(retrieve=retrieve).with_resources(resources)
        return self._registry


_SHIPPED_CACHE: dict[Path, dict[str, bytes]] = {}


def _shipped_contents(folder: Path) -> dict[str, bytes]:
    if folder not in _SHIPPED_CACHE:
        found: dict[str, bytes] = {}
        if folder.is_dir():
            for path in sorted(folder.rglob("*.json")):
                rel = path.relative_to(folder).as_posix()
                if not rel.startswith("examples/"):
                    found[rel] = path.read_bytes()
        _SHIPPED_CACHE[folder] = found
    return _SHIPPED_CACHE[folder]


def _checked_key(cls: Any, content: bytes) -> str:
    """Names a schema text checked valid against this metaschema."""
    meta = json.dumps(cls.META_SCHEMA, sort_keys=True).encode() + b"\0"
    digest = sha256(cls.__name__.encode() + b"\0", len(meta) + len(content))
    digest.update(meta)
    digest.update(content)
    return "schema-checked-" + digest.hexdigest()[:32]


def schemacheck_covers(cls: Any) -> bool:
    """Whether schemacheck knows every keyword and format of this validator class."""
    from vpa_config import schemacheck

    draft = cls.__name__.removesuffix("Validator").lower()
    if draft not in schemacheck.KEYWORDS:
        return False
    checker = cls.FORMAT_CHECKER
    return schemacheck.covers(draft, cls.VALIDATORS, checker.checkers)


def _jsonschema_stamp() -> str:
    """Where jsonschema and its metaschemas are installed, and when (no import)."""
    global _STAMP
    if _STAMP is not None:
        return _STAMP
    from importlib.util import find_spec

    parts = []
    for name in ("jsonschema", "jsonschema_specifications"):
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        try:
            stat = os.stat(origin) if origin else None
        except OSError:
            stat = None
        parts.append(f"{origin}:{stat.st_mtime_ns}:{stat.st_size}" if stat else name)
    _STAMP = "|".join(parts)
    return _STAMP


_STAMP: str | None = None


def _decider_table(sources: list[tuple[str, bytes]]) -> dict[str, tuple[Any, str]]:
    """Every schema a ``$ref`` may name, by URI, as jsonschema's registry holds them.

    By place, and by a top-level ``$id``; ids are left out when any schema
    might embed another ``$id`` (a crawled registry could then answer
    differently) or when two schemas claim the same one.
    """
    from vpa_config import schemacheck

    table: dict[str, tuple[Any, str]] = {}
    ids: dict[str, tuple[Any, str] | None] = {}
    embedded = False
    for uri, content in sources:
        try:
            data = SchemaSource("", "", "", content).load()
        except SchemaError:
            continue
        draft = schemacheck.draft_of(data)
        if draft is None:
            continue
        table[uri] = (data, draft)
        word = "id" if draft == "draft4" else "$id"
        own = 1 if isinstance(data, dict) and word in data else 0
        embedded = (
            embedded
            or content.count(f'"{word}"'.encode()) > own
            or b"\\u" in content
        )
        ident = schemacheck.id_of(data, draft)
        if isinstance(ident, str):
            joined = urljoin(uri, ident)
            ids[joined] = (data, draft) if joined not in ids else None
    if not embedded:
        for uri, entry in ids.items():
            if entry is not None:
                table.setdefault(uri, entry)
    return table


def _jsonschema_version() -> str:
    from importlib.metadata import version

    return version("jsonschema")


def validator_class(schema: Any, name: str) -> Any:
    """The jsonschema validator class the schema's ``$schema`` names."""
    from vpa_config import formats

    return getattr(formats.load().validators, validator_name(schema, name))


def validator_name(schema: Any, name: str) -> str:
    """The name of that class (``Draft202012Validator``), without jsonschema.

    A ``$schema`` that names no draft vpa-config knows is a SchemaError.
    """
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if declared is None:
        return "Draft202012Validator"
    if not isinstance(declared, str):
        raise SchemaError(f"schema {name}: $schema must be a URI string")
    wanted = urldefrag(declared.strip())[0].replace("https://json-schema.org/draft-0",
                                                    "http://json-schema.org/draft-0")
    if wanted not in DRAFTS:
        known = "2020-12, 2019-09, draft 7, 6 or 4"
        raise SchemaError(
            f"schema {name}: $schema {declared!r} is not a JSON Schema draft "
            f"vpa-config knows ({known})"
        )
    return DRAFTS[wanted]


def draft_name(cls: Any) -> str:
    """``Draft202012`` and the like, for messages."""
    return str(getattr(cls, "__name__", "JSON Schema")).replace("Validator", "")


def check_against_metaschema(schema: Any, cls: Any, name: str) -> None:
    """Refuse a schema its draft's metaschema rejects, naming where."""
    from vpa_config import formats

    formats.load()
    from jsonschema.exceptions import SchemaError as JsonSchemaError
    from jsonschema.exceptions import best_match

    meta = cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)
    try:
        error = best_match(meta.iter_errors(schema))
    except JsonSchemaError as exc:  # pragma: no cover (metaschemas are valid)
        error = exc
    if error is None:
        return
    where = format_dotted(tuple(error.absolute_path)) or "(top)"
    raise SchemaError(
        f"schema {name} is not a valid {draft_name(cls)} schema: at {where}: "
        f"{describe(error)}"
    )


def _with_base(schema: Any, cls: Any, uri: str) -> Any:
    """The schema with its place as ``$id`` when it has none, for relative refs."""
    word = "id" if cls.__name__ == "Draft4Validator" else "$id"
    if isinstance(schema, dict) and word not in schema and "$ref" not in schema:
        return {word: uri, **schema}
    return schema


def check_refs(registry: Any, schema: Any, source: SchemaSource) -> None:
    """Resolve every ``$ref`` now, so a dangling one is a schema error up front."""
    from jsonschema_specifications import REGISTRY as METASCHEMAS
    from referencing.exceptions import Unresolvable

    # Crawled once up front: an uncrawled registry crawls the whole schema again
    # on every lookup of an ``$id``-based URI (thousands, for renovate's).
    resolver = registry.combine(METASCHEMAS).crawl().resolver(base_uri=source.uri)
    for base, ref in sorted(set(_refs(schema, source.uri))):
        try:
            resolver.lookup(urljoin(base, ref))
        except Unresolvable:
            raise unresolvable(source.name, ref) from None


def unresolvable(name: str, ref: str) -> SchemaError:
    """The error for a ``$ref`` that points outside the local schemas."""
    remote = urlsplit(ref).scheme in ("http", "https")
    why = " (it is remote, and vpa-config never fetches schemas)" if remote else ""
    return SchemaError(
        f"schema {name}: $ref {ref!r} cannot be resolved{why}; only local schemas "
        "are used (the store's, the shipped ones and the schema's own $defs)"
    )


def _refs(schema: Any, base: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(schema, base)]
    while stack:
        node, here = stack.pop()
        if isinstance(node, dict):
            ident = node.get("$id")
            if isinstance(ident, str) and "$ref" not in node:
                here = urljoin(here, ident)
            ref = node.get("$ref")
            if isinstance(ref, str):
                found.append((here, ref))
            for key, value in node.items():
                if key not in ("enum", "const", "examples", "default"):
                    stack.append((value, here))
        elif isinstance(node, list):
            stack.extend((item, here) for item in node)
    return found


def _resource_of(content: bytes) -> Any:
    try:
        data = SchemaSource("", "", "", content).load()
        cls = validator_class(data, "")
    except (ValueError, SchemaError):
        return None
    return _resource(data, cls)


def _resource(schema: Any, cls: Any) -> Any:
    from referencing import Resource
    from referencing.jsonschema import specification_with

    spec = specification_with(cls.META_SCHEMA["$schema"])
    return Resource(contents=schema, specification=spec)


def _refuse_retrieval(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)


def _local_file_retrieval(uri: str) -> Any:
    """Only ``file:`` URIs of files that exist: a schema's neighbours on disk."""
    from urllib.request import url2pathname

    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return _refuse_retrieval(uri)
    path = Path(url2pathname(parts.path))
    try:
        resource = _resource_of(path.read_bytes())
    except OSError:
        resource = None
    return resource if resource is not None else _refuse_retrieval(uri)


def schema_check(content: bytes, name: str) -> SchemaSource:
    """Refuse a schema that is not valid against its metaschema or has bad refs."""
    registry = SchemaRegistry(store_schemas={name: content})
    source = registry.get(name)
    registry.validator(source)
    return source


# --- validating a document ----------------------------------------------------


def validate(
    file: str,
    data: Any,
    source: SchemaSource,
    registry: SchemaRegistry,
    text: str | None = None,
    secret_patterns: Sequence[str] = (),
) -> list[Problem]:
    """Every problem of ``data`` against the schema, located in ``text``.

    A document :mod:`vpa_config.schemacheck` finds valid, against a schema
    that passed all schema checks before, returns at once without jsonschema;
    anything else is judged and reported by jsonschema.
    """
    if _known_valid(data, source, registry):
        return []
    from referencing.exceptions import Unresolvable

    validator = registry.validator(source)
    try:
        errors = list(validator.iter_errors(data))
    except Unresolvable as exc:
        raise unresolvable(source.name, str(getattr(exc, "ref", exc))) from None
    if not errors:
        return []
    errors = _drop_echoes(sorted(errors, key=_error_order))
    secrets = _Secrets(file, data, source, secret_patterns)
    problems = list(dict.fromkeys(_problem(file, error, secrets) for error in errors))
    if text is not None:
        problems = locate_all(file, text, problems)
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _known_valid(data: Any, source: SchemaSource, registry: SchemaRegistry) -> bool:
    if not registry.passed_checks(source):
        return False
    decider = registry.decider(source)
    return decider is not None and decider.is_valid(data) is True


def _error_order(error: Any) -> tuple[Any, ...]:
    return (tuple(str(part) for part in error.absolute_path), str(error.validator))


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


class _Secrets:
    """Which error paths are secret, worked out only when there are errors."""

    def __init__(
        self, file: str, data: Any, source: SchemaSource, patterns: Sequence[str]
    ) -> None:
        self.file = file
        self.matcher = SecretMatcher(patterns)
        self.paths: set[tuple[Part, ...]] = set()
        try:
            self.paths.update(secret_paths(source.load(), data))
        except SchemaError:
            pass
        if patterns:
            self.paths.update(p for p in all_paths(data) if self.matcher.matches(file, p))
        self.values = sorted(
            {text for path in self.paths for text in _values_at(data, path)},
            key=len,
            reverse=True,
        )

    def covers(self, error: Any) -> bool:
        path = tuple(error.absolute_path)
        if is_secret_schema(error.schema):
            return True
        return any(path[: len(secret)] == secret for secret in self.paths)

    def scrub(self, message: str) -> str:
        for value in self.values:
            message = message.replace(value, "<redacted>")
        return message


def _values_at(data: Any, path: tuple[Part, ...]) -> list[str]:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return []
    return [text for text in scalars_below(node) if len(text) >= 3]


def _problem(file: str, error: Any, secrets: _Secrets) -> Problem:
    path = tuple(error.absolute_path)
    if error.validator in ("anyOf", "oneOf") and error.context:
        return _branch_problem(file, error, secrets)
    message = secrets.scrub(describe(error, secrets.covers(error)))
    at: tuple[str, ...] = ()
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        from vpa_config.explain import extra_keys

        at = tuple(extra_keys(error)[:1])
    return Problem(file, path, message, str(error.validator), at=at)


def _branch_problem(file: str, error: Any, secrets: _Secrets) -> Problem:
    """anyOf/oneOf: where the choice is, and the first error of the closest form."""
    count = len({sub.relative_schema_path[0] for sub in error.context})
    inner = _problem(file, _closest_leaf(error), secrets)
    message = (
        f"matches none of the {count} allowed forms ({error.validator}); "
        f"closest: {inner.dotted or '(document)'}: {inner.message}"
    )
    return Problem(file, tuple(error.absolute_path), message, str(error.validator))


def _closest_leaf(error: Any) -> Any:
    """The first error of the form that got furthest, through nested choices."""
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    depth = len(error.absolute_path)
    errors = min(branches.values(), key=lambda errs: _branch_rank(errs, depth))
    best = min(errors, key=lambda sub: (-len(sub.absolute_path), _error_order(sub)))
    if best.validator in ("anyOf", "oneOf") and best.context:
        return _closest_leaf(best)
    return best


def _branch_rank(errors: list[Any], depth: int) -> tuple[Any, ...]:
    wrong_type = any(
        sub.validator in ("type", "const", "enum") and len(sub.absolute_path) == depth
        for sub in errors
    )
    deepest = max(len(sub.absolute_path) for sub in errors)
    return (wrong_type, -deepest, len(errors))


# --- locating problems in the source text -------------------------------------


def locate_all(file: str, text: str, problems: list[Problem]) -> list[Problem]:
    """Each problem with the line and column of its key path in ``text``."""
    finder = _finder(file, text)
    located = []
    for problem in problems:
        position = (problem.at and finder(problem.path + problem.at)) or finder(
            problem.path
        )
        if position:
            problem = problem.copy_with(line=position[0], column=position[1])
        located.append(problem)
    return located


Finder = Callable[[Sequence[Part]], "tuple[int, int] | None"]


def _finder(file: str, text: str) -> Finder:
    from vpa_config import documents

    lower = file.lower()
    if lower.endswith((".yaml", ".yml", ".json")):
        root = _compose(text)
        if root is not None:
            return lambda path: _node_position(root, path)
    return lambda path: documents.locate(file, text, path)


def _compose(text: str) -> Any:
    """libyaml's node tree (with marks) of a text that already parsed."""
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.compose(text, Loader=loader_cls)
    except yaml.YAMLError:
        return None


def _node_position(root: Any, path: Sequence[Part]) -> tuple[int, int] | None:
    import yaml

    mark = root.start_mark
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(
                ((k, v) for k, v in node.value if str(k.value) == str(part)), None
            )
            if match is None:
                break
            mark, node = match[0].start_mark, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1

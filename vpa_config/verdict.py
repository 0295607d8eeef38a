"""The judgement of a candidate tree: which schema, every problem, what changed.

A :class:`CandidateCheck` sees the store as it would be after a change (the
candidate settings, the candidate schemas and the candidate files), so a
change to the settings or a schema is judged by what it makes of every file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

from vpa_config import documents
from vpa_config.blobcache import MISS
from vpa_config.errors import ParseError, Problem, SchemaError, SchemaNotFoundError
from vpa_config.history import FileChange, KeyChange, diff_documents
# The settings model (pydantic) is imported only when settings must be
# validated; reading known settings goes through settings_cache.
from vpa_config.layout import SCHEMA_DIR, SETTINGS_FILE, SETTINGS_SCHEMA
from vpa_config.filecheck import FileVerdict
from vpa_config.validation import (
    CheckedSchemas,
    SchemaRegistry,
    SchemaSource,
    SecretMatcher,
    locate_all,
    secret_paths,
    validate,
)

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    from vpa_config.blobcache import BlobCache
    from vpa_config.settings import StoreSettings
    from vpa_config.store import ConfigStore

Reader = Callable[[str], "bytes | None"]


_NO_SCHEMA = (
    "no schema applies; add a rule to .vpa-config/settings.yaml, a $schema key, "
    "or set allow_unschematized: true"
)


class CandidateCheck:
    """Validation and diffs over one candidate tree."""

    def __init__(
        self,
        read: Reader,
        names: Iterable[str],
        read_old: Reader,
        *,
        blob_of: Callable[[str], str | None] | None = None,
        results: dict[tuple[str, ...], list[Problem]] | None = None,
        shipped_overrides: dict[str, bytes] | None = None,
        checked: CheckedSchemas | None = None,
        committed: bool = False,
        cache: BlobCache | None = None,
        old_blob_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self._read = read
        self._read_old = read_old
        self.names = sorted(names)
        self._parsed: dict[str, Any] = {}
        self._blob_of = blob_of
        self._results = results
        self._overrides = shipped_overrides
        self._checked = checked
        # The tree is a commit (HEAD), not a candidate: see settings_for().
        self._committed = committed
        # Facts by blob id kept across runs (blobcache.py): used only where the
        # blob ids of the candidate (blob_of) and of HEAD (old_blob_of) are known.
        self._cache = cache if blob_of is not None else None
        self._old_blob_of = old_blob_of
        self._secrets_by_blob: dict[tuple[str, str], frozenset[Any]] = {}

    # --- what applies ----------------------------------------------------

    @cached_property
    def settings_problems(self) -> list[Problem]:
        """Problems of the candidate settings file itself."""
        return self._check_settings()

    @cached_property
    def settings(self) -> StoreSettings:
        """The candidate settings; defaults when the file is absent or invalid."""
        blob = self._blob_of(SETTINGS_FILE) if self._blob_of else None
        key = ("settings", blob or "")
        if blob and self._results is not None and key in self._results:
            return self._results[key]  # type: ignore[return-value]
        known = _SETTINGS.get((blob, self._committed)) if blob else None
        if known is not None:
            return known
        from vpa_config.settings_cache import settings_for

        data = self._parse_quiet(SETTINGS_FILE)
        valid = True
        try:
            settings = settings_for(data, committed=self._committed)
        except Exception:  # noqa: BLE001 (reported by settings_problems)
            from vpa_config.settings import StoreSettings

            settings = StoreSettings()
            valid = False
        if blob and self._results is not None:
            self._results[key] = settings  # type: ignore[assignment]
        if blob and valid:
            if len(_SETTINGS) >= _SETTINGS_MAX:
                _SETTINGS.clear()
            _SETTINGS[(blob, self._committed)] = settings
        return settings

    @cached_property
    def registry(self) -> SchemaRegistry:
        """The candidate store schemas plus the shipped ones.

        One registry per set of schema blobs in a process (with the record
        of checked schemas it uses): a run of changes that leave the schemas
        alone shares its compiled forms and fingerprint. A registry's state
        is worked out from those schemas only, never changed by its readers.
        """
        names = [
            name for name in self.names
            if name.startswith(SCHEMA_DIR) and name.endswith(".json")
        ]
        key = self._registry_key(names)
        known = _REGISTRIES.get(key) if key is not None else None
        if known is not None:
            return known
        schemas = {}
        for name in names:
            content = self._read(name)
            if content is not None:
                schemas[name[len(SCHEMA_DIR):]] = content
        registry = SchemaRegistry(
            store_schemas=schemas,
            shipped_overrides=self._overrides,
            checked=self._checked,
        )
        if key is not None:
            if len(_REGISTRIES) >= _REGISTRIES_MAX:
                _REGISTRIES.clear()
            _REGISTRIES[key] = registry
        return registry

    def _registry_key(self, names: list[str]) -> tuple[Any, ...] | None:
        """What the candidate's registry is made of, by blob id; None if unknown."""
        if self._blob_of is None or self._overrides is not None:
            return None
        from vpa_config.validation import default_checked

        checked = self._checked if self._checked is not None else default_checked()
        return tuple((name, self._blob_of(name)) for name in names), checked

    def schema_name_for(self, name: str, data: Any = None) -> str | None:
        """The schema a file uses: a settings rule, else the document's ``$schema``."""
        if name == SETTINGS_FILE:
            return SETTINGS_SCHEMA
        rule = self.settings.schema_for(name)
        if rule:
            return rule
        if isinstance(data, dict) and isinstance(data.get("$schema"), str):
            return self.registry.find(data["$schema"])
        return None

    def schema_for(self, name: str, data: Any = None) -> SchemaSource | None:
        """The schema source for a file, or None when it has none."""
        schema = self.schema_name_for(name, data)
        return self.registry.get(schema) if schema else None

    # --- validation ------------------------------------------------------

    def validate_changed(self, changed: set[str]) -> list[Problem]:
        """Problems of every file the change affects."""
        wide = any(
            name == SETTINGS_FILE or name.startswith(SCHEMA_DIR) for name in changed
        )
        targets = self.names if wide else sorted(changed)
        if wide and self._read(SETTINGS_FILE) is not None and self.settings_problems:
            # Invalid settings give no schema rules: judged by them, every
            # other file would only report that no schema applies.
            targets = [n for n in targets
                       if n == SETTINGS_FILE or n.startswith(SCHEMA_DIR)]
        problems: list[Problem] = []
        for name in targets:
            if self._read(name) is not None:
                problems += self.validate_file(name)
        return problems

    def validate_file(self, name: str) -> list[Problem]:
        """Every problem of one candidate file."""
        if name == SETTINGS_FILE:
            return self.settings_problems
        if name.startswith(SCHEMA_DIR):
            return self._check_schema_file(name)
        if not name.lower().endswith(documents.SUFFIXES):
            # Config files only, whatever allow_unschematized says (it admits
            # config files that no schema covers, not other kinds of file).
            return [_problem(name, documents.UNKNOWN_TYPE, rule="file-type")]
        cached = self._cached_result(name)
        if cached is not None:
            return cached
        try:
            data = self.parsed(name)
        except ParseError as exc:
            return [exc.as_problem()]
        try:
            source = self.schema_for(name, data)
        except SchemaError as exc:
            return [_problem(name, str(exc), rule="schema")]
        if source is None:
            if self.settings.allow_unschematized:
                return []
            if self._read(SETTINGS_FILE) is not None and self.settings_problems:
                return [_problem(
                    name,
                    f"no schema applies while {SETTINGS_FILE} is invalid (its "
                    "problems are listed with it): its rules cannot be read",
                    rule="schema",
                )]
            return [_problem(name, _NO_SCHEMA + self._new_file_hint(name),
                             rule="schema")]
        return self._validate_with(name, data, source)

    def _new_file_hint(self, name: str) -> str:
        """For a change that adds ``name``: that the store had no such file
        (a mistyped name is told so, not only that no schema applies)."""
        if self._committed or self._read_old(name) is not None:
            return ""
        import difflib

        others = [other for other in self.names if other != name]
        close = difflib.get_close_matches(name, others, n=1, cutoff=0.75)
        meant = f"; did you mean {close[0]}?" if close else ""
        return f" ({name} is new: the store has no file of that name{meant})"

    def _validate_with(self, name: str, data: Any, source: SchemaSource) -> list[Problem]:
        text = documents.decode(name, self._read(name) or b"")
        try:
            problems = validate(
                name, data, source, self.registry, text,
                secret_patterns=self.settings.secrets,
            )
        except SchemaError as exc:
            problems = [_problem(name, str(exc), rule="schema")]
        key = self._result_key(name, source)
        if key is not None and self._results is not None:
            self._results[key] = problems
        if key is not None and self._cache is not None:
            self._cache.put_verdict(key, problems)
        return problems

    def _result_key(self, name: str, source: SchemaSource) -> tuple[str, ...] | None:
        blob = self._blob_of(name) if self._blob_of else None
        if blob is None:
            return None
        secrets = "\0".join(self.settings.secrets)
        return (name, blob, source.uri, source.sha256, self.registry.fingerprint, secrets)

    def _cached_result(self, name: str) -> list[Problem] | None:
        """A result by blob id: in memory, else in the cache across runs.

        Without a parse when a settings rule names the schema; a file that names
        its own (``$schema``) is parsed (from the cache) to find it.
        """
        if self._blob_of is None or (self._results is None and self._cache is None):
            return None
        rule = self.settings.schema_for(name)
        try:
            if rule:
                source = self.registry.get(rule)
            else:
                if self._cache is None:
                    return None
                source = self.schema_for(name, self.parsed(name))
        except (SchemaError, ParseError):
            return None
        key = self._result_key(name, source) if source is not None else None
        if key is None:
            return None
        found = self._results.get(key) if self._results is not None else None
        if found is None and self._cache is not None:
            found = self._cache.verdict(key)
        return found

    def _check_settings(self) -> list[Problem]:
        if self._read(SETTINGS_FILE) is None:
            return []
        try:
            data = self.parsed(SETTINGS_FILE)
        except ParseError as exc:
            return [exc.as_problem()]
        source = self.registry.get(SETTINGS_SCHEMA)
        problems = self._validate_with(SETTINGS_FILE, data, source)
        if problems:
            return problems
        from vpa_config.settings import load_settings

        try:
            settings = load_settings(data)
        except Exception as exc:  # noqa: BLE001 (pydantic's ValidationError)
            return [_problem(SETTINGS_FILE, _first_line(str(exc)), rule="settings")]
        return self._rule_problems([rule.schema_ for rule in settings.schemas])

    def _rule_problems(self, schemas: list[str]) -> list[Problem]:
        """A located problem for each rule naming a schema the candidate lacks.

        Worked out with the settings file's problems only: a change that
        touches neither the settings nor a schema never asks for them.
        """
        problems = []
        for index, schema in enumerate(schemas):
            message = _missing_schema(schema, self.registry)
            if message is not None:
                path = ("schemas", index, "schema")
                problems.append(Problem(SETTINGS_FILE, path, message, "settings"))
        if not problems:
            return []
        text = documents.decode(SETTINGS_FILE, self._read(SETTINGS_FILE) or b"")
        return locate_all(SETTINGS_FILE, text, problems)

    def _check_schema_file(self, name: str) -> list[Problem]:
        if not name.endswith(".json"):
            return [_problem(name, "schemas must be JSON files (.json)", rule="schema")]
        try:
            source = self.registry.get(name[len(SCHEMA_DIR):])
            self.registry.ensure_checked(source)
        except SchemaError as exc:
            return [_problem(name, str(exc), rule="schema")]
        return []

    def verdict(self, name: str) -> FileVerdict:
        """The file's problems, with the label of the schema that applied."""
        problems = tuple(self.validate_file(name))
        return FileVerdict(name, self.schema_label(name), problems)

    def schema_label(self, name: str) -> str | None:
        """``origin:name`` of the file's schema, or None (quietly)."""
        try:
            source = self.schema_for(name, self._parse_quiet(name))
        except SchemaError:
            return None
        return source.label if source else None

    # --- parsing and diffs ----------------------------------------------

    def parsed(self, name: str) -> Any:
        """The candidate document, parsed once (shared: never mutate it)."""
        if name not in self._parsed:
            blob = self._blob_of(name) if self._cache is not None else None
            found = self._parsed_in_memory(name, blob)
            if found is MISS:
                found = self._parse_blob(name, blob, lambda: self._read(name))
            self._parsed[name] = found
        return self._parsed[name]

    def _parsed_in_memory(self, name: str, blob: str | None) -> Any:
        """A changed file's document if the change has parsed it already (an
        edit in place shares it), so the cache is not asked; else MISS.

        Only for a changed file, whose candidate content is in memory: an
        unchanged one's is read from the repository, which the cache saves.
        """
        if blob is None or self._cache is None or self._old_blob_of is None:
            return MISS
        if not name.lower().endswith(documents.SUFFIXES):
            return MISS
        if self._old_blob_of(name) == blob:
            return MISS
        raw = self._read(name)
        found = MISS if raw is None else documents.shared_parse(name, raw, MISS)
        if found is not MISS:
            self._cache.put_parsed(documents.format_of(name), blob, found)
        return found

    def _parse_blob(
        self, name: str, blob: str | None, read: Callable[[], bytes | None]
    ) -> Any:
        """``documents.parse_shared`` (never mutate the result), from the cache
        when the blob was parsed before."""
        kind = None
        if blob and self._cache is not None and name.lower().endswith(documents.SUFFIXES):
            kind = documents.format_of(name)
        if kind is not None and self._cache is not None and blob:
            found = self._cache.parsed(kind, blob)
            if found is not MISS:
                return found
        data = documents.parse_shared(name, read() or b"")
        if kind is not None and self._cache is not None and blob:
            self._cache.put_parsed(kind, blob, data)
        return data

    def _parse_quiet(self, name: str) -> Any:
        try:
            return self.parsed(name) if self._read(name) is not None else None
        except ParseError:
            return None

    def file_changes(self, changed: dict[str, Any]) -> list[FileChange]:
        """Key-level changes of each changed file, with its secret paths."""
        changes = []
        for name in sorted(changed):
            old_blob, old = self._side(name, self._old_blob_of, self._read_old)
            new_blob, new = self._side(name, self._blob_of, self._read)
            if name in self._parsed:
                new = self._parsed[name]  # parsed once already, to be validated
            action = "added" if old is _ABSENT else "removed" if new is _ABSENT else "modified"
            unparsable = tuple(
                side for side, doc in (("old", old), ("new", new)) if doc is _UNPARSABLE
            )
            old = None if old is _ABSENT or old is _UNPARSABLE else old
            new = None if new is _ABSENT or new is _UNPARSABLE else new
            change = FileChange(name, action, _detached(diff_documents(old, new)))
            change.unparsable = unparsable
            change.secret_paths = self.secrets_of(name, old, old_blob) | self.secrets_of(
                name, new, new_blob
            )
            changes.append(change)
        return changes

    def _side(
        self, name: str, blob_of: Callable[[str], str | None] | None, read: Reader
    ) -> tuple[str | None, Any]:
        """(blob id, parsed document) of one side of a diff; _ABSENT when no file.

        With the blob id known and its parse cached, the content is never read.
        """
        blob = blob_of(name) if blob_of is not None and self._cache is not None else None
        if blob is None:
            raw = read(name)
            return None, _ABSENT if raw is None else _quiet_parse(name, raw, _UNPARSABLE)
        try:
            return blob, self._parse_blob(name, blob, lambda: read(name))
        except ParseError:
            return blob, _UNPARSABLE

    def candidate_secrets(self, name: str) -> set[tuple[Any, ...]]:
        """Secret paths of candidate ``name`` (raises ParseError as :meth:`parsed`)."""
        data = self.parsed(name)
        return self.secrets_of(name, data, self._blob_of(name) if self._blob_of else None)

    def secrets_of(
        self, name: str, data: Any, blob: str | None = None
    ) -> set[tuple[Any, ...]]:
        """Paths in ``data`` that are secret by schema or settings pattern.

        Asked again for the same file and blob (a change asks of each new
        document before it is written and again for its diff), the answer
        given before: settings and schemas are those of this one candidate.
        """
        if not blob or data is None:
            return self._secrets_of(name, data, blob)
        known = self._secrets_by_blob.get((name, blob))
        if known is None:
            known = self._secrets_by_blob[(name, blob)] = frozenset(
                self._secrets_of(name, data, blob)
            )
        return set(known)

    def _secrets_of(
        self, name: str, data: Any, blob: str | None = None
    ) -> set[tuple[Any, ...]]:
        """:meth:`secrets_of`, worked out (or found in the cache across runs).

        With ``blob`` (the id of the content ``data`` was parsed from) the
        answer is kept across runs by blob, schema and secret patterns
        (blobcache.py); within a process it is also remembered per document
        object (a shared parse, see ``documents.parse_shared``), schema text
        and settings patterns: a change asks for the old and the new document,
        and the next change's old document is this one's new.
        """
        if data is None:
            return set()
        try:
            source = self.schema_for(name, data)
            schema = source.load() if source is not None else None
        except SchemaError:
            source = schema = None
            blob = None  # not kept across runs: the schema is broken
        patterns = tuple(self.settings.secrets)
        marked = source is not None and _marks_secrets(source.content, schema)
        stored = None
        # Without a secret keyword in the schema only the patterns are matched,
        # each key path's answer remembered: quicker than asking the cache.
        if blob and self._cache is not None and marked:
            stored = (
                name, blob, source.uri if source else "", source.sha256 if source else "",
                "\0".join(patterns),
            )
            cached = self._cache.secrets(stored)
            if cached is not None:
                return cached
        # The schema's text, not its sha256: a bytes object keeps its hash.
        key = (name, id(data), source.content if source else b"", patterns)
        known = _SECRETS.get(key)
        if known is not None and known[0] is data:
            found = set(known[1])
        else:
            found = set()
            if marked:
                found.update(secret_paths(schema, data))
            if patterns:
                found.update(_pattern_hits(name, patterns, data))
            if len(_SECRETS) >= _SECRETS_MAX:
                _SECRETS.clear()
            _SECRETS[key] = (data, frozenset(found))
        if stored is not None and self._cache is not None:
            self._cache.put_secrets(stored, found)
        return found

    def schema_trailers(self, changed: set[str]) -> list[str]:
        """``FILE SCHEMA sha256:DIGEST`` for each changed file that has a schema."""
        out = []
        for name in sorted(changed):
            if self._read(name) is None:
                continue
            try:
                source = self.schema_for(name, self._parse_quiet(name))
            except SchemaError:
                continue
            if source is not None:
                out.append(f"{name} {source.origin}:{source.name} sha256:{source.digest}")
        return out


# Candidate registries by _registry_key (see CandidateCheck.registry).
_REGISTRIES: dict[tuple[Any, ...], SchemaRegistry] = {}
_REGISTRIES_MAX = 8
# Valid settings by the settings file's blob id (and whether it is HEAD's):
# the same content reads as the same settings, so a run of changes reads them
# once. Settings objects are never changed by their readers.
_SETTINGS: dict[tuple[str, bool], Any] = {}
_SETTINGS_MAX = 16
# Secret paths by (file, document object, schema text, patterns); the entry
# holds the document, so its id cannot be reused while the entry lives.
_SECRETS: dict[tuple[Any, ...], tuple[Any, frozenset[tuple[Any, ...]]]] = {}
_SECRETS_MAX = 64
# Whether a settings pattern matches a key path, by file and patterns: the
# documents of a file keep their keys from change to change. Only paths of
# str keys and list indexes are remembered (True == 1 would mix other keys).
_PATTERN_HITS: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], bool]] = {}
_PATTERN_HITS_MAX = 64


def _pattern_hits(
    name: str, patterns: tuple[str, ...], data: Any
) -> Iterable[tuple[Any, ...]]:
    """Paths of ``data`` that a settings pattern marks secret."""
    hits = _PATTERN_HITS.get((name, patterns))
    if hits is None or len(hits) > 4096:
        if len(_PATTERN_HITS) >= _PATTERN_HITS_MAX:
            _PATTERN_HITS.clear()
        hits = _PATTERN_HITS[(name, patterns)] = {}
    matcher = SecretMatcher(patterns)
    for path, plain in _key_paths(data, (), True):
        hit = hits.get(path) if plain else None
        if hit is None:
            hit = matcher.matches(name, path)
            if plain:
                hits[path] = hit
        if hit:
            yield path


def _key_paths(
    data: Any, path: tuple[Any, ...], plain: bool
) -> Iterator[tuple[tuple[Any, ...], bool]]:
    """Every key path (as ``explain.all_paths``), and whether all its keys are str."""
    stack = [(data, path, plain)]
    while stack:
        node, here, keeps = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                below = (*here, key)
                ok = keeps and type(key) is str
                yield below, ok
                if isinstance(value, (dict, list)):
                    stack.append((value, below, ok))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, (*here, index), keeps))


# Whether a schema text marks anything secret at all.
_MARKED: dict[bytes, bool] = {}


def _marks_secrets(text: bytes, schema: Any) -> bool:
    """Whether any subschema has a secret keyword: else no walk is needed."""
    marked = _MARKED.get(text)
    if marked is None:
        if len(_MARKED) >= 1024:
            _MARKED.clear()
        marked = _MARKED[text] = _has_secret_keyword(schema)
    return marked


def _has_secret_keyword(node: Any) -> bool:
    from vpa_config.explain import is_secret_schema

    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if is_secret_schema(node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _detached(keys: list[KeyChange]) -> list[KeyChange]:
    """Key changes whose values are the caller's own, not the shared parses'."""
    if not any(isinstance(value, (dict, list)) for key in keys
               for value in (key.old, key.new)):
        return list(keys)  # scalars only: nothing to copy (nor copy to import)
    import copy

    return [
        key if not isinstance(key.old, (dict, list)) and not isinstance(
            key.new, (dict, list)
        ) else KeyChange(key.path, key.kind, copy.deepcopy(key.old),
                         copy.deepcopy(key.new))
        for key in keys
    ]


_ABSENT: Any = object()


# A side of a diff whose text does not parse (shown as such, diffed as None).
_UNPARSABLE: Any = object()


def _quiet_parse(name: str, raw: bytes | None, unparsable: Any = None) -> Any:
    if raw is None:
        return None
    try:
        return documents.parse_shared(name, raw)
    except ParseError:
        return unparsable


def _missing_schema(name: str, registry: SchemaRegistry) -> str | None:
    """Why a settings rule's schema name is wrong for this registry, or None."""
    if _not_a_schema_name(name):
        return (
            f"{name!r} is not a schema name: a rule names a store schema by its "
            "path under .vpa-config/schemas/ or a shipped one by its name, never "
            "a URL, an absolute path or a path with '..'"
        )
    try:
        registry.get(name)
    except SchemaNotFoundError:
        return (
            f"schema {name!r} is not in the store (no {SCHEMA_DIR}{name} and no "
            f'shipped schema of that name); add it with "vpa-config schema add '
            f'FILE --as {name}" or import it as {SCHEMA_DIR}{name}, or change '
            "the rule"
        )
    return None


def _not_a_schema_name(name: str) -> bool:
    """A URL, an absolute path or a path with a ``..`` part.

    A colon in the first part is a URL's scheme (``https:``) or a drive (``C:``).
    """
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "" or ":" in parts[0] or ".." in parts


def _problem(name: str, message: str, rule: str = "") -> Problem:
    return Problem(file=name, path=(), message=message, rule=rule)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else text)


# --- the store's files: on disk, or as staged in git's index -------------------


def working_verdicts(store: ConfigStore, files: Sequence[str] = ()) -> list[FileVerdict]:
    """Verdicts of the store's working files (all, or ``files``) as they are on disk."""
    from vpa_config import fsutil
    from vpa_config.errors import NotFoundError

    on_disk = set(fsutil.working_files(store.root))
    head = store.repo.files(store.repo.head())

    def read(name: str) -> bytes | None:
        path = store.root / name
        return path.read_bytes() if name in on_disk and path.is_file() else None

    check = CandidateCheck(read, on_disk, _tree_reader(store, head))
    targets = [fsutil.clean_name(name) for name in files] or sorted(on_disk)
    missing = [name for name in targets if name not in on_disk]
    if missing:
        raise NotFoundError(f"{', '.join(missing)}: no such file in the store")
    return [check.verdict(name) for name in targets]


def staged_verdicts(
    store: ConfigStore, index_path: Path | None = None
) -> list[FileVerdict]:
    """Verdicts of what a ``git commit`` would record: the index, not the files.

    Only the staged changes against HEAD are judged (every file, when the
    settings or a schema is among them), as the transaction would judge them.
    """
    staged = store.repo.index_files(index_path)
    head = store.repo.files(store.repo.head())
    check = CandidateCheck(_tree_reader(store, staged), staged, _tree_reader(store, head))
    changed = {
        name for name in set(staged) | set(head) if staged.get(name) != head.get(name)
    }
    wide = any(name == SETTINGS_FILE or name.startswith(SCHEMA_DIR) for name in changed)
    targets = sorted(staged) if wide else sorted(changed & set(staged))
    return [check.verdict(name) for name in targets]


def head_check(store: ConfigStore) -> CandidateCheck:
    """The checker of the committed tree at HEAD."""
    tree = store.repo.files(store.repo.head())
    read = _tree_reader(store, tree)
    return CandidateCheck(read, tree, read, committed=True)


def _tree_reader(store: ConfigStore, tree: dict[str, tuple[int, str]]) -> Reader:
    def read(name: str) -> bytes | None:
        entry = tree.get(name)
        return store.repo.blob(entry[1]) if entry else None

    return read

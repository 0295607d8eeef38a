"""The judgement of a candidate tree: which schema, every problem, what changed.

A :class:`CandidateCheck` sees the store as it would be after a change (the
candidate settings, the candidate schemas and the candidate files), so a
change to the settings or a schema is judged by what it makes of every file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vpa_config import documents
from vpa_config.errors import ParseError, Problem, SchemaError
from vpa_config.history import FileChange, diff_documents
# The settings model (pydantic) is imported only when settings must be
# validated; reading known settings goes through settings_cache.
from vpa_config.layout import SCHEMA_DIR, SETTINGS_FILE, SETTINGS_SCHEMA

if TYPE_CHECKING:
    from vpa_config.settings import StoreSettings
from vpa_config.validation import (
    SchemaRegistry,
    SchemaSource,
    SecretMatcher,
    secret_paths,
    validate,
)

Reader = Callable[[str], "bytes | None"]


class CandidateCheck:
    """Validation and diffs over one candidate tree."""

    def __init__(self, read: Reader, names: Iterable[str], read_old: Reader) -> None:
        self._read = read
        self._read_old = read_old
        self.names = sorted(names)
        self._parsed: dict[str, Any] = {}

    # --- what applies ----------------------------------------------------

    @cached_property
    def settings_problems(self) -> list[Problem]:
        """Problems of the candidate settings file itself."""
        return self._check_settings()

    @cached_property
    def settings(self) -> StoreSettings:
        """The candidate settings; defaults when the file is absent or invalid."""
        from vpa_config.settings_cache import settings_for

        data = self._parse_quiet(SETTINGS_FILE)
        try:
            return settings_for(data)  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 (reported by settings_problems)
            from vpa_config.settings import StoreSettings

            return StoreSettings()

    @cached_property
    def registry(self) -> SchemaRegistry:
        """The candidate store schemas plus the shipped ones."""
        schemas = {}
        for name in self.names:
            if name.startswith(SCHEMA_DIR) and name.endswith(".json"):
                content = self._read(name)
                if content is not None:
                    schemas[name[len(SCHEMA_DIR):]] = content
        return SchemaRegistry(store_schemas=schemas)

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
            if self.settings.allow_unschematized:
                return []
            return [_problem(name, "unknown file type; expected .yaml, .yml, "
                             ".json or .toml (or allow_unschematized in settings)")]
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
            return [_problem(
                name,
                "no schema applies; add a rule to .vpa-config/settings.yaml, a "
                "$schema key, or set allow_unschematized: true",
                rule="schema",
            )]
        return self._validate_with(name, data, source)

    def _validate_with(self, name: str, data: Any, source: SchemaSource) -> list[Problem]:
        text = documents.decode(name, self._read(name) or b"")
        try:
            return validate(
                name, data, source, self.registry, text,
                secret_patterns=self.settings.secrets,
            )
        except SchemaError as exc:
            return [_problem(name, str(exc), rule="schema")]

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
            load_settings(data)
        except Exception as exc:  # noqa: BLE001 (pydantic's ValidationError)
            return [_problem(SETTINGS_FILE, _first_line(str(exc)), rule="settings")]
        return []

    def _check_schema_file(self, name: str) -> list[Problem]:
        if not name.endswith(".json"):
            return [_problem(name, "schemas must be JSON files (.json)", rule="schema")]
        try:
            source = self.registry.get(name[len(SCHEMA_DIR):])
            self.registry.validator(source)
        except SchemaError as exc:
            return [_problem(name, str(exc), rule="schema")]
        return []

    # --- parsing and diffs ----------------------------------------------

    def parsed(self, name: str) -> Any:
        """The candidate document, parsed once."""
        if name not in self._parsed:
            content = self._read(name)
            self._parsed[name] = documents.parse(name, content or b"")
        return self._parsed[name]

    def _parse_quiet(self, name: str) -> Any:
        try:
            return self.parsed(name) if self._read(name) is not None else None
        except ParseError:
            return None

    def file_changes(self, changed: dict[str, Any]) -> list[FileChange]:
        """Key-level changes of each changed file, with its secret paths."""
        changes = []
        for name in sorted(changed):
            old_raw = self._read_old(name)
            new_raw = self._read(name)
            action = "added" if old_raw is None else "removed" if new_raw is None else "modified"
            old = _quiet_parse(name, old_raw)
            # The candidate was parsed once already, to be validated.
            new = self._parsed[name] if name in self._parsed else _quiet_parse(name, new_raw)
            change = FileChange(name, action, diff_documents(old, new))
            change.secret_paths = self.secrets_of(name, old) | self.secrets_of(name, new)
            changes.append(change)
        return changes

    def secrets_of(self, name: str, data: Any) -> set[tuple[Any, ...]]:
        """Paths in ``data`` that are secret by schema or settings pattern."""
        if data is None:
            return set()
        found: set[tuple[Any, ...]] = set()
        try:
            source = self.schema_for(name, data)
            if source is not None:
                found.update(secret_paths(source.load(), data))
        except SchemaError:
            pass
        matcher = SecretMatcher(self.settings.secrets)
        found.update(path for path in _all_paths(data) if matcher.matches(name, path))
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


def _all_paths(data: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key)
            yield from _all_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _all_paths(value, (*path, index))


def _quiet_parse(name: str, raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return documents.parse(name, raw)
    except ParseError:
        return None


def _problem(name: str, message: str, rule: str = "") -> Problem:
    return Problem(file=name, path=(), message=message, rule=rule)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else text)

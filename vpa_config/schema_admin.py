"""The store's own schemas: add one (with a settings rule), list them, show one.

A schema joins the store through the transaction like any other file: it is
checked against its metaschema and every ``$ref`` resolved first, then the
schema and the settings rule are committed together, and every file the new
rule reaches is validated against it before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vpa_config import documents, fsutil
from vpa_config.errors import RefusedError, SchemaError
from vpa_config.layout import SCHEMA_DIR, SETTINGS_FILE, default_settings_text
from vpa_config.validation import (
    SchemaRegistry,
    SchemaSource,
    validator_name,
)
from vpa_config.verdict import head_check

if TYPE_CHECKING:
    from vpa_config.store import ConfigStore
    from vpa_config.transaction import ChangeResult


@dataclass(frozen=True)
class SchemaInfo:
    """One schema as ``schema list`` shows it."""

    name: str
    origin: str
    digest: str
    draft: str
    title: str
    used_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "origin": self.origin,
            "sha256": self.digest,
            "draft": self.draft,
            "title": self.title,
            "used_by": list(self.used_by),
        }


def add_schema(
    store: ConfigStore,
    content: bytes,
    name: str,
    patterns: Sequence[str] = (),
    *,
    actor: str | None = None,
    reason: str = "",
    dry_run: bool = False,
    replace: bool = False,
) -> ChangeResult:
    """Commit ``content`` as ``.vpa-config/schemas/NAME`` and a rule per pattern.

    A different schema of the same name is replaced only with ``replace``.
    """
    name = _schema_name(name)
    rules = ", ".join(patterns)
    subject = f"schema add {name}" + (f" for {rules}" if rules else "")
    with store.transaction(
        subject=subject, kind="schema", actor=actor, reason=reason, dry_run=dry_run
    ) as tx:
        _refuse_replacing(name, content, tx.read(SCHEMA_DIR + name), replace)
        _check_with_neighbours(tx, name, content)
        tx.write(SCHEMA_DIR + name, content)
        if patterns:
            current = tx.read(SETTINGS_FILE)
            text = current.decode() if current else default_settings_text(False)
            tx.write(SETTINGS_FILE, with_rules(text, name, patterns).encode())
    assert tx.result is not None
    return tx.result


def _refuse_replacing(
    name: str, content: bytes, present: bytes | None, replace: bool
) -> None:
    """Refuse a schema that would silently stand in for another of its name.

    The store's own schema of that name, or a shipped one (a store schema
    wins over it), is replaced only with ``replace``; vpa-config's own
    schemas (``vpa-config/``) never are.
    """
    if name.startswith("vpa-config/"):
        raise RefusedError(
            f"{name}: names under vpa-config/ are vpa-config's own schemas (its "
            "settings'); add the schema under another name with --as NAME"
        )
    if replace:
        return
    if present is not None and present != content:
        raise RefusedError(
            f"{SCHEMA_DIR}{name}: the store already has a different schema "
            "of this name; pass --replace to replace it, or --as NAME to add "
            "this one beside it"
        )
    shipped = SchemaRegistry().names()
    if present is None and (name, "shipped") in shipped:
        raise RefusedError(
            f"{name} is a schema shipped with vpa-config; a store schema of this "
            "name would stand in for it wherever it is used. Pass --replace to do "
            "that, or --as NAME to add this one beside it"
        )


def _schema_name(name: str) -> str:
    clean = fsutil.clean_name(name)
    if not clean.endswith(".json"):
        raise SchemaError(f"schema name {name!r} must end in .json (schemas are JSON)")
    return clean


def _check_with_neighbours(tx: Any, name: str, content: bytes) -> None:
    schemas = {
        path[len(SCHEMA_DIR):]: tx.read(path) or b""
        for path in tx.candidate_files()
        if path.startswith(SCHEMA_DIR)
    }
    schemas[name] = content
    registry = SchemaRegistry(store_schemas=schemas)
    registry.validator(registry.get(name))


def with_rules(text: str, schema: str, patterns: Sequence[str]) -> str:
    """Settings text with a rule ``files: PATTERN, schema: SCHEMA`` per pattern.

    A rule for the same pattern is pointed at the new schema; others are
    added at the front, so they win over broader globs that come later.
    """
    for pattern in reversed(list(patterns)):
        data = documents.parse(SETTINGS_FILE, text) or {}
        rules = data.get("schemas") or []
        same = [i for i, rule in enumerate(rules) if rule.get("files") == pattern]
        if same:
            path: tuple[Any, ...] = ("schemas", same[0], "schema")
            text = documents.set_value(SETTINGS_FILE, text, path, schema)
            continue
        rule = {"files": pattern, "schema": schema}
        if isinstance(data.get("schemas"), list):
            text = documents.insert_item(SETTINGS_FILE, text, ("schemas",), 0, rule)
        else:
            text = documents.set_value(SETTINGS_FILE, text, ("schemas",), [rule])
    return text


def list_schemas(store: ConfigStore) -> list[SchemaInfo]:
    """Every schema the store can use: its own first, then the shipped ones."""
    check = head_check(store)
    rules = check.settings.schemas
    found = []
    for name, origin in check.registry.names():
        source = check.registry.get(name)
        if origin == "shipped" and any(n == name for n, o in found_names(found)):
            continue
        used = tuple(rule.files for rule in rules if rule.schema_ == name)
        found.append(_info(source, used))
    return found


def found_names(found: list[SchemaInfo]) -> list[tuple[str, str]]:
    """(name, origin) pairs already listed."""
    return [(info.name, info.origin) for info in found]


def _info(source: SchemaSource, used: tuple[str, ...]) -> SchemaInfo:
    try:
        data = source.load()
        draft = validator_name(data, source.name).removesuffix("Validator")
    except SchemaError:
        data, draft = {}, "invalid"
    title = str(data.get("title", "")) if isinstance(data, dict) else ""
    return SchemaInfo(source.name, source.origin, source.digest, draft, title, used)


def show_schema(
    store: ConfigStore, name: str
) -> tuple[SchemaInfo, SchemaSource, Any | None]:
    """One schema by name (the store's if it has one, else the shipped one).

    The third value is its data with the values it gives secret keys hidden
    (a ``default`` of a ``password`` property is a value of that key, see
    ``redaction.is_secret_key_path``), or None when it gives none.
    """
    from vpa_config.explain import SecretMatcher, all_paths
    from vpa_config.masking import Mask

    check = head_check(store)
    source = check.registry.get(name)
    used = tuple(r.files for r in check.settings.schemas if r.schema_ == name)
    data = source.load()
    file = SCHEMA_DIR + source.name
    matcher = SecretMatcher(check.settings.secrets)
    mask = Mask.of_paths(
        [path for path in all_paths(data) if matcher.matches(file, path)], file
    )
    shown = mask.show(data, (), scrub=False)
    return _info(source, used), source, (shown if shown != data else None)

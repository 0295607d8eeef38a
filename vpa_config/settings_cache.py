"""Validated store settings, remembered by content so a command skips pydantic.

Importing pydantic and building the settings models costs more than the rest
of a ``set`` (about 60 ms a process). Settings change rarely, so once a
settings document has been validated by :class:`StoreSettings`, its plain
fields are written to ``<git dir>/vpa-config-cache/`` under a key made of
the document and the settings module's own source: a later process with the
same document and the same code reads them back without pydantic.

A :class:`SettingsSnapshot` answers plain fields (text, numbers, booleans and
lists of those) and ``schema_for`` from what was cached; any other attribute
builds the real model on first use, so it never answers differently from it.

The same folder holds content-named flags (:func:`flag_known`,
:func:`flag_set`), such as "this schema text passed its metaschema".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

_PLAIN = (str, int, float, bool, type(None))
_memory: dict[str, dict[str, Any]] = {}
_cache_dir: Path | None = None


def use_dir(path: Path | None) -> None:
    """Keep snapshots under ``path`` (a store's git dir) as well as in memory."""
    global _cache_dir
    _cache_dir = path


def settings_for(data: Any, *, committed: bool = False) -> Any:
    """Settings of parsed ``data``: a snapshot if known, else the pydantic model.

    Raises what :func:`vpa_config.settings.load_settings` raises for invalid
    data (nothing invalid is ever cached). ``committed`` data (HEAD's
    settings, as a read sees them) is written to the cache at once, so that
    the next read need not validate it again; other entries wait for
    :func:`flush`, after a commit.
    """
    key = _key(data)
    if key is not None:
        fields = _memory.get(key) or _read(key)
        if fields is not None:
            _memory[key] = fields
            if committed:
                _flush_one(_path(key))  # if validated earlier in this process
            return SettingsSnapshot(fields, data)
    from vpa_config.settings import load_settings

    model = load_settings(data)
    if key is not None:
        fields = snapshot_fields(model)
        _memory[key] = fields
        _write(key, fields)
        if committed:
            _flush_one(_path(key))
    return model


def snapshot_fields(model: Any) -> dict[str, Any]:
    """The model's plain fields, and its schema rules as (glob, schema) pairs."""
    fields: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if _is_plain(value):
            fields[name] = list(value) if isinstance(value, list) else value
    fields["__rules__"] = [[rule.files, rule.schema_] for rule in model.schemas]
    return fields


class SettingsSnapshot:
    """Plain fields of validated settings; anything else from the real model."""

    def __init__(self, fields: dict[str, Any], data: Any) -> None:
        self._fields = fields
        self._data = data
        self._model: Any = None

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields and not name.startswith("__"):
            value = fields[name]
            return list(value) if isinstance(value, list) else value
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model(), name)

    def model(self) -> Any:
        """The pydantic model of the same data, built on first use."""
        if self._model is None:
            from vpa_config.settings import load_settings

            self._model = load_settings(self._data)
        return self._model

    def schema_for(self, path: str) -> str | None:
        """The schema of the first rule whose glob matches ``path`` (each
        path's answer kept: a change asks it for each file several times)."""
        known = self.__dict__.setdefault("_rule_of", {})
        if path not in known:
            from vpa_config.layout import first_matching_rule

            rules = [(glob, schema) for glob, schema in self._fields["__rules__"]]
            known[path] = first_matching_rule(rules, path)
        return known[path]


def _is_plain(value: Any) -> bool:
    if type(value) in _PLAIN:
        return True
    return type(value) is list and all(type(item) in _PLAIN for item in value)


def _key(data: Any) -> str | None:
    try:
        text = json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None
    from vpa_config.digests import sha256

    digest = sha256(_code_digest().encode() + b"\0" + text.encode())
    return digest.hexdigest()[:32]


_code: str | None = None


def _code_digest() -> str:
    """Digest of the settings code: a changed model never reads old entries."""
    global _code
    if _code is None:
        # Every settings module of the package: the model and its parts
        # (settings.py, health/settings.py, ...) and this file.
        from vpa_config.digests import sha256

        here = os.path.dirname(os.path.realpath(__file__))
        digest = sha256()  # a few small files
        for relative in sorted(_settings_modules(here)):
            digest.update(relative.encode() + b"\0")
            try:
                with open(os.path.join(here, relative), "rb") as handle:
                    digest.update(handle.read())
            except OSError:
                pass
        _code = digest.hexdigest()
    return _code


def _settings_modules(folder: str, prefix: str = "") -> list[str]:
    """``settings*.py`` below ``folder`` as POSIX paths relative to the package
    (os.scandir: a pathlib glob of the package costs about half a millisecond)."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if name.startswith("settings") and name.endswith(".py") and entry.is_file():
            found.append(prefix + name)
        elif name != "__pycache__" and not name.startswith(".") and entry.is_dir():
            found.extend(_settings_modules(entry.path, f"{prefix}{name}/"))
    return found


def flag_known(name: str) -> bool:
    """Whether a content-named fact (such as "this schema is valid") was recorded."""
    if name in _flags:
        return True
    if _cache_dir is None:
        return False
    known = (_cache_dir / "vpa-config-cache" / name).is_file()
    if known:
        _flags.add(name)
    return known


def flag_set(name: str) -> None:
    """Record a content-named fact, in memory and (after a commit) on disk."""
    _flags.add(name)
    if _cache_dir is not None:
        _pending[_cache_dir / "vpa-config-cache" / name] = b""


_flags: set[str] = set()


def _path(key: str) -> Path | None:
    return (
        _cache_dir / "vpa-config-cache" / f"settings-{key}.json" if _cache_dir else None
    )


def _read(key: str) -> dict[str, Any] | None:
    path = _path(key)
    if path is None:
        return None
    try:
        fields = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("__rules__"), list):
        return None
    return fields


def _write(key: str, fields: dict[str, Any]) -> None:
    """Queue an entry; :func:`flush` writes it once a change has committed."""
    path = _path(key)
    if path is not None:
        try:
            _pending[path] = json.dumps(fields, allow_nan=False).encode()
        except ValueError:
            pass


def flush() -> None:
    """Write the queued entries (best effort: a read-only store only costs time).

    Called after a commit, so that a refused or failed change leaves the
    store's folder exactly as it was.
    """
    for path in list(_pending):
        _flush_one(path)
    _pending.clear()


def _flush_one(path: Path | None) -> None:
    data = _pending.pop(path, None) if path is not None else None
    if path is None or data is None:
        return
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass


_pending: dict[Path, bytes] = {}

"""Settings read back from the content-addressed cache answer as the model does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vpa_config import settings_cache
from vpa_config.settings import StoreSettings, load_settings

DATA = {
    "schemas": [
        {"files": "services/*.yaml", "schema": "service.schema.json"},
        {"files": "*.yaml", "schema": "any.schema.json"},
    ],
    "allow_unschematized": True,
    "secrets": ["*:*.token"],
    "lock_timeout_s": 2.5,
}


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    settings_cache._memory.clear()
    settings_cache._flags.clear()
    settings_cache.use_dir(tmp_path)
    yield tmp_path
    settings_cache.use_dir(None)
    settings_cache._memory.clear()
    settings_cache._flags.clear()


def test_first_read_is_the_model_and_later_reads_are_equal_snapshots(
    cache_dir: Path,
) -> None:
    first = settings_cache.settings_for(DATA)
    settings_cache.flush()  # a change committed
    settings_cache._memory.clear()  # as a new process would start
    again = settings_cache.settings_for(DATA)

    assert isinstance(first, StoreSettings)
    assert isinstance(again, settings_cache.SettingsSnapshot)
    assert list((cache_dir / "vpa-config-cache").glob("settings-*.json"))
    model = load_settings(DATA)
    for name in type(model).model_fields:
        assert getattr(again, name) == getattr(model, name), name
    for path in ("services/a.yaml", "b.yaml", "c.json", "services/x/y.yaml"):
        assert again.schema_for(path) == model.schema_for(path)
    assert again.schemas[0].schema_ == "service.schema.json"  # from the model


def test_other_settings_are_another_entry(cache_dir: Path) -> None:
    settings_cache.settings_for(DATA)
    settings_cache._memory.clear()
    changed = {**DATA, "lock_timeout_s": 7}

    assert settings_cache.settings_for(changed).lock_timeout_s == 7


def test_invalid_settings_raise_and_are_never_cached(cache_dir: Path) -> None:
    with pytest.raises(Exception, match="lock_timeout_s"):
        settings_cache.settings_for({"lock_timeout_s": -1})

    settings_cache.flush()
    assert not list(cache_dir.rglob("settings-*.json"))


def test_a_corrupt_entry_is_ignored(cache_dir: Path) -> None:
    settings_cache.settings_for(DATA)
    settings_cache.flush()
    settings_cache._memory.clear()
    for entry in (cache_dir / "vpa-config-cache").glob("settings-*.json"):
        entry.write_text("{not json")

    assert isinstance(settings_cache.settings_for(DATA), StoreSettings)


def test_a_set_with_known_settings_does_not_import_pydantic(tmp_path: Path) -> None:
    # Without the plugin host, which reads its own part of the settings model.
    root = Path(__file__).resolve().parent.parent
    store = tmp_path / "store"
    code = (
        "import sys\n"
        "from vpa_config.store import ConfigStore\n"
        "s = ConfigStore.open(sys.argv[1], plugins=False)\n"
        "s.set('assistant.yaml', 'llm.temperature', float(sys.argv[2]),\n"
        "      actor='A <a@b>')\n"
        "print('pydantic' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vpa_config",
            "--store",
            str(store),
            "init",
            "--example",
            "--actor",
            "A <a@b>",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, str(store), value],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for value in ("0.3", "0.4")
    ]

    assert runs[-1] == "False"


def test_a_schema_checked_once_is_not_checked_again(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jsonschema import Draft202012Validator

    from vpa_config import validation
    from vpa_config.errors import SchemaError

    good = b'{"type": "object", "properties": {"n": {"type": "integer"}}}'
    registry = validation.SchemaRegistry(store_schemas={"good.json": good})
    registry.validator(registry.get("good.json"))
    settings_cache.flush()
    assert list((cache_dir / "vpa-config-cache").glob("schema-checked-*"))

    validation._COMPILED.clear()
    settings_cache._flags.clear()  # as a new process would start
    calls: list[object] = []
    monkeypatch.setattr(
        Draft202012Validator,
        "check_schema",
        classmethod(lambda cls, schema: calls.append(schema)),
    )
    again = validation.SchemaRegistry(store_schemas={"good.json": good})
    validator = again.validator(again.get("good.json"))

    assert calls == []
    assert [e.message for e in validator.iter_errors({"n": "x"})] == [
        "'x' is not of type 'integer'"
    ]
    monkeypatch.undo()
    flags = set((cache_dir / "vpa-config-cache").glob("schema-checked-*"))
    bad = validation.SchemaRegistry(store_schemas={"bad.json": b'{"type": 12}'})
    with pytest.raises(SchemaError, match="not a valid"):
        bad.validator(bad.get("bad.json"))
    settings_cache.flush()
    assert set((cache_dir / "vpa-config-cache").glob("schema-checked-*")) == flags

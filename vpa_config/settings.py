"""The store's own settings: ``.vpa-config/settings.yaml``.

The file is versioned and validated like every other file of the store, first
against the shipped ``vpa-config/settings.schema.json`` (so its errors are
located like any other), then loaded into :class:`StoreSettings`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vpa_config.health.settings import HealthSettings

# The names live in layout.py (importable without pydantic); kept here too.
from vpa_config.layout import (  # noqa: F401
    SCHEMA_DIR,
    SETTINGS_FILE,
    SETTINGS_SCHEMA,
    default_settings_text,
    first_matching_rule,
)


class SchemaRule(BaseModel):
    """Files matching ``files`` (a glob on the store-relative path) use ``schema``."""

    model_config = ConfigDict(extra="forbid")

    files: str
    schema_: str = Field(alias="schema")


class PluginEntry(BaseModel):
    """One plugin the store uses: where it comes from, how it is guarded."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    spec: str | None = None
    path: str | None = None
    trusted: bool = True
    timeout_s: float = Field(default=5.0, gt=0)
    policy: Literal["closed", "open"] = "closed"
    critical: bool = False
    secrets: bool = False
    options: dict[str, Any] = Field(default_factory=dict)


class PluginGuardSettings(BaseModel):
    """Breaker, restart and quarantine limits shared by every plugin."""

    model_config = ConfigDict(extra="forbid")

    breaker_failures: int = Field(default=5, ge=1)
    breaker_open_s: float = Field(default=60.0, ge=0)
    breaker_open_max_s: float = Field(default=600.0, ge=0)
    restart_base_s: float = Field(default=1.0, ge=1.0)
    restart_cap_s: float = Field(default=300.0, ge=1.0)
    restart_reset_s: float = Field(default=600.0, ge=0)
    quarantine_restarts: int = Field(default=5, ge=1)
    quarantine_window_s: float = Field(default=600.0, ge=0)
    sandbox_cpu_s: int = Field(default=10, ge=1)
    sandbox_memory_mb: int = Field(default=512, ge=64)
    sandbox_files: int = Field(default=64, ge=16)
    sandbox_file_size_mb: int = Field(default=16, ge=1)


class PluginSettings(BaseModel):
    """The ``plugins`` part of the settings: which plugins, and the guard's limits."""

    model_config = ConfigDict(extra="forbid")

    sandbox_all: bool = False
    guard: PluginGuardSettings = Field(default_factory=PluginGuardSettings)
    entries: dict[str, PluginEntry] = Field(default_factory=dict)


class StoreSettings(BaseModel):
    """What the store's settings file may say; every field has a default."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schemas: list[SchemaRule] = Field(default_factory=list)
    allow_unschematized: bool = False
    secrets: list[str] = Field(default_factory=list)
    lock_timeout_s: float = Field(default=10.0, ge=0)
    health: HealthSettings = Field(default_factory=HealthSettings)
    plugins: PluginSettings = Field(default_factory=PluginSettings)

    def schema_for(self, path: str) -> str | None:
        """The schema name of the first rule whose glob matches ``path``."""
        return first_matching_rule([(r.files, r.schema_) for r in self.schemas], path)


def load_settings(data: Any) -> StoreSettings:
    """Settings from parsed data; an empty file means every default."""
    return StoreSettings.model_validate(data or {})

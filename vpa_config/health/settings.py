"""The ``health`` part of the store settings (``.vpa-config/settings.yaml``).

These thresholds judge the *store's* host and repository. They live in the
store settings, versioned with the config and validated against
``vpa-config/settings.schema.json``, so a change to a threshold is audited like
any other change. The application's own ``health.toml`` (schema
``vpa/health.schema.json``) is one of the files the store keeps for the
application; vpa-config validates it but does not read its thresholds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024
GIB = 1024 * MIB


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CpuThresholds(_Part):
    """CPU utilization, averaged over the last ``window`` background samples."""

    degraded_percent: float | None = Field(default=85.0, ge=0, le=100)
    unhealthy_percent: float | None = Field(default=None, ge=0, le=100)
    sample_interval_s: float = Field(default=1.0, ge=0.05, le=60)
    window: int = Field(default=5, ge=1, le=600)


class MemoryThresholds(_Part):
    """Memory available: the container's cgroup limit when there is one."""

    degraded_available_percent: float | None = Field(default=10.0, ge=0, le=100)
    unhealthy_available_percent: float | None = Field(default=5.0, ge=0, le=100)
    degraded_available_bytes: int | None = Field(default=None, ge=0)
    unhealthy_available_bytes: int | None = Field(default=100 * MIB, ge=0)


class DiskThresholds(_Part):
    """Free space on the store's filesystem, by percent and by bytes."""

    degraded_free_percent: float | None = Field(default=10.0, ge=0, le=100)
    unhealthy_free_percent: float | None = Field(default=5.0, ge=0, le=100)
    degraded_free_bytes: int | None = Field(default=GIB, ge=0)
    unhealthy_free_bytes: int | None = Field(default=256 * MIB, ge=0)


class StoreThresholds(_Part):
    """Repository checks: how old the last commit and a held lock may be."""

    commit_age_degraded_s: float | None = Field(default=None, ge=0)
    lock_held_degraded_s: float = Field(default=300.0, ge=0)


class StatusCodes(_Part):
    """The HTTP status each aggregate state answers with."""

    healthy: int = Field(default=200, ge=200, le=399)
    degraded: int = Field(default=200, ge=200, le=599)
    unhealthy: int = Field(default=503, ge=200, le=599)
    unknown: int = Field(default=503, ge=200, le=599)


class ServerSettings(_Part):
    """Where ``vpa-config health serve`` listens unless told otherwise."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)


class HealthSettings(_Part):
    """Everything the health monitor takes from the store settings."""

    timeout_s: float = Field(default=5.0, gt=0, le=300)
    cache_s: float = Field(default=2.0, ge=0, le=300)
    escalate_after: int = Field(default=3, ge=1, le=100)
    http_status: StatusCodes = Field(default_factory=StatusCodes)
    server: ServerSettings = Field(default_factory=ServerSettings)
    cpu: CpuThresholds = Field(default_factory=CpuThresholds)
    memory: MemoryThresholds = Field(default_factory=MemoryThresholds)
    disk: DiskThresholds = Field(default_factory=DiskThresholds)
    store: StoreThresholds = Field(default_factory=StoreThresholds)

"""Health of a store and its host: checks, aggregation, report, HTTP endpoint.

>>> from vpa_config.health import build_monitor, serve        # doctest: +SKIP
>>> monitor = build_monitor("/etc/vpa")                       # doctest: +SKIP
>>> monitor.add_check("llm:reachable", ping_llm, timeout_s=2, critical=False)
>>> monitor.report().state                                    # doctest: +SKIP
<HealthState.HEALTHY: 'healthy'>
>>> server = serve(monitor, port=0)                           # doctest: +SKIP

Modules: ``model`` (states, checks, results, aggregation, the JSON shape),
``monitor`` (registry, concurrent runs, timeouts, cache, state-change
events), ``system`` (psutil: CPU, memory, disk), ``storechecks`` (repository,
working tree, lock, config), ``metrics`` (Prometheus text), ``server`` (HTTP).
Importing this package loads none of psutil, dulwich or jsonschema.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The public names load on first use (PEP 562): importing one submodule, such
# as ``health.settings`` for the store settings model, must not load the
# monitor and its threads and entry-point machinery as well.
_EXPORTS = {
    "CheckResult": "model",
    "HealthCheck": "model",
    "HealthReport": "model",
    "HealthState": "model",
    "Observation": "model",
    "aggregate": "model",
    "HealthMonitor": "monitor",
    "register_provider": "monitor",
    "unregister_provider": "monitor",
    "HealthSettings": "settings",
}

if TYPE_CHECKING:
    from vpa_config.health.model import (
        CheckResult,
        HealthCheck,
        HealthReport,
        HealthState,
        Observation,
        aggregate,
    )
    from vpa_config.health.monitor import (
        HealthMonitor,
        register_provider,
        unregister_provider,
    )
    from vpa_config.health.server import HealthServer
    from vpa_config.health.settings import HealthSettings
    from vpa_config.health.system import SystemReader
    from vpa_config.store import ConfigStore

__all__ = [
    "CheckResult",
    "HealthCheck",
    "HealthMonitor",
    "HealthReport",
    "HealthSettings",
    "HealthState",
    "Observation",
    "aggregate",
    "build_monitor",
    "register_provider",
    "serve",
    "unregister_provider",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vpa_config.health' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"vpa_config.health.{module}"), name)
    globals()[name] = value
    return value


def build_monitor(
    store: ConfigStore | str | os.PathLike[str] | None = None,
    *,
    settings: HealthSettings | None = None,
    reader: SystemReader | None = None,
    system: bool = True,
) -> HealthMonitor:
    """A monitor with store, config and (unless ``system=False``) host checks.

    Args:
        store: an open :class:`ConfigStore` or a store folder (default: the
            default store path). The checks open handles of their own.
        settings: thresholds to use; default: the ``health`` part of the
            store's settings at HEAD, re-read whenever HEAD moves.
        reader: where host readings come from (tests pass a fake).
        system: whether to add the CPU, memory and disk checks.
    """
    from vpa_config.health.monitor import HealthMonitor
    from vpa_config.health.storechecks import StoreProbe, add_store_checks

    probe = StoreProbe(_store_root(store))
    monitor = HealthMonitor(
        settings or _quiet_settings(probe),
        revision=probe.revision,
        settings_source=None if settings is not None else probe.settings,
    )
    add_store_checks(monitor, probe)
    from vpa_config.plugins import add_health_checks

    add_health_checks(monitor, probe)
    if system:
        from vpa_config.health.system import add_system_checks

        add_system_checks(monitor, probe.root, reader)
    return monitor


def serve(
    monitor: HealthMonitor, host: str = "127.0.0.1", port: int = 0
) -> HealthServer:
    """Start serving ``monitor`` over HTTP from a daemon thread; return the server."""
    from vpa_config.health.server import HealthServer

    return HealthServer(monitor, host, port).start()


def _store_root(store: Any) -> Path:
    if store is None:
        from vpa_config.store import default_store_path

        return default_store_path()
    if isinstance(store, (str, os.PathLike)):
        return Path(store).expanduser()
    return Path(store.root)


def _quiet_settings(probe: Any) -> HealthSettings:
    try:
        found: HealthSettings = probe.settings()
    except Exception:  # no store yet: defaults; store:open says why
        from vpa_config.health.settings import HealthSettings

        return HealthSettings()
    return found

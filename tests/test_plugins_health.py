"""Plugin states in the health report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_helpers import ACTOR, Guarded, make_guarded

from vpa_config.health import HealthState, build_monitor


@pytest.fixture(name="guarded")
def _guarded(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guarded]:
    guarded = make_guarded(store_path, monkeypatch)
    yield guarded
    guarded.store.close()


def crash_into_quarantine(guarded: Guarded) -> None:
    guarded.guard(quarantine_restarts=1, breaker_failures=100)
    guarded.enable("bad", "vpa_misbehave:Exits", policy="open", critical=True)
    for value in (0.1, 0.2):
        guarded.store.set("assistant.yaml", "llm.temperature", value, actor=ACTOR)
        guarded.clock.advance(10)
    assert guarded.status("bad").state == "quarantined"


def report_of(store_path: Path) -> object:
    monitor = build_monitor(store_path, system=False)
    try:
        return monitor.report()
    finally:
        monitor.close()


def test_a_quarantined_critical_plugin_makes_health_unhealthy(
    guarded: Guarded, store_path: Path
) -> None:
    crash_into_quarantine(guarded)

    report = report_of(store_path)

    result = report.result("plugin:bad")
    assert result.state is HealthState.UNHEALTHY
    assert "quarantined" in result.output
    assert report.state is HealthState.UNHEALTHY


def test_a_quarantined_non_critical_plugin_only_degrades(
    guarded: Guarded, store_path: Path
) -> None:
    crash_into_quarantine(guarded)
    with guarded.store.transaction(subject="not critical", actor=ACTOR) as tx:
        name = ".vpa-config/settings.yaml"
        text = tx.read(name).decode()
        tx.write(name, text.replace("critical: true", "critical: false").encode())

    result = report_of(store_path).result("plugin:bad")

    assert result.state is HealthState.DEGRADED


def test_an_active_plugin_adds_its_own_health_checks(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.enable("good", "vpa_good:Plugin")

    result = report_of(store_path).result("plugin:good")

    assert result.state is HealthState.HEALTHY
    assert "good-check: healthy fine" in result.output


def test_disabled_plugins_are_not_in_the_report(
    guarded: Guarded, store_path: Path
) -> None:
    guarded.enable("good", "vpa_good:Plugin", enabled=False)

    assert report_of(store_path).result("plugin:good") is None

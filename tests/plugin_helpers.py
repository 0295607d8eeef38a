"""Shared pieces of the plugin guard and sandbox tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vpa_config import logs, plugins
from vpa_config.store import ConfigStore

FIXTURES = str(Path(__file__).resolve().parent / "plugins_fixtures")
ACTOR = "Ada Lovelace <ada@example.org>"


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TopRandom(random.Random):
    """Full jitter at its upper bound, so delays are the curve itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


@dataclass
class Guarded:
    """A store whose plugin host runs on a fake clock, and the events it emits."""

    store: ConfigStore
    host: plugins.PluginHost
    clock: FakeClock
    events: list[dict[str, Any]] = field(default_factory=list)

    def enable(self, name: str, spec: str, **fields: Any) -> Any:
        updates = {"spec": spec, "path": FIXTURES, **fields}
        return plugins.set_enabled(self.store, name, True, updates=updates, actor=ACTOR)

    def guard(self, **fields: Any) -> None:
        with self.store.transaction(subject="guard limits", actor=ACTOR) as tx:
            from vpa_config import documents
            from vpa_config.settings import SETTINGS_FILE

            text = (tx.read(SETTINGS_FILE) or b"").decode()
            for key, value in fields.items():
                path = ("plugins", "guard", key)
                text = documents.set_value(SETTINGS_FILE, text, path, value)
            tx.write(SETTINGS_FILE, text.encode())

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]

    def state(self, name: str) -> dict[str, Any]:
        return plugins.StateFile(self.store.repo.controldir).get(name)

    def status(self, name: str) -> plugins.PluginStatus:
        found = plugins.statuses(self.store, self.clock)
        return next(s for s in found if s.name == name)


def make_guarded(
    store_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> Guarded:
    """A fresh example store, reopened with a fake-clock plugin host."""
    first, _ = ConfigStore.init(store_path, example=True, actor=ACTOR)
    first.close()
    store = ConfigStore.open(store_path, plugins=False)
    clock = FakeClock()
    host = plugins.attach(store, clock=clock, **kwargs)
    guarded = Guarded(store, host, clock)

    def record(event: str, level: str = "info", **fields: Any) -> None:
        guarded.events.append({"event": event, "level": level, **fields})

    monkeypatch.setattr(logs, "emit", record)
    return guarded

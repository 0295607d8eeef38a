"""What every command shares: the open store and the output helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vpa_config.store import ConfigStore


@dataclass
class AppContext:
    """Group-level options, and the store opened on first use."""

    store_path: Path | None = None
    _store: Any = field(default=None, repr=False)

    def store(self) -> ConfigStore:
        """The store, opened once for the command."""
        if self._store is None:
            from vpa_config.store import ConfigStore

            self._store = ConfigStore.open(self.store_path, source="cli")
        return self._store

    def close(self) -> None:
        """Close the store if it was opened."""
        if self._store is not None:
            self._store.close()


pass_app = click.make_pass_decorator(AppContext)

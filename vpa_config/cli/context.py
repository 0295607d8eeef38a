"""What every command shares: the open store and the output helpers."""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

    from vpa_config.store import ConfigStore


class AppContext:
    """Group-level options, and the store opened on first use."""

    def __init__(self, store_path: Path | None = None) -> None:
        self.store_path = store_path
        self._store: Any = None

    def __repr__(self) -> str:
        return f"AppContext(store_path={self.store_path!r})"

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


def __getattr__(name: str) -> Any:
    # ``pass_app``, made on first import by a click command module: this module
    # is also used by command lines run without click (fast.py).
    if name == "pass_app":
        import click

        globals()["pass_app"] = decorator = click.make_pass_decorator(AppContext)
        return decorator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

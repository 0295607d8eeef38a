"""vpa-config: validated, versioned, audited configuration files.

The library's front door is :class:`vpa_config.store.ConfigStore`; it is
re-exported here lazily, so ``import vpa_config`` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any


__version__ = "0.1.0"
__all__ = ["ConfigStore", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "ConfigStore":
        from vpa_config.store import ConfigStore

        return ConfigStore
    raise AttributeError(f"module 'vpa_config' has no attribute {name!r}")

"""PyYAML, imported without the import-time work vpa-config never uses.

PyYAML compiles about a dozen regular expressions when it is imported (a
third of its import time): the pure-Python reader's check for non-printable
characters, YAML 1.1's implicit types in ``yaml.resolver`` and the timestamp
parser in ``yaml.constructor``. vpa-config parses with libyaml
(``CSafeLoader``) and its own YAML 1.2 resolvers (documents.py), so most of
them never run. :func:`import_yaml` imports PyYAML with each pattern that
PyYAML's own modules compile made a :class:`LazyPattern`, compiled on first
use; PyYAML itself is untouched, and its loaders and dumpers behave as
before, compiling a pattern the first time they use it.
"""

from __future__ import annotations

import re
import sys
import threading
from types import ModuleType

TYPE_CHECKING = False  # typing stays unimported at run time (records.py says why)
if TYPE_CHECKING:
    from typing import Any

_import_lock = threading.Lock()


class LazyPattern:
    """A compiled pattern, compiled when first used.

    Each attribute asked for (``match``, ``search``...) is then kept on the
    instance, so later uses cost what the compiled pattern's do.
    """

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_args":
            raise AttributeError(name)
        found = getattr(re.compile(*self._args), name)
        setattr(self, name, found)
        return found


def import_yaml() -> ModuleType:
    """The ``yaml`` module (imported on the first call)."""
    found = sys.modules.get("yaml")
    if found is not None:
        return found
    with _import_lock:
        real = re.compile

        def compile_lazily(pattern: Any, flags: int = 0) -> Any:
            # Only PyYAML's own modules: anything they import (datetime,
            # base64...) compiles as always.
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if isinstance(pattern, str) and caller.partition(".")[0] == "yaml":
                return LazyPattern(pattern, flags)
            return real(pattern, flags)

        re.compile = compile_lazily  # type: ignore[assignment]
        try:
            import yaml
        finally:
            re.compile = real
    return yaml

"""PyYAML, imported without the one piece of import-time work vpa-config never uses.

``yaml/reader.py`` compiles a large Unicode character class when it is
imported (about 5 ms, a third of PyYAML's import): the pure-Python reader's
check for non-printable characters. vpa-config parses with libyaml
(``CSafeLoader``), which never runs that reader, so :func:`import_yaml`
imports PyYAML with that one pattern compiled on first use instead. Every
other pattern, and PyYAML itself, is untouched; the pure-Python loaders
(used where libyaml is missing) behave as before, compiling it when they
first read a document.
"""

from __future__ import annotations

import re
import sys
import threading
from types import ModuleType
from typing import Any

# Exactly the pattern yaml.reader.Reader.NON_PRINTABLE is compiled from.
_NON_PRINTABLE = (
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_import_lock = threading.Lock()


class LazyPattern:
    """A compiled pattern, compiled when first used."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


def import_yaml() -> ModuleType:
    """The ``yaml`` module (imported on the first call)."""
    found = sys.modules.get("yaml")
    if found is not None:
        return found
    with _import_lock:
        real = re.compile

        def compile_lazily(pattern: Any, flags: int = 0) -> Any:
            if pattern == _NON_PRINTABLE and flags == 0:
                return LazyPattern(pattern, flags)
            return real(pattern, flags)

        re.compile = compile_lazily  # type: ignore[assignment]
        try:
            import yaml
        finally:
            re.compile = real
    return yaml

"""jsonschema, imported without the cost of its ``iri`` checker.

jsonschema registers its format checkers when ``jsonschema._format`` is first
imported. For ``iri`` and ``iri-reference`` it imports ``rfc3987_syntax``
(installed by the ``format-nongpl`` extra), which builds a Lark grammar at
import: well over a second on a slow machine, paid by every command that
touches jsonschema although few schemas use those formats.

:func:`load` imports jsonschema with ``rfc3987_syntax`` held back, then
registers checkers for the two formats that import it on their first check.
The same formats are checked by the same parser as before; only when it is
loaded changes. Where the GPL ``rfc3987`` package is installed jsonschema
uses that instead (it is quick to import) and nothing is changed.
"""

from __future__ import annotations

import sys
import threading
from importlib.util import find_spec
from typing import Any

__all__ = ["LAZY_FORMATS", "load"]

# format name -> the rule rfc3987_syntax knows it by; drafts that have them.
LAZY_FORMATS = {"iri": "iri", "iri-reference": "iri_reference"}
_DRAFTS = ("draft7", "draft201909", "draft202012")
_HELD = "rfc3987_syntax"
_LOCK = threading.Lock()


def load() -> Any:
    """The ``jsonschema`` module, its format checkers registered (see above)."""
    if "jsonschema._format" not in sys.modules:
        with _LOCK:
            if "jsonschema._format" not in sys.modules:
                _import_holding_back()
    import jsonschema

    return jsonschema


def _import_holding_back() -> None:
    if _HELD in sys.modules or find_spec(_HELD) is None:
        import jsonschema._format  # noqa: F401 (nothing to hold back)

        return
    # None in sys.modules makes ``from rfc3987_syntax import ...`` raise
    # ImportError, which jsonschema takes as "not installed" for these formats.
    sys.modules[_HELD] = None  # type: ignore[assignment]
    try:
        import jsonschema._format as formats
    finally:
        if sys.modules.get(_HELD, ...) is None:
            del sys.modules[_HELD]
    _register_lazy(formats)


def _register_lazy(formats: Any) -> None:
    """Checkers for ``iri`` and ``iri-reference`` wherever jsonschema puts them."""
    targets = [getattr(formats, f"{draft}_format_checker") for draft in _DRAFTS]
    for name, rule in LAZY_FORMATS.items():
        check = _lazy_check(rule)
        for checker in targets:
            checker.checkers.setdefault(name, (check, ValueError))
        # FormatChecker() without arguments starts from the class's own table.
        formats.FormatChecker.checkers.setdefault(name, (check, ValueError))


def _lazy_check(rule: str) -> Any:
    def check(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        from rfc3987_syntax import is_valid_syntax

        return bool(is_valid_syntax(rule, instance))

    check.__name__ = f"is_{rule}"
    check.__qualname__ = check.__name__
    return check

"""Events: the one place that knows how vpa-config logs.

Library code calls :func:`emit` with a dotted event name and fields. Until an
application (or the CLI's entry point) calls :func:`configure`, events go
nowhere and nothing heavy is imported, so importing vpa-config configures no
logging and costs no start-up time.
"""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vpa_config_correlation_id", default=None
)
_configured = False


def configure(**options: Any) -> None:
    """Turn event output on (structlog set-up lands with #5)."""
    global _configured
    _configured = True


def current_correlation_id() -> str:
    """The correlation id of the current command or transaction, made on demand."""
    value = _correlation.get()
    if value is None:
        value = uuid.uuid4().hex
        _correlation.set(value)
    return value


def set_correlation_id(value: str | None) -> None:
    """Use ``value`` (an application's own id) for events from here on."""
    _correlation.set(value)


def emit(event: str, level: str = "info", **fields: Any) -> None:
    """Log one event; a no-op until logging is configured."""
    if not _configured:
        return

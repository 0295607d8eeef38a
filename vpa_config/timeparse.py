"""Moments in time as people type them: ISO 8601, ``2h ago``, ``yesterday``."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from vpa_config.errors import RefusedError

_UNITS = {
    "s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
    "h": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800, "week": 604800,
}


class TimeFormatError(RefusedError):
    """A time that cannot be read."""

    exit_code = 2


def parse_time(text: str, now: float | None = None) -> int:
    """Seconds since the epoch for ``text``; naive ISO times are UTC."""
    now = time.time() if now is None else now
    value = text.strip().lower()
    if value == "now":
        return int(now)
    if value in ("today", "yesterday"):
        midnight = datetime.fromtimestamp(now, tz=timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        if value == "yesterday":
            midnight -= timedelta(days=1)
        return int(midnight.timestamp())
    match = re.fullmatch(r"(\d+)\s*([a-z]+?)s?\s+ago", value)
    if match and match.group(2) in _UNITS:
        return int(now - int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TimeFormatError(
            f"time {text!r} not understood; expected ISO 8601 "
            "(2026-12-01T09:30:00Z), 'N units ago' (2h ago, 3 days ago), "
            "'today' or 'yesterday'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())

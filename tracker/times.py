"""Times at the platform's edges, parsed once.

- Instants sent to the API (fix times, query bounds): RFC 3339 text with an offset, or Unix
  seconds; UTC inside (:func:`parse_time`).
- Times of day as the API and the database keep them: ``"HH:MM"`` strings, minutes since
  midnight inside; one parser for permits, zone schedules and the engine (:func:`parse_hhmm`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

DAY_MIN = 24 * 60
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
HHMM_PATTERN = _HHMM.pattern  # for request models that validate the text itself


def parse_hhmm(value: str) -> int:
    """Minutes since midnight of ``"HH:MM"`` (00:00-23:59); ``ValueError`` otherwise."""
    match = _HHMM.match(value)
    if match is None:
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def parse_time(value: Any) -> datetime | str:
    """RFC 3339 text with an offset, or Unix seconds; returns UTC or an error message."""
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return "not an RFC 3339 timestamp"
        if dt.tzinfo is UTC:
            return dt
        if dt.tzinfo is None:
            return "timestamp needs a time zone offset (e.g. 'Z')"
        return dt.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return "Unix time out of range"
    return "required: RFC 3339 text or Unix seconds"

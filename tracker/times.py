"""Times at the platform's edges, parsed once.

- Instants sent to the API (fix times, query bounds): RFC 3339 text with an offset, or Unix
  seconds; UTC inside (:func:`parse_time`, and :data:`Instant` for request models and typed
  query parameters). Only instants between :data:`INSTANT_MIN` and :data:`INSTANT_MAX` are
  taken: a year of headroom at both ends of what Python can hold, so neither the conversion to
  UTC nor any window arithmetic after it (days, at most weeks) can overflow.
- Times of day as the API and the database keep them: ``"HH:MM"`` strings, minutes since
  midnight inside; one parser for permits, zone schedules and the engine (:func:`parse_hhmm`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

DAY_MIN = 24 * 60
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
HHMM_PATTERN = _HHMM.pattern  # for request models that validate the text itself
INSTANT_MIN = datetime(2, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(9998, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
# Offsets are under a day: a local time in these years is in range whatever its offset.
_SAFE_YEAR_MIN, _SAFE_YEAR_MAX = INSTANT_MIN.year + 1, INSTANT_MAX.year - 1
_RANGE = f"out of range: from {INSTANT_MIN.date()} to {INSTANT_MAX.date()} UTC"


def parse_hhmm(value: str) -> int:
    """Minutes since midnight of ``"HH:MM"`` (00:00-23:59); ``ValueError`` otherwise."""
    match = _HHMM.match(value)
    if match is None:
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def to_utc(dt: datetime) -> datetime | str:
    """An aware instant in UTC, or an error message (naive, or outside the range)."""
    if dt.tzinfo is None:
        return "timestamp needs a time zone offset (e.g. 'Z')"
    if _SAFE_YEAR_MIN <= dt.year <= _SAFE_YEAR_MAX:  # the usual case: no offset can overflow
        return dt if dt.tzinfo is UTC else dt.astimezone(UTC)
    offset = dt.utcoffset()
    assert offset is not None
    # compare before converting: the conversion itself overflows at the ends of the range
    naive = dt.replace(tzinfo=None)
    low, high = INSTANT_MIN.replace(tzinfo=None), INSTANT_MAX.replace(tzinfo=None)
    if not low + offset <= naive <= high + offset:
        return f"timestamp {_RANGE}"
    return dt if dt.tzinfo is UTC else dt.astimezone(UTC)


def parse_time(value: Any) -> datetime | str:
    """RFC 3339 text with an offset, or Unix seconds; returns UTC or an error message."""
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return "not an RFC 3339 timestamp"
        return to_utc(dt)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return to_utc(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            return f"Unix time {_RANGE}"
    return "required: RFC 3339 text or Unix seconds"


def _instant(value: datetime) -> datetime:
    checked = to_utc(value)
    if isinstance(checked, str):
        raise ValueError(checked)
    return checked


# A request model's or a query's instant: aware, in range, converted to UTC (errors name it).
Instant = Annotated[datetime, AfterValidator(_instant)]

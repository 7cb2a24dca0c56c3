"""Times of day as the API and the database keep them: ``"HH:MM"`` strings, minutes since midnight
inside. One parser for permits, zone schedules and the engine."""

from __future__ import annotations

import re

DAY_MIN = 24 * 60
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
HHMM_PATTERN = _HHMM.pattern  # for request models that validate the text itself


def parse_hhmm(value: str) -> int:
    """Minutes since midnight of ``"HH:MM"`` (00:00-23:59); ``ValueError`` otherwise."""
    match = _HHMM.match(value)
    if match is None:
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))

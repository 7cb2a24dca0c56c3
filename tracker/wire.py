"""What crosses a process boundary, defined once.

The ``Fix``: one position of one vehicle, as every ingest front end delivers it.

Coordinates are WGS-84 ``lon, lat``; times are timezone-aware UTC. ``fix_time`` is when the
terminal took the fix, ``received_at`` when the platform received it; they are kept apart so
late fixes can be told from live ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag


class FixFlag(IntFlag):
    """Noise flags stored with a fix (the ``flags`` column). Rules may skip flagged fixes."""

    NONE = 0
    ZERO = 1  # 0/0 coordinates
    FUTURE = 2  # fix time too far ahead of the receive time
    PAST = 4  # fix time older than the configured limit
    INVALID = 8  # the terminal itself said the fix is not valid (no GNSS lock)
    JUMP = 16  # implied speed from the neighbouring fix is impossible
    ACCURACY = 32  # HDOP above the configured limit


@dataclass(slots=True)
class Fix:
    vehicle_id: int
    terminal_id: int
    fix_time: datetime
    received_at: datetime
    lon: float
    lat: float
    speed_kmh: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    satellites: int | None = None
    hdop: float | None = None
    valid: bool = True
    ignition: bool | None = None
    loaded: bool | None = None
    body_lifted: bool | None = None
    cover_closed: bool | None = None
    alarm_bits: int = 0
    flags: int = 0
    source: str = "http"  # "http" | "jt808"
    extra: dict[str, object] | None = field(default=None)

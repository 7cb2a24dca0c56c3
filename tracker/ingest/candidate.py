"""A fix as a front end decoded it, before it is judged.

Front ends only decode: HTTP turns JSON into typed values, JT/T 808 turns bytes into values in
platform units. What they cannot type they note in ``undecoded`` (field name → why) instead of
deciding about it. Judging every candidate, whichever protocol it came by, is the one
validator's job (:func:`tracker.ingest.validate.judge`), with one rule set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class FixCandidate:
    protocol: str  # "http" | "jt808": the stored fix's ``source``
    vehicle_id: int
    terminal_id: int
    received_at: datetime
    fix_time: datetime | None  # None: absent or not readable (see ``undecoded``)
    lon: float | None
    lat: float | None
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
    extra: dict[str, object] | None = None
    undecoded: dict[str, str] = field(default_factory=dict)

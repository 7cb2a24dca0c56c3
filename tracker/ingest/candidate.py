"""A fix as a front end decoded it, before it is judged.

Front ends only decode: HTTP turns JSON into typed values, JT/T 808 turns bytes into values in
platform units. Values are keyed by the :class:`tracker.wire.Fix` field they will fill
(``fix_time``, ``lon``, ``speed_kmh``, ...; absent when not sent). What a front end cannot type
it notes in ``undecoded`` (field name → why) instead of deciding about it. Judging every
candidate, whichever protocol it came by, is the one validator's job
(:func:`tracker.ingest.validate.judge`), with one rule set.
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
    values: dict[str, object]  # Fix field -> typed value (a dict: the hot path builds no more)
    undecoded: dict[str, str] = field(default_factory=dict)

"""The one validator: every fix candidate, whichever protocol it came by, is judged here.

One rule set (:data:`LIMITS`, :data:`TIME_MIN`, :data:`EXTRA_MAX_BYTES`,
:data:`EXTRA_MAX_DEPTH`) gives the accepted range of each field; the HTTP request schema is
derived from it. A bad value of a field that judges the position itself (:data:`ESSENTIAL`:
time, lon, lat, valid, hdop) refuses the fix; a bad optional sensor value (speed, heading,
altitude, satellites, alarm bits, the muck-truck signals, extra) is dropped and the fix kept,
so one faulty sensor never costs a good position. Either way the verdict names the field.
``extra`` is checked against everything the database's ``jsonb`` would refuse (a NUL
character in a string or key, a number that is not finite, nesting deeper than
:data:`EXTRA_MAX_DEPTH`, what is not JSON at all), so no value that passed here can fail a
group commit. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tracker.ingest.candidate import FixCandidate
from tracker.wire import Fix

FieldErrors = list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class Limit:
    """The accepted range of one numeric field (both ends included)."""

    field: str
    low: float
    high: float
    integer: bool = False


TIME_MIN = datetime(2000, 1, 1, tzinfo=UTC)
LIMITS: tuple[Limit, ...] = (
    Limit("lon", -180.0, 180.0),
    Limit("lat", -90.0, 90.0),
    Limit("speed_kmh", 0.0, 300.0),
    Limit("heading_deg", 0.0, 360.0),  # 360 is stored as 0 (north)
    Limit("altitude_m", -500.0, 9000.0),
    Limit("satellites", 0, 99, integer=True),
    Limit("hdop", 0.0, 99.9),
    Limit("alarm_bits", 0, 2**32 - 1, integer=True),
)
SIGNALS = ("ignition", "loaded", "body_lifted", "cover_closed")  # optional booleans
EXTRA_MAX_BYTES = 4096
EXTRA_MAX_DEPTH = 32  # levels of objects and arrays, the outer object included
_INT_RANGE = (-(2**63), 2**64 - 1)  # what JSON encoders here take
REQUIRED = frozenset({"time", "lon", "lat"})
ESSENTIAL = REQUIRED | {"valid", "hdop"}
_BOUNDS = tuple((lim.field, lim.low, lim.high, lim.field in REQUIRED) for lim in LIMITS)
# Optional values: a bad one is dropped (None; alarm_bits 0), the fix kept.
DROPPABLE = frozenset({lim.field for lim in LIMITS} | set(SIGNALS) | {"extra"}) - ESSENTIAL


@dataclass(slots=True)
class Verdict:
    """The fix (or the errors that refused it) and the optional values dropped from it."""

    item: Fix | FieldErrors
    dropped: FieldErrors = field(default_factory=list)


def _out_of_range(value: float, lim: Limit) -> str | None:
    if lim.low <= value <= lim.high:
        return None
    return f"must be between {lim.low:g} and {lim.high:g}"


def _problems(c: FixCandidate) -> dict[str, str]:
    """Field → what is wrong with it, in the order the fields are named in an answer."""
    problems: dict[str, str] = {}
    fix_time = c.values.get("fix_time")
    if "time" in c.undecoded:
        problems["time"] = c.undecoded["time"]
    elif not isinstance(fix_time, datetime):
        problems["time"] = "required"
    elif fix_time < TIME_MIN:
        problems["time"] = "before 2000-01-01"
    for lim in LIMITS:
        name = lim.field
        value = c.values.get(name)
        if name in c.undecoded:
            problems[name] = c.undecoded[name]
        elif value is None:
            if name in REQUIRED:
                problems[name] = "required"
        else:
            assert isinstance(value, int | float)
            wrong = _out_of_range(value, lim)
            if wrong is not None:
                problems[name] = wrong
    extra = c.values.get("extra")
    if extra is not None:
        wrong = extra_problem(extra)
        if wrong is not None:
            problems["extra"] = wrong
    for name, why in c.undecoded.items():  # signals, extra, and what the front end refused
        problems.setdefault(name, why)
    return problems


def _plainly_good(c: FixCandidate) -> bool:
    """The common case, checked without building messages."""
    values = c.values
    fix_time = values.get("fix_time")
    if c.undecoded or not isinstance(fix_time, datetime) or fix_time < TIME_MIN:
        return False
    for name, low, high, required in _BOUNDS:
        value: Any = values.get(name)
        if value is None:
            if required:
                return False
        elif not low <= value <= high:
            return False
    extra = values.get("extra")
    return extra is None or extra_problem(extra) is None


def extra_problem(extra: object) -> str | None:
    """What is wrong with ``extra`` for a ``jsonb`` column (None: nothing), naming where."""
    if not isinstance(extra, dict):
        return "must be an object"
    wrong = _json_problem(extra, "extra", 1)
    if wrong is not None:
        return wrong
    try:
        size = len(orjson.dumps(extra))
    except orjson.JSONEncodeError as exc:
        return f"is not storable as JSON: {exc}"
    if size > EXTRA_MAX_BYTES:
        return f"must be an object of at most {EXTRA_MAX_BYTES // 1024} KiB"
    return None


def _json_problem(value: object, where: str, depth: int) -> str | None:
    """The first value under ``where`` that PostgreSQL's ``jsonb`` would refuse."""
    if isinstance(value, str):
        return f"{where}: a string must not contain NUL (\\u0000)" if "\x00" in value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        low, high = _INT_RANGE
        return None if low <= value <= high else f"{where}: integer out of range"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: numbers must be finite"
    if isinstance(value, dict | list):
        if depth > EXTRA_MAX_DEPTH:
            return f"{where}: nested deeper than {EXTRA_MAX_DEPTH} levels"
        if isinstance(value, list):
            items: Any = ((f"{where}[{i}]", v) for i, v in enumerate(value))
        else:
            for key in value:
                if not isinstance(key, str):
                    return f"{where}: keys must be strings"
                if "\x00" in key:
                    return f"{where}: a key must not contain NUL (\\u0000)"
            items = ((f"{where}.{k}", v) for k, v in value.items())
        for inner, v in items:
            wrong = _json_problem(v, inner, depth + 1)
            if wrong is not None:
                return wrong
        return None
    return f"{where}: {type(value).__name__} is not a JSON value"


def judge(c: FixCandidate) -> Verdict:
    """The one rule set applied to one candidate (dropped values are removed from it)."""
    if _plainly_good(c):
        return Verdict(_fix(c), [])
    problems = _problems(c)
    named = [{"field": name, "message": why} for name, why in problems.items()]
    if any(name not in DROPPABLE for name in problems):  # refused: its reasons named first
        return Verdict(sorted(named, key=lambda e: e["field"] in DROPPABLE))
    for name in problems:
        c.values.pop(name, None)
    return Verdict(_fix(c), named)


def _fix(c: FixCandidate) -> Fix:
    values = c.values
    if values.get("heading_deg") == 360.0:
        values["heading_deg"] = 0.0  # north
    return Fix(
        vehicle_id=c.vehicle_id,
        terminal_id=c.terminal_id,
        received_at=c.received_at,
        source=c.protocol,
        **values,  # type: ignore[arg-type]
    )

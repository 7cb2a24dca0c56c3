"""Parse a position batch and validate each fix on its own.

A batch is a JSON object ``{"fixes": [...]}`` (optionally with the terminal's ``vehicle_id``), a
JSON array of fixes, or NDJSON (one fix per line). A bad fix is refused with errors that name
its fields; it never spoils the good fixes beside it. Pure: no I/O, no clock (``now`` is passed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tracker.errors import BadRequest, UnsupportedMediaType
from tracker.wire import Fix

FieldErrors = list[dict[str, str]]

_EPOCH_MIN = datetime(2000, 1, 1, tzinfo=UTC)
# (name, lowest, highest, integer?) for the optional numeric fields
_NUMERIC: tuple[tuple[str, float, float, bool], ...] = (
    ("speed_kmh", 0.0, 300.0, False),
    ("heading_deg", 0.0, 360.0, False),
    ("altitude_m", -500.0, 9000.0, False),
    ("satellites", 0, 99, True),
    ("hdop", 0.0, 99.9, False),
)
_SENSORS = ("ignition", "loaded", "body_lifted", "cover_closed")
_FLAGS = (*_SENSORS, "valid")
_KNOWN = frozenset(
    {"time", "lon", "lat", "valid", "alarm_bits", "extra", "vehicle_id"}
    | {n for n, *_ in _NUMERIC}
    | set(_SENSORS)
)


@dataclass(slots=True)
class Batch:
    fixes: list[Any]  # raw decoded items; a ``_ParseError`` for an unparseable NDJSON line
    vehicle_id: int | None = None


@dataclass(slots=True)
class _ParseError:
    message: str


def parse_batch(body: bytes, content_type: str, max_fixes: int) -> Batch:
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        batch = Batch([_ndjson_line(line) for line in body.splitlines() if line.strip()])
    elif ctype in ("application/json", ""):
        batch = _json_batch(body)
    else:
        raise UnsupportedMediaType(
            f"content type {ctype!r} is not accepted; use application/json or application/x-ndjson",
            field="content-type",
        )
    if not batch.fixes:
        raise BadRequest("the batch holds no fixes", field="fixes")
    if len(batch.fixes) > max_fixes:
        raise BadRequest(f"at most {max_fixes} fixes per request", field="fixes")
    return batch


def _ndjson_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _ParseError(f"not valid JSON: {exc}")


def _json_batch(body: bytes) -> Batch:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", field="body") from None
    if isinstance(doc, list):
        return Batch(doc)
    if not isinstance(doc, dict):
        raise BadRequest("body must be an object with 'fixes' or an array", field="body")
    fixes = doc.get("fixes")
    if not isinstance(fixes, list):
        raise BadRequest("'fixes' must be an array of fix objects", field="fixes")
    vehicle_id = doc.get("vehicle_id")
    if vehicle_id is not None and (type(vehicle_id) is not int):
        raise BadRequest("'vehicle_id' must be an integer", field="vehicle_id")
    return Batch(fixes, vehicle_id)


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


def _number(value: Any, low: float, high: float, integer: bool) -> float | int | str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        return "must be a whole number"
    if not math.isfinite(value) or not low <= value <= high:
        return f"must be between {low:g} and {high:g}"
    return int(value) if integer else float(value)


def _coordinates(raw: dict[str, Any], errors: FieldErrors) -> tuple[float, float]:
    lon = _number(raw.get("lon"), -180.0, 180.0, False) if "lon" in raw else "required"
    lat = _number(raw.get("lat"), -90.0, 90.0, False) if "lat" in raw else "required"
    if isinstance(lon, str):
        errors.append({"field": "lon", "message": lon})
    if isinstance(lat, str):
        errors.append({"field": "lat", "message": lat})
    return (lon if isinstance(lon, float) else 0.0, lat if isinstance(lat, float) else 0.0)


def _optional_fields(raw: dict[str, Any], out: dict[str, Any], errors: FieldErrors) -> None:
    for name, low, high, integer in _NUMERIC:
        value = raw.get(name)
        if value is None:
            continue
        if type(value) is (int if integer else float) and low <= value <= high:
            out[name] = value  # the common case, without the general checks
            continue
        checked = _number(value, low, high, integer)
        if isinstance(checked, str):
            errors.append({"field": name, "message": checked})
        else:
            out[name] = checked
    if out.get("heading_deg") == 360.0:
        out["heading_deg"] = 0.0
    for name in _FLAGS:
        value = raw.get(name)
        if value is None:
            continue
        if value is True or value is False:
            out[name] = value
        else:
            errors.append({"field": name, "message": "must be true, false or null"})
    alarm = raw.get("alarm_bits")
    if alarm is not None:
        if type(alarm) is not int or not 0 <= alarm < 2**32:
            errors.append({"field": "alarm_bits", "message": "must be an integer 0..2^32-1"})
        else:
            out["alarm_bits"] = alarm
    extra = raw.get("extra")
    if extra is not None:
        if isinstance(extra, dict) and len(orjson.dumps(extra)) <= 4096:
            out["extra"] = extra
        else:
            errors.append({"field": "extra", "message": "must be an object of at most 4 KiB"})


def validate_fix(
    raw: Any, vehicle_id: int, terminal_id: int, received_at: datetime
) -> Fix | FieldErrors:
    """Turn one decoded item into a Fix, or into the list of its field errors."""
    if isinstance(raw, _ParseError):
        return [{"field": "line", "message": raw.message}]
    if not isinstance(raw, dict):
        return [{"field": "fix", "message": "each fix must be a JSON object"}]
    errors: FieldErrors = []
    fix_time = parse_time(raw.get("time"))
    if isinstance(fix_time, str):
        errors.append({"field": "time", "message": fix_time})
    elif fix_time < _EPOCH_MIN:
        errors.append({"field": "time", "message": "before 2000-01-01"})
    lon, lat = raw.get("lon"), raw.get("lat")
    if not (type(lon) is float and type(lat) is float and -180 <= lon <= 180 and -90 <= lat <= 90):
        lon, lat = _coordinates(raw, errors)
    fields: dict[str, Any] = {}
    _optional_fields(raw, fields, errors)
    if "vehicle_id" in raw and raw["vehicle_id"] is not None and raw["vehicle_id"] != vehicle_id:
        errors.append({"field": "vehicle_id", "message": "not the vehicle of this terminal"})
    if not _KNOWN.issuperset(raw):
        unknown = sorted(k for k in raw if k not in _KNOWN)
        errors.append({"field": unknown[0], "message": f"unknown field(s): {', '.join(unknown)}"})
    if errors:
        return errors
    assert isinstance(fix_time, datetime)
    return Fix(vehicle_id, terminal_id, fix_time, received_at, lon, lat, **fields)

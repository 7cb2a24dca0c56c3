"""The HTTP front end's decoding: a position batch body into fix candidates, and its schema.

A batch is a JSON object ``{"fixes": [...]}`` (optionally with the terminal's ``vehicle_id``), a
JSON array of fixes, or NDJSON (one fix per line). Each fix is decoded on its own into a
:class:`FixCandidate` (JSON types only; ranges are the validator's), so a bad fix never spoils
the good ones beside it. The OpenAPI schema of a fix is derived from the validator's rule set.
Pure: no I/O, no clock (``received_at`` is passed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from tracker.errors import BadRequest, UnsupportedMediaType
from tracker.ingest.candidate import FixCandidate
from tracker.ingest.validate import (
    DROPPABLE,
    EXTRA_MAX_BYTES,
    EXTRA_MAX_DEPTH,
    LIMITS,
    REQUIRED,
    SIGNALS,
    TIME_MIN,
    FieldErrors,
    Verdict,
    judge,
)
from tracker.times import parse_time

_FLAGS = (*SIGNALS, "valid")
# ``extra`` nested deeper than the validator's EXTRA_MAX_DEPTH is dropped here already (named in
# ``dropped``), the fix kept: the JSON encoders after the validator (orjson, the jsonb column)
# refuse deep documents. The body as a whole is bounded by orjson's own depth limit (a 400).
# JSON field -> the type its value decodes to (``vehicle_id`` is only checked, not kept)
_TYPES: dict[str, type] = {
    "time": str,
    "extra": dict,
    **{lim.field: int if lim.integer else float for lim in LIMITS},
    **dict.fromkeys(_FLAGS, bool),
}


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


def _number(value: Any, integer: bool) -> float | int | str:
    if type(value) is float and not integer:
        return value  # the common case first
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if not integer:
        return float(value)
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() else "must be a whole number"


def decode_fix(
    raw: Any, vehicle_id: int, terminal_id: int, received_at: datetime
) -> FixCandidate | FieldErrors:
    """One decoded JSON item as a candidate; errors when it is not a fix object at all."""
    if isinstance(raw, _ParseError):
        return [{"field": "line", "message": raw.message}]
    if not isinstance(raw, dict):
        return [{"field": "fix", "message": "each fix must be a JSON object"}]
    values: dict[str, Any] = dict(raw)
    fix_time = parse_time(values.pop("time", None))
    undecoded: dict[str, str] = {"time": fix_time} if isinstance(fix_time, str) else {}
    unknown: list[str] = []
    for name, value in raw.items():
        kind = _TYPES.get(name)
        if type(value) is kind or name == "time":
            if kind is dict and _deeper_than(value, EXTRA_MAX_DEPTH):
                del values[name]
                undecoded[name] = f"nested deeper than {EXTRA_MAX_DEPTH} levels"
            continue  # the common case: already the right type
        del values[name]
        if value is None:
            continue
        if kind is float or kind is int:
            typed = _number(value, kind is int)
            if isinstance(typed, str):
                undecoded[name] = typed
            else:
                values[name] = typed
        elif kind is bool:
            undecoded[name] = "must be true, false or null"
        elif kind is dict:
            undecoded[name] = "must be an object"
        elif name == "vehicle_id":
            if value != vehicle_id:
                undecoded[name] = "not the vehicle of this terminal"
        else:
            unknown.append(name)
    if unknown:
        unknown.sort()
        undecoded[unknown[0]] = f"unknown field(s): {', '.join(unknown)}"
    if not isinstance(fix_time, str):
        values["fix_time"] = fix_time  # after the loop: a stray "fix_time" key is unknown
    return FixCandidate("http", vehicle_id, terminal_id, received_at, values, undecoded)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests objects/arrays more than ``limit`` levels deep."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def validate_fix(raw: Any, vehicle_id: int, terminal_id: int, received_at: datetime) -> Verdict:
    """Decode one JSON item and judge it: a Fix (and the values dropped from it) or errors."""
    decoded = decode_fix(raw, vehicle_id, terminal_id, received_at)
    return Verdict(decoded) if isinstance(decoded, list) else judge(decoded)


def fix_schema() -> dict[str, Any]:
    """The OpenAPI schema of one fix, from the validator's rule set."""
    dropped = " Outside the range: dropped (named in `dropped`), the fix kept."
    props: dict[str, Any] = {
        "time": {
            "type": "string",
            "format": "date-time",
            "description": f"RFC 3339, with offset (or Unix seconds); from {TIME_MIN.date()}",
        }
    }
    for lim in LIMITS:
        props[lim.field] = {
            "type": "integer" if lim.integer else "number",
            "minimum": int(lim.low) if lim.integer else lim.low,
            "maximum": int(lim.high) if lim.integer else lim.high,
        }
        if lim.field in DROPPABLE:
            props[lim.field]["description"] = dropped.strip()
    for name in _FLAGS:
        props[name] = {"type": "boolean"}
        if name in DROPPABLE:
            props[name]["description"] = (
                "Not a boolean: dropped (named in `dropped`), the fix kept."
            )
    props["extra"] = {
        "type": "object",
        "description": f"At most {EXTRA_MAX_BYTES} bytes as JSON, nested at most "
        f"{EXTRA_MAX_DEPTH} levels, no NUL (\\u0000) in any string or key.{dropped}",
    }
    return {"type": "object", "required": sorted(REQUIRED), "properties": props}

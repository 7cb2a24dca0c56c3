"""The sighting service: intake of plate reads, their rules, and the review of terminals.

Intake (``POST /api/v1/sightings``) validates a whole batch before it writes anything (a bad
field is a 400 naming it, ``sightings.3.plate``), stores each read once (a repeat, by the
camera system's own id or by plate, checkpoint and time, is answered ``duplicate`` with the
first one's id and stores nothing), resolves the plate to its registered vehicle, and applies
the plate rules at once (``unregistered_vehicle``, ``no_permit``: tracker.trips.core.sighting).

The terminal is compared later: a terminal that was silent at the sighting may still deliver
the fixes it held back. Each sighting of a vehicle waits ``grace_s`` (600 s) after the later of
its time and its arrival; the ``sighting-review`` maintenance round then reads the terminal's
fixes within ``window_s`` of it and raises ``terminal_tampering`` (reason
``sighting_contradiction``) when they are missing or too far. Late fixes arriving after the
review do not retract it: an officer sees both kinds of evidence in the incident.

Incident ids are deterministic (``sighting-{id}-{type}``), so a review run twice (two
processes) writes one incident.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from tracker import metrics
from tracker.accounts import repo as audit
from tracker.accounts.models import Principal, Role
from tracker.errors import BadRequest, PayloadTooLarge
from tracker.settings import Settings
from tracker.sightings.models import (
    SightingBatch,
    SightingIn,
    SightingResult,
    SightingsAnswer,
    normalise_plate,
    plate_ok,
)
from tracker.trips.core.sighting import (
    Finding,
    Seen,
    SightingRules,
    TerminalFix,
    plate_findings,
    terminal_findings,
)

log = logging.getLogger(__name__)
AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
REVIEW_BATCH = 500


def rules_of(settings: Settings) -> SightingRules:
    s = settings.sightings
    return SightingRules(s.min_confidence, s.window_s, s.base_distance_m, s.max_speed_kmh)


def _refuse(reason: str, message: str, field: str) -> BadRequest:
    metrics.SIGHTINGS_REFUSED.labels(reason).inc()
    return BadRequest(message, field=field)


def parse_batch(body: bytes, settings: Settings) -> SightingBatch:
    """The body as a batch, or a 400 naming the first bad field (counted as refused)."""
    try:
        batch = SightingBatch.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise _refuse("invalid", first["msg"], field) from None
    if len(batch.sightings) > settings.sightings.max_batch:
        metrics.SIGHTINGS_REFUSED.labels("batch_too_large").inc(len(batch.sightings))
        raise PayloadTooLarge(
            f"more than {settings.sightings.max_batch} sightings in one batch", field="sightings"
        )
    return batch


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    name: str
    lon: float
    lat: float
    muck_lanes: bool


async def _checkpoints(conn: AConn, ids: list[int]) -> dict[int, Checkpoint]:
    cur = await conn.execute(
        "SELECT id, name, lon, lat, muck_lanes FROM checkpoints WHERE id = ANY(%s) AND active",
        (ids,),
    )
    return {int(r[0]): Checkpoint(int(r[0]), r[1], r[2], r[3], r[4]) for r in await cur.fetchall()}


async def _vehicles(conn: AConn, plates: list[str]) -> dict[str, tuple[int, int]]:
    """Registered active vehicles by normalised plate: (vehicle id, company id)."""
    cur = await conn.execute(
        """SELECT upper(regexp_replace(plate, '[[:space:]·•-]', '', 'g')) AS p, id, company_id
             FROM vehicles
            WHERE active AND upper(regexp_replace(plate, '[[:space:]·•-]', '', 'g')) = ANY(%s)""",
        (plates,),
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in await cur.fetchall()}


def _check(i: int, item: SightingIn, plate: str, now: datetime, settings: Settings) -> None:
    where = f"sightings.{i}"
    if not plate_ok(plate):
        raise _refuse("plate", f"not a Chinese plate: {item.plate!r}", f"{where}.plate")
    ahead_s = (item.time - now).total_seconds()
    if ahead_s > settings.filters.future_limit_s:
        raise _refuse("future", "time is too far in the future", f"{where}.time")
    if -ahead_s > settings.filters.past_limit_s:
        raise _refuse("past", "time is too old", f"{where}.time")
    limit = settings.sightings.photo_ref_chars
    if item.photo_ref is not None and len(item.photo_ref) > limit:
        message = f"photo_ref longer than {limit} characters"
        raise _refuse("photo_ref", message, f"{where}.photo_ref")


_INSERT = """
INSERT INTO sightings (camera_system_id, external_id, plate, plate_colour, seen_at,
    checkpoint_id, direction, camera_id, photo_ref, confidence, loaded, vehicle_id, company_id,
    received_at, review_after, reviewed_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING RETURNING id
"""
_EXISTING = """
SELECT id, vehicle_id FROM sightings
 WHERE (camera_system_id = %s AND external_id = %s)
    OR (plate = %s AND checkpoint_id = %s AND seen_at = %s)
 ORDER BY id LIMIT 1
"""


async def intake(
    conn: AConn, camera_system_id: int, batch: SightingBatch, now: datetime, settings: Settings
) -> SightingsAnswer:
    """Store a batch (all or nothing) and apply the plate rules to the new reads."""
    plates = [normalise_plate(s.plate) for s in batch.sightings]
    for i, (item, plate) in enumerate(zip(batch.sightings, plates, strict=True)):
        _check(i, item, plate, now, settings)
    known = await _checkpoints(conn, sorted({s.checkpoint_id for s in batch.sightings}))
    for i, item in enumerate(batch.sightings):
        if item.checkpoint_id not in known:
            raise _refuse(
                "checkpoint",
                f"no active checkpoint {item.checkpoint_id}",
                f"sightings.{i}.checkpoint_id",
            )
    vehicles = await _vehicles(conn, sorted(set(plates)))
    grace = timedelta(seconds=settings.sightings.grace_s)
    results: list[SightingResult] = []
    rules = rules_of(settings)
    async with conn.transaction():
        for item, plate in zip(batch.sightings, plates, strict=True):
            vehicle = vehicles.get(plate)
            seen_at = item.time.astimezone(now.tzinfo)
            review_after = max(seen_at, now) + grace
            cur = await conn.execute(
                _INSERT,
                (camera_system_id, item.sighting_id, plate, item.plate_colour, seen_at,
                 item.checkpoint_id, item.direction, item.camera_id, item.photo_ref,
                 item.confidence, item.loaded, vehicle[0] if vehicle else None,
                 vehicle[1] if vehicle else None, now, review_after,
                 None if vehicle else now),
            )  # fmt: skip
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute(
                    _EXISTING,
                    (camera_system_id, item.sighting_id, plate, item.checkpoint_id, seen_at),
                )
                old = await cur.fetchone()
                assert old is not None
                results.append(
                    SightingResult(
                        id=old[0],
                        status="duplicate",
                        vehicle_id=old[1],
                        sighting_id=item.sighting_id,
                    )
                )
                continue
            sighting_id = int(row[0])
            results.append(
                SightingResult(
                    id=sighting_id,
                    status="stored",
                    vehicle_id=vehicle[0] if vehicle else None,
                    sighting_id=item.sighting_id,
                )
            )
            checkpoint = known[item.checkpoint_id]
            seen = Seen(seen_at, checkpoint.lon, checkpoint.lat, item.confidence, item.loaded,
                        checkpoint.muck_lanes)  # fmt: skip
            permit_valid = vehicle is not None and await _permit_valid(
                conn, vehicle[0], seen_at, settings.city_tz
            )
            findings = plate_findings(seen, vehicle is not None, permit_valid, rules)
            sighting = await _sighting(conn, sighting_id)
            for finding in findings:
                await _raise(conn, sighting, finding, [], now)
            if findings:
                await _note(conn, sighting_id, findings, reviewed=False)
        stored = [r.id for r in results if r.status == "stored"]
        who = Principal(f"camera_system:{camera_system_id}", Role.admin)
        await audit.record(conn, who, "post_sightings", "camera_system", camera_system_id,
                           None, {"stored": stored})  # fmt: skip
    n_stored = sum(r.status == "stored" for r in results)
    metrics.SIGHTINGS.labels("stored").inc(n_stored)
    metrics.SIGHTINGS.labels("duplicate").inc(len(results) - n_stored)
    return SightingsAnswer(results=results, stored=n_stored, duplicate=len(results) - n_stored)


async def _permit_valid(conn: AConn, vehicle_id: int, at: datetime, city_tz: str) -> bool:
    day = at.astimezone(ZoneInfo(city_tz)).date()
    cur = await conn.execute(
        """SELECT 1 FROM permits p JOIN permit_vehicles pv ON pv.permit_id = p.id
            WHERE pv.vehicle_id = %s AND p.state IN ('approved', 'expired')
              AND %s BETWEEN p.valid_from AND p.valid_to LIMIT 1""",
        (vehicle_id, day),
    )
    return await cur.fetchone() is not None


_SIGHTING = """
SELECT s.id, s.camera_system_id, s.external_id, s.plate, s.plate_colour, s.seen_at,
       s.checkpoint_id, c.name AS checkpoint_name, c.lon, c.lat, c.muck_lanes, s.direction,
       s.camera_id, s.photo_ref, s.confidence, s.loaded, s.vehicle_id, s.company_id,
       s.reviewed_at, s.findings
  FROM sightings s JOIN checkpoints c ON c.id = s.checkpoint_id
"""


async def _sighting(conn: AConn, sighting_id: int) -> Row:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SIGHTING + " WHERE s.id = %s", (sighting_id,))
        row = await cur.fetchone()
    assert row is not None
    return row


def _json(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_UTC_Z).decode()


def sighting_summary(s: Row) -> dict[str, Any]:
    """A sighting as an incident's detail and an evidence pack show it."""
    return {
        "sighting_id": s["id"],
        "plate": s["plate"],
        "plate_colour": s["plate_colour"],
        "seen_at": s["seen_at"],
        "checkpoint_id": s["checkpoint_id"],
        "checkpoint": s["checkpoint_name"],
        "lon": s["lon"],
        "lat": s["lat"],
        "direction": s["direction"],
        "camera_id": s["camera_id"],
        "photo_ref": s["photo_ref"],
        "confidence": s["confidence"],
        "loaded": s["loaded"],
        "camera_system_id": s["camera_system_id"],
    }


def _evidence(s: Row, fixes: list[TerminalFix]) -> dict[str, Any]:
    sighting = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
        "properties": {"source": "sighting", "time": s["seen_at"], "plate": s["plate"],
                       "checkpoint_id": s["checkpoint_id"], "photo_ref": s["photo_ref"]},
    }  # fmt: skip
    points = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
            "properties": {"source": "terminal", "time": f.time},
        }
        for f in sorted(fixes, key=lambda f: f.time)
    ]
    return {"type": "FeatureCollection", "features": [sighting, *points]}


async def _raise(
    conn: AConn, s: Row, finding: Finding, fixes: list[TerminalFix], now: datetime
) -> None:
    detail: dict[str, Any] = {
        "reason": finding.reason,
        "source": "sighting",
        "plate": s["plate"],
        **finding.detail,
        "sighting": sighting_summary(s),
    }
    if finding.type == "terminal_tampering":
        detail["terminal_fixes"] = [
            {"time": f.time, "lon": f.lon, "lat": f.lat}
            for f in sorted(fixes, key=lambda f: f.time)
        ]
    await conn.execute(
        """INSERT INTO incidents (incident_id, type, vehicle_id, company_id, severity, opened_at,
               detected_at, lon, lat, detail, evidence)
           VALUES (%s, %s, %s, %s, 'normal', %s, %s, %s, %s, %s, %s)
           ON CONFLICT (incident_id) DO NOTHING""",
        (
            f"sighting-{s['id']}-{finding.type}",
            finding.type,
            s["vehicle_id"],
            s["company_id"],
            s["seen_at"],
            now,
            s["lon"],
            s["lat"],
            Jsonb(detail, dumps=_json),
            Jsonb(_evidence(s, fixes), dumps=_json),
        ),
    )
    metrics.SIGHTING_INCIDENTS.labels(finding.type).inc()


async def _note(conn: AConn, sighting_id: int, findings: list[Finding], *, reviewed: bool) -> None:
    notes = [{"type": f.type, "reason": f.reason, **f.detail} for f in findings]
    await conn.execute(
        "UPDATE sightings SET findings = findings || %s, "
        "reviewed_at = CASE WHEN %s THEN now() ELSE reviewed_at END WHERE id = %s",
        (Jsonb(notes, dumps=_json), reviewed, sighting_id),
    )


async def _terminal_fixes(
    conn: AConn, vehicle_id: int, at: datetime, window_s: float
) -> list[TerminalFix]:
    window = timedelta(seconds=window_s)
    cur = await conn.execute(
        """SELECT fix_time, lon, lat FROM pings
            WHERE vehicle_id = %s AND fix_time BETWEEN %s AND %s AND valid AND flags = 0
            ORDER BY fix_time""",
        (vehicle_id, at - window, at + window),
    )
    return [TerminalFix(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def _has_terminal(conn: AConn, vehicle_id: int) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM terminals WHERE vehicle_id = %s AND active LIMIT 1", (vehicle_id,)
    )
    return await cur.fetchone() is not None


async def review_due(conn: AConn, now: datetime, settings: Settings) -> int:
    """Compare the sightings whose grace period is over with their terminals; the number
    reviewed. Rows are taken ``FOR UPDATE SKIP LOCKED``: two processes share the work."""
    rules = rules_of(settings)
    reviewed = 0
    async with conn.transaction():
        cur = await conn.execute(
            """SELECT id FROM sightings
                WHERE reviewed_at IS NULL AND review_after <= %s
                ORDER BY review_after LIMIT %s FOR UPDATE SKIP LOCKED""",
            (now, REVIEW_BATCH),
        )
        ids = [int(r[0]) for r in await cur.fetchall()]
        for sighting_id in ids:
            s = await _sighting(conn, sighting_id)
            findings: list[Finding] = []
            fixes: list[TerminalFix] = []
            if s["vehicle_id"] is not None and await _has_terminal(conn, s["vehicle_id"]):
                seen = Seen(s["seen_at"], s["lon"], s["lat"], s["confidence"], s["loaded"],
                            s["muck_lanes"])  # fmt: skip
                fixes = await _terminal_fixes(conn, s["vehicle_id"], s["seen_at"], rules.window_s)
                findings = terminal_findings(seen, fixes, rules)
            for finding in findings:
                await _raise(conn, s, finding, fixes, now)
            await _note(conn, sighting_id, findings, reviewed=True)
            reviewed += 1
    return reviewed

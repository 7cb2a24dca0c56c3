"""The sighting service: intake of plate reads, their rules, and the review of terminals.

Intake (``POST /api/v1/sightings``) validates a whole batch before it writes anything (a bad
field is a 400 naming it, ``sightings.3.plate``), stores each read once (a repeat, by the
camera system's own id or by plate, checkpoint and time, is answered ``duplicate`` with the
first one's id and stores nothing), resolves the plate to its registered vehicle, and applies
the plate rules at once (``unregistered_vehicle``, ``no_permit``: tracker.trips.core.sighting).

The terminal is compared later: a terminal that was silent at the sighting may still deliver
the fixes it held back. Each sighting of a vehicle waits ``grace_s`` (600 s) after the later of
the end of its window (its time + ``window_s``: the last fix that counts is due then) and its
arrival; the ``sighting-review`` maintenance round then reads the terminal's
fixes within ``window_s`` of it and raises ``terminal_tampering`` (reason
``sighting_contradiction``) when they are missing or too far. Late fixes arriving after the
review do not retract it: an officer sees both kinds of evidence in the incident.

Incident ids are deterministic (``sighting-{id}-{type}``), so a review run twice (two
processes) writes one incident. The incidents and the review: tracker.sightings.findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from pydantic import ValidationError

from tracker import metrics
from tracker.accounts import repo as audit
from tracker.accounts.models import Principal, Role
from tracker.errors import BadRequest, PayloadTooLarge
from tracker.settings import Settings
from tracker.sightings import findings
from tracker.sightings.models import (
    SightingBatch,
    SightingIn,
    SightingResult,
    SightingsAnswer,
    normalise_plate,
    plate_ok,
)
from tracker.trips.core.sighting import (
    Seen,
    one_apart,
    plate_findings,
)

AConn = psycopg.AsyncConnection[Any]


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
    conn: AConn,
    camera_system_id: int,
    batch: SightingBatch,
    now: datetime,
    settings: Settings,
    live: list[bytes] | None = None,
) -> SightingsAnswer:
    """Store a batch (all or nothing) and apply the plate rules to the new reads; the live
    map's messages of the incidents raised are added to ``live`` (publish after the commit)."""
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
    results: list[SightingResult] = []
    async with conn.transaction():
        for item, plate in zip(batch.sightings, plates, strict=True):
            vehicle = vehicles.get(plate)
            result = await _store(conn, camera_system_id, item, plate, vehicle, now, settings)
            results.append(result)
            if result.status == "stored":
                checkpoint = known[item.checkpoint_id]
                raised = await _plate_rules(
                    conn, result.id, item, plate, checkpoint, vehicle, now, settings
                )
                if live is not None:
                    live += raised
        stored = [r.id for r in results if r.status == "stored"]
        who = Principal(f"camera_system:{camera_system_id}", Role.admin)
        await audit.record(conn, who, "post_sightings", "camera_system", camera_system_id,
                           None, {"stored": stored})  # fmt: skip
    n_stored = len(stored)
    metrics.SIGHTINGS.labels("stored").inc(n_stored)
    metrics.SIGHTINGS.labels("duplicate").inc(len(results) - n_stored)
    return SightingsAnswer(results=results, stored=n_stored, duplicate=len(results) - n_stored)


async def _store(
    conn: AConn,
    camera_system_id: int,
    item: SightingIn,
    plate: str,
    vehicle: tuple[int, int] | None,
    now: datetime,
    settings: Settings,
) -> SightingResult:
    """Insert one read, or find the read it repeats. An unregistered plate has no terminal to
    compare: it is reviewed at once."""
    seen_at = item.time.astimezone(now.tzinfo)
    window_end = seen_at + timedelta(seconds=settings.sightings.window_s)
    review_after = max(window_end, now) + timedelta(seconds=settings.sightings.grace_s)
    cur = await conn.execute(
        _INSERT,
        (camera_system_id, item.sighting_id, plate, item.plate_colour, seen_at,
         item.checkpoint_id, item.direction, item.camera_id, item.photo_ref, item.confidence,
         item.loaded, vehicle[0] if vehicle else None, vehicle[1] if vehicle else None, now,
         review_after, None if vehicle else now),
    )  # fmt: skip
    row = await cur.fetchone()
    if row is not None:
        vehicle_id = vehicle[0] if vehicle else None
        return SightingResult(
            id=row[0], status="stored", vehicle_id=vehicle_id, sighting_id=item.sighting_id
        )
    cur = await conn.execute(
        _EXISTING, (camera_system_id, item.sighting_id, plate, item.checkpoint_id, seen_at)
    )
    old = await cur.fetchone()
    assert old is not None
    return SightingResult(
        id=old[0], status="duplicate", vehicle_id=old[1], sighting_id=item.sighting_id
    )


async def _plate_rules(
    conn: AConn,
    sighting_id: int,
    item: SightingIn,
    plate: str,
    checkpoint: Checkpoint,
    vehicle: tuple[int, int] | None,
    now: datetime,
    settings: Settings,
) -> list[bytes]:
    """``unregistered_vehicle`` and ``no_permit``, raised at once; their live messages."""
    seen = Seen(item.time, checkpoint.lon, checkpoint.lat, item.confidence, item.loaded,
                checkpoint.muck_lanes)  # fmt: skip
    permit_valid = vehicle is not None and await _permit_valid(
        conn, vehicle[0], item.time, settings.city_tz
    )
    near = vehicle is None and await _near_registered(conn, plate)
    rules = findings.rules_of(settings.sightings)
    found = plate_findings(seen, vehicle is not None, permit_valid, rules, near)
    if not found:
        return []
    sighting = await findings.sighting_row(conn, sighting_id)
    messages = [await findings.raise_incident(conn, sighting, f, [], now) for f in found]
    await findings.note_findings(conn, sighting_id, found, reviewed=False)
    return [m for m in messages if m is not None]


async def _near_registered(conn: AConn, plate: str) -> bool:
    """Is an active registered plate one character away from ``plate`` (a misread)?"""
    patterns = [plate[:i] + "_" + plate[i + 1 :] for i in range(len(plate))]
    cur = await conn.execute(
        """SELECT upper(regexp_replace(plate, '[[:space:]·•-]', '', 'g')) FROM vehicles
            WHERE active AND upper(regexp_replace(plate, '[[:space:]·•-]', '', 'g')) LIKE ANY(%s)
            LIMIT 20""",
        (patterns,),
    )
    return any(one_apart(plate, r[0]) for r in await cur.fetchall())


async def _permit_valid(conn: AConn, vehicle_id: int, at: datetime, city_tz: str) -> bool:
    day = at.astimezone(ZoneInfo(city_tz)).date()
    cur = await conn.execute(
        """SELECT 1 FROM permits p JOIN permit_vehicles pv ON pv.permit_id = p.id
            WHERE pv.vehicle_id = %s AND p.state IN ('approved', 'expired')
              AND %s BETWEEN p.valid_from AND p.valid_to LIMIT 1""",
        (vehicle_id, day),
    )
    return await cur.fetchone() is not None

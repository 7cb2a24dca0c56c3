"""What a sighting raises: its incidents (detail and evidence with both witnesses), the notes on
the sighting row, and the review of terminals once a sighting's grace period is over
(tracker.sightings.service describes the flow)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from redis.exceptions import RedisError

from tracker import metrics
from tracker.settings import Settings, SightingSettings
from tracker.trips.core.sighting import (
    Finding,
    Seen,
    SightingRules,
    TerminalFix,
    terminal_findings,
)
from tracker.wire import Channel, IncidentMessage, channel, rfc3339

log = logging.getLogger(__name__)
AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
REVIEW_BATCH = 500


def rules_of(settings: SightingSettings) -> SightingRules:
    s = settings
    return SightingRules(s.min_confidence, s.window_s, s.base_distance_m, s.max_speed_kmh)


_SIGHTING = """
SELECT s.id, s.camera_system_id, s.external_id, s.plate, s.plate_colour, s.seen_at,
       s.checkpoint_id, c.name AS checkpoint_name, c.lon, c.lat, c.muck_lanes, s.direction,
       s.camera_id, s.photo_ref, s.confidence, s.loaded, s.vehicle_id, s.company_id,
       s.reviewed_at, s.findings
  FROM sightings s JOIN checkpoints c ON c.id = s.checkpoint_id
"""


async def sighting_row(conn: AConn, sighting_id: int) -> Row:
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


def _detail(s: Row, finding: Finding, fixes: list[TerminalFix]) -> dict[str, Any]:
    """The sighting, and for a contradiction the terminal's fixes in the window."""
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
    return detail


async def raise_incident(
    conn: AConn, s: Row, finding: Finding, fixes: list[TerminalFix], now: datetime
) -> bytes | None:
    """Write the incident (once: its id is deterministic); the live map's message for it, to
    publish after the commit (:func:`publish`), or None when it was already there."""
    detail = _detail(s, finding, fixes)
    incident_id = f"sighting-{s['id']}-{finding.type}"
    cur = await conn.execute(
        """INSERT INTO incidents (incident_id, type, vehicle_id, company_id, severity, opened_at,
               detected_at, lon, lat, detail, evidence)
           VALUES (%s, %s, %s, %s, 'normal', %s, %s, %s, %s, %s, %s)
           ON CONFLICT (incident_id) DO NOTHING RETURNING incident_id""",
        (
            incident_id,
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
    if await cur.fetchone() is None:
        return None
    metrics.SIGHTING_INCIDENTS.labels(finding.type).inc()
    return IncidentMessage(
        type=finding.type,
        vehicle_id=s["vehicle_id"],
        lon=s["lon"],
        lat=s["lat"],
        time=rfc3339(s["seen_at"]),
        event="opened",
        incident_id=incident_id,
        severity="normal",
        status="ended",  # one sighting: nothing stays open
        detail=f"{s['plate']} · {s['checkpoint_name']}",
    ).encode()


async def publish(redis: Any, messages: list[bytes]) -> None:
    """The new incidents to the live map (best effort: they are stored either way)."""
    if not messages or redis is None:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(channel(redis, Channel.INCIDENTS), message)
            await pipe.execute()
    except (OSError, RedisError) as exc:
        log.warning("publishing sighting incidents failed: %s", exc)


async def note_findings(
    conn: AConn, sighting_id: int, findings: list[Finding], *, reviewed: bool
) -> None:
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


async def review_due(conn: AConn, now: datetime, settings: Settings, redis: Any = None) -> int:
    """Compare the sightings whose grace period is over with their terminals; the number
    reviewed. Rows are taken ``FOR UPDATE SKIP LOCKED``: two processes share the work. New
    incidents go to the live map (``redis``) after the commit."""
    rules = rules_of(settings.sightings)
    reviewed = 0
    live: list[bytes] = []
    async with conn.transaction():
        cur = await conn.execute(
            """SELECT id FROM sightings
                WHERE reviewed_at IS NULL AND review_after <= %s
                ORDER BY review_after LIMIT %s FOR UPDATE SKIP LOCKED""",
            (now, REVIEW_BATCH),
        )
        ids = [int(r[0]) for r in await cur.fetchall()]
        for sighting_id in ids:
            s = await sighting_row(conn, sighting_id)
            findings: list[Finding] = []
            fixes: list[TerminalFix] = []
            if s["vehicle_id"] is not None and await _has_terminal(conn, s["vehicle_id"]):
                seen = Seen(s["seen_at"], s["lon"], s["lat"], s["confidence"], s["loaded"],
                            s["muck_lanes"])  # fmt: skip
                fixes = await _terminal_fixes(conn, s["vehicle_id"], s["seen_at"], rules.window_s)
                findings = terminal_findings(seen, fixes, rules)
            for finding in findings:
                message = await raise_incident(conn, s, finding, fixes, now)
                live += [message] if message else []
            await note_findings(conn, sighting_id, findings, reviewed=True)
            reviewed += 1
    await publish(redis, live)
    return reviewed

"""An incident's dossier, gathered from the database (tracker.evidence.dossier describes it).

The track is the vehicle's fixes from ``TRACK_MARGIN`` before the incident opened to that long
after it ended (unflagged fixes, at most ``EvidenceSettings.max_fixes``); the fences are the
active ones whose extent meets the track's; the events are the engine's opening and every
officer action of the audit log, chained when the dossier is made (an incident stores no chain;
a case brings its stored hashes); the photos are those of clues about the vehicle seen within
the track's window that an officer verified."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from tracker.evidence.chain import GENESIS, link
from tracker.evidence.dossier import (
    TYPE_NAMES,
    ChainedEvent,
    Dossier,
    FenceShape,
    LonLat,
    Party,
    PhotoFile,
    TrackFix,
)

AConn = psycopg.AsyncConnection[Any]
TRACK_MARGIN = timedelta(minutes=30)
PHOTO_EXT = {"image/jpeg": "jpg", "image/png": "png"}


def _z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def fetch_one(conn: AConn, query: str, params: Sequence[Any]) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        return await cur.fetchone()


async def fetch_all(conn: AConn, query: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), params)
        return await cur.fetchall()


async def incident_row(conn: AConn, incident_id: str) -> dict[str, Any] | None:
    return await fetch_one(
        conn,
        """SELECT i.*, COALESCE(v.plate, i.detail->>'plate') AS plate, c.name AS company,
                  c.credit_code
             FROM incidents i LEFT JOIN vehicles v ON v.id = i.vehicle_id
             LEFT JOIN companies c ON c.id = COALESCE(i.company_id, v.company_id)
            WHERE i.incident_id = %s""",
        (incident_id,),
    )


def _events(row: dict[str, Any], actions: Iterable[dict[str, Any]]) -> tuple[ChainedEvent, ...]:
    events: list[dict[str, Any]] = [
        {
            "at": _z(row["detected_at"]),
            "type": "incident.opened",
            "actor": "engine",
            "incident_id": row["incident_id"],
            "incident_type": row["type"],
            "vehicle_id": row["vehicle_id"],
            "lon": row["lon"],
            "lat": row["lat"],
        }
    ]
    for a in actions:
        after = a["after"] or {}
        events.append(
            {
                "at": _z(a["at"]),
                "type": a["action"],
                "actor": a["actor"],
                "status": after.get("status"),
                "note": after.get("note"),
            }
        )
    chained, prev = [], GENESIS
    for event in events:
        prev = link(prev, event)
        chained.append(ChainedEvent(event, prev))
    return tuple(chained)


def _ring(coords: Any) -> tuple[LonLat, ...]:
    return tuple((float(p[0]), float(p[1])) for p in coords)


def fence_shape(row: dict[str, Any]) -> FenceShape | None:
    """A fence row as drawn: polygons as rings, a circle as a 36-gon, a corridor as its line."""
    g, name, role = row["geometry"], row["name"] or "", row["role"]
    if g.get("type") == "Polygon":
        return FenceShape(name, role, tuple(_ring(r) for r in g["coordinates"]))
    if g.get("type") == "MultiPolygon":
        return FenceShape(name, role, tuple(_ring(r) for poly in g["coordinates"] for r in poly))
    if g.get("type") == "LineString":
        return FenceShape(name, role, (_ring(g["coordinates"]),), line=True)
    if g.get("type") == "Point" and row["radius_m"]:
        lon, lat = float(g["coordinates"][0]), float(g["coordinates"][1])
        dlat = row["radius_m"] / 110_574.0
        dlon = row["radius_m"] / (111_320.0 * math.cos(math.radians(lat)))
        ring = tuple(
            (lon + dlon * math.cos(a * math.pi / 18), lat + dlat * math.sin(a * math.pi / 18))
            for a in range(37)
        )
        return FenceShape(name, role, (ring,))
    return None


def _meets(shape: FenceShape, box: tuple[float, float, float, float]) -> bool:
    pts = [p for ring in shape.rings for p in ring]
    if not pts:
        return False
    return not (
        max(p[0] for p in pts) < box[0]
        or min(p[0] for p in pts) > box[2]
        or max(p[1] for p in pts) < box[1]
        or min(p[1] for p in pts) > box[3]
    )


async def fences_met(
    conn: AConn, fixes: Sequence[TrackFix], place: LonLat | None
) -> list[FenceShape]:
    pts = [(f.lon, f.lat) for f in fixes] + ([place] if place else [])
    if not pts:
        return []
    pad = 0.01  # about a kilometre: fences just beside the track show too
    box = (
        min(p[0] for p in pts) - pad,
        min(p[1] for p in pts) - pad,
        max(p[0] for p in pts) + pad,
        max(p[1] for p in pts) + pad,
    )
    rows = await fetch_all(
        conn, "SELECT name, role, geometry, radius_m FROM fences WHERE active ORDER BY id", ()
    )
    return await asyncio.to_thread(_meeting, rows, box)  # a city has thousands of fences


def _meeting(
    rows: list[dict[str, Any]], box: tuple[float, float, float, float]
) -> list[FenceShape]:
    shapes = (fence_shape(r) for r in rows)
    return [s for s in shapes if s is not None and _meets(s, box)]


async def fetch_track(
    conn: AConn, vehicle_id: int, start: datetime, end: datetime, limit: int
) -> tuple[TrackFix, ...]:
    rows = await fetch_all(
        conn,
        """SELECT fix_time, lon, lat, speed_kmh, loaded, body_lifted, cover_closed FROM pings
            WHERE vehicle_id = %s AND fix_time >= %s AND fix_time < %s AND flags = 0
            ORDER BY fix_time LIMIT %s""",
        (vehicle_id, start, end, limit),
    )
    return tuple(
        TrackFix(
            *(
                r[k]
                for k in (
                    "fix_time",
                    "lon",
                    "lat",
                    "speed_kmh",
                    "loaded",
                    "body_lifted",
                    "cover_closed",
                )
            )
        )
        for r in rows
    )


async def vehicle_photos(
    conn: AConn, vehicle_id: int, start: datetime, end: datetime
) -> tuple[PhotoFile, ...]:
    """Photos of the verified clues about the vehicle seen within the window."""
    rows = await fetch_all(
        conn,
        """SELECT p.clue_id, p.n, p.media_type, p.data FROM clue_photos p
             JOIN clues c ON c.id = p.clue_id
            WHERE c.vehicle_id = %s AND c.observed_at >= %s AND c.observed_at < %s
              AND c.status IN ('verified', 'to_case') ORDER BY p.clue_id, p.n""",
        (vehicle_id, start, end),
    )
    return tuple(
        PhotoFile(
            f"clue-{r['clue_id']}-{r['n']}.{PHOTO_EXT[r['media_type']]}",
            r["media_type"],
            bytes(r["data"]),
            f"线索 {r['clue_id']}",
        )
        for r in rows
    )


async def dossier(
    conn: AConn, row: dict[str, Any], max_fixes: int, time_zone: str = "Asia/Shanghai"
) -> Dossier:
    """The dossier of an incident (``row`` from :func:`incident_row`)."""
    start = row["opened_at"] - TRACK_MARGIN
    end = (row["ended_at"] or row["updated_at"] or row["detected_at"]) + TRACK_MARGIN
    end = max(end, row["detected_at"] + TRACK_MARGIN)
    vehicle_id = row["vehicle_id"]  # none: an unregistered plate seen at a checkpoint
    fixes = () if vehicle_id is None else await fetch_track(conn, vehicle_id, start, end, max_fixes)
    actions = await fetch_all(
        conn,
        """SELECT at, action, actor, after FROM audit_log
            WHERE entity = 'incident' AND entity_key = %s ORDER BY id""",
        (row["incident_id"],),
    )
    place = None if row["lon"] is None else (float(row["lon"]), float(row["lat"]))
    title = TYPE_NAMES.get(row["type"], row["type"])
    evidence = row["evidence"] or {}
    facts = _facts(row, title)
    if vehicle_id is not None and not (row["detail"] or {}).get("sighting"):
        seen = await vehicle_sightings(conn, vehicle_id, start, end)
        if seen:  # the checkpoint cameras saw the truck meanwhile: a second witness
            facts += _seen_meanwhile(seen, time_zone)
            evidence = {**evidence, "features": [*evidence.get("features", []),
                                                 *(_seen_feature(r) for r in seen)]}  # fmt: skip
    return Dossier(
        ref=f"incident:{row['incident_id']}",
        title=title,
        kind=row["type"],
        party=Party(row["company"] or "—", row["plate"], row["credit_code"], row["vehicle_id"]),
        opened_at=row["opened_at"],
        place=place,
        facts=facts,
        events=_events(row, actions),
        fixes=fixes,
        fences=tuple(await fences_met(conn, fixes, place)),
        photos=() if vehicle_id is None else await vehicle_photos(conn, vehicle_id, start, end),
        decision=None,
        evidence=evidence,
        status=row["status"],
        time_zone=time_zone,
    )


MAX_SIGHTINGS = 20


async def vehicle_sightings(
    conn: AConn, vehicle_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The vehicle's checkpoint sightings within the window (at most ``MAX_SIGHTINGS``)."""
    return await fetch_all(
        conn,
        """SELECT s.id, s.plate, s.seen_at, s.confidence, s.photo_ref, s.camera_id,
                  c.name AS checkpoint, c.lon, c.lat
             FROM sightings s JOIN checkpoints c ON c.id = s.checkpoint_id
            WHERE s.vehicle_id = %s AND s.seen_at >= %s AND s.seen_at < %s
            ORDER BY s.seen_at LIMIT %s""",
        (vehicle_id, start, end, MAX_SIGHTINGS),
    )


def _seen_meanwhile(rows: list[dict[str, Any]], time_zone: str) -> str:
    zone = ZoneInfo(time_zone)
    lines = [
        f"{r['checkpoint']} {r['seen_at'].astimezone(zone):%Y-%m-%d %H:%M:%S}"
        f"（号牌 {r['plate']}，置信度 {r['confidence']:.2f}，照片 {r['photo_ref'] or '—'}）"
        for r in rows
    ]
    return "\n同一时段卡点抓拍：" + "；".join(lines) + "。"


def _seen_feature(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
        "properties": {"source": "sighting", "time": _z(r["seen_at"]), "plate": r["plate"],
                       "checkpoint": r["checkpoint"], "photo_ref": r["photo_ref"]},
    }  # fmt: skip


def _facts(row: dict[str, Any], title: str) -> str:
    where = "" if row["lon"] is None else f"在经度 {row['lon']:.6f}、纬度 {row['lat']:.6f} 附近"
    text = f"车辆 {row['plate']}（{row['company'] or '—'}）{where}被系统检测为“{title}”"
    if row["ended_at"] is not None:
        text += f"，持续 {int((row['ended_at'] - row['opened_at']).total_seconds())} 秒"
    text += "。"
    seen = (row["detail"] or {}).get("sighting")
    if seen:  # a sighting-based incident: the camera's read is the evidence
        text += _sighting_facts(seen, row["detail"])
    if row["note"]:
        text += f"\n执法人员意见：{row['note']}"
    return text


def _sighting_facts(seen: dict[str, Any], detail: dict[str, Any]) -> str:
    """The checkpoint camera's read (and, for a contradiction, what the terminal said)."""
    text = (
        f"\n卡点抓拍：{seen.get('checkpoint')}（卡点 {seen.get('checkpoint_id')}）摄像机 "
        f"{seen.get('camera_id') or '—'} 于 {seen.get('seen_at')} 拍到号牌 {seen.get('plate')}"
        f"（{seen.get('plate_colour')}，置信度 {seen.get('confidence')}，方向 "
        f"{seen.get('direction') or '—'}，照片 {seen.get('photo_ref') or '—'}）。"
    )
    if detail.get("kind") == "silent":
        text += f"该车终端在抓拍前后 {detail.get('window_s')} 秒内没有上报定位。"
    elif detail.get("kind") == "far":
        text += (
            f"该车终端同一时刻报告的位置距卡点 {detail.get('distance_m')} 米，"
            f"超出合理距离 {detail.get('plausible_m')} 米。"
        )
    return text

"""Reads and officer actions for the incidents and trips API (raw SQL, parameterised)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

_INCIDENT_COLS = (
    "incident_id, type, vehicle_id, company_id, permit_id, trip_id, severity, status, note,"
    " status_by, opened_at, detected_at, ended_at, closed_at, late, lon, lat, detail, updated_at"
)
# Officers' moves: open -> confirmed | dismissed -> closed.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "confirm": (("open",), "confirmed"),
    "dismiss": (("open",), "dismissed"),
    "close": (("confirmed", "dismissed"), "closed"),
}


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    type: str | None = None
    status: str | None = None
    vehicle_id: int | None = None
    company_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    limit: int = 100


def _where(f: IncidentFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["true"]
    params: list[Any] = []
    for column, value in (
        ("type", f.type),
        ("status", f.status),
        ("vehicle_id", f.vehicle_id),
        ("company_id", f.company_id),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if f.since is not None:
        clauses.append("opened_at >= %s")
        params.append(f.since)
    if f.until is not None:
        clauses.append("opened_at < %s")
        params.append(f.until)
    if f.bbox is not None:
        clauses.append("lon BETWEEN %s AND %s AND lat BETWEEN %s AND %s")
        params += [f.bbox[0], f.bbox[2], f.bbox[1], f.bbox[3]]
    return " AND ".join(clauses), params


async def list_incidents(conn: AsyncConnection[Any], f: IncidentFilter) -> list[dict[str, Any]]:
    where, params = _where(f)
    query = f"SELECT {_INCIDENT_COLS} FROM incidents WHERE {where} ORDER BY opened_at DESC LIMIT %s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), [*params, f.limit])
        return await cur.fetchall()


async def get_incident(conn: AsyncConnection[Any], incident_id: str) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_INCIDENT_COLS}, evidence FROM incidents WHERE incident_id = %s".encode(),
            (incident_id,),
        )
        return await cur.fetchone()


async def move(
    conn: AsyncConnection[Any], incident_id: str, frm: tuple[str, ...], to: str, note: str, by: str
) -> dict[str, Any] | None:
    """Move an incident from one of ``frm`` to ``to``; None when it is not in such a state."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE incidents SET status = %s, note = %s, status_by = %s, updated_at = now(),"
            " closed_at = CASE WHEN %s = 'closed' THEN now() ELSE closed_at END"
            f" WHERE incident_id = %s AND status = ANY(%s) RETURNING {_INCIDENT_COLS}".encode(),
            (to, note, by, to, incident_id, list(frm)),
        )
        return await cur.fetchone()


async def list_trips(
    conn: AsyncConnection[Any],
    vehicle_id: int | None,
    permit_id: str | None,
    yard_id: str | None,
    company_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    clauses: list[str] = ["true"]
    params: list[Any] = []
    for column, value in (
        ("vehicle_id", vehicle_id),
        ("permit_id", permit_id),
        ("yard_id", yard_id),
        ("company_id", company_id),
    ):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    query = (
        f"SELECT * FROM trips WHERE {' AND '.join(clauses)}"
        " ORDER BY loading_at DESC NULLS LAST LIMIT %s"
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query.encode(), [*params, limit])
        return await cur.fetchall()

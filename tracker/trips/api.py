"""Incidents and trips: ``/api/v1/incidents`` (filters, evidence as GeoJSON, officer actions)
and ``/api/v1/trips`` (the electronic manifest per vehicle, permit and yard).

Any account reads (company users see their own company only); enforcement officers and admins
confirm, dismiss and close incidents, with a note, audited."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal, Role
from tracker.cases.escalation import open_for_incident
from tracker.cases.machine import deadlines_from
from tracker.deps import PlatformDep, StaffDep, require_roles
from tracker.errors import BadRequest, Conflict, NotFound
from tracker.times import parse_time
from tracker.trips import queries

router = APIRouter(prefix="/api/v1", tags=["incidents"])
OfficerDep = Annotated[
    Principal, Depends(require_roles(Role.enforcement_officer, Role.admin))
]  # fmt: skip


class Note(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


def _bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    try:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in raw.split(","))
    except ValueError:
        raise BadRequest("bbox is min_lon,min_lat,max_lon,max_lat", field="bbox") from None
    return min_lon, min_lat, max_lon, max_lat


def _instant(raw: str | None, field: str) -> datetime | None:
    if raw is None:
        return None
    parsed = parse_time(raw)
    if isinstance(parsed, str):
        raise BadRequest(parsed, field=field)
    return parsed


def _company_scope(principal: Principal, company_id: int | None) -> int | None:
    if principal.role == Role.company_user:
        return principal.company_id
    return company_id


@router.get("/incidents", summary="Incidents, newest first")
async def list_incidents(
    platform: PlatformDep,
    principal: StaffDep,
    type: str | None = None,
    status: str | None = None,
    vehicle_id: int | None = None,
    company_id: int | None = None,
    since: Annotated[str | None, Query(description="RFC 3339, inclusive")] = None,
    until: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    start = _instant(since, "since")
    end = _instant(until, "until")
    f = queries.IncidentFilter(
        type, status, vehicle_id, _company_scope(principal, company_id), start, end, _bbox(bbox),
        limit,
    )  # fmt: skip
    async with platform.pool.connection() as conn:
        rows = await queries.list_incidents(conn, f)
    return {"incidents": rows}


async def _visible(platform: PlatformDep, principal: Principal, incident_id: str) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        row = await queries.get_incident(conn, incident_id)
    if row is None or not principal.sees_company(row["company_id"]):
        raise NotFound(f"incident {incident_id} not found")
    return row


@router.get("/incidents/{incident_id}", summary="One incident with its evidence (GeoJSON)")
async def get_incident(
    incident_id: str, platform: PlatformDep, principal: StaffDep
) -> dict[str, Any]:
    return await _visible(platform, principal, incident_id)


async def _move(
    platform: PlatformDep, principal: Principal, incident_id: str, action: str, note: str
) -> dict[str, Any]:
    before = await _visible(platform, principal, incident_id)
    frm_states, to = queries.TRANSITIONS[action]
    async with platform.pool.connection() as conn, conn.transaction():
        row = await queries.move(conn, incident_id, frm_states, to, note, principal.username)
        if row is None:
            raise Conflict(f"incident {incident_id} is {before['status']}, cannot {action}")
        was = {"incident_id": incident_id, "status": before["status"]}
        now = {"incident_id": incident_id, "status": to, "note": note}
        await audit.record(conn, principal, f"incident.{action}", "incident", incident_id, was, now)
        if action == "confirm":  # a confirmed incident opens its case (tracker.cases)
            case = await open_for_incident(
                conn, incident_id, row["type"], row["vehicle_id"], row["company_id"], row["lon"],
                row["lat"], principal, datetime.now(UTC),
                deadlines_from(platform.settings.cases),
            )  # fmt: skip
            row = {**row, "case_id": None if case is None else case["id"]}
    return row


@router.post("/incidents/{incident_id}/confirm", summary="Confirm an open incident")
async def confirm(
    incident_id: str, body: Note, platform: PlatformDep, principal: OfficerDep
) -> dict[str, Any]:
    return await _move(platform, principal, incident_id, "confirm", body.note)


@router.post("/incidents/{incident_id}/dismiss", summary="Dismiss an open incident")
async def dismiss(
    incident_id: str, body: Note, platform: PlatformDep, principal: OfficerDep
) -> dict[str, Any]:
    return await _move(platform, principal, incident_id, "dismiss", body.note)


@router.post("/incidents/{incident_id}/close", summary="Close a confirmed or dismissed incident")
async def close(
    incident_id: str, body: Note, platform: PlatformDep, principal: OfficerDep
) -> dict[str, Any]:
    return await _move(platform, principal, incident_id, "close", body.note)


@router.get("/trips", summary="Trips (the electronic manifest), newest first")
async def list_trips(
    platform: PlatformDep,
    principal: StaffDep,
    vehicle_id: int | None = None,
    permit_id: str | None = None,
    yard_id: str | None = None,
    company_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    company = _company_scope(principal, company_id)
    async with platform.pool.connection() as conn:
        rows = await queries.list_trips(conn, vehicle_id, permit_id, yard_id, company, limit)
    return {"trips": rows}

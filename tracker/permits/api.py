"""Permit endpoints. Company users draft and submit their own company's permits; permit officers
decide; enforcement officers and viewers read; admins do everything."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from tracker.accounts.models import Principal, Role
from tracker.deps import Platform, PlatformDep, StaffDep, require_roles
from tracker.errors import Conflict, NotFound
from tracker.permits import corridor, logic, repo, service
from tracker.permits.models import (
    CorridorProposal,
    CorridorRequest,
    Decision,
    PermitIn,
    PermitOut,
    PermitState,
)
from tracker.registry import places

router = APIRouter(prefix="/api/v1/permits", tags=["permits"])
DrafterDep = Annotated[Principal, Depends(require_roles(Role.permit_officer, Role.company_user))]
DeciderDep = Annotated[Principal, Depends(require_roles(Role.permit_officer))]


def _check_sizes(platform: Platform, body: PermitIn) -> None:
    corridors = [(f"corridors.{i}.geometry", c.geometry) for i, c in enumerate(body.corridors)]
    places.check_sizes(corridors, platform.settings.limits)


@router.get("", summary="Permits (a company user sees its own)")
async def list_permits(
    platform: PlatformDep,
    who: StaffDep,
    company_id: int | None = None,
    state: PermitState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PermitOut]:
    if who.role == Role.company_user:
        company_id = who.company_id
    async with platform.pool.connection() as conn:
        rows = await repo.load(
            conn,
            company_id=company_id,
            state=None if state is None else state.value,
            limit=limit,
            offset=offset,
        )
    return [PermitOut(**r) for r in rows]


@router.post(
    "/propose-corridor",
    summary="Propose a corridor: the shortest road path from a site to a yard around no-go zones",
)
async def propose_corridor(
    platform: PlatformDep, _: DrafterDep, body: CorridorRequest
) -> CorridorProposal:
    async with platform.pool.connection() as conn:
        site = await repo.place_geometry(conn, "sites", body.site_id)
        yard = await repo.place_geometry(conn, "yards", body.yard_id)
        zones = await repo.active_zones(conn)
    if site is None:
        raise NotFound(f"no active site {body.site_id}", field="site_id")
    if yard is None:
        raise NotFound(f"no active yard {body.yard_id}", field="yard_id")
    if body.windows is not None:
        windows = [(w.start, w.end) for w in body.windows]
        zones = [z for z in zones if logic.zone_in_force(z, windows)]
    network = await asyncio.to_thread(
        corridor.road_network, corridor.road_network_path(platform.settings)
    )
    try:
        found = await asyncio.to_thread(
            corridor.propose,
            network,
            site,
            yard,
            [(z.id, z.geometry) for z in zones],
            body.half_width_m,
        )
    except corridor.NoRoute as exc:
        raise Conflict(str(exc), field="site_id") from None
    return CorridorProposal(
        geometry={"type": "LineString", "coordinates": [list(c) for c in found.coordinates]},
        half_width_m=body.half_width_m,
        length_m=round(found.length_m, 1),
        avoided_zone_ids=found.avoided_zone_ids,
        start_gap_m=round(found.start_gap_m, 1),
        end_gap_m=round(found.end_gap_m, 1),
    )


@router.get("/{permit_id}", summary="One permit")
async def get_permit(platform: PlatformDep, who: StaffDep, permit_id: int) -> PermitOut:
    async with platform.pool.connection() as conn:
        return PermitOut(**await service.get_visible(conn, permit_id, who))


@router.post("", status_code=201, summary="Draft a permit")
async def create_permit(platform: PlatformDep, who: DrafterDep, body: PermitIn) -> PermitOut:
    _check_sizes(platform, body)
    async with platform.pool.connection() as conn:
        return PermitOut(**await service.create(conn, body, who))


@router.put("/{permit_id}", summary="Edit a draft (or a rejected permit, which becomes a draft)")
async def edit_permit(
    platform: PlatformDep, who: DrafterDep, permit_id: int, body: PermitIn
) -> PermitOut:
    _check_sizes(platform, body)
    async with platform.pool.connection() as conn:
        return PermitOut(**await service.edit(conn, permit_id, body, who))


@router.post("/{permit_id}/submit", summary="Submit a draft for approval")
async def submit_permit(platform: PlatformDep, who: DrafterDep, permit_id: int) -> PermitOut:
    return await _transition(platform, permit_id, "submit", who, None)


@router.post(
    "/{permit_id}/approve",
    summary="Approve (or reinstate a suspended permit); 409 with every reason when unsound",
)
async def approve_permit(platform: PlatformDep, who: DeciderDep, permit_id: int) -> PermitOut:
    today = datetime.now(ZoneInfo(platform.settings.city_tz)).date()  # the city's day
    async with platform.pool.connection() as conn:
        row, changes = await service.approve(conn, permit_id, who, today)
    await places.publish(platform.redis, changes)
    return PermitOut(**row)


@router.post("/{permit_id}/reject", summary="Reject a submitted permit")
async def reject_permit(
    platform: PlatformDep, who: DeciderDep, permit_id: int, body: Decision
) -> PermitOut:
    return await _transition(platform, permit_id, "reject", who, body.reason)


@router.post("/{permit_id}/suspend", summary="Suspend an approved permit")
async def suspend_permit(
    platform: PlatformDep, who: DeciderDep, permit_id: int, body: Decision
) -> PermitOut:
    return await _transition(platform, permit_id, "suspend", who, body.reason)


@router.post("/{permit_id}/revoke", summary="Revoke an approved or suspended permit")
async def revoke_permit(
    platform: PlatformDep, who: DeciderDep, permit_id: int, body: Decision
) -> PermitOut:
    return await _transition(platform, permit_id, "revoke", who, body.reason)


async def _transition(
    platform: Platform, permit_id: int, action: str, who: Principal, reason: str | None
) -> PermitOut:
    async with platform.pool.connection() as conn:
        row, changes = await service.transition(conn, permit_id, action, who, reason)
    await places.publish(platform.redis, changes)
    return PermitOut(**row)

"""Yard capacity endpoints: fill, remaining, forecast and history for the map and the yard page;
manual adjustments (surveys, excavations) by the office, audited. All staff read."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tracker.accounts import repo as audit
from tracker.capacity import repo, service
from tracker.capacity.models import (
    AdjustmentIn,
    AdjustmentKind,
    LedgerEntry,
    YardCapacity,
    YardCapacityDetail,
)
from tracker.deps import OfficeDep, PlatformDep, StaffDep
from tracker.errors import BadRequest, NotFound

router = APIRouter(prefix="/api/v1/yards", tags=["capacity"])
FUTURE_SLACK = timedelta(minutes=5)


@router.get("/capacity", summary="Fill, remaining volume and days to full of every yard")
async def list_capacity(platform: PlatformDep, _: StaffDep) -> list[YardCapacity]:
    async with platform.pool.connection() as conn:
        return await service.all_yards(conn, platform.settings.capacity_inflow_days)


@router.get("/{yard_id}/capacity", summary="One yard's fill, inflow and daily fill history")
async def yard_capacity(
    yard_id: int,
    platform: PlatformDep,
    _: StaffDep,
    days: Annotated[int, Query(ge=1, le=366, description="days of history")] = 30,
) -> YardCapacityDetail:
    async with platform.pool.connection() as conn:
        found = await service.one_yard(conn, yard_id, platform.settings.capacity_inflow_days, days)
    if found is None:
        raise NotFound(f"no yard {yard_id}", field="yard_id")
    return found


def _check(body: AdjustmentIn) -> datetime:
    if body.volume_m3 == 0:
        raise BadRequest("an adjustment moves a non-zero volume", field="volume_m3")
    if body.kind == AdjustmentKind.excavation and body.volume_m3 > 0:
        raise BadRequest("an excavation removes volume: give it negative", field="volume_m3")
    at = body.at or datetime.now(UTC)
    if at.tzinfo is None:
        raise BadRequest("at needs a timezone (RFC 3339)", field="at")
    if at > datetime.now(UTC) + FUTURE_SLACK:
        raise BadRequest("at is in the future", field="at")
    return at


@router.post(
    "/{yard_id}/adjustments", status_code=201, summary="Book a survey, excavation or correction"
)
async def adjust(
    yard_id: int, body: AdjustmentIn, platform: PlatformDep, who: OfficeDep
) -> dict[str, Any]:
    at = _check(body)
    async with platform.pool.connection() as conn:
        async with conn.transaction():
            if not await repo.yard_exists(conn, yard_id):
                raise NotFound(f"no yard {yard_id}", field="yard_id")
            entry = await repo.insert_adjustment(
                conn, yard_id, body.kind.value, body.volume_m3, body.reason, who.username, at
            )
            await audit.record(
                conn,
                who,
                "adjust",
                "yard_capacity",
                yard_id,
                None,
                LedgerEntry(**entry).model_dump(mode="json"),
            )
        await service.check_alerts(conn)
        await service.publish_alerts(conn, platform.redis)
        found = await service.one_yard(conn, yard_id, platform.settings.capacity_inflow_days, 1)
    assert found is not None
    return {
        "entry": LedgerEntry(**entry).model_dump(mode="json"),
        "capacity": YardCapacity(**found.model_dump(exclude={"inflow_m3_per_day", "history"})),
    }


@router.get("/{yard_id}/ledger", summary="The yard's ledger: trips and adjustments, newest first")
async def yard_ledger(
    yard_id: int,
    platform: PlatformDep,
    _: StaffDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        if not await repo.yard_exists(conn, yard_id):
            raise NotFound(f"no yard {yard_id}", field="yard_id")
        rows = await repo.ledger(conn, yard_id, limit, offset)
    return {"yard_id": yard_id, "entries": [LedgerEntry(**r) for r in rows]}

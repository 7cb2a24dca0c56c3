"""Blacklist, points, credit and appeal endpoints.

All staff read (company users only their own company's vehicles, listings and appeals);
permit and enforcement officers list and delist vehicles and decide appeals; company users
file appeals for their own vehicles; admins edit the points policy (and do everything)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tracker.accounts.models import Principal, Role
from tracker.blacklist import repo, service
from tracker.blacklist.models import (
    Appeal,
    AppealIn,
    Decision,
    Listing,
    ListingIn,
    PolicyIn,
    Reason,
)
from tracker.deps import AdminDep, PlatformDep, StaffDep, require_roles
from tracker.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["blacklist"])
OfficerDep = Annotated[
    Principal, Depends(require_roles(Role.permit_officer, Role.enforcement_officer))
]
AppellantDep = Annotated[Principal, Depends(require_roles(Role.company_user))]


def _scope(who: Principal, company_id: int | None) -> int | None:
    return who.company_id if who.role == Role.company_user else company_id


@router.get("/blacklist", summary="Listings: the active ones, or all with active=false")
async def list_listings(
    platform: PlatformDep,
    who: StaffDep,
    vehicle_id: int | None = None,
    company_id: int | None = None,
    active: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Listing]:
    async with platform.pool.connection() as conn:
        rows = await repo.listings(conn, vehicle_id, _scope(who, company_id), active, limit)
    return [Listing(**r) for r in rows]


@router.post("/blacklist", status_code=201, summary="List a vehicle by hand, with a reason")
async def add_listing(platform: PlatformDep, who: OfficerDep, body: ListingIn) -> Listing:
    async with platform.pool.connection() as conn:
        return Listing(**await service.list_vehicle(conn, body, who))


@router.get("/blacklist/history", summary="Every points, listing and appeal event, newest first")
async def blacklist_history(
    platform: PlatformDep,
    who: StaffDep,
    vehicle_id: int | None = None,
    company_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    async with platform.pool.connection() as conn:
        return await repo.history(conn, vehicle_id, _scope(who, company_id), limit)


@router.get("/blacklist/policy", summary="Points per incident type and the listing rule")
async def get_policy(platform: PlatformDep, _: StaffDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await service.policy(conn)


@router.put("/blacklist/policy", summary="Change points per type and the listing rule")
async def put_policy(platform: PlatformDep, who: AdminDep, body: PolicyIn) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await service.set_policy(conn, body, who)


@router.get("/blacklist/{listing_id}", summary="One listing")
async def get_listing(listing_id: int, platform: PlatformDep, who: StaffDep) -> Listing:
    async with platform.pool.connection() as conn:
        row = await repo.listing(conn, listing_id)
    if row is None or not who.sees_company(row["company_id"]):
        raise NotFound(f"no listing {listing_id}", field="listing_id")
    return Listing(**row)


@router.post("/blacklist/{listing_id}/delist", summary="Lift a listing by hand, with a reason")
async def delist(listing_id: int, body: Reason, platform: PlatformDep, who: OfficerDep) -> Listing:
    async with platform.pool.connection() as conn, conn.transaction():
        return Listing(**await service.delist(conn, listing_id, body.reason, who, "manual"))


@router.get("/vehicles/{vehicle_id}/points", summary="A vehicle's points and listing")
async def vehicle_points(
    vehicle_id: int,
    platform: PlatformDep,
    who: StaffDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await service.vehicle_points(conn, vehicle_id, who, limit)


@router.get("/companies/{company_id}/credit", summary="A company's credit score and grade A-D")
async def company_credit(company_id: int, platform: PlatformDep, who: StaffDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await service.company_credit(conn, company_id, who)


@router.post("/appeals", status_code=201, summary="File an appeal (company users)")
async def file_appeal(platform: PlatformDep, who: AppellantDep, body: AppealIn) -> Appeal:
    async with platform.pool.connection() as conn:
        return Appeal(**await service.file_appeal(conn, body, who))


@router.get("/appeals", summary="Appeals, newest first (a company user sees its own)")
async def list_appeals(
    platform: PlatformDep,
    who: StaffDep,
    company_id: int | None = None,
    status: Annotated[str | None, Query(pattern="^(pending|upheld|rejected)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Appeal]:
    async with platform.pool.connection() as conn:
        rows = await repo.appeals(conn, _scope(who, company_id), status, limit)
    return [Appeal(**r) for r in rows]


@router.get("/appeals/{appeal_id}", summary="One appeal")
async def get_appeal(appeal_id: int, platform: PlatformDep, who: StaffDep) -> Appeal:
    async with platform.pool.connection() as conn:
        row = await repo.appeal(conn, appeal_id)
    if row is None or not who.sees_company(row["company_id"]):
        raise NotFound(f"no appeal {appeal_id}", field="appeal_id")
    return Appeal(**row)


@router.post("/appeals/{appeal_id}/uphold", summary="Uphold an appeal: lift or void")
async def uphold(appeal_id: int, body: Decision, platform: PlatformDep, who: OfficerDep) -> Appeal:
    async with platform.pool.connection() as conn:
        return Appeal(**await service.decide_appeal(conn, appeal_id, True, body.note, who))


@router.post("/appeals/{appeal_id}/reject", summary="Reject an appeal")
async def reject(appeal_id: int, body: Decision, platform: PlatformDep, who: OfficerDep) -> Appeal:
    async with platform.pool.connection() as conn:
        return Appeal(**await service.decide_appeal(conn, appeal_id, False, body.note, who))

"""Clues over HTTP.

Public (no account; rate-limited per source address and per vehicle code, tracker.clues.throttle):
``POST /api/v1/public/vehicles/{code}/clues`` reports, answering a receipt code;
``GET /api/v1/public/clues/{receipt}`` tells that clue's status and nothing else.

Staff: reporters (``REPORTER_ROLES``: grid staff's phone page, officers entering a clue) POST
``/api/v1/clues``; readers list and read clues and their photos (contacts only for officers);
officers verify, convert to a case or close, audited, never on a clue they entered themselves.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tracker.accounts.models import Principal, Role
from tracker.cases.machine import deadlines_from
from tracker.clues import repo, service
from tracker.clues.models import (
    OFFICER_ROLES,
    READER_ROLES,
    REPORTER_ROLES,
    CaseRequest,
    ClueReport,
    ClueStatus,
    Note,
    Reason,
    Receipt,
    ReceiptStatus,
    StaffClue,
)
from tracker.clues.throttle import ClueThrottle
from tracker.deps import Platform, PlatformDep, require_roles
from tracker.errors import NotFound

router = APIRouter(tags=["clues"])
CODE = re.compile(r"^[0-9a-f]{32}$")  # a public vehicle code (tracker.public)
ReporterDep = Annotated[Principal, Depends(require_roles(*REPORTER_ROLES))]
ReaderDep = Annotated[Principal, Depends(require_roles(*READER_ROLES))]
OfficerDep = Annotated[Principal, Depends(require_roles(*OFFICER_ROLES))]


def _throttle(platform: Platform) -> ClueThrottle:
    return ClueThrottle(platform.redis, platform.settings.clues.window_s)


def _source(request: Request) -> str:
    """The caller's address as the server sees it (behind a proxy: set uvicorn's
    ``--forwarded-allow-ips`` so this is the client's)."""
    return request.client.host if request.client else "unknown"


@router.post(
    "/api/v1/public/vehicles/{code}/clues",
    status_code=201,
    response_model_exclude_none=True,  # no clue id for the public
    summary="Report what a vehicle did (public, no account; rate-limited)",
)
async def public_report(
    code: str, body: ClueReport, request: Request, platform: PlatformDep
) -> Receipt:
    if not CODE.match(code):
        raise NotFound("this code belongs to no registered vehicle", field="code")
    limits = platform.settings.clues
    source = _source(request)
    await _throttle(platform).admit(
        [
            (f"src:{source}", "source", limits.reports_per_source),
            (f"code:{code}", "code", limits.reports_per_code),
        ]
    )
    async with platform.pool.connection() as conn:
        _, receipt = await service.report_public(conn, code, body, source, limits)
    return Receipt(receipt=receipt, status=ClueStatus.new)


@router.get(
    "/api/v1/public/clues/{receipt}",
    summary="The status of a reported clue, by its receipt code (public; rate-limited)",
)
async def receipt_status(receipt: str, request: Request, platform: PlatformDep) -> ReceiptStatus:
    limits = platform.settings.clues
    await _throttle(platform).admit(
        [(f"look:{_source(request)}", "source", limits.lookups_per_source)]
    )
    digest = service.receipt_hash(receipt)
    async with platform.pool.connection() as conn:
        row = await repo.by_receipt(conn, digest)
    if row is None:
        raise NotFound("no clue has this receipt code", field="receipt")
    return ReceiptStatus(**row)


@router.post("/api/v1/clues", status_code=201, summary="Report or enter a clue (staff)")
async def staff_report(body: StaffClue, platform: PlatformDep, who: ReporterDep) -> Receipt:
    async with platform.pool.connection() as conn:
        clue_id, receipt = await service.report_staff(conn, who, body, platform.settings.clues)
    return Receipt(id=clue_id, receipt=receipt, status=ClueStatus.new)


def _shown(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    if who.role not in OFFICER_ROLES | {Role.admin}:
        row = {**row, "contact": None}  # a reporter's contact is for the officers only
    return row


@router.get("/api/v1/clues", summary="Clues, newest first (paged by before_id)")
async def list_clues(
    platform: PlatformDep,
    who: ReaderDep,
    status: ClueStatus | None = None,
    vehicle_id: int | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        rows = await repo.listing(
            conn, None if status is None else status.value, vehicle_id, before_id, limit
        )
    return {"clues": [_shown(r, who) for r in rows]}


@router.get("/api/v1/clues/{clue_id}", summary="One clue")
async def get_clue(clue_id: int, platform: PlatformDep, who: ReaderDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        row = await repo.get(conn, clue_id)
    if row is None:
        raise NotFound(f"no clue {clue_id}", field="clue_id")
    return _shown(row, who)


@router.get("/api/v1/clues/{clue_id}/photos/{n}", response_class=Response, summary="A clue's photo")
async def clue_photo(clue_id: int, n: int, platform: PlatformDep, who: ReaderDep) -> Response:
    async with platform.pool.connection() as conn:
        found = await repo.photo(conn, clue_id, n)
    if found is None:
        raise NotFound(f"clue {clue_id} has no photo {n}", field="n")
    etag = hashlib.sha256(found[1]).hexdigest()
    return Response(found[1], media_type=found[0], headers={"ETag": f'"{etag}"'})


@router.post("/api/v1/clues/{clue_id}/verify", summary="Verify a new clue (officer; audited)")
async def verify(clue_id: int, body: Note, platform: PlatformDep, who: OfficerDep) -> Any:
    async with platform.pool.connection() as conn:
        return await service.move(conn, who, clue_id, "verify", body.note)


@router.post("/api/v1/clues/{clue_id}/to-case", summary="Make a verified clue a case (officer)")
async def to_case(clue_id: int, body: CaseRequest, platform: PlatformDep, who: OfficerDep) -> Any:
    async with platform.pool.connection() as conn:
        return await service.move(
            conn, who, clue_id, "to_case", body.note, subtype=body.subtype,
            deadlines=deadlines_from(platform.settings.cases),
        )  # fmt: skip


@router.post("/api/v1/clues/{clue_id}/close", summary="Close a clue with a reason (officer)")
async def close(clue_id: int, body: Reason, platform: PlatformDep, who: OfficerDep) -> Any:
    async with platform.pool.connection() as conn:
        return await service.move(conn, who, clue_id, "close", body.reason)

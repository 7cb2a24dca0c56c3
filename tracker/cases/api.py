"""Cases over HTTP: ``/api/v1/cases`` (queue, detail, actions, decision document, taxonomy,
the company portal's notices, assessment), ``/api/v1/jurisdictions``, ``/api/v1/units``,
``/api/v1/users/{id}/scope`` and the public ``/api/v1/public/sanctions``.

Every read and action is scoped in SQL (tracker.cases.repo.scope_sql): a unit's officers see its
cases, an area's see the cases in it, a company's accounts see their company's cases once it has
been told. Permit officers have no business with cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from tracker.accounts.models import Principal, Role
from tracker.cases import assessment, jurisdictions, machine, repo, service, taxonomy
from tracker.cases import pack as case_evidence
from tracker.cases.document import render_html
from tracker.cases.models import CaseIn, FeatureCollectionIn, MoveIn, ScopeIn, TaxonomyIn, UnitIn
from tracker.deps import AdminDep, PlatformDep, require_roles
from tracker.errors import BadRequest, NotFound
from tracker.evidence.api import pack_response
from tracker.times import parse_time

router = APIRouter(prefix="/api/v1", tags=["cases"])
ReaderDep = Annotated[
    Principal,
    Depends(require_roles(Role.enforcement_officer, Role.department, Role.grid_staff,
                          Role.viewer, Role.company_user)),
]  # fmt: skip
OpenerDep = Annotated[
    Principal, Depends(require_roles(Role.enforcement_officer, Role.department, Role.grid_staff))
]
StaffReaderDep = Annotated[
    Principal,
    Depends(require_roles(Role.enforcement_officer, Role.department, Role.grid_staff,
                          Role.viewer)),
]  # fmt: skip
PartyDep = Annotated[Principal, Depends(require_roles(Role.company_user))]


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/cases/taxonomy", summary="Case categories and subtypes (penalty range, legal basis)")
async def get_taxonomy(platform: PlatformDep, who: ReaderDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await taxonomy.taxonomy(conn)


@router.put("/cases/taxonomy", summary="Load a city's taxonomy (adds or updates by code)")
async def put_taxonomy(body: TaxonomyIn, platform: PlatformDep, who: AdminDep) -> dict[str, int]:
    async with platform.pool.connection() as conn:
        return await taxonomy.load_taxonomy(conn, body, who)


def _cursor(raw: str | None) -> tuple[datetime, int] | None:
    if raw is None:
        return None
    at, _, case_id = raw.rpartition("~")
    parsed = parse_time(at)
    if isinstance(parsed, str) or not case_id.isdigit() or len(raw) > 80:
        raise BadRequest("after: the next_after value of the previous page", field="after")
    return parsed, int(case_id)


@router.get("/cases", summary="A case queue, newest first, keyset-paged")
async def list_cases(
    platform: PlatformDep,
    who: ReaderDep,
    unit_id: Annotated[int | None, Query(ge=1)] = None,
    state: machine.State | None = None,
    subtype: Annotated[str | None, Query(max_length=64)] = None,
    overdue: bool = False,
    after: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        rows = await repo.queue(
            conn, who, unit_id=unit_id, state=None if state is None else state.value,
            subtype=subtype, overdue_at=_now() if overdue else None, after=_cursor(after),
            limit=limit,
        )  # fmt: skip
    nxt = None
    if len(rows) == limit:
        nxt = f"{repo.iso(rows[-1]['opened_at'])}~{rows[-1]['id']}"
    return {"cases": rows, "next_after": nxt}


@router.post("/cases", status_code=201, summary="Open a case by hand (立案)")
async def open_case(body: CaseIn, platform: PlatformDep, who: OpenerDep) -> dict[str, Any]:
    d = machine.deadlines_from(platform.settings.cases)
    async with platform.pool.connection() as conn:
        return await service.open_case(
            conn, source="hand", subtype=body.subtype, who=who, now=_now(), d=d,
            facts=body.facts, lon=body.lon, lat=body.lat, company_id=body.company_id,
            vehicle_id=body.vehicle_id,
        )  # fmt: skip


@router.get("/cases/notices", summary="The company portal: its notices, newest first")
async def portal_notices(
    platform: PlatformDep, who: PartyDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return {"notices": await repo.notices(conn, company_id=who.company_id, limit=limit)}


@router.post("/cases/e-delivery-consent", summary="The company agrees to electronic delivery")
async def e_delivery_consent(platform: PlatformDep, who: PartyDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await service.consent_e_delivery(conn, who, _now())


@router.get("/cases/assessment", summary="Assessment per unit, district and company")
async def get_assessment(platform: PlatformDep, who: StaffReaderDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await assessment.assess(conn, who, _now())


@router.get(
    "/cases/{case_id}/pack",
    response_class=Response,
    summary="The case's evidence pack (ZIP: PDF case file, GeoJSON, chained events, manifest)",
)
async def case_pack(case_id: int, platform: PlatformDep, who: ReaderDep) -> Response:
    limits = platform.settings.evidence
    async with platform.pool.connection() as conn:
        case = await service.get_visible(conn, case_id, who)
        dossier = await case_evidence.dossier(
            conn, case, limits.max_fixes, platform.settings.city_tz
        )
    return await pack_response(platform, who, dossier, "case", case_id)


@router.get("/cases/{case_id}", summary="A case with its timeline, notices and allowed actions")
async def get_case(case_id: int, platform: PlatformDep, who: ReaderDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        case = await service.get_visible(conn, case_id, who)
        events = await repo.events(conn, case_id)
        notices = await repo.notices(conn, case_id=case_id)
        kind = await repo.subtype(conn, case["subtype"])
        pending = await repo.hearing_pending(conn, case)
    if who.role == Role.company_user:
        notices = [n for n in notices if n["kind"] != "escalation"]
    return {
        **case,
        "subtype_info": kind,
        "timeline": events,
        "notices": notices,
        "actions": machine.allowed_actions(
            machine.State(case["state"]), who.role, hearing_pending=pending
        ),
        "evidence": _evidence_links(case),
    }


def _evidence_links(case: dict[str, Any]) -> list[dict[str, str]]:
    links = []
    if case["source"] == "incident" and case["source_ref"]:
        links.append({"kind": "incident", "href": f"/api/v1/incidents/{case['source_ref']}"})
    if case["decision"] is not None:
        links.append({"kind": "decision", "href": f"/api/v1/cases/{case['id']}/decision"})
    return links


@router.get("/cases/{case_id}/decision", response_class=HTMLResponse, summary="The decision")
async def decision_document(case_id: int, platform: PlatformDep, who: ReaderDep) -> HTMLResponse:
    async with platform.pool.connection() as conn:
        case = await service.get_visible(conn, case_id, who)
    if case["decision"] is None:
        raise NotFound(f"case {case_id} has no decision yet", field="case_id")
    return HTMLResponse(render_html(case["decision"]))


@router.post("/cases/{case_id}/{action}", summary="Take an action on a case")
async def act(
    case_id: int, action: str, body: MoveIn, platform: PlatformDep, who: ReaderDep
) -> dict[str, Any]:
    d = machine.deadlines_from(platform.settings.cases)
    async with platform.pool.connection() as conn:
        return await service.move(conn, case_id, action, body, who, _now(), d)


@router.post("/jurisdictions", status_code=201, summary="Import areas (GeoJSON, by code)")
async def import_jurisdictions(
    body: FeatureCollectionIn, platform: PlatformDep, who: AdminDep
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return {"areas": await jurisdictions.import_areas(conn, body.features, who)}


@router.get("/jurisdictions", summary="Areas: city, districts, streets, grids")
async def list_jurisdictions(platform: PlatformDep, who: StaffReaderDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return {"areas": await jurisdictions.list_areas(conn)}


@router.post("/units", status_code=201, summary="Create or update a unit (by code)")
async def save_unit(body: UnitIn, platform: PlatformDep, who: AdminDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await jurisdictions.create_unit(
            conn, body.code, body.name, body.kind, body.jurisdiction_code, who
        )


@router.get("/units", summary="Units with their areas")
async def list_units(platform: PlatformDep, who: StaffReaderDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return {"units": await jurisdictions.list_units(conn)}


@router.put("/users/{user_id}/scope", summary="Scope an account to a unit or an area (admin)")
async def set_scope(
    user_id: int, body: ScopeIn, platform: PlatformDep, who: AdminDep
) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await jurisdictions.set_scope(conn, user_id, body.unit_id, body.area_code, who)


@router.get("/public/sanctions", summary="Public: blacklisted vehicles and grade-D companies")
async def public_sanctions(platform: PlatformDep) -> dict[str, Any]:
    async with platform.pool.connection() as conn:
        return await assessment.sanctions(conn)

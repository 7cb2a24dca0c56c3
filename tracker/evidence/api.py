"""``GET /api/v1/incidents/{incident_id}/pack``: the incident's evidence pack (a ZIP), for staff
and for the incident's own company; gathered from the database, built in a worker thread.
:func:`pack_response` delivers any dossier's pack (a case's too: tracker.cases.api)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal
from tracker.deps import Platform, PlatformDep, StaffDep
from tracker.errors import NotFound, PayloadTooLarge
from tracker.evidence import incident
from tracker.evidence.dossier import Dossier
from tracker.evidence.pack import build_pack

router = APIRouter(prefix="/api/v1", tags=["evidence"])


@router.get(
    "/incidents/{incident_id}/pack",
    response_class=Response,
    summary="The incident's evidence pack (ZIP: PDF case file, GeoJSON, events, manifest)",
)
async def incident_pack(incident_id: str, platform: PlatformDep, who: StaffDep) -> Response:
    limits = platform.settings.evidence
    async with platform.pool.connection() as conn:
        row = await incident.incident_row(conn, incident_id)
        if row is None or not who.sees_company(row["company_id"]):
            raise NotFound(f"incident {incident_id} not found", field="incident_id")
        dossier = await incident.dossier(conn, row, limits.max_fixes, platform.settings.city_tz)
    return await pack_response(platform, who, dossier, "incident", incident_id)


async def pack_response(
    platform: Platform, who: Principal, dossier: Dossier, entity: str, key: str | int
) -> Response:
    """A dossier's pack as a download: built off the event loop, bounded, its chain head
    audited against the entity (``incident``, ``case``)."""
    pack = await asyncio.to_thread(build_pack, dossier)
    if len(pack) > platform.settings.evidence.max_pack_bytes:
        raise PayloadTooLarge("the pack is larger than allowed", field=f"{entity}_id")
    async with platform.pool.connection() as conn:
        head = dossier.events[-1].hash if dossier.events else None
        await audit.record(conn, who, "pack", entity, key, None, {"chain_head": head})
    name = f"evidence-{entity}-{key}.zip".replace('"', "")
    return Response(
        pack,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )

"""``POST /api/v1/sightings`` (camera systems) and ``GET /api/v1/sightings`` (staff)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from psycopg.rows import class_row

from tracker.accounts.models import Role
from tracker.deps import PlatformDep, StaffDep
from tracker.errors import BadRequest, Forbidden, Unauthorized
from tracker.registry import repo
from tracker.sightings import findings, service
from tracker.sightings.models import (
    SightingBatch,
    SightingOut,
    SightingsAnswer,
    normalise_plate,
)

router = APIRouter(prefix="/api/v1", tags=["sightings"])
MAX_RANGE = timedelta(days=31)


async def _camera_system(platform: PlatformDep, authorization: str | None) -> int:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a camera system bearer token is required", field="authorization")
    async with platform.pool.connection() as conn:
        found = await repo.camera_system_by_token(conn, token.strip())
    if found is None:
        raise Unauthorized("unknown or revoked camera system token", field="authorization")
    if not found[1]:
        raise Forbidden("this camera system is deactivated", field="authorization")
    return found[0]


@router.post(
    "/sightings",
    response_model=SightingsAnswer,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SightingBatch.model_json_schema()}},
        }
    },
    summary="Post plate sightings from checkpoint cameras (camera system token)",
    description="A batch of plate reads, validated as a whole: a bad field answers 400 naming "
    "it (`sightings.2.plate`) and stores nothing. Each read is stored once: a repeat (same "
    "camera system and `sighting_id`, or same plate, checkpoint and time) is answered "
    "`duplicate` with the first read's id. A plate with no registered vehicle or without a "
    "valid permit raises an incident at once; the terminal is compared after a grace period "
    '(README "Checkpoints and sightings").',
)
async def post_sightings(
    request: Request,
    platform: PlatformDep,
    authorization: Annotated[str | None, Header()] = None,
) -> SightingsAnswer:
    camera_system_id = await _camera_system(platform, authorization)
    batch = service.parse_batch(await request.body(), platform.settings)
    live: list[bytes] = []
    async with platform.pool.connection() as conn:
        answer = await service.intake(
            conn, camera_system_id, batch, datetime.now(UTC), platform.settings, live
        )
    await findings.publish(platform.redis, live)
    return answer


@router.get(
    "/sightings",
    response_model=list[SightingOut],
    summary="Plate sightings of a vehicle or a plate in a time range",
    description="`from`/`to` default to the last 24 h and span at most 31 days. Company users "
    "see only their own vehicles' sightings.",
)
async def list_sightings(
    platform: PlatformDep,
    who: StaffDep,
    vehicle_id: int | None = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
    checkpoint_id: int | None = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> Any:
    for name, when in (("from", start), ("to", end)):
        if when is not None and when.tzinfo is None:
            raise BadRequest("a time needs its offset", field=name)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=1)
    if start >= end:
        raise BadRequest("'from' must be before 'to'", field="from")
    if end - start > MAX_RANGE:
        raise BadRequest("at most 31 days", field="to")
    clauses = ["s.seen_at >= %s", "s.seen_at < %s"]
    params: list[Any] = [start, end]
    if who.role == Role.company_user:  # their own vehicles only (NULL matches nothing)
        clauses.append("s.company_id = %s")
        params.append(who.company_id)
    filters: tuple[tuple[str, int | str | None], ...] = (
        ("s.vehicle_id", vehicle_id),
        ("s.plate", normalise_plate(plate) if plate else None),
        ("s.checkpoint_id", checkpoint_id),
    )
    for column, value in filters:
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    query = f"""SELECT s.id, s.plate, s.plate_colour, s.seen_at, s.checkpoint_id,
                       c.name AS checkpoint_name, c.lon, c.lat, s.direction, s.camera_id,
                       s.photo_ref, s.confidence, s.loaded, s.vehicle_id, s.company_id,
                       s.camera_system_id, s.external_id AS sighting_id, s.reviewed_at,
                       s.findings
                  FROM sightings s JOIN checkpoints c ON c.id = s.checkpoint_id
                 WHERE {" AND ".join(clauses)} ORDER BY s.seen_at DESC LIMIT %s"""
    async with (
        platform.pool.connection() as conn,
        conn.cursor(row_factory=class_row(SightingOut)) as cur,
    ):
        await cur.execute(query.encode(), [*params, limit])
        return await cur.fetchall()

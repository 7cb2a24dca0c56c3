"""Registry endpoints: companies, vehicles, terminals, origin sites, disposal yards, no-go zones.

Every entity has list / get / create / replace (PUT) / deactivate (DELETE); all staff read
(company users only their own company's companies and vehicles, and no terminals); admins and
permit officers write. Places take and give their polygon as GeoJSON (lon, lat).
"""

# No ``from __future__ import annotations``: the route factory builds annotations from values.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from tracker.accounts import repo as audit
from tracker.accounts.models import STAFF_ROLES, Principal, Role
from tracker.accounts.revocation import publish_revocations
from tracker.deps import OfficeDep, Platform, PlatformDep, require_roles
from tracker.errors import NotFound
from tracker.registry import crud, models, places, repo, service
from tracker.registry.service import Entity, Written
from tracker.wire import Revocation

router = APIRouter(prefix="/api/v1", tags=["registry"])

COMPANY = Entity("company", "companies", company_column="id")
VEHICLE = Entity("vehicle", "vehicles", company_column="company_id", listable=True)
TERMINAL = Entity("terminal", "terminals")
SITE = Entity("site", "sites", fence_role="site")
YARD = Entity("yard", "yards", fence_role="yard", json_columns=("opening_hours",))
ZONE = Entity("zone", "zones", fence_role="zone", json_columns=("schedule",))
NOT_COMPANY = STAFF_ROLES - {Role.company_user}
CHECKPOINT = Entity("checkpoint", "checkpoints", json_columns=("directions", "cameras"))
CAMERA_SYSTEM = Entity("camera_system", "camera_systems")


async def _visible(platform: Platform, entity: Entity, row_id: int, who: Principal) -> Any:
    async with platform.pool.connection() as conn:
        row = await crud.get(conn, entity.table, row_id)
        column = entity.company_column
        if row is not None and column is not None and not who.sees_company(row[column]):
            row = None
        if row is None:
            raise NotFound(f"no {entity.name} {row_id}", field="id")
        return (await service.with_derived(conn, entity, [row]))[0]


async def _after_write(platform: Platform, entity: Entity, written: Written) -> Any:
    await places.publish(platform.redis, written.changes)
    if entity is TERMINAL or entity is VEHICLE:  # cached terminal credentials go at once
        revoked = Revocation("terminal" if entity is TERMINAL else "vehicle", written.row["id"])
        await publish_revocations(platform.redis, [revoked])
    if entity is VEHICLE:
        await platform.vehicles.refresh()
    return written.row


def _check_sizes(platform: Platform, entity: Entity, body: BaseModel) -> None:
    if entity.fence_role is not None:
        places.check_sizes(
            [("geometry", getattr(body, "geometry", None))], platform.settings.limits
        )


def crud_routes(
    entity: Entity,
    path: str,
    model_in: type[BaseModel],
    model_out: type[BaseModel],
    readers: frozenset[Role] = STAFF_ROLES,
) -> None:
    _read_routes(entity, path, model_out, readers)
    _write_routes(entity, path, model_in, model_out)


def _read_routes(
    entity: Entity, path: str, model_out: type[BaseModel], readers: frozenset[Role]
) -> None:
    reader = Annotated[Principal, Depends(require_roles(*readers))]
    plural = path.replace("-", " ")

    @router.get(f"/{path}", response_model=list[model_out], summary=f"List {plural}")  # type: ignore[valid-type]
    async def list_rows(
        platform: PlatformDep,
        who: reader,
        active: bool | None = None,
        company_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Any:
        where: dict[str, Any] = {"active": active}
        if entity.company_column is not None:
            scoped = who.role == Role.company_user
            where[entity.company_column] = who.company_id if scoped else company_id
        async with platform.pool.connection() as conn:
            rows = await crud.select(conn, entity.table, where=where, limit=limit, offset=offset)
            return await service.with_derived(conn, entity, rows)

    @router.get(f"/{path}/{{row_id}}", response_model=model_out, summary=f"Get one of {plural}")
    async def get_row(platform: PlatformDep, who: reader, row_id: int) -> Any:
        return await _visible(platform, entity, row_id, who)


def _write_routes(
    entity: Entity, path: str, model_in: type[BaseModel], model_out: type[BaseModel]
) -> None:
    plural = path.replace("-", " ")

    @router.post(f"/{path}", status_code=201, response_model=model_out, summary=f"Add to {plural}")
    async def create_row(platform: PlatformDep, who: OfficeDep, body: model_in) -> Any:  # type: ignore[valid-type]
        _check_sizes(platform, entity, body)
        async with platform.pool.connection() as conn:
            written = await service.create(conn, entity, body, who)
        return await _after_write(platform, entity, written)

    @router.put(f"/{path}/{{row_id}}", response_model=model_out, summary=f"Replace in {plural}")
    async def update_row(
        platform: PlatformDep,
        who: OfficeDep,
        row_id: int,
        body: model_in,  # type: ignore[valid-type]
    ) -> Any:
        _check_sizes(platform, entity, body)
        async with platform.pool.connection() as conn:
            written = await service.update(conn, entity, row_id, body, who)
        return await _after_write(platform, entity, written)

    @router.delete(
        f"/{path}/{{row_id}}", response_model=model_out, summary=f"Deactivate in {plural}"
    )
    async def deactivate_row(platform: PlatformDep, who: OfficeDep, row_id: int) -> Any:
        async with platform.pool.connection() as conn:
            written = await service.deactivate(conn, entity, row_id, who)
        return await _after_write(platform, entity, written)


crud_routes(COMPANY, "companies", models.CompanyIn, models.CompanyOut)
crud_routes(VEHICLE, "vehicles", models.VehicleIn, models.VehicleOut)
crud_routes(TERMINAL, "terminals", models.TerminalIn, models.TerminalOut, NOT_COMPANY)
crud_routes(SITE, "sites", models.SiteIn, models.SiteOut)
crud_routes(YARD, "yards", models.YardIn, models.YardOut)
crud_routes(ZONE, "zones", models.ZoneIn, models.ZoneOut)
crud_routes(CHECKPOINT, "checkpoints", models.CheckpointIn, models.CheckpointOut)
crud_routes(
    CAMERA_SYSTEM, "camera-systems", models.CameraSystemIn, models.CameraSystemOut, NOT_COMPANY
)


@router.post(
    "/terminals/{terminal_id}/token",
    summary="Issue a new HTTP token for a terminal (the old one stops working); shown once",
)
async def issue_terminal_token(
    platform: PlatformDep, who: OfficeDep, terminal_id: int
) -> models.TerminalToken:
    async with platform.pool.connection() as conn, conn.transaction():
        token = await repo.rotate_token(conn, terminal_id)
        if token is None:
            raise NotFound(f"no terminal {terminal_id}", field="terminal_id")
        await audit.record(conn, who, "issue_token", "terminal", terminal_id)
    await publish_revocations(platform.redis, [Revocation("terminal", terminal_id)])
    return models.TerminalToken(terminal_id=terminal_id, token=token)


@router.post(
    "/terminals/{terminal_id}/reset-registration",
    summary="Let a JT/T 808 terminal register again (its auth code is forgotten); audited",
    description="A registered JT/T 808 terminal is never given its code again by 0x0100 (result "
    "3): after a device swap or a lost code an officer resets it here. The next registration "
    "from `device_id` (or, when none is given, from the first device that registers, which it "
    "then binds) gets a new code; the old code stops authenticating.",
)
async def reset_terminal_registration(
    platform: PlatformDep,
    who: OfficeDep,
    terminal_id: int,
    body: models.RegistrationReset | None = None,
) -> models.RegistrationResetOut:
    device_id = body.device_id if body is not None else None
    async with platform.pool.connection() as conn, conn.transaction():
        before = await repo.reset_registration(conn, terminal_id, device_id)
        if before is None:
            raise NotFound(f"no terminal {terminal_id}", field="terminal_id")
        after = {"had_auth_code": False, "device_id": device_id, "registered_at": None}
        await audit.record(conn, who, "reset_registration", "terminal", terminal_id, before, after)
    return models.RegistrationResetOut(terminal_id=terminal_id, device_id=device_id)


@router.post(
    "/camera-systems/{camera_system_id}/token",
    summary="Issue a new sighting token for a camera system (the old one stops working); "
    "shown once",
)
async def issue_camera_token(
    platform: PlatformDep, who: OfficeDep, camera_system_id: int
) -> models.CameraSystemToken:
    async with platform.pool.connection() as conn, conn.transaction():
        token = await repo.rotate_camera_token(conn, camera_system_id)
        if token is None:
            raise NotFound(f"no camera system {camera_system_id}", field="camera_system_id")
        await audit.record(conn, who, "issue_token", "camera_system", camera_system_id)
    return models.CameraSystemToken(camera_system_id=camera_system_id, token=token)

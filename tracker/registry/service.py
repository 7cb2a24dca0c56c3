"""Registry writes: one transaction per change, with its audit row; fence notices after commit.

An :class:`Entity` describes one registry table; the same create / update / deactivate serve
them all. Places (sites, yards, zones) also write their polygon to ``fences``. Vehicles carry a
read-only ``blacklisted``, read from the blacklist's listings (the one truth for it): a body may
repeat it, not change it, since a listing is written by the blacklist service with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from pydantic import BaseModel

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal
from tracker.errors import BadRequest, NotFound
from tracker.registry import crud, places
from tracker.wire import FenceChange

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Written:
    """A written row (with ``geometry`` for places) and the fence notices to publish after the
    commit."""

    row: Row
    changes: list[FenceChange]


@dataclass(frozen=True, slots=True)
class Entity:
    name: str  # singular, as in the audit log: "vehicle"
    table: str
    fence_role: str | None = None  # places: the role of their fence
    company_column: str | None = None  # company users see rows where this is their company
    json_columns: tuple[str, ...] = ()
    listable: bool = False  # vehicles: rows carry ``blacklisted``, read from the listings

    def to_row(self, body: BaseModel) -> Row:
        row = body.model_dump(mode="python")
        row.pop("geometry", None)
        row.pop("blacklisted", None)
        for column in self.json_columns:
            row[column] = audit.jsonb(body.model_dump(mode="json")[column])
        return row


async def create(conn: AConn, entity: Entity, body: BaseModel, who: Principal) -> Written:
    async with conn.transaction():
        await _keeps_listing(conn, entity, body, None)
        values = entity.to_row(body)
        change: FenceChange | None = None
        if entity.fence_role is not None:
            geometry = body.model_dump()["geometry"]
            places.check_polygon(geometry)
            change = await places.save_fence(
                conn, geometry, role=entity.fence_role, name=values.get("name")
            )
            values["fence_id"] = change.id
            if not values.get("active", True):
                await places.retire_fence(conn, change.id)
                change = None
        row = await crud.insert(conn, entity.table, values)
        await audit.record(conn, who, "create", entity.name, row["id"], None, _plain(row))
    return await _finish(conn, entity, row, [change] if change else [])


async def update(
    conn: AConn, entity: Entity, row_id: int, body: BaseModel, who: Principal
) -> Written:
    async with conn.transaction():
        before = await crud.get(conn, entity.table, row_id, lock=True)
        if before is None:
            raise NotFound(f"no {entity.name} {row_id}", field="id")
        await _keeps_listing(conn, entity, body, row_id)
        values = entity.to_row(body)
        changes: list[FenceChange] = []
        if entity.fence_role is not None:
            geometry = body.model_dump()["geometry"]
            places.check_polygon(geometry)
            fence_id = before["fence_id"]
            changes.append(
                await places.save_fence(
                    conn,
                    geometry,
                    role=entity.fence_role,
                    name=values.get("name"),
                    fence_id=fence_id,
                )
            )
            if not values.get("active", True):
                retired = await places.retire_fence(conn, fence_id)
                changes = [retired] if retired else []
        row = await crud.update(conn, entity.table, row_id, values)
        assert row is not None
        await audit.record(conn, who, "update", entity.name, row_id, _plain(before), _plain(row))
    return await _finish(conn, entity, row, changes)


async def deactivate(conn: AConn, entity: Entity, row_id: int, who: Principal) -> Written:
    async with conn.transaction():
        before = await crud.get(conn, entity.table, row_id, lock=True)
        if before is None:
            raise NotFound(f"no {entity.name} {row_id}", field="id")
        row = await crud.update(conn, entity.table, row_id, {"active": False})
        assert row is not None
        changes: list[FenceChange] = []
        if entity.fence_role is not None:
            retired = await places.retire_fence(conn, before["fence_id"])
            changes = [retired] if retired else []
        await audit.record(
            conn, who, "deactivate", entity.name, row_id, _plain(before), _plain(row)
        )
    return await _finish(conn, entity, row, changes)


async def _listed(conn: AConn, vehicle_ids: list[int]) -> set[int]:
    cur = await conn.execute(
        "SELECT vehicle_id FROM blacklisted_vehicles WHERE vehicle_id = ANY(%s)", (vehicle_ids,)
    )
    return {int(r[0]) for r in await cur.fetchall()}


async def _keeps_listing(conn: AConn, entity: Entity, body: BaseModel, row_id: int | None) -> None:
    """Refuse a body whose ``blacklisted`` differs from the vehicle's listing state."""
    wanted = getattr(body, "blacklisted", None)
    if not entity.listable or wanted is None:
        return
    listed = row_id is not None and row_id in await _listed(conn, [row_id])
    if wanted != listed:
        raise BadRequest(
            "'blacklisted' is read-only here: list a vehicle with POST /api/v1/blacklist "
            "and lift a listing with POST /api/v1/blacklist/{listing_id}/delist",
            field="blacklisted",
        )


async def with_derived(conn: AConn, entity: Entity, rows: list[Row]) -> list[Row]:
    """Rows as the API gives them: places with their polygon, vehicles with ``blacklisted``."""
    if not rows:
        return rows
    if entity.listable:
        listed = await _listed(conn, [r["id"] for r in rows])
        rows = [{**r, "blacklisted": r["id"] in listed} for r in rows]
    if entity.fence_role is None:
        return rows
    shapes = await places.geometries(conn, [r["fence_id"] for r in rows])
    return [{**r, "geometry": shapes.get(r["fence_id"])} for r in rows]


async def _finish(conn: AConn, entity: Entity, row: Row, changes: list[FenceChange]) -> Written:
    return Written((await with_derived(conn, entity, [row]))[0], changes)


SECRET_COLUMNS = frozenset({"token_hash", "jt808_auth_code", "password_hash"})


def _plain(row: Row) -> Row:
    return {k: v for k, v in row.items() if k not in SECRET_COLUMNS}

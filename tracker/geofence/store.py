"""Fences in the database, and change notices on Redis.

The ``fences`` table (migration 0002) is the truth. Writes validate the geometry first (a
:class:`GeometryError` leaves the table untouched), bump ``version``, and after the commit
publish a ``tracker.wire.FenceChange`` on the fences channel. The notice carries no geometry:
a worker re-reads the row by id (see sync.py).

Writes that publish must not run inside a transaction the caller still has open: the notice
would then go out before the commit, and a worker could read the old row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from tracker.geofence.errors import GeometryError
from tracker.geofence.fences import Fence
from tracker.geofence.geojson import fence_from_geojson
from tracker.wire import Channel, FenceChange, channel

_COLUMNS = "id, kind, role, name, geometry, radius_m, half_width_m, version"


@dataclass(frozen=True, slots=True)
class FenceRow:
    id: int
    kind: str
    role: str
    name: str | None
    geometry: dict[str, Any]
    radius_m: float | None
    half_width_m: float | None
    version: int

    def to_fence(self) -> Fence:
        return fence_from_geojson(
            str(self.id),
            self.geometry,
            radius_m=self.radius_m,
            half_width_m=self.half_width_m,
            role=self.role,
        )


async def load_rows(conn: AsyncConnection[Any], ids: list[int] | None = None) -> list[FenceRow]:
    """Active fences (all, or those of ``ids``)."""
    async with conn.cursor(row_factory=class_row(FenceRow)) as cur:
        if ids is None:
            await cur.execute(f"SELECT {_COLUMNS} FROM fences WHERE active ORDER BY id")
        else:
            await cur.execute(
                f"SELECT {_COLUMNS} FROM fences WHERE active AND id = ANY(%s) ORDER BY id", (ids,)
            )
        return await cur.fetchall()


async def load_all(conn: AsyncConnection[Any]) -> list[Fence]:
    return [row.to_fence() for row in await load_rows(conn)]


async def active_versions(conn: AsyncConnection[Any]) -> dict[int, int]:
    cur = await conn.execute("SELECT id, version FROM fences WHERE active")
    return {int(i): int(v) for i, v in await cur.fetchall()}


def _validated(feature: dict[str, Any]) -> tuple[Fence, dict[str, Any]]:
    """The fence a Feature describes (lon/lat GeoJSON), and its checked properties."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise GeometryError("type", "expected a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise GeometryError("properties", "expected an object")
    role = props.get("role")
    if not isinstance(role, str) or not role.strip():
        raise GeometryError("properties.role", "a fence needs a role (site, yard, zone, ...)")
    name = props.get("name")
    if name is not None and not isinstance(name, str):
        raise GeometryError("properties.name", "expected a string")
    fence = fence_from_geojson(
        "new",
        feature.get("geometry"),
        radius_m=props.get("radius_m"),
        half_width_m=props.get("half_width_m"),
        role=role,
    )
    return fence, {"role": role.strip(), "name": name}


def _row_values(feature: dict[str, Any]) -> dict[str, Any]:
    fence, props = _validated(feature)
    geometry = fence.geometry_geojson()
    text = orjson.dumps(geometry).decode()  # serialised here, not on the loop at execute time
    return {
        "kind": fence.kind,
        "role": props["role"],
        "name": props["name"],
        "geometry": Jsonb(geometry, dumps=lambda _: text),
        "radius_m": getattr(fence, "radius_m", None),
        "half_width_m": getattr(fence, "half_width_m", None),
    }


async def save(
    conn: AsyncConnection[Any], feature: dict[str, Any], redis: aioredis.Redis | None = None
) -> int:
    """Insert the Feature (no ``id``) or replace fence ``id``; return its id. Publishes the
    change on ``redis`` after the commit when given. ``KeyError`` if ``id`` names no fence.

    The geometry work (validation, the metric frame, the GeoJSON to store) runs in a worker
    thread: a large fence never holds up the event loop."""
    _check_no_open_transaction(conn, redis)
    values = await asyncio.to_thread(_row_values, feature)
    fence_id = feature.get("id")
    async with conn.transaction():
        if fence_id is None:
            cur = await conn.execute(
                """INSERT INTO fences (kind, role, name, geometry, radius_m, half_width_m)
                   VALUES (%(kind)s, %(role)s, %(name)s, %(geometry)s, %(radius_m)s,
                           %(half_width_m)s)
                   RETURNING id, version""",
                values,
            )
        else:
            cur = await conn.execute(
                """UPDATE fences SET kind = %(kind)s, role = %(role)s, name = %(name)s,
                          geometry = %(geometry)s, radius_m = %(radius_m)s,
                          half_width_m = %(half_width_m)s, version = version + 1,
                          active = true, updated_at = now()
                   WHERE id = %(id)s
                   RETURNING id, version""",
                {**values, "id": _fence_id(fence_id)},
            )
        row = await cur.fetchone()
    if row is None:
        raise KeyError(fence_id)
    if redis is not None:
        await publish(redis, FenceChange("upsert", int(row[0]), int(row[1])))
    return int(row[0])


async def delete(
    conn: AsyncConnection[Any], fence_id: int, redis: aioredis.Redis | None = None
) -> bool:
    """Retire a fence (the row stays, inactive, for history); False if there was none."""
    _check_no_open_transaction(conn, redis)
    async with conn.transaction():
        cur = await conn.execute(
            """UPDATE fences SET active = false, version = version + 1, updated_at = now()
               WHERE id = %s AND active RETURNING version""",
            (fence_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return False
    if redis is not None:
        await publish(redis, FenceChange("remove", fence_id, int(row[0])))
    return True


async def publish(redis: aioredis.Redis, change: FenceChange) -> None:
    await redis.publish(channel(redis, Channel.FENCES), change.encode())


def _fence_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GeometryError("id", f"a stored fence id is an integer, got {value!r}") from None


def _check_no_open_transaction(conn: AsyncConnection[Any], redis: aioredis.Redis | None) -> None:
    if redis is not None and conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError("publishing a fence change from inside an open transaction")

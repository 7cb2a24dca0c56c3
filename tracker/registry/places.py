"""Origin sites, disposal yards and no-go zones keep their polygon in ``fences``.

Each write stores the polygon through :func:`tracker.geofence.store.save` inside the caller's
transaction and returns the :class:`FenceChange` to publish once that transaction commits, so
the engine never hears of a fence whose row might still roll back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from tracker.errors import BadRequest
from tracker.geofence import store
from tracker.geofence.errors import GeometryError
from tracker.geofence.geojson import count_positions
from tracker.settings import LimitSettings
from tracker.wire import FenceChange

AConn = psycopg.AsyncConnection[Any]
POLYGON_TYPES = ("Polygon", "MultiPolygon")


def geometry_error(exc: GeometryError, prefix: str = "") -> BadRequest:
    return BadRequest(exc.message, field=prefix + exc.field)


async def save_fence(
    conn: AConn,
    geometry: Any,
    *,
    role: str,
    name: str | None,
    fence_id: int | None = None,
    half_width_m: float | None = None,
    field_prefix: str = "",
) -> FenceChange:
    """Insert or replace a fence inside the open transaction; the notice to publish after it."""
    feature: dict[str, Any] = {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"role": role, "name": name, "half_width_m": half_width_m},
    }
    if fence_id is not None:
        feature["id"] = fence_id
    try:
        saved = await store.save(conn, feature)
    except GeometryError as exc:
        raise geometry_error(exc, field_prefix) from None
    return FenceChange("upsert", saved, await _version(conn, saved))


async def retire_fence(conn: AConn, fence_id: int) -> FenceChange | None:
    if not await store.delete(conn, fence_id):
        return None
    return FenceChange("remove", fence_id, await _version(conn, fence_id))


async def publish(redis: Any, changes: list[FenceChange]) -> None:
    for change in changes:
        await store.publish(redis, change)


def check_sizes(geometries: Iterable[tuple[str, Any]], limits: LimitSettings) -> None:
    """Cap the positions of each fence and of the whole request (``TRACKER_LIMITS__*``) by
    counting them in the GeoJSON arrays, before any geometry is built (400 naming the field)."""
    total = 0
    for field, geometry in geometries:
        try:
            total += count_positions(geometry, field, limits.fence_vertices)
        except GeometryError as exc:
            raise BadRequest(exc.message, field=exc.field) from None
        if total > limits.request_vertices:
            raise BadRequest(
                f"more than {limits.request_vertices} positions in one request",
                field=f"{field}.coordinates",
            )


def check_polygon(geometry: Any) -> None:
    if not isinstance(geometry, dict) or geometry.get("type") not in POLYGON_TYPES:
        raise BadRequest("expected a GeoJSON Polygon or MultiPolygon", field="geometry.type")


async def geometries(conn: AConn, fence_ids: list[int]) -> dict[int, dict[str, Any]]:
    cur = await conn.execute(
        sql.SQL("SELECT id, geometry FROM fences WHERE id = ANY(%s)"), (fence_ids,)
    )
    return {int(i): g for i, g in await cur.fetchall()}


async def _version(conn: AConn, fence_id: int) -> int:
    cur = await conn.execute("SELECT version FROM fences WHERE id = %s", (fence_id,))
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])

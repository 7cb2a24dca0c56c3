"""Jurisdictions (city → district → street → grid) and units, and routing a place to its unit.

Polygons are checked (positions counted before any shape is built, valid, in degrees) and kept as
GeoJSON with their bounding box; a point lookup reads the areas whose box holds the point and
tests them with shapely (PostGIS is not used in this platform).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import shapely
from psycopg.rows import dict_row
from shapely.geometry import shape

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal
from tracker.errors import BadRequest, NotFound
from tracker.geofence.errors import GeometryError
from tracker.geofence.geojson import count_positions

AConn = psycopg.AsyncConnection[Any]
LEVELS = ("city", "district", "street", "grid")
DEPTH = {level: i for i, level in enumerate(LEVELS)}
MAX_AREA_POSITIONS = 200_000  # per area; the request body is capped too (geometry routes)


@dataclass(frozen=True, slots=True)
class Placement:
    district_id: int | None
    area_id: int | None  # the deepest area holding the place
    unit_id: int | None


def _feature(i: int, feature: Any) -> tuple[str, str, str, str | None, dict[str, Any]]:
    where = f"features[{i}]"
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise BadRequest("a Feature with properties is required", field=where)
    props = feature["properties"]
    code, name, level = props.get("code"), props.get("name"), props.get("level")
    parent = props.get("parent")
    if not isinstance(code, str) or not 1 <= len(code) <= 64:
        raise BadRequest("properties.code: 1-64 characters", field=f"{where}.properties.code")
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise BadRequest("properties.name: 1-200 characters", field=f"{where}.properties.name")
    if level not in LEVELS:
        raise BadRequest(f"properties.level is one of {LEVELS}", field=f"{where}.properties.level")
    if (level == "city") != (parent is None) or not isinstance(parent, str | None):
        raise BadRequest(
            "properties.parent: the parent's code (none for the city)",
            field=f"{where}.properties.parent",
        )
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadRequest("a Polygon or MultiPolygon", field=f"{where}.geometry")
    _check_area(geometry, f"{where}.geometry")
    return code, name, level, parent, geometry


def _check_area(geometry: dict[str, Any], field: str) -> None:
    """A valid polygon of at most MAX_AREA_POSITIONS positions, of any size: a city is larger
    than the geofence engine lets a fence be, so its size caps do not apply here."""
    try:
        count_positions(geometry, field, MAX_AREA_POSITIONS)
        geom = shape(geometry)
    except GeometryError as exc:
        raise BadRequest(exc.message, field=exc.field) from None
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError):
        raise BadRequest("not a polygon's coordinates", field=f"{field}.coordinates") from None
    if geom.is_empty or not geom.is_valid:
        reason = "empty" if geom.is_empty else shapely.is_valid_reason(geom)
        raise BadRequest(f"invalid polygon: {reason}", field=field)
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise BadRequest("coordinates are lon, lat in degrees", field=f"{field}.coordinates")


async def import_areas(conn: AConn, features: list[Any], who: Principal) -> list[dict[str, Any]]:
    """Insert or update areas by code, parents before children; audited. Returns the rows."""
    parsed = sorted(
        (_feature(i, f) for i, f in enumerate(features)), key=lambda p: DEPTH[p[2]]
    )  # fmt: skip
    out = []
    async with conn.transaction():
        for code, name, level, parent, geometry in parsed:
            parent_id = None
            if parent is not None:
                cur = await conn.execute(
                    "SELECT id, level FROM jurisdictions WHERE code = %s", (parent,)
                )
                row = await cur.fetchone()
                if row is None or DEPTH[row[1]] >= DEPTH[level]:
                    raise BadRequest(
                        f"area {code}: parent {parent} is not a known area above {level}",
                        field="properties.parent",
                    )
                parent_id = int(row[0])
            min_lon, min_lat, max_lon, max_lat = shapely.bounds(shape(geometry)).tolist()
            cur = await conn.execute(
                """INSERT INTO jurisdictions (code, name, level, parent_id, geometry,
                                              min_lon, min_lat, max_lon, max_lat)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
                       level = EXCLUDED.level, parent_id = EXCLUDED.parent_id,
                       geometry = EXCLUDED.geometry, min_lon = EXCLUDED.min_lon,
                       min_lat = EXCLUDED.min_lat, max_lon = EXCLUDED.max_lon,
                       max_lat = EXCLUDED.max_lat
                   RETURNING id""",
                (code, name, level, parent_id, audit.jsonb(geometry),
                 min_lon, min_lat, max_lon, max_lat),
            )  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            item: dict[str, Any] = {"id": int(row[0]), "code": code, "name": name, "level": level,
                    "parent_id": parent_id}  # fmt: skip
            await audit.record(conn, who, "import", "jurisdiction", int(row[0]), None, item)
            out.append(item)
    return out


async def list_areas(conn: AConn) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, code, name, level, parent_id FROM jurisdictions ORDER BY id")
        return await cur.fetchall()


async def area_id_by_code(conn: AConn, code: str, field: str) -> int:
    cur = await conn.execute("SELECT id FROM jurisdictions WHERE code = %s", (code,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no area {code}", field=field)
    return int(row[0])


async def areas_holding(conn: AConn, lon: float, lat: float) -> list[dict[str, Any]]:
    """The areas that hold the point, deepest first."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT id, level, parent_id, geometry FROM jurisdictions
                WHERE min_lon <= %(lon)s AND max_lon >= %(lon)s
                  AND min_lat <= %(lat)s AND max_lat >= %(lat)s""",
            {"lon": lon, "lat": lat},
        )
        rows = await cur.fetchall()
    point = shapely.Point(lon, lat)
    held = [r for r in rows if shape(r["geometry"]).covers(point)]
    return sorted(held, key=lambda r: -DEPTH[r["level"]])


async def route(conn: AConn, lon: float | None, lat: float | None, unit_kind: str) -> Placement:
    """The unit for a case of ``unit_kind`` at the place: the unit of that kind whose area is the
    deepest holding the place; else the street office of the deepest area; else none (the city
    queue, handled by unscoped officers)."""
    if lon is None or lat is None:
        return Placement(None, None, None)
    held = await areas_holding(conn, lon, lat)
    if not held:
        return Placement(None, None, None)
    district = next((a["id"] for a in held if a["level"] == "district"), None)
    ids = [a["id"] for a in held]
    cur = await conn.execute(
        """SELECT u.id, u.kind, u.jurisdiction_id FROM units u
            WHERE u.active AND u.jurisdiction_id = ANY(%s) AND u.kind IN (%s, 'street_office')""",
        (ids, unit_kind),
    )
    units = await cur.fetchall()
    order = {area_id: i for i, area_id in enumerate(ids)}  # deepest first
    for kind in (unit_kind, "street_office"):
        fits = sorted((order[u[2]], int(u[0])) for u in units if u[1] == kind)
        if fits:
            return Placement(district, ids[0], fits[0][1])
    return Placement(district, ids[0], None)


async def create_unit(
    conn: AConn, code: str, name: str, kind: str, area_code: str, who: Principal
) -> dict[str, Any]:
    async with conn.transaction():
        area_id = await area_id_by_code(conn, area_code, "jurisdiction_code")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                """INSERT INTO units (code, name, kind, jurisdiction_id) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                       jurisdiction_id = EXCLUDED.jurisdiction_id
                   RETURNING id, code, name, kind, jurisdiction_id, active""",
                (code, name, kind, area_id),
            )
            row = await cur.fetchone()
        assert row is not None
        await audit.record(conn, who, "save", "unit", row["id"], None, row)
    return row


async def list_units(conn: AConn) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT u.id, u.code, u.name, u.kind, u.jurisdiction_id, j.name AS area_name,
                      u.active
                 FROM units u JOIN jurisdictions j ON j.id = u.jurisdiction_id ORDER BY u.id"""
        )
        return await cur.fetchall()


async def set_scope(
    conn: AConn, user_id: int, unit_id: int | None, area_code: str | None, who: Principal
) -> dict[str, Any]:
    """Scope an account to a unit or an area (both none: the whole city)."""
    if unit_id is not None and area_code is not None:
        raise BadRequest("a unit or an area, not both", field="area_code")
    async with conn.transaction():
        area_id = None if area_code is None else await area_id_by_code(conn, area_code, "area_code")
        if unit_id is not None:
            cur = await conn.execute("SELECT 1 FROM units WHERE id = %s", (unit_id,))
            if await cur.fetchone() is None:
                raise NotFound(f"no unit {unit_id}", field="unit_id")
        cur = await conn.execute(
            "SELECT unit_id, area_id, role FROM users WHERE id = %s FOR UPDATE", (user_id,)
        )
        before = await cur.fetchone()
        if before is None:
            raise NotFound(f"no user {user_id}", field="user_id")
        if before[2] == "company_user":
            raise BadRequest("company accounts are scoped to their company", field="user_id")
        await conn.execute(
            "UPDATE users SET unit_id = %s, area_id = %s WHERE id = %s", (unit_id, area_id, user_id)
        )
        after = {"user_id": user_id, "unit_id": unit_id, "area_id": area_id}
        await audit.record(
            conn, who, "scope", "user", user_id,
            {"unit_id": before[0], "area_id": before[1]}, after,
        )  # fmt: skip
    return after

"""Read endpoints: latest positions and a vehicle's track, as GeoJSON (lon, lat)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from tracker.accounts.models import Role
from tracker.deps import PlatformDep, StaffDep
from tracker.errors import BadRequest, NotFound
from tracker.history import latest as latest_store
from tracker.history import repo
from tracker.registry.repo import VehicleRow
from tracker.responses import JSONResponse
from tracker.times import parse_time

router = APIRouter(prefix="/api/v1", tags=["positions"])
MAX_RANGE = timedelta(days=31)


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in text.split(","))
    except ValueError:
        raise BadRequest("bbox is min_lon,min_lat,max_lon,max_lat", field="bbox") from None
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise BadRequest("bbox corners out of range or out of order", field="bbox")
    return min_lon, min_lat, max_lon, max_lat


def _time_param(value: str | None, field: str, default: datetime) -> datetime:
    if value is None:
        return default
    parsed = parse_time(value)
    if isinstance(parsed, str):
        raise BadRequest(parsed, field=field)
    return parsed


def _decorate(feature: bytes, vehicle: VehicleRow | None) -> bytes:
    """Splice plate and company into a rendered feature's properties (it ends in ``}}``)."""
    if vehicle is None:
        return feature
    extra = b',"plate":' + orjson.dumps(vehicle.plate) + b',"company_id":%d}}' % vehicle.company_id
    return feature[:-2] + extra


def _in_box(feature: bytes, box: tuple[float, float, float, float]) -> bool:
    lon, lat = orjson.loads(feature)["geometry"]["coordinates"]
    return bool(box[0] <= lon <= box[2] and box[1] <= lat <= box[3])


@router.get("/positions/latest", summary="Latest position of every vehicle (staff)")
async def latest_positions(
    platform: PlatformDep,
    principal: StaffDep,
    company_id: int | None = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
) -> Response:
    box = _bbox(bbox)
    if principal.role == Role.company_user:
        company_id = principal.company_id  # a company sees its own trucks only
    vehicles = await platform.vehicles.get_all()
    parts = []
    for vehicle_id, feature in (
        await latest_store.latest_all(platform.pool, platform.redis)
    ).items():
        vehicle = vehicles.get(vehicle_id)
        if company_id is not None and (vehicle is None or vehicle.company_id != company_id):
            continue
        if box is not None and not _in_box(feature, box):
            continue
        parts.append(_decorate(feature, vehicle))
    body = b'{"type":"FeatureCollection","count":%d,"features":[%b]}' % (
        len(parts),
        b",".join(parts),
    )
    return Response(body, media_type="application/json")


@router.get("/vehicles/{vehicle_id}/track", summary="A vehicle's track for a time range (staff)")
async def vehicle_track(
    request: Request,
    platform: PlatformDep,
    principal: StaffDep,
    vehicle_id: int,
    start: str | None = None,
    end: str | None = None,
    after: Annotated[str | None, Query(description="cursor from `next`")] = None,
    interval_s: Annotated[int | None, Query(ge=1, le=86_400)] = None,
    include_flagged: bool = False,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 5000,
    shape: Literal["points", "line"] = "points",
    detail: Annotated[
        bool,
        Query(description="add received_at, altitude, satellites, HDOP and alarm bits (slower)"),
    ] = False,
) -> JSONResponse:
    """Fixes in time order as GeoJSON; `interval_s` keeps the first fix of each interval;
    a full page carries `next`, the URL of the following page."""
    now = datetime.now(UTC)
    end_t = _time_param(end, "end", now)
    start_t = _time_param(start, "start", end_t - timedelta(hours=24))
    if start_t >= end_t:
        raise BadRequest("start must be before end", field="start")
    if end_t - start_t > MAX_RANGE:
        raise BadRequest("at most 31 days per query", field="end")
    vehicle = await platform.vehicles.get(vehicle_id)
    if vehicle is None or not principal.sees_company(vehicle.company_id):
        raise NotFound(f"no vehicle {vehicle_id}", field="vehicle_id")
    after_t = None if after is None else _time_param(after, "after", now)
    q = repo.TrackQuery(
        vehicle_id, start_t, end_t, after_t, interval_s, include_flagged, limit, detail
    )
    async with platform.pool.connection() as conn:
        rows = await repo.track(conn, q)
    body = _track_body(rows, repo.track_columns(detail), vehicle_id, shape)
    if len(rows) == limit:
        last = rows[-1][0].astimezone(UTC).isoformat().replace("+00:00", "Z")
        body["next"] = str(request.url.include_query_params(after=last))
    return JSONResponse(body)


def _track_body(
    rows: list[tuple[Any, ...]], names: tuple[str, ...], vehicle_id: int, shape: str
) -> dict[str, Any]:
    x, y = names.index("lon"), names.index("lat")
    if shape == "line":
        coords = [[r[x], r[y]] for r in rows]
        geometry = {"type": "LineString", "coordinates": coords} if len(coords) > 1 else None
        feature = {
            "type": "Feature",
            "geometry": geometry,
            "properties": {"vehicle_id": vehicle_id, "times": [r[0] for r in rows]},
        }
        return {"type": "FeatureCollection", "count": len(rows), "features": [feature]}
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r[x], r[y]]},
            "properties": {
                k: v
                for k, v in zip(names, r, strict=True)
                if v is not None and k not in ("lon", "lat")
            },
        }
        for r in rows
    ]
    return {
        "type": "FeatureCollection",
        "vehicle_id": vehicle_id,
        "count": len(rows),
        "features": features,
    }

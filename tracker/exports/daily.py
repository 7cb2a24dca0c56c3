"""Scheduled daily exports: yesterday's files of every active share grant that wants them.

One CSV per kind of the grant (positions at the grant's rate, incidents by opening time, trips
by loading time), for the city's yesterday (``city_tz``), in
``<exports.dir>/daily/grant-<id>/<YYYY-MM-DD>/<kind>.csv``. A file is written under a temporary
name and renamed when complete, and an existing day is skipped: a round is idempotent and
several processes may run it (the last rename wins with the same content).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from tracker.exports import feeds
from tracker.exports.datasets import DATASETS, Column, Dataset, ExportQuery
from tracker.exports.stream import export_bytes
from tracker.settings import Settings

log = logging.getLogger(__name__)
_BUCKET = "floor(extract(epoch FROM p.fix_time) / %(step)s)"
POSITIONS = Dataset(
    "positions",
    "定位",
    (
        Column("vehicle_id", "车辆ID", "int"),
        Column("plate", "车牌号"),
        Column("time_utc", "定位时间(UTC)", "time"),
        Column("time_local", "定位时间(本地)", "time"),
        Column("lon", "经度", "float"),
        Column("lat", "纬度", "float"),
        Column("speed_kmh", "速度(km/h)", "float"),
        Column("heading_deg", "方向(度)", "float"),
        Column("loaded", "重车", "bool"),
    ),
    f"SELECT DISTINCT ON ({_BUCKET}, p.vehicle_id) p.vehicle_id, v.plate, p.fix_time,"
    " p.fix_time, p.lon, p.lat, p.speed_kmh, p.heading_deg, p.loaded"
    " FROM pings p JOIN vehicles v ON v.id = p.vehicle_id",
    "p.fix_time",
    f"{_BUCKET}, p.vehicle_id, p.fix_time",
)
_SCOPES = {  # kind: dataset, the scope's vehicle, lon and lat columns
    "positions": (POSITIONS, "p.vehicle_id", "p.lon", "p.lat"),
    "incidents": (DATASETS["incidents"], "i.vehicle_id", "i.lon", "i.lat"),
    "trips": (DATASETS["trips"], "t.vehicle_id", None, None),
}


def yesterday(zone: ZoneInfo, now: datetime) -> tuple[str, datetime, datetime]:
    """The city's yesterday: its date and its [start, end) instants."""
    day = now.astimezone(zone).date() - timedelta(days=1)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return day.isoformat(), start, end


def grant_query(g: feeds.Grant, kind: str, start: datetime, end: datetime) -> ExportQuery:
    dataset, vehicle, lon, lat = _SCOPES[kind]
    t = dataset.time_column
    where = f"{t} >= %(since)s AND {t} < %(until)s AND {g.scope_sql(vehicle, lon, lat)}"
    if kind == "positions":
        where += " AND p.flags = 0"
    params: dict[str, Any] = {"since": start, "until": end, "step": g.position_interval_s}
    return ExportQuery(dataset, where, {**params, **g.scope_params()}, kind)


async def write_file(
    pool: AsyncConnectionPool[Any], q: ExportQuery, path: Path, zone: ZoneInfo, batch: int
) -> int:
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    handle = await asyncio.to_thread(part.open, "wb")
    size = 0
    try:
        async for chunk in export_bytes(pool, q, "csv", "zh", zone, batch):
            size += len(chunk)
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(part.unlink, True)
        raise
    await asyncio.to_thread(handle.close)
    await asyncio.to_thread(part.replace, path)
    return size


async def write_yesterday(
    pool: AsyncConnectionPool[Any], settings: Settings, now: datetime | None = None
) -> list[str]:
    """Write the missing files of yesterday; returns their paths relative to the directory."""
    zone = ZoneInfo(settings.city_tz)
    day, start, end = yesterday(zone, now or datetime.now(zone))
    root = Path(settings.exports.dir) / "daily"
    async with pool.connection() as conn:
        active = await feeds.grants(conn, active_only=True)
    written = []
    for g in active:
        if not g.daily_files:
            continue
        for kind in g.kinds:
            path = root / f"grant-{g.id}" / day / f"{kind}.csv"
            if await asyncio.to_thread(path.exists):
                continue
            q = grant_query(g, kind, start, end)
            await write_file(pool, q, path, zone, settings.exports.batch_rows)
            written.append(str(path.relative_to(root)))
    if written:
        log.info("daily exports written: %s", ", ".join(written))
    return written

"""The registry view carries what the place and quota rules read: a yard full or its opening
hours, a site's active dates, a permit's quota and the volume its completed trips hauled."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from engine_scenario import build_world
from httpx import AsyncClient

from tracker.trips.worker.registry import load_registry


async def test_registry_view_reads_yards_sites_and_quotas(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    database_url: str,
) -> None:
    vehicle_id, _ = fleet.truck("PLC-1")
    await build_world(client, staff, db, [vehicle_id])
    permit_id = db.execute("SELECT max(id) FROM permits").fetchone()[0]  # type: ignore[index]
    site_id = db.execute("SELECT max(id) FROM sites").fetchone()[0]  # type: ignore[index]
    yard_id = db.execute("SELECT max(id) FROM yards").fetchone()[0]  # type: ignore[index]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        view = await load_registry(conn, ZoneInfo("Asia/Shanghai"))
    ctx = view.context(vehicle_id)
    yard, site = ctx.yards[str(yard_id)], ctx.sites[str(site_id)]
    assert not yard.full and yard.opening_windows == ()
    assert site.active_from is None and site.active_until is None
    (permit,) = [p for p in ctx.permits if p.permit_id == str(permit_id)]
    assert permit.quota_m3 == 1000.0 and permit.hauled_m3 == 0.0
    assert permit.hauled_until is None

    db.execute(
        "UPDATE sites SET active_from = '2026-05-01', active_to = '2026-05-31' WHERE id = %s",
        (site_id,),
    )
    db.execute(
        "UPDATE yards SET opening_hours = %s WHERE id = %s",
        (json.dumps([{"start": "06:00", "end": "18:00"}]), yard_id),
    )
    db.execute(
        "INSERT INTO yard_ledger (yard_id, kind, volume_m3, reason, at)"
        " VALUES (%s, 'survey', 5000, 'surveyed full', now())",
        (yard_id,),
    )
    rated = db.execute(
        "SELECT rated_volume_m3 FROM vehicles WHERE id = %s", (vehicle_id,)
    ).fetchone()[0]  # type: ignore[index]
    departures = (datetime(2026, 5, 4, 3, tzinfo=UTC), datetime(2026, 5, 4, 4, 5, 30, tzinfo=UTC))
    for i, volume in enumerate((None, 12.5)):  # the rated volume, then a measured one
        db.execute(
            "INSERT INTO trips (trip_id, vehicle_id, permit_id, departed_at, completed_at,"
            " volume_m3, outcome) VALUES (%s, %s, %s, %s, now(), %s, 'yard')",
            (f"{vehicle_id}:q{i}", vehicle_id, str(permit_id), departures[i], volume),
        )
    db.execute(  # under way: not hauled yet
        "INSERT INTO trips (trip_id, vehicle_id, permit_id, departed_at) VALUES (%s, %s, %s, %s)",
        (f"{vehicle_id}:q9", vehicle_id, str(permit_id), datetime(2026, 5, 4, 5, tzinfo=UTC)),
    )
    db.commit()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        view = await load_registry(conn, ZoneInfo("Asia/Shanghai"))
    ctx = view.context(vehicle_id)
    yard, site = ctx.yards[str(yard_id)], ctx.sites[str(site_id)]
    assert yard.full
    assert [(w.start_min, w.end_min) for w in yard.opening_windows] == [(360, 1080)]
    # Local days in the city (UTC+8): 1 May 00:00 is 30 April 16:00 UTC.
    assert site.active_from == datetime(2026, 4, 30, 16, tzinfo=UTC)
    assert site.active_until == datetime(2026, 5, 31, 16, tzinfo=UTC)
    assert site.active_at(datetime(2026, 5, 31, 15, tzinfo=UTC))
    assert not site.active_at(datetime(2026, 5, 31, 16, tzinfo=UTC))
    (permit,) = [p for p in ctx.permits if p.permit_id == str(permit_id)]
    assert permit.hauled_m3 == float(rated) + 12.5
    # The vehicle's latest departure among the completed trips (the one under way is not).
    assert permit.hauled_until == datetime(2026, 5, 4, 4, 5, 30, tzinfo=UTC)

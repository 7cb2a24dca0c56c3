"""``tracker seed --permits``: the simulator's places and the demo permit, registered twice.

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
import redis.asyncio as aioredis
from shapely.geometry import Point

from tracker import wire
from tracker.geofence.fences import CorridorFence
from tracker.geofence.geojson import fence_from_geojson
from tracker.registry import importer
from tracker.roads.network import RoadNetwork
from tracker.settings import Settings
from tracker.sim.demo_city import (
    HALF_WIDTH_M,
    OFF_HOURS_PLATE,
    YARD_CAPACITY_M3,
    CityOutcome,
    CityPlan,
    off_hours_window,
    plan_city,
    seed_demo_city,
)
from tracker.sim.motion import DrivingConfig, TruckMotion
from tracker.sim.places import Place
from tracker.sim.seed import DEMO_COMPANY, seed_fleet
from tracker.trips.core.models import CITY_TZ


async def _run(settings: Settings, plan: CityPlan, now: datetime | None = None) -> CityOutcome:
    r = aioredis.Redis.from_url(settings.redis_url)
    now = now or datetime.now(UTC)
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, autocommit=True
        ) as conn:
            today = now.astimezone(CITY_TZ).date()
            return await seed_demo_city(conn, r, plan, DEMO_COMPANY, today, now, CITY_TZ)
    finally:
        await r.aclose()


def _drain(pubsub: Any) -> list[dict[str, Any]]:
    notices = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        if message["type"] == "message":
            notices.append(json.loads(message["data"]))
    return notices


def _hauling_points(network: RoadNetwork, site: Place, yard: Place) -> list[tuple[float, float]]:
    """True positions every 5 s of a simulated truck in its first hour, loaded and outside
    ``site`` and ``yard``: its hauls from the site to the yard."""
    motion = TruckMotion(network, [site], yard, random.Random(7), DrivingConfig(), False)
    points = []
    for step in range(720):
        state = motion.state_at(step * 5.0)
        here = Point(state.lon, state.lat)
        if state.loaded and not site.polygon.covers(here) and not yard.polygon.covers(here):
            points.append((state.lon, state.lat))
    assert motion.trips >= 1
    return points


async def test_demo_city_twice(
    settings: Settings,
    database_url: str,
    db: psycopg.Connection[Any],
    rdb: redis.Redis,
    monaco: RoadNetwork,
    monaco_pbf: Path,
    monaco_places: tuple[list[Place], Place],
) -> None:
    seed_fleet(database_url, 4)
    seed_fleet(database_url, 3, prefix="JT")
    # `tracker import osm`: Monaco's construction sites, and its quarry, as sites
    osm = importer.osm_bodies(monaco_pbf, 100_000.0)["site"]
    await importer.import_bodies(database_url, settings.redis_url, "site", osm, len(osm))
    sites, yard = monaco_places
    plan = plan_city(monaco, sites, yard)
    pubsub = rdb.pubsub()
    pubsub.subscribe(wire.channel(rdb, wire.Channel.FENCES))
    assert pubsub.get_message(timeout=1.0) is not None  # subscribed
    try:
        first = await _run(settings, plan)
        first_notices = _drain(pubsub)
        second = await _run(settings, plan)
        second_notices = _drain(pubsub)
    finally:
        pubsub.close()

    assert (second.site_ids, second.yard_id, second.permit_id) == (
        first.site_ids,
        first.yard_id,
        first.permit_id,
    )
    assert second.off_hours_permit_id == first.off_hours_permit_id is not None
    assert len(first.site_ids) == len(sites) == len(set(first.site_ids))
    # the imported OSM construction sites are reused, the quarry site makes way for the yard
    active = db.execute("SELECT id, name FROM sites WHERE active ORDER BY id").fetchall()
    assert sorted(first.site_ids) == [r[0] for r in active]
    assert all("(osm " in r[1] for r in active)
    assert db.execute("SELECT count(*) FROM sites").fetchone() == (len(osm),)
    yards = db.execute("SELECT id, name, capacity_m3, active FROM yards").fetchall()
    assert yards == [(first.yard_id, yard.name, YARD_CAPACITY_M3, True)]

    permits = db.execute("SELECT id, state, company_id FROM permits").fetchall()
    company_id = db.execute("SELECT id FROM companies WHERE name = %s", (DEMO_COMPANY,)).fetchone()
    assert company_id is not None
    assert permits == [
        (first.permit_id, "approved", company_id[0]),
        (first.off_hours_permit_id, "approved", company_id[0]),
    ]
    vehicles = {r[0] for r in db.execute("SELECT id FROM vehicles").fetchall()}
    assert len(vehicles) == 7
    violator = db.execute("SELECT id FROM vehicles WHERE plate = %s", (OFF_HOURS_PLATE,))
    off_hours = violator.fetchone()
    assert off_hours is not None and off_hours[0] == first.off_hours_vehicle_id
    on_permit = db.execute(
        "SELECT permit_id, vehicle_id FROM permit_vehicles ORDER BY permit_id, vehicle_id"
    ).fetchall()
    # every truck is on the all-day permit but the outside-hours violator, which has its own
    assert {v for p, v in on_permit if p == first.permit_id} == vehicles - {off_hours[0]}
    assert [v for p, v in on_permit if p == first.off_hours_permit_id] == [off_hours[0]]
    window = off_hours_window(datetime.now(UTC), CITY_TZ).model_dump()
    assert db.execute(
        "SELECT windows FROM permits WHERE id = %s", (first.off_hours_permit_id,)
    ).fetchone() == ([window],)
    for permit_id in (first.permit_id, first.off_hours_permit_id):
        assert db.execute(
            "SELECT array_agg(site_id ORDER BY site_id) FROM permit_sites WHERE permit_id = %s",
            (permit_id,),
        ).fetchone() == (sorted(first.site_ids),)
        assert db.execute(
            "SELECT array_agg(yard_id) FROM permit_yards WHERE permit_id = %s", (permit_id,)
        ).fetchone() == ([first.yard_id],)
    corridors = db.execute(
        "SELECT c.half_width_m, f.geometry, f.active FROM permit_corridors c "
        "JOIN fences f ON f.id = c.fence_id WHERE c.permit_id = %s ORDER BY c.id",
        (first.permit_id,),
    ).fetchall()
    assert len(corridors) == len(sites)
    assert all(float(hw) == HALF_WIDTH_M and live for hw, _, live in corridors)

    # the engine heard of the yard, the retired quarry site and the corridors; then nothing
    kinds = sorted(n["op"] for n in first_notices)
    # (and of the no-go zone on the deviating violator's detour, and of the outside-hours
    # violator's permit's own corridors)
    assert kinds == sorted(["upsert"] * (2 + 2 * len(sites)) + ["remove"])
    assert second_notices == []

    # a simulated haul from each site to the yard stays inside its corridor
    fences = [
        fence_from_geojson(f"corridor {i}", geometry, half_width_m=float(hw))
        for i, (hw, geometry, _) in enumerate(corridors)
    ]
    for site, fence in zip(sites, fences, strict=True):
        assert isinstance(fence, CorridorFence)
        points = _hauling_points(monaco, site, yard)
        assert len(points) > 100
        outside = [p for p in points if not fence.covers_xy(*p)]
        assert outside == [], f"{site.name}: {len(outside)} of {len(points)} outside"


async def test_demo_city_follows_the_fleet(
    settings: Settings,
    database_url: str,
    db: psycopg.Connection[Any],
    monaco: RoadNetwork,
    monaco_places: tuple[list[Place], Place],
) -> None:
    """A bigger fleet: the demo permit is replaced (the old one revoked), never doubled."""
    seed_fleet(database_url, 2)
    plan = plan_city(monaco, *monaco_places)
    first = await _run(settings, plan)
    seed_fleet(database_url, 3)
    second = await _run(settings, plan)
    assert second.permit_id != first.permit_id
    assert second.site_ids == first.site_ids and second.yard_id == first.yard_id
    states = db.execute("SELECT id, state FROM permits ORDER BY id").fetchall()
    assert states == [(first.permit_id, "revoked"), (second.permit_id, "approved")]
    assert len(second.vehicle_ids) == 3
    assert db.execute(
        "SELECT count(*) FROM fences WHERE role = 'corridor' AND active"
    ).fetchone() == (len(monaco_places[0]),)
    # nothing imported: the simulator's own polygons were registered as the sites
    assert db.execute("SELECT count(*) FROM sites WHERE active").fetchone() == (
        len(monaco_places[0]),
    )


async def test_the_outside_hours_window_moves_when_the_demo_comes_near_it(
    settings: Settings,
    database_url: str,
    db: psycopg.Connection[Any],
    monaco: RoadNetwork,
    monaco_places: tuple[list[Place], Place],
) -> None:
    """The violator's hour is twelve hours from the seeding; a re-seed an hour later keeps it,
    one ten hours later (two hours before it) moves it (the old permit revoked): a fresh
    demo's first hours are always outside it."""
    seed_fleet(database_url, 4)
    plan = plan_city(monaco, *monaco_places)
    # 10:20 in the city today (the permits' dates are checked against the real date)
    t0 = datetime.combine(datetime.now(CITY_TZ).date(), time(10, 20), CITY_TZ)
    first = await _run(settings, plan, t0)
    window = db.execute("SELECT windows FROM permits WHERE id = %s", (first.off_hours_permit_id,))
    assert window.fetchone() == ([{"start": "22:00", "end": "23:00"}],)
    later = await _run(settings, plan, t0 + timedelta(hours=1))
    assert later.off_hours_permit_id == first.off_hours_permit_id
    moved = await _run(settings, plan, t0 + timedelta(hours=10))  # 20:20, the hour at 22:00
    assert moved.off_hours_permit_id != first.off_hours_permit_id
    assert moved.permit_id == first.permit_id  # the all-day permit stays
    rows = db.execute("SELECT id, state, windows FROM permits ORDER BY id").fetchall()
    assert rows[1:] == [
        (first.off_hours_permit_id, "revoked", [{"start": "22:00", "end": "23:00"}]),
        (moved.off_hours_permit_id, "approved", [{"start": "08:00", "end": "09:00"}]),
    ]

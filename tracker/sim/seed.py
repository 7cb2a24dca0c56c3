"""``tracker seed``: register a demo fleet and write its terminal tokens to a file.

Safe to run twice: companies, vehicles and terminals are upserted by name, plate and identity;
tokens are issued anew each run (the old ones stop working) and the file is rewritten.

``tracker seed --permits`` seeds no trucks: it registers the places the simulator drives between
(origin sites, the disposal yard) and one approved permit for the demo company's trucks, with a
corridor per site, and one for the outside-hours violator, whose hour is elsewhere in the day
(``tracker.sim.demo_city``). Run it after seeding the fleets and
``tracker import osm``; it is safe to run twice too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import psycopg

from tracker.db import migrate
from tracker.registry import repo
from tracker.settings import Settings
from tracker.sim.motion import VIOLATIONS

DEMO_COMPANY = "Demo Haulage Co."
LIFT_MODEL = "SIM-ZT"  # body-lift and cover sensors trusted (settings.engine.sensors)


def seed_fleet(conninfo: str, trucks: int, prefix: str = "DEMO") -> list[dict[str, object]]:
    fleet: list[dict[str, object]] = []
    with psycopg.connect(conninfo) as conn, conn.transaction():
        company_id = repo.ensure_company(conn, DEMO_COMPANY)
        for n in range(1, trucks + 1):
            plate = f"{prefix}-{n:05d}"
            volume_m3 = (12.0, 16.0, 20.0)[n % 3]
            vehicle_id = repo.ensure_vehicle(conn, plate, company_id, volume_m3)
            if n <= len(VIOLATIONS):  # the scripted violators report their body lift
                conn.execute(
                    "UPDATE vehicles SET terminal_model = %s WHERE id = %s",
                    (LIFT_MODEL, vehicle_id),
                )
            terminal_id = repo.ensure_terminal(conn, f"{prefix}-T{n:05d}", vehicle_id, "generic")
            token = repo.issue_token(conn, terminal_id)
            fleet.append(
                {
                    "vehicle_id": vehicle_id,
                    "plate": plate,
                    "terminal_id": terminal_id,
                    "company_id": company_id,
                    "token": token,
                }
            )
    return fleet


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker seed", description=__doc__)
    parser.add_argument("--trucks", type=int, default=50)
    parser.add_argument("--prefix", default="DEMO")
    parser.add_argument(
        "--permits",
        action="store_true",
        help="no trucks: register the simulator's sites and yard and approve one permit for "
        "the demo company's trucks",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="--permits: where the OSM extract is kept"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("TRACKER_DATA_DIR", ".data")) / "demo-fleet.json",
    )
    args = parser.parse_args(argv)
    settings = Settings.load()
    migrate(settings.database_url, settings.city_tz)
    if args.permits:
        return seed_city(settings, args.data_dir)
    fleet = seed_fleet(settings.database_url, args.trucks, args.prefix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(fleet, option=orjson.OPT_INDENT_2))
    os.chmod(tmp, 0o600)  # the file holds secrets
    tmp.replace(args.out)
    print(f"seeded {len(fleet)} trucks of {DEMO_COMPANY!r}; tokens in {args.out}")
    return 0


def seed_city(settings: Settings, data_dir: Path | None) -> int:
    """``--permits``: the demo city's places and permit, from the simulator's own places."""
    import redis.asyncio as aioredis

    from tracker.permits.service import PermitRefused
    from tracker.roads.network import RoadNetwork, load_landuse
    from tracker.sim.data import DataUnavailableError, default_data_dir, ensure_monaco_pbf
    from tracker.sim.demo_city import DemoCityError, plan_city, seed_demo_city
    from tracker.sim.places import demo_places

    try:
        pbf = ensure_monaco_pbf(data_dir or default_data_dir())
    except DataUnavailableError as exc:
        print(f"tracker seed: {exc}", file=sys.stderr)
        return 1
    network = RoadNetwork.from_pbf(pbf)
    sites, yard = demo_places(network, load_landuse(pbf))  # as `tracker simulate` does
    plan = plan_city(network, sites, yard)

    async def run() -> list[str]:
        redis = aioredis.Redis.from_url(settings.redis_url)
        try:
            async with await psycopg.AsyncConnection.connect(
                settings.database_url, autocommit=True
            ) as conn:
                zone = ZoneInfo(settings.city_tz)
                today = datetime.now(zone).date()  # the city's day
                out = await seed_demo_city(conn, redis, plan, DEMO_COMPANY, today, tz=zone)
        finally:
            await redis.aclose()
        return [
            *out.lines,
            f"permit {out.permit_id} approved for {len(out.vehicle_ids)} trucks of "
            f"{DEMO_COMPANY!r}: {len(out.site_ids)} sites -> yard {out.yard_id}",
        ]

    try:
        lines = asyncio.run(run())
    except (DemoCityError, PermitRefused) as exc:
        print(f"tracker seed --permits: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0

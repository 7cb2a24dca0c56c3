"""Driving the simulated fleet: the fleet file, building the fleet on the demo roads, and the
producers that advance it in live or replay time. Shared by the HTTP and JT/T 808 senders.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from tracker.history.repo import latest_from_db
from tracker.roads.network import RoadNetwork, load_landuse
from tracker.settings import Settings
from tracker.sim.data import default_data_dir, ensure_monaco_pbf
from tracker.sim.fleet import Fleet
from tracker.sim.motion import VIOLATIONS, Resume
from tracker.sim.places import demo_places
from tracker.sim.terminal import OutgoingBatch

REPLAY_STEP = timedelta(minutes=5)
LIVE_WARM_UP = timedelta(minutes=45)  # about one cycle, so live trucks start spread over it
QUEUE_BATCHES = 200  # per truck; replay waits for the server when a queue is full
RESUME_WITHIN = timedelta(days=1)  # a truck seen more recently carries on from there
JT808_SEED_OFFSET = 808  # the JT/T 808 fleet's own routes, not those of trucks 1-10


@dataclass(frozen=True, slots=True)
class FleetEntry:
    vehicle_id: int
    plate: str
    token: str


def load_fleet_file(path: Path) -> list[FleetEntry]:
    """The JSON list written by ``tracker seed``: ``[{"vehicle_id", "plate", "token"}, ...]``."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list")
    return [FleetEntry(int(r["vehicle_id"]), str(r["plate"]), str(r["token"])) for r in rows]


async def produce_live(
    fleet: Fleet, queues: list[asyncio.Queue[OutgoingBatch | None]], deadline: float
) -> None:
    while time.monotonic() < deadline:
        for batch in fleet.advance(datetime.now(UTC)):
            queues[batch.truck].put_nowait(batch)
        await asyncio.sleep(1.0)


async def produce_replay(
    fleet: Fleet,
    queues: list[asyncio.Queue[OutgoingBatch | None]],
    end: datetime,
    deadline: float,
) -> None:
    t = fleet.start_time
    while t < end and time.monotonic() < deadline:
        t = min(t + REPLAY_STEP, end)
        for batch in fleet.advance(t):
            await queues[batch.truck].put(batch)


def build_fleet(
    args: argparse.Namespace,
    n_trucks: int,
    start: datetime,
    seed_offset: int = 0,
    resume: Sequence[Resume | None] = (),
    scripts: Sequence[str | None] = (),
    script_at: datetime | None = None,
) -> Fleet:
    """The demo fleet on the demo roads; ``seed_offset`` gives a second fleet (the JT/T 808
    terminals) routes of its own, ``resume`` carries trucks on from where they were seen."""
    pbf = ensure_monaco_pbf(args.data_dir or default_data_dir())
    network = RoadNetwork.from_pbf(pbf)
    sites, yard = demo_places(network, load_landuse(pbf))
    names = ", ".join(s.name for s in sites)
    print(f"roads: {network.total_length_km():.0f} km; sites: {names}; yard: {yard.name}")
    rng = random.Random(args.seed + seed_offset)
    return Fleet(
        network,
        sites,
        yard,
        n_trucks,
        rng,
        start,
        resume=resume,
        scripts=scripts,
        script_at=script_at,
    )


async def last_seen(database_url: str, vehicle_ids: Sequence[int]) -> list[Resume | None]:
    """Each vehicle's newest stored fix within ``RESUME_WITHIN`` (None when there is none or
    the database cannot be read: the truck starts its cycle afresh)."""
    try:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            fixes = await latest_from_db(conn, datetime.now(UTC) - RESUME_WITHIN)
    except psycopg.Error as exc:
        print(f"simulate: no last positions ({exc}); trucks start afresh")
        return [None] * len(vehicle_ids)
    by_id = {f.vehicle_id: Resume(f.lon, f.lat, bool(f.loaded)) for f in fixes}
    return [by_id.get(v) for v in vehicle_ids]


async def live_start(
    args: argparse.Namespace, entries: Sequence[FleetEntry], seed_offset: int = 0
) -> Fleet:
    """A live fleet: with ``--resume``, trucks seen before carry on from their last stored
    position (a second `make demo` must not teleport them back to their start); a fleet never
    seen is warmed up
    for ``LIVE_WARM_UP`` so its trucks are spread over their cycle."""
    resume: list[Resume | None] = []
    if getattr(args, "resume", False):
        resume = await last_seen(Settings.load().database_url, [e.vehicle_id for e in entries])
    # the scripted violators: the first trucks, unless they carry on from where they were seen
    scripts = list(VIOLATIONS) if getattr(args, "violators", False) else []
    now = datetime.now(UTC)
    if any(resume):
        print(f"simulate: {sum(1 for r in resume if r)} trucks resume where they were last seen")
        return build_fleet(args, len(entries), now, seed_offset, resume, scripts, now)
    fleet = build_fleet(args, len(entries), now - LIVE_WARM_UP, seed_offset, (), scripts, now)
    fleet.warm_up(now)
    return fleet

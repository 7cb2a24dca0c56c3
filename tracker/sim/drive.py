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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracker.roads.network import RoadNetwork, load_landuse
from tracker.sim.data import default_data_dir, ensure_monaco_pbf
from tracker.sim.fleet import Fleet
from tracker.sim.places import demo_places
from tracker.sim.terminal import OutgoingBatch

REPLAY_STEP = timedelta(minutes=5)
LIVE_WARM_UP = timedelta(minutes=45)  # about one cycle, so live trucks start spread over it
QUEUE_BATCHES = 200  # per truck; replay waits for the server when a queue is full


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


def build_fleet(args: argparse.Namespace, n_trucks: int, start: datetime) -> Fleet:
    pbf = ensure_monaco_pbf(args.data_dir or default_data_dir())
    network = RoadNetwork.from_pbf(pbf)
    sites, yard = demo_places(network, load_landuse(pbf))
    names = ", ".join(s.name for s in sites)
    print(f"roads: {network.total_length_km():.0f} km; sites: {names}; yard: {yard.name}")
    return Fleet(network, sites, yard, n_trucks, random.Random(args.seed), start)

"""``tracker bench live``: trucks report, websocket clients with their own viewports watch.

A real API server process serves ``/api/v1/live``. The trucks' fixes enter where the writer puts
them after commit (the per-shard Redis streams and ``tracker:latest``, through the same
publisher), so the figure is the live path's: from a fix's publication (its ``received_at``) to
its arrival at a client. Some clients read deliberately slowly; their latency is not counted, but
the server's memory must not grow with their backlog. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from tracker.bench.common import (
    free_port,
    percentile,
    redis_db_url,
    scratch_database,
    start_server,
    stop_server,
)
from tracker.ingest.stream import StreamPublisher
from tracker.settings import Settings
from tracker.sim.seed import seed_fleet
from tracker.wire import Fix

BENCH_DB = "tracker_bench_live"
BENCH_REDIS_DB = 11
CITY = (104.00, 30.55, 104.20, 30.75)  # lon/lat box the trucks drive in


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _viewport(rng: random.Random, wide: bool) -> list[float]:
    if wide:
        return list(CITY)
    size = rng.uniform(0.01, 0.03)
    lon = rng.uniform(CITY[0], CITY[2] - size)
    lat = rng.uniform(CITY[1], CITY[3] - size)
    return [lon, lat, lon + size, lat + size]


async def _watch(url: str, spec: dict[str, Any], stop_at: float, out: dict[str, Any]) -> None:
    from websockets.asyncio.client import connect

    slow = spec["slow"]
    async with connect(url, max_queue=1 if slow else 64, open_timeout=60) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": spec["token"]}).decode())
        await ws.send(orjson.dumps({"type": "subscribe", "bbox": spec["bbox"]}).decode())
        while time.time() < stop_at:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.1, stop_at - time.time()))
            except TimeoutError:
                break
            now_us = time.time() * 1e6
            message = orjson.loads(raw)
            if message["type"] == "fixes":
                out["deliveries"] += len(message["vehicles"])
                if not slow and time.time() > out["measure_from"]:
                    out["lat_ms"].extend(
                        (now_us - v["received_us"]) / 1000 for v in message["vehicles"]
                    )
            elif message["type"] == "snapshot":
                out["snapshots"] += 1
            if slow:
                await asyncio.sleep(spec["read_pause_s"])


def _clients_proc(
    url: str, specs: list[dict[str, Any]], times: tuple[float, float], q: Any
) -> None:
    out: dict[str, Any] = {
        "deliveries": 0,
        "snapshots": 0,
        "lat_ms": [],
        "measure_from": times[0],
        "errors": 0,
    }

    async def run() -> None:
        results = await asyncio.gather(
            *(_watch(url, s, times[1], out) for s in specs), return_exceptions=True
        )
        out["errors"] = sum(1 for r in results if isinstance(r, BaseException))

    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run())
    q.put(out)


async def _drive(
    redis_url: str, shards: int, vids: list[int], period_s: float, stop_at: float
) -> int:
    """Each truck reports once per period, spread evenly over it, 10 publications a second."""
    r = aioredis.Redis.from_url(redis_url)
    publisher = StreamPublisher(r, shards=shards, maxlen=200_000)
    rng = random.Random(7)
    where = {v: [rng.uniform(CITY[0], CITY[2]), rng.uniform(CITY[1], CITY[3])] for v in vids}
    tick_s = 0.1
    per_tick = max(1, round(len(vids) * tick_s / period_s))
    sent, cursor = 0, 0
    next_at = time.monotonic()
    while time.time() < stop_at:
        now = datetime.now(UTC)
        group = []
        for _ in range(per_tick):
            vid = vids[cursor % len(vids)]
            cursor += 1
            pos = where[vid]
            pos[0] = min(CITY[2], max(CITY[0], pos[0] + rng.uniform(-2e-4, 2e-4)))
            pos[1] = min(CITY[3], max(CITY[1], pos[1] + rng.uniform(-2e-4, 2e-4)))
            group.append(_fix(vid, pos, now))
        await publisher.publish(group)
        sent += len(group)
        next_at += tick_s
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await r.aclose()
    return sent


def _fix(vid: int, pos: list[float], now: datetime) -> Fix:
    return Fix(
        vehicle_id=vid,
        terminal_id=0,
        fix_time=now - timedelta(milliseconds=500),
        received_at=now,
        lon=pos[0],
        lat=pos[1],
        speed_kmh=30.0,
        heading_deg=90.0,
        loaded=True,
        ignition=True,
    )


def _drive_proc(
    redis_url: str, shards: int, vids: list[int], period_s: float, stop: float, q: Any
) -> None:
    q.put(asyncio.run(_drive(redis_url, shards, vids, period_s, stop)))


def _specs(opts: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(11)
    specs = []
    for n in range(opts.clients):
        slow = n < opts.clients * opts.slow_share
        wide = not slow and n % 50 == 1  # a few watch the whole city
        specs.append({"bbox": _viewport(rng, wide), "slow": slow, "read_pause_s": 2.0})
    return specs


def _run(
    opts: argparse.Namespace, url: str, server_pid: int, env: dict[str, str]
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start = time.time() + 3.0
    measure_from, stop_at = start + opts.warmup, start + opts.warmup + opts.duration
    specs = [{**spec, "token": opts.staff_token} for spec in _specs(opts)]
    procs = [
        ctx.Process(
            target=_clients_proc, args=(url, specs[i :: opts.procs], (measure_from, stop_at), q)
        )
        for i in range(opts.procs)
    ]
    procs.append(
        ctx.Process(
            target=_drive_proc,
            args=(env["TRACKER_REDIS_URL"], opts.shards, opts.vids, opts.period, stop_at, q),
        )
    )
    for p in procs:
        p.start()
    rss: list[float] = []
    while time.time() < stop_at + 1:
        time.sleep(1.0)
        if time.time() > measure_from:
            rss.append(_rss_mb(server_pid))
    outs = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    sent = next(o for o in outs if isinstance(o, int))
    watched = [o for o in outs if isinstance(o, dict)]
    lat = [x for o in watched for x in o["lat_ms"]]
    deliveries = sum(o["deliveries"] for o in watched)
    return {
        "clients": opts.clients,
        "slow_clients": sum(1 for s in specs if s["slow"]),
        "trucks": len(opts.vids),
        "fixes_published": sent,
        "p50_fix_to_client_ms": round(percentile(lat, 50), 1),
        "p99_fix_to_client_ms": round(percentile(lat, 99), 1),
        "server_rss_mb": round(max(rss, default=0.0), 1),
        "server_rss_first_mb": round(rss[0], 1) if rss else None,
        "deliveries_per_s": round(deliveries / (stop_at - start), 1),
        "client_errors": sum(o["errors"] for o in watched),
        "duration_s": opts.duration,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench live", description=__doc__)
    parser.add_argument("--trucks", type=int, default=10_000)
    parser.add_argument(
        "--period", type=float, default=10.0, help="seconds between a truck's fixes"
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--slow-share", type=float, default=0.1, help="share of slow clients")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    opts = parser.parse_args(argv)
    settings = Settings.load()
    opts.shards = settings.shards
    db_url = scratch_database(settings, BENCH_DB)
    r_url = redis_db_url(settings, BENCH_REDIS_DB)
    redis.Redis.from_url(r_url).flushdb()
    print(f"registering {opts.trucks} trucks …", flush=True)
    opts.vids = [int(str(t["vehicle_id"])) for t in seed_fleet(db_url, opts.trucks, prefix="LIVE")]
    env = {"TRACKER_DATABASE_URL": db_url, "TRACKER_REDIS_URL": r_url, "TRACKER_ENV": "test"}
    port = free_port()
    server = start_server(port, env)
    try:
        url = f"ws://127.0.0.1:{port}/api/v1/live"  # the token goes in the first message
        opts.staff_token = settings.staff_token
        print(f"{opts.clients} clients watch for {opts.warmup + opts.duration:.0f} s …", flush=True)
        result = _run(opts, url, server.pid, env)
    finally:
        stop_server(server)
    print(orjson.dumps(result).decode())
    return 0 if result["client_errors"] == 0 else 1

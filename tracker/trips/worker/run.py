"""``tracker engine``: run an engine worker for some shards until SIGINT/SIGTERM.

``tracker engine --check [--shards …]`` answers instead, from the database alone, whether the
shards' engines have processed every settled commit of the ingest commit log: one JSON line per
shard and a summary, exit status 0 when all are caught up, 1 when not."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from tracker.db import make_pool
from tracker.health import process_readiness, serve_readiness
from tracker.settings import Settings
from tracker.trips.core.config import city_rules, sensors_by_model
from tracker.trips.worker import repo
from tracker.trips.worker.worker import EngineWorker, WorkerConfig

# CPython collects its youngest generation every 700 net allocations and the older ones every
# 10 of those, each pass scanning every live container object of the generation. An engine
# worker allocates a few dozen small objects per fix and keeps every vehicle's state alive, so
# with those defaults about 8 % of its time went to collections that free nothing (measured with
# ``tracker bench engine``). Its garbage is almost all freed by reference counting anyway.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """For a long-running worker, once start-up is done: what start-up built (the geofence
    index, the registry view, the loaded states) is moved out of the collector's generations,
    and collections run far less often (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def parse_shards(text: str, shard_count: int) -> tuple[int, ...]:
    """``0-7``, ``0,2,5`` or ``all``."""
    if text == "all":
        return tuple(range(shard_count))
    shards: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        shards.update(range(int(low), int(high or low) + 1))
    if not shards or min(shards) < 0 or max(shards) >= shard_count:
        raise argparse.ArgumentTypeError(f"shards must lie in 0..{shard_count - 1}")
    return tuple(sorted(shards))


async def _serve(settings: Settings, config: WorkerConfig) -> None:
    pool = make_pool(settings, statement_timeout_s=0)  # catch-up reads may be long
    redis = aioredis.Redis.from_url(settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await pool.open(wait=True)
    worker = EngineWorker(pool, redis, config)
    health = await serve_readiness(process_readiness(settings, pool, redis), settings)
    try:
        await worker.start()
        tune_gc()
        logging.getLogger(__name__).info("engine started for shards %s", config.shards)
        await worker.run(stop)
    finally:
        if health is not None:
            await health.stop()
        await worker.stop()
        await pool.close()
        await redis.aclose()


async def check(settings: Settings, shards: tuple[int, ...]) -> int:
    """Print each shard's lag behind the commit log and a summary; 0 if all caught up."""
    pool = make_pool(settings)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            lags = await repo.shard_lag(conn, shards)
    finally:
        await pool.close()
    for lag in lags:
        print(json.dumps({"shard": lag.shard, "caught_up": lag.caught_up, "head_seq": lag.head_seq,
                          "behind_commits": lag.behind_rows, "behind_fixes": lag.behind_fixes,
                          "oldest_behind_s": lag.oldest_behind_s,
                          "in_flight_commits": lag.in_flight_rows}))  # fmt: skip
    behind = [lag for lag in lags if not lag.caught_up]
    summary = {
        "caught_up": not behind,
        "shards": len(lags),
        "behind_commits": sum(lag.behind_rows for lag in lags),
        "behind_fixes": sum(lag.behind_fixes for lag in lags),
        "oldest_behind_s": max((lag.oldest_behind_s or 0.0 for lag in behind), default=0.0),
    }
    print(json.dumps(summary))
    return 0 if not behind else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker engine", description=__doc__)
    parser.add_argument("--shards", default="all", help="owned shards: 0-7, 0,2,5 or all")
    parser.add_argument("--batch-entries", type=int, default=200, help="stream entries per read")
    parser.add_argument("--tick-s", type=float, default=15.0, help="silence check interval")
    parser.add_argument("--refresh-s", type=float, default=60.0, help="registry reload interval")
    parser.add_argument("--commit-grace-s", type=float, default=2.0,
                        help="a settled commit missing from the stream this long is read from "
                        "the database")  # fmt: skip
    parser.add_argument("--check", action="store_true",
                        help="print the shards' lag behind the ingest commit log and exit: 0 if "
                        "caught up, 1 if not")  # fmt: skip
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    settings = Settings.load()
    if args.check:
        return asyncio.run(check(settings, parse_shards(args.shards, settings.shards)))
    config = WorkerConfig(
        shards=parse_shards(args.shards, settings.shards),
        shard_count=settings.shards,
        batch_entries=args.batch_entries,
        tick_s=args.tick_s,
        refresh_s=args.refresh_s,
        commit_grace_s=args.commit_grace_s,
        tz=ZoneInfo(settings.city_tz),
        rules=city_rules(settings.engine.city, settings.engine.rules),
        sensors=sensors_by_model(settings.engine.sensors),
    )
    asyncio.run(_serve(settings, config))
    return 0

"""``tracker engine``: run an engine worker for some shards until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal

import redis.asyncio as aioredis

from tracker.db import make_pool
from tracker.health import process_readiness, serve_readiness
from tracker.settings import Settings
from tracker.trips.core.config import city_rules, sensors_by_model
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker engine", description=__doc__)
    parser.add_argument("--shards", default="all", help="owned shards: 0-7, 0,2,5 or all")
    parser.add_argument("--batch-entries", type=int, default=200, help="stream entries per read")
    parser.add_argument("--tick-s", type=float, default=15.0, help="silence check interval")
    parser.add_argument("--refresh-s", type=float, default=60.0, help="registry reload interval")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    settings = Settings.load()
    config = WorkerConfig(
        shards=parse_shards(args.shards, settings.shards),
        shard_count=settings.shards,
        batch_entries=args.batch_entries,
        tick_s=args.tick_s,
        refresh_s=args.refresh_s,
        rules=city_rules(settings.engine.city, settings.engine.rules),
        sensors=sensors_by_model(settings.engine.sensors),
    )
    asyncio.run(_serve(settings, config))
    return 0

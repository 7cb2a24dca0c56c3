"""``tracker bench ingest``: concurrent terminals post batches to the real HTTP API.

Server, TimescaleDB and Redis all run on this machine. The run first measures a baseline (the
same server with group commit disabled: one transaction per request), then the real
configuration, and finally checks that the database holds exactly the acknowledged fixes.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import random
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import redis
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tracker.bench.common import (
    free_port,
    percentile,
    redis_db_url,
    scratch_database,
    start_server,
    stop_server,
)
from tracker.settings import Settings
from tracker.sim.seed import seed_fleet

BENCH_DB = "tracker_bench_ingest"
BENCH_REDIS_DB = 14


def _fixes(
    seq: int, n: int, t0: datetime, rng: random.Random, pos: list[float]
) -> list[dict[str, Any]]:
    """``n`` fixes a second apart of one truck driving a random walk from ``pos`` (updated)."""
    out = []
    lon, lat, heading_deg = pos
    for s in range(seq, seq + n):
        speed_kmh = 20 + rng.random() * 40
        heading_deg = (heading_deg + rng.uniform(-20, 20)) % 360
        step_deg = speed_kmh / 3.6 / 111_000
        lon += step_deg * math.sin(math.radians(heading_deg)) / 0.72
        lat += step_deg * math.cos(math.radians(heading_deg))
        out.append(
            {
                "time": (t0 + timedelta(seconds=s)).isoformat(),
                "lon": lon,
                "lat": lat,
                "speed_kmh": speed_kmh,
                "heading_deg": heading_deg,
                "satellites": 12,
                "hdop": 0.9,
                "ignition": True,
                "loaded": s % 2 == 0,
            }
        )
    pos[:] = [lon, lat, heading_deg]
    return out


class _Requests:
    """The request bodies of one load-generator process, built before the clock starts (so the
    measured CPU is the platform's, not the generator's), and built on the fly if they run out."""

    def __init__(self, args: dict[str, Any], tokens: list[str]) -> None:
        self.rng = random.Random(args["seed"])
        self.args, self.tokens = args, tokens
        self.t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
        self.seq = dict.fromkeys(tokens, 0)
        self.where = {
            t: [7.40 + self.rng.random() * 0.05, 43.70 + self.rng.random() * 0.05, 0.0]
            for t in tokens
        }
        self.ready: deque[tuple[str, int, bytes]] = deque()
        self._next = 0

    def build(self) -> tuple[str, int, bytes]:
        token = self.tokens[self._next % len(self.tokens)]
        self._next += 1
        n = self.rng.randint(self.args["batch_min"], self.args["batch_max"])
        fixes = _fixes(self.seq[token], n, self.t0, self.rng, self.where[token])
        self.seq[token] += n
        return token, n, orjson.dumps({"fixes": fixes})

    def prepare(self, fixes: int) -> None:
        built = 0
        while built < fixes:
            request = self.build()
            self.ready.append(request)
            built += request[1]

    def take(self) -> tuple[str, int, bytes]:
        return self.ready.popleft() if self.ready else self.build()


async def _client(
    args: dict[str, Any], tokens: list[str], shared: dict[str, Any]
) -> dict[str, Any]:
    requests = _Requests(args, tokens)
    requests.prepare(args["prepare_fixes"])
    with shared["ready"].get_lock():
        shared["ready"].value += 1
    await asyncio.to_thread(shared["go"].wait)
    latencies_ms: list[float] = []
    stats = {"acked": 0, "sent": 0, "errors": 0}
    end = time.monotonic() + args["duration_s"]
    # A connection per request, as terminals do: the kernel then hands each one to whichever
    # server worker is free to accept, which spreads the load over the workers.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def worker() -> None:
            while time.monotonic() < end:
                token, n, body = requests.take()
                started = time.perf_counter()
                try:
                    resp = await http.post(
                        args["url"],
                        content=body,
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/json",
                        },
                    )
                except httpx.HTTPError:
                    stats["errors"] += 1
                    continue
                latencies_ms.append((time.perf_counter() - started) * 1000)
                stats["sent"] += n
                if resp.status_code != 200:
                    stats["errors"] += 1
                    continue
                got = orjson.loads(resp.content)
                acked = got["accepted"] + got["duplicates"]
                stats["acked"] += acked
                with shared["acked"].get_lock():
                    shared["acked"].value += acked

        await asyncio.gather(*(worker() for _ in range(args["concurrency"])))
    return {**stats, "latencies_ms": latencies_ms}


def _client_proc(args: dict[str, Any], tokens: list[str], shared: dict[str, Any], out: Any) -> None:
    out.put(asyncio.run(_client(args, tokens, shared)))


def _phase(
    label: str, env: dict[str, str], opts: argparse.Namespace, tokens: list[str], duration_s: int
) -> dict[str, Any]:
    port = free_port()
    server = start_server(port, env, workers=opts.workers)
    ctx = mp.get_context("spawn")
    shared: dict[str, Any] = {
        "acked": ctx.Value("q", 0),
        "ready": ctx.Value("i", 0),
        "go": ctx.Event(),
    }
    counter, out = shared["acked"], ctx.Queue()
    args = {
        "url": f"http://127.0.0.1:{port}/api/v1/positions",
        "duration_s": duration_s,
        "batch_min": opts.batch_min,
        "batch_max": opts.batch_max,
        "concurrency": opts.concurrency,
        "prepare_fixes": int(opts.expect_fixes_per_s * duration_s * 1.25 / opts.clients),
    }
    procs = [
        ctx.Process(
            target=_client_proc, args=({**args, "seed": i}, tokens[i :: opts.clients], shared, out)
        )
        for i in range(opts.clients)
    ]
    try:
        for p in procs:
            p.start()
        print(f"{label}: preparing request bodies …")
        while shared["ready"].value < len(procs):
            if not all(p.is_alive() for p in procs):
                raise RuntimeError("a load generator died while preparing")
            time.sleep(0.2)
        started = time.monotonic()
        shared["go"].set()
        with Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[rate]}"),
        ) as progress:
            task = progress.add_task(label, total=duration_s, rate="")
            while any(p.is_alive() for p in procs) and out.qsize() < len(procs):
                elapsed = time.monotonic() - started
                rate = counter.value / max(elapsed, 1e-3)
                progress.update(
                    task,
                    completed=min(elapsed, duration_s),
                    rate=f"{counter.value:,} acked · {rate:,.0f} fixes/s",
                )
                time.sleep(0.5)
        results = [out.get(timeout=120) for _ in procs]
        elapsed_s = time.monotonic() - started
    finally:
        for p in procs:
            p.join(10)
        stop_server(server)
    latencies = [v for r in results for v in r["latencies_ms"]]
    acked = sum(r["acked"] for r in results)
    return {
        "fixes_per_s": round(acked / elapsed_s),
        "acknowledged": acked,
        "sent": sum(r["sent"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "requests": len(latencies),
        "p50_ack_ms": round(percentile(latencies, 50), 1),
        "p99_ack_ms": round(percentile(latencies, 99), 1),
        "duration_s": round(elapsed_s, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench ingest", description=__doc__)
    parser.add_argument("--duration", type=int, default=60, help="seconds of the measured run")
    parser.add_argument("--baseline-duration", type=int, default=20)
    parser.add_argument("--trucks", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight per client")
    parser.add_argument("--batch-min", type=int, default=100)
    parser.add_argument("--batch-max", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="API server processes")
    parser.add_argument(
        "--expect-fixes-per-s",
        type=int,
        default=60_000,
        help="how many request bodies to build before the clock starts",
    )
    opts = parser.parse_args(argv)
    settings = Settings.load()
    db_url = scratch_database(settings, BENCH_DB)
    r_url = redis_db_url(settings, BENCH_REDIS_DB)
    redis.Redis.from_url(r_url).flushdb()
    print(f"registering {opts.trucks} trucks …")
    tokens = [str(t["token"]) for t in seed_fleet(db_url, opts.trucks, prefix="BENCH")]
    env = {"TRACKER_DATABASE_URL": db_url, "TRACKER_REDIS_URL": r_url, "TRACKER_ENV": "test"}
    baseline = None
    if opts.baseline_duration > 0:
        baseline = _phase(
            "baseline: one commit per request",
            {**env, "TRACKER_WRITER_MAX_ROWS": "100", "TRACKER_WRITER_CONNECTIONS": "8"},
            opts,
            tokens,
            opts.baseline_duration,
        )
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("TRUNCATE pings")
        redis.Redis.from_url(r_url).flushdb()
        print(f"baseline: {baseline}")
    result = _phase("group commit", env, opts, tokens, opts.duration)
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM pings").fetchone()
    result["stored"] = int(row[0]) if row else 0
    result["stored_equals_acknowledged"] = result["stored"] == result["acknowledged"]
    if baseline:
        result["baseline"] = baseline
        result["vs_baseline"] = round(result["fixes_per_s"] / max(1, baseline["fixes_per_s"]), 2)
    result.update(
        workers=opts.workers,
        clients=opts.clients * opts.concurrency,
        batch=[opts.batch_min, opts.batch_max],
    )
    print(orjson.dumps(result).decode())
    return 0 if result["stored_equals_acknowledged"] else 1

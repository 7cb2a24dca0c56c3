"""``tracker bench jt808``: many terminal connections report to a real gateway.

The gateway runs as ``tracker gateway`` (its own process) on a scratch database; TimescaleDB and
Redis run on this machine. Load-generator processes open the connections (ramped), authenticate
each (0x0102) and report every ``--interval`` seconds with a 0x0704 of ``--fixes-per-report``
fixes (a 0x0200 when 1), waiting for the 0x8001 each time. ``p99_ack_ms`` is measured at the
client: frame written → 0x8001 read. The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import redis
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tracker.bench.common import free_port, percentile, redis_db_url, scratch_database
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.codec import Message
from tracker.ingest.jt808.gateway import raise_fd_limit
from tracker.ingest.jt808.location import STATUS_ACC, BatchKind, LocationBatch, make_location
from tracker.settings import Settings
from tracker.sim.jt808_terminal import SIM_MODEL, phone_for

BENCH_DB = "tracker_bench_jt808"
BENCH_REDIS_DB = 15
AUTH_CODE = "bench-code"


def seed(db_url: str, n: int) -> None:
    """Vehicles 1..n, each with a JT/T 808 terminal (phone from the vehicle id) and auth code."""
    with psycopg.connect(db_url) as conn, conn.transaction():
        row = conn.execute(
            "INSERT INTO companies (name) VALUES ('JT808 Bench Haulage') RETURNING id"
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO vehicles (plate, company_id, rated_volume_m3) "
            "SELECT 'JTB-' || g, %s, 16 FROM generate_series(1, %s) g",
            (row[0], n),
        )
        rows = conn.execute("SELECT id FROM vehicles ORDER BY id").fetchall()
        with conn.cursor().copy(
            "COPY terminals (identity, vehicle_id, model, jt808_auth_code) FROM STDIN"
        ) as copy:
            for (vid,) in rows:
                copy.write_row((phone_for(vid), vid, SIM_MODEL, AUTH_CODE))


def _report(vid: int, seq: int, count: int, t0: datetime) -> Message:
    reports = tuple(
        make_location(
            lon=7.40 + (vid % 1000) * 1e-4 + (seq + i) * 1e-5,
            lat=43.70 + vid * 1e-6,
            fix_time=t0 + timedelta(seconds=seq + i),
            speed_kmh=36.0,
            heading_deg=90,
            status_bits=0b10 | STATUS_ACC,
        )
        for i in range(count)
    )
    return reports[0] if count == 1 else LocationBatch(BatchKind.NORMAL, reports)


class _Load:
    """One load-generator process: its terminals and what they measured."""

    def __init__(self, cfg: dict[str, Any], connected: Any, acked: Any) -> None:
        self.cfg, self.connected, self.acked = cfg, connected, acked
        self.latencies_ms: list[float] = []
        self.window_fixes = 0
        self.errors = 0
        self.t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    async def terminal(self, vid: int, connect_at: float) -> None:
        cfg = self.cfg
        await asyncio.sleep(max(0.0, connect_at - time.time()))
        try:
            term = await TerminalClient.connect("127.0.0.1", cfg["port"], phone_for(vid))
            if await asyncio.wait_for(term.authenticate(AUTH_CODE), 60) != 0:
                raise ConnectionError("authentication refused")
        except (OSError, ConnectionError, TimeoutError):
            self.errors += 1
            return
        with self.connected.get_lock():
            self.connected.value += 1
        try:
            await self._report(term, vid)
        except (OSError, ConnectionError, TimeoutError):
            self.errors += 1
        finally:
            with self.connected.get_lock():
                self.connected.value -= 1
            await term.close()

    async def _report(self, term: TerminalClient, vid: int) -> None:
        cfg, n = self.cfg, self.cfg["fixes_per_report"]
        due = time.time() + random.uniform(0, cfg["interval_s"])
        seq = 0
        while due < cfg["window_end"]:
            await asyncio.sleep(max(0.0, due - time.time()))
            serial, frame = term.frame(_report(vid, seq, n, self.t0))
            seq += n
            sent_at, started = time.time(), time.perf_counter()
            async with asyncio.timeout(60):
                await term.send_raw(frame)
                reply = await term.reply_to(serial)
            if reply.result == 0:
                with self.acked.get_lock():
                    self.acked.value += n
                if cfg["window_start"] <= sent_at < cfg["window_end"]:
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                    self.window_fixes += n
            else:
                self.errors += 1
            due += cfg["interval_s"]

    async def run(self, vids: list[int]) -> dict[str, Any]:
        cfg = self.cfg
        step = cfg["ramp_s"] / max(1, cfg["connections"])
        first = cfg["t_start"] + cfg["offset"] * step
        starts = [first + i * step * cfg["clients"] for i in range(len(vids))]
        await asyncio.gather(*(self.terminal(v, s) for v, s in zip(vids, starts, strict=True)))
        return {"latencies_ms": self.latencies_ms, "window_fixes": self.window_fixes,
                "errors": self.errors}  # fmt: skip


def _client_proc(
    cfg: dict[str, Any], vids: list[int], connected: Any, acked: Any, out: Any
) -> None:
    import uvloop

    raise_fd_limit()
    out.put(uvloop.run(_Load(cfg, connected, acked).run(vids)))


def _start_gateway(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "gateway", "--port", str(port),
         "--log-level", "warning"], env={**os.environ, **env}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the gateway did not start")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _watch(procs: list[Any], out: Any, cfg: dict[str, Any], counters: tuple[Any, Any],
           gateway_pid: int) -> tuple[int, float]:  # fmt: skip
    """Show progress until the clients are done; return peak connections and gateway RSS."""
    connected, acked = counters
    peak_rss, peak_connected = 0.0, 0
    total_s = cfg["window_end"] - cfg["t_start"]
    columns = (TextColumn("[bold]jt808"), BarColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[info]}"))  # fmt: skip
    with Progress(*columns) as progress:
        task = progress.add_task("bench", total=total_s, info="")
        while any(p.is_alive() for p in procs) and out.qsize() < len(procs):
            now = time.time()
            phase = "ramp" if now < cfg["window_start"] else "measure"
            peak_rss = max(peak_rss, rss_mb(gateway_pid))
            peak_connected = max(peak_connected, connected.value)
            info = (f"{phase} · {connected.value:,} connected · {acked.value:,} fixes acked · "
                    f"gateway {peak_rss:.0f} MB")  # fmt: skip
            progress.update(task, completed=min(now - cfg["t_start"], total_s), info=info)
            time.sleep(0.5)
    return peak_connected, peak_rss


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracker bench jt808", description=__doc__)
    add = parser.add_argument
    add("--connections", type=int, default=10_000)
    add("--interval", type=float, default=10.0, help="seconds between reports of a terminal")
    add("--fixes-per-report", type=int, default=12, help="fixes per 0x0704 (1: 0x0200)")
    add("--ramp", type=float, default=30.0, help="seconds to open all connections")
    add("--duration", type=float, default=60.0, help="seconds of the measured window")
    add("--clients", type=int, default=2, help="load-generator processes")
    return parser


def main(argv: list[str]) -> int:
    opts = _parser().parse_args(argv)
    raise_fd_limit()
    settings = Settings.load()
    db_url = scratch_database(settings, BENCH_DB)
    r_url = redis_db_url(settings, BENCH_REDIS_DB)
    redis.Redis.from_url(r_url).flushdb()
    print(f"registering {opts.connections:,} trucks with JT/T 808 terminals …", flush=True)
    seed(db_url, opts.connections)
    port = free_port()
    gateway = _start_gateway(port, {
        "TRACKER_DATABASE_URL": db_url, "TRACKER_REDIS_URL": r_url, "TRACKER_ENV": "test",
        "TRACKER_JT808__MAX_CONNECTIONS": str(opts.connections + 1000),
        "TRACKER_JT808__IDLE_TIMEOUT_S": str(max(60.0, opts.interval * 6)),
    })  # fmt: skip
    t_start = time.time() + 3.0
    window_start = t_start + opts.ramp + opts.interval
    cfg = {"port": port, "connections": opts.connections, "clients": opts.clients,
           "interval_s": opts.interval, "fixes_per_report": opts.fixes_per_report,
           "ramp_s": opts.ramp, "t_start": t_start, "window_start": window_start,
           "window_end": window_start + opts.duration}  # fmt: skip
    ctx = mp.get_context("spawn")
    connected, acked, out = ctx.Value("q", 0), ctx.Value("q", 0), ctx.Queue()
    vids = list(range(1, opts.connections + 1))
    procs = [ctx.Process(target=_client_proc, args=({**cfg, "offset": i}, vids[i::opts.clients],
                                                    connected, acked, out))
             for i in range(opts.clients)]  # fmt: skip
    try:
        for p in procs:
            p.start()
        peak_connected, peak_rss = _watch(procs, out, cfg, (connected, acked), gateway.pid)
        results = [out.get(timeout=120) for _ in procs]
        gateway_cpu_s = cpu_s(gateway.pid)
    finally:
        for p in procs:
            p.join(10)
        gateway.terminate()
        gateway.wait(30)
    figures = {"connections": peak_connected, "rss_mb": round(peak_rss, 1),
               "gateway_cpu_s": round(gateway_cpu_s, 1),
               "acknowledged": int(acked.value)}  # fmt: skip
    return _summarise(opts, db_url, results, figures)


def _summarise(
    opts: argparse.Namespace, db_url: str, results: list[dict[str, Any]], gateway: dict[str, Any]
) -> int:
    latencies = [v for r in results for v in r["latencies_ms"]]
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM pings").fetchone()
    stored = int(row[0]) if row else 0
    figures = {
        "connections": gateway.pop("connections"),
        "fixes_per_s": round(sum(r["window_fixes"] for r in results) / opts.duration),
        "p99_ack_ms": round(percentile(latencies, 99), 1),
        "p50_ack_ms": round(percentile(latencies, 50), 1),
        "rss_mb": gateway.pop("rss_mb"),
        "frames_acked_in_window": len(latencies),
        "errors": sum(r["errors"] for r in results),
        "interval_s": opts.interval, "fixes_per_report": opts.fixes_per_report,
        "window_s": opts.duration, "stored": stored, **gateway,
        "stored_equals_acknowledged": stored == gateway["acknowledged"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
    print(orjson.dumps(figures).decode())
    return 0 if figures["stored_equals_acknowledged"] else 1

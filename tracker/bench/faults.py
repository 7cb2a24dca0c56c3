"""``tracker bench faults``: the platform's promise under faults, against an undisturbed twin.

Two complete stacks take the same fixes at the same moments from the same simulated terminals:

- the **faulted** stack runs on services of its own (a PostgreSQL cluster with TimescaleDB and a
  Redis server, started by the bench in a scratch folder) so it can kill them: an API process
  (``tracker serve``) and an engine (``tracker engine --shards all``);
- the **reference** stack runs an API and an engine on a scratch database and Redis database of
  the project's services, and is never disturbed.

While a bounded load runs (trucks reporting every ``--interval-s``, some of them speeding now and
then so the engine opens and closes incidents), the bench injects, in turn: API SIGKILL, Redis
kill -9, Redis down for ``--redis-down-s``, Redis down then API SIGKILL, PostgreSQL immediate
restart, a ``--lock-s`` lock on ``pings``, engine SIGKILL. Terminals behave as real ones: what was
not acknowledged stays in their buffer and goes again with the next upload. After the load the
buffers are flushed, both engines are given time to settle, and the two stacks are compared:
every acknowledged fix must be stored (``lost`` 0) and the faulted engine's incidents must equal
the reference's (``incidents_missing`` and ``incidents_different`` 0).

Needs root (the scratch PostgreSQL cluster runs as the ``postgres`` user, as ``make services``
does). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from tracker.bench.common import free_port, redis_db_url, scratch_database
from tracker.db import migrate
from tracker.geo import M_PER_DEG
from tracker.settings import Settings
from tracker.sim.seed import seed_fleet

REFERENCE_DB = "tracker_bench_faults_ref"
REFERENCE_REDIS_DB = 13
CITY_LIMIT_KMH = 60.0  # the engine runs the "shenzhen" preset: speeding above 60 km/h


# -- services of the faulted stack -----------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries (run `make services` first)")
    return found[-1].parent


class OwnPostgres:
    """A throw-away PostgreSQL cluster with TimescaleDB, run as the ``postgres`` user."""

    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.data = root / "pg"
        self.log = root / "pg.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/tracker"

    def _as_pg(self, *cmd: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)

    def init(self) -> None:
        self.data.mkdir(mode=0o700)
        shutil.chown(self.data, "postgres", "postgres")
        self.log.touch()
        shutil.chown(self.log, "postgres", "postgres")
        self._as_pg(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                    "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")  # fmt: skip
        conf = self.data / "postgresql.auto.conf"
        with conf.open("a", encoding="utf-8") as out:
            out.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.data}'\n"
                "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n"
                "max_connections = 100\nfsync = on\nsynchronous_commit = on\n"
            )
        self.start()
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE tracker")

    def _ctl(self, *args: str) -> None:
        self._as_pg(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args)

    def start(self) -> None:
        self._ctl("start", "-w", "-t", "120")

    def restart_immediate(self) -> None:
        self._ctl("restart", "-m", "immediate", "-w", "-t", "120")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "immediate", "-w", "-t", "60")


class OwnRedis:
    """A Redis server with AOF (as in production), killable."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return
            time.sleep(0.1)
        raise RuntimeError("the bench's Redis did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


# -- the platform's processes ----------------------------------------------------------------


class Process:
    """One ``tracker`` process of a stack (``serve`` or ``engine``), restartable."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int = 0) -> None:
        self.args, self.env, self.log, self.port = args, env, log, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.rss_first_mb = 0.0
        self.rss_max_growth_mb = 0.0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", *self.args],
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.rss_first_mb = 0.0
        if self.port:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                        return
                time.sleep(0.2)
            raise RuntimeError(f"tracker {self.args[0]} did not start (see {self.log})")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def sample_rss(self) -> None:
        """RSS of the process tree's main process; growth since its start is kept."""
        if self.proc is None or self.proc.poll() is not None:
            return
        rss = _rss_mb(self.proc.pid)
        if not self.rss_first_mb:
            self.rss_first_mb = rss
        self.rss_max_growth_mb = max(self.rss_max_growth_mb, rss - self.rss_first_mb)


def _rss_mb(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    with contextlib.suppress(OSError):  # uvicorn runs the app in children
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += _rss_mb(int(child))
    return total


@dataclass
class Stack:
    name: str
    database_url: str
    redis_url: str
    api: Process
    engine: Process

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"


def _stack(name: str, database_url: str, redis_url: str, logs: Path) -> Stack:
    port = free_port()
    env = {
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_ENGINE__CITY": "shenzhen",
        "TRACKER_MIGRATE_ON_START": "false",
    }
    api_args = ["serve", "--port", str(port), "--workers", "1", "--log-level", "warning"]
    api = Process(api_args, env, logs / f"{name}-api.log", port)
    engine_args = ["engine", "--shards", "all", "--tick-s", "5", "--log-level", "warning"]
    engine = Process(engine_args, env, logs / f"{name}-engine.log")
    return Stack(name, database_url, redis_url, api, engine)


# -- terminals ---------------------------------------------------------------------------------


@dataclass
class Counters:
    acknowledged: set[tuple[int, str]] = field(default_factory=set)
    refused: int = 0
    http_503: int = 0
    http_5xx_other: int = 0
    http_other: int = 0
    client_errors: int = 0
    max_hang_s: float = 0.0
    phase: str = "warmup"  # the fault running (or the last one) when a request started
    max_hang_by_phase: dict[str, float] = field(default_factory=dict)
    requests: int = 0


def _fix(truck: int, k: int, t0: datetime, interval_s: float) -> dict[str, Any]:
    """The truck's k-th fix: eastwards along its own parallel; 50 km/h, with a 90 s stretch at
    80 km/h every 4 minutes (offset per truck), so speeding opens and closes."""
    t = k * interval_s
    cycle = 240.0
    fast = (t + truck * 17) % cycle < 90.0
    speed_kmh = 80.0 if fast else 50.0
    # distance travelled so far, in closed form over whole and partial cycles
    whole, part = divmod(t + truck * 17, cycle)
    dist_m = (whole * (90 * 80 + 150 * 50) + min(part, 90) * 80 + max(0.0, part - 90) * 50) / 3.6
    lat = 22.50 + truck * 0.002
    lon = 113.90 + dist_m / (M_PER_DEG * math.cos(math.radians(lat)))
    when = t0 + timedelta(seconds=t)
    return {
        "time": when.isoformat().replace("+00:00", "Z"),
        "lon": round(lon, 7),
        "lat": lat,
        "speed_kmh": speed_kmh,
        "heading_deg": 90.0,
        "valid": True,
    }


class Terminal:
    """One truck's terminal, uploading to one stack; what is not acknowledged goes again."""

    def __init__(self, vehicle_id: int, token: str, counters: Counters) -> None:
        self.vehicle_id, self.token, self.counters = vehicle_id, token, counters
        self.buffer: list[dict[str, Any]] = []

    async def upload(self, client: httpx.AsyncClient, max_fixes: int = 200) -> None:
        if not self.buffer:
            return
        batch = self.buffer[:max_fixes]
        c = self.counters
        c.requests += 1
        phase = c.phase
        started = time.monotonic()
        try:
            resp = await client.post(
                "/api/v1/positions",
                json={"fixes": batch},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError:
            c.client_errors += 1
            return
        finally:
            hang_s = time.monotonic() - started
            c.max_hang_s = max(c.max_hang_s, hang_s)
            c.max_hang_by_phase[phase] = max(c.max_hang_by_phase.get(phase, 0.0), hang_s)
        if resp.status_code == 503:
            c.http_503 += 1
            return
        if resp.status_code >= 500:
            c.http_5xx_other += 1
            return
        if not resp.is_success:
            c.http_other += 1
            return
        results = resp.json()["results"]
        for item in results:
            fix = batch[item["index"]]
            if item["status"] in ("stored", "duplicate"):
                c.acknowledged.add((self.vehicle_id, fix["time"]))
            else:
                c.refused += 1
        del self.buffer[: len(batch)]


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Options:
    trucks: int
    interval_s: float
    warmup_s: float
    settle_s: float
    redis_down_s: float
    lock_s: float
    request_timeout_s: float


Fault = tuple[str, Callable[[], None]]


def _faults(faulted: Stack, pg: OwnPostgres, rds: OwnRedis, o: Options) -> list[Fault]:
    def api_sigkill() -> None:
        faulted.api.kill()
        faulted.api.start()

    def redis_kill() -> None:
        rds.kill()
        time.sleep(2)
        rds.start()

    def redis_down() -> None:
        rds.kill()
        time.sleep(o.redis_down_s)
        rds.start()

    def redis_down_then_api_sigkill() -> None:
        rds.kill()
        time.sleep(o.redis_down_s / 2)
        faulted.api.kill()
        faulted.api.start()
        time.sleep(o.redis_down_s / 4)
        rds.start()

    def pg_restart() -> None:
        pg.restart_immediate()

    def pings_lock() -> None:
        with psycopg.connect(faulted.database_url) as conn:
            conn.execute("LOCK TABLE pings IN ACCESS EXCLUSIVE MODE")
            time.sleep(o.lock_s)
            conn.rollback()

    def engine_sigkill() -> None:
        faulted.engine.kill()
        time.sleep(1)
        faulted.engine.start()

    return [
        ("api_sigkill", api_sigkill),
        ("redis_kill9", redis_kill),
        ("redis_down", redis_down),
        ("redis_down_then_api_sigkill", redis_down_then_api_sigkill),
        ("postgres_immediate_restart", pg_restart),
        ("pings_lock", pings_lock),
        ("engine_sigkill", engine_sigkill),
    ]


async def _drive(
    stacks: list[Stack],
    fleets: list[list[Terminal]],
    o: Options,
    faults: list[Fault],
) -> list[dict[str, Any]]:
    """Terminals report on schedule while the faults run one after another (in a thread)."""
    t0 = datetime.now(UTC).replace(microsecond=0)
    timeout = httpx.Timeout(o.request_timeout_s)
    # a connection per terminal, as real ones have: no request waits in the client for another
    limits = httpx.Limits(max_connections=o.trucks + 16, max_keepalive_connections=o.trucks + 16)
    clients = [httpx.AsyncClient(base_url=s.base, timeout=timeout, limits=limits) for s in stacks]
    done = asyncio.Event()
    log: list[dict[str, Any]] = []

    async def _upload(term: Terminal, client: httpx.AsyncClient) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await term.upload(client)

    async def faults_in_turn() -> None:
        await asyncio.sleep(o.warmup_s)
        for name, inject in faults:
            started = time.monotonic()
            print(f"faults: {name} …", file=sys.stderr, flush=True)
            for fleet in fleets:
                fleet[0].counters.phase = name  # one Counters per stack, shared by its terminals
            await asyncio.to_thread(inject)
            log.append({"fault": name, "s": round(time.monotonic() - started, 1)})
            await asyncio.sleep(o.settle_s)
        done.set()

    async def truck(n: int) -> None:
        k = 0
        while not done.is_set():
            due = t0 + timedelta(seconds=k * o.interval_s)
            wait_s = (due - datetime.now(UTC)).total_seconds()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            fix = _fix(n, k, t0, o.interval_s)
            k += 1
            for fleet in fleets:
                fleet[n].buffer.append(fix)
            await asyncio.gather(*(_upload(fleets[i][n], clients[i]) for i in range(len(stacks))))

    async def sample() -> None:
        while not done.is_set():
            for s in stacks:
                s.api.sample_rss()
            await asyncio.sleep(2)

    tasks = [asyncio.create_task(truck(n)) for n in range(o.trucks)]
    sampler = asyncio.create_task(sample())
    await faults_in_turn()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, sampler, return_exceptions=True)
    # flush what terminals still hold
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and any(t.buffer for f in fleets for t in f):
        for i, fleet in enumerate(fleets):
            await asyncio.gather(*(t.upload(clients[i]) for t in fleet))
        await asyncio.sleep(1)
    for client in clients:
        await client.aclose()
    return log


def _incidents(url: str) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT v.plate, i.type, i.opened_at, i.ended_at, i.severity"
            " FROM incidents i JOIN vehicles v ON v.id = i.vehicle_id"
        ).fetchall()
    return {(r[0], r[1], r[2].isoformat()): (r[3], r[4]) for r in rows}


def _settle(stacks: list[Stack], quiet_s: float = 20.0, limit_s: float = 300.0) -> None:
    """Wait until every engine's incidents stop changing for ``quiet_s``."""
    last: list[Any] = [None] * len(stacks)
    quiet_since = time.monotonic()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        now = []
        for s in stacks:
            with psycopg.connect(s.database_url) as conn:
                row = conn.execute("SELECT count(*), max(updated_at) FROM incidents").fetchone()
                now.append(row)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(2)


def _stored(url: str) -> set[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT vehicle_id, fix_time FROM pings").fetchall()
    return {(int(v), t.astimezone(UTC).isoformat().replace("+00:00", "Z")) for v, t in rows}


def run(o: Options) -> dict[str, Any]:
    if os.geteuid() != 0:
        raise RuntimeError(
            "tracker bench faults runs its own PostgreSQL as the postgres user: run as root"
        )
    settings = Settings.load()
    root = Path(tempfile.mkdtemp(prefix="tracker-faults-"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    pg, rds = OwnPostgres(root), OwnRedis(root)
    stacks: list[Stack] = []
    try:
        print(f"faults: scratch services in {root}", file=sys.stderr, flush=True)
        pg.init()
        rds.start()
        migrate(pg.url)
        ref_url = scratch_database(settings, REFERENCE_DB)
        ref_redis = redis_db_url(settings, REFERENCE_REDIS_DB)
        redis.Redis.from_url(ref_redis).flushdb()
        faulted = _stack("faulted", pg.url, rds.url, logs)
        reference = _stack("reference", ref_url, ref_redis, logs)
        stacks = [faulted, reference]
        fleets: list[list[Terminal]] = []
        counters = [Counters(), Counters()]
        for stack, c in zip(stacks, counters, strict=True):
            entries = seed_fleet(stack.database_url, o.trucks, prefix="FLT")
            fleets.append(
                [Terminal(int(str(e["vehicle_id"])), str(e["token"]), c) for e in entries]
            )
            stack.api.start()
            stack.engine.start()
        faults = _faults(faulted, pg, rds, o)
        log = asyncio.run(_drive(stacks, fleets, o, faults))
        print("faults: waiting for both engines to settle …", file=sys.stderr, flush=True)
        _settle(stacks)
        stored = _stored(faulted.database_url)
        acked = counters[0].acknowledged
        ref_inc, got_inc = _incidents(reference.database_url), _incidents(faulted.database_url)
        missing = [k for k in ref_inc if k not in got_inc]
        different = [k for k in ref_inc if k in got_inc and got_inc[k] != ref_inc[k]]
        extra = [k for k in got_inc if k not in ref_inc]
        c = counters[0]
        return {
            "acknowledged": len(acked),
            "stored": len(stored),
            "lost": len(acked - stored),
            "reference_acknowledged": len(counters[1].acknowledged),
            "incidents_reference": len(ref_inc),
            "incidents_faulted": len(got_inc),
            "incidents_missing": len(missing),
            "incidents_different": len(different),
            "incidents_extra": len(extra),
            "http_503": c.http_503,
            "http_5xx_other_than_503": c.http_5xx_other,
            "http_4xx": c.http_other,
            "refused": c.refused,
            "client_errors": c.client_errors,
            "requests": c.requests,
            "max_hang_s": round(c.max_hang_s, 1),
            "max_hang_s_by_fault": {k: round(v, 1) for k, v in c.max_hang_by_phase.items()},
            "request_timeout_s": o.request_timeout_s,
            "rss_growth_mb": round(faulted.api.rss_max_growth_mb, 1),
            "trucks": o.trucks,
            "interval_s": o.interval_s,
            "faults": log,
            "examples_missing": [list(k) for k in missing[:3]],
        }
    finally:
        for s in stacks:
            s.api.stop()
            s.engine.stop()
        rds.kill()
        pg.stop()
        with contextlib.suppress(psycopg.Error):
            admin = psycopg.conninfo.make_conninfo(settings.database_url, dbname="postgres")
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {REFERENCE_DB} WITH (FORCE)")
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tracker bench faults", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--trucks", type=int, default=100)
    add("--interval-s", type=float, default=5.0, help="seconds between a truck's fixes")
    add("--warmup-s", type=float, default=20.0)
    add("--settle-s", type=float, default=15.0, help="undisturbed seconds after each fault")
    add("--redis-down-s", type=float, default=60.0)
    add("--lock-s", type=float, default=30.0)
    add("--request-timeout-s", type=float, default=60.0, help="the terminals' patience")
    add("--quick", action="store_true", help="20 trucks, shorter outages (a smoke run)")
    a = parser.parse_args(argv)
    if a.quick:
        a.trucks, a.warmup_s, a.settle_s, a.redis_down_s, a.lock_s = 20, 10, 8, 16, 8
    opts = Options(a.trucks, a.interval_s, a.warmup_s, a.settle_s, a.redis_down_s, a.lock_s,
                   a.request_timeout_s)  # fmt: skip
    figures = run(opts)
    print(json.dumps(figures, default=str))
    return 0

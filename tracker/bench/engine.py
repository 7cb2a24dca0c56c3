"""``tracker bench engine``: fixes/s through one engine worker's per-fix path.

In memory: no database and no Redis. The bench builds the geofence benchmark's synthetic city
(``tracker.bench.city``: 5,000 sites, 200 yards, 100 zones, 3,000 corridors; a tenth
with ``--quick``) and its H3 index, then drives N trucks along the city's corridors. Each truck
holds a permit whose corridor it follows (origin: the site nearest the corridor's start, where
it first dwells; yard: one of the city's yards), fixes every 30 s with 5 m GPS noise, and some
trucks stop off-site for a few minutes or leave their corridor by 300 m for a while.

The fixes are packed as the publisher packs a shard's stream (entries of encoded rows from
several trucks' uploads) and consumed by ``ShardRunner.consume``, the worker's own step:
rows decoded, per vehicle ``prepare_batch``, ``annotate`` with the geofence index, the core's
``process``. ``fixes_per_s`` is that whole path. A second, instrumented pass of the same
entries gives the breakdown (``annotate_us_per_fix``, ``core_us_per_fix``). The baseline runs
the same path with point-in-fence lookups answered by a shapely STRtree (``intersects`` on the
fence shapes, round fences settled by their exact test) instead of the H3 index, on every
k-th truck (``--baseline-share``); the breakdown likewise runs on ``--breakdown-share``.
``--with-db`` adds a pass that commits each batch to a scratch database as the worker does.

Not measured: Redis ``XREAD``, the per-batch database transaction (events, states, stream
position) and the live publish, which are amortised over a batch of entries; ``tick``; fence
and registry reloads. Last line: one JSON object with ``fixes_per_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import psycopg
import shapely
from rich.console import Console
from rich.progress import Progress

from tracker.bench.city import CENTRE_LAT, CENTRE_LON, City, build_city
from tracker.bench.common import scratch_database
from tracker.geofence import GeofenceIndex
from tracker.geofence.fences import CorridorFence, Fence, PolygonFence
from tracker.geofence.projection import LocalProjection
from tracker.settings import Settings
from tracker.trips.core import IncidentOpened, PermitScope, TimeWindow, prepare_batch, process
from tracker.trips.core.annotate import POINT_SKIP_KINDS, annotate, engine_index
from tracker.trips.core.models import AnnotatedFix, ZoneRule
from tracker.trips.core.state import to_us
from tracker.trips.core.view import RegistryView, Role
from tracker.trips.worker import repo
from tracker.trips.worker.run import tune_gc
from tracker.trips.worker.shard import Batch, Entry, ShardRunner
from tracker.wire import Fix, entry_fields, stream_row

DAY_START = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
FIX_S = 30.0
SPEED_KMH = 40.0
NOISE_M = 5.0
DWELL_FIXES = 6  # 3 min at the origin site: loading
STOP_FIXES = 8  # 4 min stop off-site (a dumping candidate)
DEVIATION_FIXES = 6
DEVIATION_M = 300.0
UPLOAD_FIXES = 5  # fixes per terminal upload
ENTRY_UPLOADS = 40  # uploads per stream entry (publisher flush)
READ_ENTRIES = 200  # entries per XREAD, as WorkerConfig.batch_entries


@dataclass(slots=True)
class Fleet:
    view: RegistryView
    uploads: list[list[Fix]] = field(default_factory=list)  # in arrival order
    fixes: int = 0


# -- city and fleet ------------------------------------------------------------------------
def registry_view(city: City, permits: dict[int, tuple[PermitScope, ...]]) -> RegistryView:
    """Registry ids are fence ids; even zones are no-go, odd ones 30 km/h limits."""
    roles: dict[str, tuple[Role, str]] = {}
    zones: dict[str, ZoneRule] = {}
    for fence in city.fences:
        fid = fence.fence_id
        role = cast(Role, {"permit": "corridor"}.get(fence.role, fence.role))
        roles[fid] = (role, fid)
        if role == "zone":
            no_go = int(fid.rsplit("-", 1)[1]) % 2 == 0
            zones[fid] = ZoneRule(fid, no_go=no_go, speed_limit_kmh=None if no_go else 30.0)
    return RegistryView(fence_roles=roles, zones=zones, permits=permits, tz=UTC)


def _path(proj: LocalProjection, start: np.ndarray, route: CorridorFence) -> np.ndarray:
    """Metric polyline: the origin site, then the corridor there and back (and again)."""
    xs, ys = proj.xy_many(*np.asarray(route.line.coords).T)
    line = np.column_stack([xs, ys])
    return np.concatenate([start[None, :], line, line[::-1], line])


def _positions(rng: np.random.Generator, path: np.ndarray, n: int) -> np.ndarray:
    """``n`` metric positions every ``FIX_S`` at ``SPEED_KMH`` (after the dwell), with an
    off-site stop and a lateral deviation on some trucks, and GPS noise."""
    line = shapely.LineString(path)
    step = SPEED_KMH / 3.6 * FIX_S
    along = np.clip((np.arange(n) - DWELL_FIXES).clip(0) * step, 0, line.length)
    if rng.random() < 0.3:  # an off-site stop
        at = int(rng.integers(DWELL_FIXES + 4, max(DWELL_FIXES + 5, n - STOP_FIXES)))
        along[at : at + STOP_FIXES] = along[at]
        along[at + STOP_FIXES :] -= step * STOP_FIXES
    xy = shapely.get_coordinates(shapely.line_interpolate_point(line, along.clip(0)))
    if rng.random() < 0.2:  # a deviation beside the corridor
        at = int(rng.integers(DWELL_FIXES + 4, max(DWELL_FIXES + 5, n - DEVIATION_FIXES)))
        xy[at : at + DEVIATION_FIXES] += DEVIATION_M / math.sqrt(2.0)
    return np.asarray(xy + rng.normal(0.0, NOISE_M, size=xy.shape))


def _truck_fixes(vehicle_id: int, proj: LocalProjection, xy: np.ndarray) -> list[Fix]:
    lons, lats = xy[:, 0] / proj.kx + proj.lon0, xy[:, 1] / proj.ky + proj.lat0
    moved = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    fixes = []
    for k in range(len(xy)):
        t = DAY_START + timedelta(seconds=k * FIX_S + vehicle_id % 30)
        fixes.append(
            Fix(
                vehicle_id=vehicle_id,
                terminal_id=vehicle_id,
                fix_time=t,
                received_at=t
                + timedelta(seconds=FIX_S * (UPLOAD_FIXES - 1 - k % UPLOAD_FIXES) + 2),
                lon=float(lons[k]),
                lat=float(lats[k]),
                speed_kmh=round(float(moved[k]) / FIX_S * 3.6, 1),
            )
        )
    return fixes


def build_fleet(city: City, trucks: int, fixes_per_truck: int, seed: int) -> Fleet:
    rng = np.random.default_rng(seed)
    proj = LocalProjection.around(CENTRE_LON, CENTRE_LAT)
    routes = [f for f in city.fences if isinstance(f, CorridorFence)]
    sites = [f for f in city.fences if f.role == "site"]
    yards = [f for f in city.fences if f.role == "yard"]
    site_xy = np.column_stack(
        proj.xy_many(*np.array([s.geom.centroid.coords[0] for s in _polygons(sites)]).T)
    )
    permits: dict[int, tuple[PermitScope, ...]] = {}
    per_truck: list[list[Fix]] = []
    for vehicle_id in range(1, trucks + 1):
        route = routes[int(rng.integers(len(routes)))]
        start = np.array(proj.xy(*route.line.coords[0]))
        nearest = int(np.argmin(np.hypot(*(site_xy - start).T)))
        permits[vehicle_id] = (_permit(vehicle_id, route, sites[nearest], rng, yards),)
        xy = _positions(rng, _path(proj, site_xy[nearest], route), fixes_per_truck)
        per_truck.append(_truck_fixes(vehicle_id, proj, xy))
    fleet = Fleet(registry_view(city, permits))
    for k in range(0, fixes_per_truck, UPLOAD_FIXES):  # uploads in arrival order
        fleet.uploads += [fixes[k : k + UPLOAD_FIXES] for fixes in per_truck]
    fleet.fixes = sum(len(u) for u in fleet.uploads)
    return fleet


def _polygons(fences: list[Fence]) -> list[PolygonFence]:
    return [f for f in fences if isinstance(f, PolygonFence)]


def _permit(
    vehicle_id: int, route: CorridorFence, site: Fence, rng: np.random.Generator, yards: list[Fence]
) -> PermitScope:
    return PermitScope(
        permit_id=f"permit-{vehicle_id}",
        valid_from=DAY_START - timedelta(days=1),
        valid_until=DAY_START + timedelta(days=2),
        origin_ids=frozenset({site.fence_id}),
        yard_ids=frozenset({yards[int(rng.integers(len(yards)))].fence_id}),
        corridors={route.fence_id: route.half_width_m},
        windows=(TimeWindow(0, 1440),),
    )


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def stream_entries(uploads: list[list[Fix]]) -> list[Entry]:
    """Uploads packed as the publisher packs one shard's stream."""
    entries: list[Entry] = []
    for k in range(0, len(uploads), ENTRY_UPLOADS):
        rows = [stream_row(f) for upload in uploads[k : k + ENTRY_UPLOADS] for f in upload]
        entry_id = f"{1_700_000_000_000 + len(entries)}-0"
        fields = entry_fields(rows)  # what the publisher XADDs; Redis hands back bytes
        entries.append((entry_id, {str(k).encode(): _as_bytes(v) for k, v in fields.items()}))
    return entries


# -- the STRtree baseline ------------------------------------------------------------------
class StrtreeLookup:
    """The index's interface for ``annotate`` with point lookups by a shapely STRtree; segment
    events and corridor distances are delegated to the index (they do not use its H3 cells).
    Like ``engine_index``, the tree leaves out the kinds in ``POINT_SKIP_KINDS``."""

    def __init__(self, index: GeofenceIndex, fences: list[Fence]) -> None:
        fences = [f for f in fences if f.kind not in POINT_SKIP_KINDS]
        self.index, self.fences = index, fences
        shapes = [f.geom if isinstance(f, PolygonFence) else f.lonlat_shape(2.0) for f in fences]
        self.tree = shapely.STRtree(shapes)
        self.get = index.get
        self.corridor_distance_m = index.corridor_distance_m
        self.segment_events = index.segment_events

    def containing(self, lon: float, lat: float) -> tuple[tuple[str, str], ...]:
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects").tolist()
        out = []
        for i in hits:
            fence = self.fences[i]
            if isinstance(fence, PolygonFence) or fence.covers_xy(lon, lat):
                out.append((fence.fence_id, fence.kind))
        return tuple(out)


# -- runs ----------------------------------------------------------------------------------
def consume_all(
    index: GeofenceIndex, view: RegistryView, entries: list[Entry], progress: Progress, label: str
) -> tuple[float, int, int]:
    """The worker's step over all entries, XREAD-sized; (seconds, fixes, incidents opened)."""
    runner = ShardRunner(0, 1)
    task = progress.add_task(label, total=len(entries))
    elapsed, fixes, opened = 0.0, 0, 0
    for k in range(0, len(entries), READ_ENTRIES):
        chunk = entries[k : k + READ_ENTRIES]
        t0 = time.perf_counter()
        batch: Batch = runner.consume(index, view, chunk)
        elapsed += time.perf_counter() - t0
        fixes += batch.fixes
        opened += sum(isinstance(e, IncidentOpened) for e in batch.events)
        progress.advance(task, len(chunk))
    return elapsed, fixes, opened


def breakdown(
    index: GeofenceIndex, view: RegistryView, uploads: list[list[Fix]], progress: Progress
) -> tuple[float, float, float]:
    """``ShardRunner.run_fixes`` spelled out with clocks: seconds in prepare, annotate, core."""
    runner = ShardRunner(0, 1)
    clock = time.perf_counter_ns
    spent = [0, 0, 0]
    task = progress.add_task("breakdown", total=len(uploads))
    for upload in uploads:
        ctx = view.context(upload[0].vehicle_id)
        state = runner.state_of(upload[0].vehicle_id)
        t0 = clock()
        prepared = prepare_batch(upload, ctx.rules)
        spent[0] += clock() - t0
        for fix in prepared:
            t1 = clock()
            last = state.last
            if last is not None and to_us(fix.fix_time) <= last.t_us:
                afix = AnnotatedFix(fix=fix)
            else:
                prev = (last.lon, last.lat) if last is not None else None
                afix = annotate(index, view, ctx, fix, prev)
            t2 = clock()
            state, _ = process(state, afix, ctx)
            spent[1] += t2 - t1
            spent[2] += clock() - t2
        runner.states[upload[0].vehicle_id] = state
        progress.advance(task)
    return spent[0] / 1e9, spent[1] / 1e9, spent[2] / 1e9


def _every(uploads: list[list[Fix]], share: float) -> list[list[Fix]]:
    """The uploads of every k-th truck (all of each one's day, in arrival order)."""
    k = max(1, round(1 / share))
    return [u for u in uploads if u[0].vehicle_id % k == 0]


async def _db_pass(
    url: str, index: GeofenceIndex, view: RegistryView, entries: list[Entry], progress: Progress
) -> tuple[float, int, int]:
    """The worker's step plus its commit (events, checkpoints, stream position in one
    transaction per XREAD batch, as ``EngineWorker.commit``); (seconds, fixes, batches)."""
    runner = ShardRunner(0, 1)
    task = progress.add_task("engine + database", total=len(entries))
    elapsed, fixes, batches = 0.0, 0, 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for k in range(0, len(entries), READ_ENTRIES):
            chunk = entries[k : k + READ_ENTRIES]
            t0 = time.perf_counter()
            batch = runner.consume(index, view, chunk)
            companies = {v: view.company_of(v) for v in batch.touched}
            async with conn.transaction():
                await repo.save_events(conn, batch.events, companies)
                position = str(chunk[-1][0])
                await repo.save_checkpoints(conn, 0, position, runner.checkpoints(batch))
            elapsed += time.perf_counter() - t0
            fixes, batches = fixes + batch.fixes, batches + 1
            progress.advance(task, len(chunk))
    return elapsed, fixes, batches


def with_db(index: GeofenceIndex, fleet: Fleet, entries: list[Entry]) -> dict[str, Any]:
    url = scratch_database(Settings(), "tracker_bench_engine")
    with Progress(console=Console(stderr=True), transient=True) as progress:
        elapsed, fixes, batches = asyncio.run(_db_pass(url, index, fleet.view, entries, progress))
    return {
        "db_fixes_per_s": round(fixes / elapsed),
        "db_fixes": fixes,
        "db_batches": batches,
        "db_scope": "scratch database; stream decode + core + one transaction per "
        f"{READ_ENTRIES}-entry batch; no Redis",
    }


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    scale = 0.1 if args.quick else 1.0
    with console.status("drawing the city and building the H3 index…"):
        city = build_city(1_000, scale, seed=7)
        t0 = time.perf_counter()
        index = engine_index(city.fences)
        index.containing(CENTRE_LON, CENTRE_LAT)
        index.segment_events(CENTRE_LON, CENTRE_LAT, CENTRE_LON + 1e-3, CENTRE_LAT)
        build_s = time.perf_counter() - t0
        tune_gc()  # as ``tracker engine`` does once its worker has started
    console.log(f"city {city.counts}; index built in {build_s:.1f} s")
    with console.status(f"driving {args.trucks:,} trucks…"):
        fleet = build_fleet(city, args.trucks, args.fixes_per_truck, args.seed)
        entries = stream_entries(fleet.uploads)
    console.log(f"{fleet.fixes:,} fixes in {len(entries):,} stream entries")
    sample = stream_entries(_every(fleet.uploads, args.baseline_share))
    with Progress(console=console, transient=True) as progress:
        engine_s, fixes, opened = consume_all(index, fleet.view, entries, progress, "engine")
        part = _every(fleet.uploads, args.breakdown_share)
        prep_s, annotate_s, core_s = breakdown(index, fleet.view, part, progress)
        baseline = cast(GeofenceIndex, StrtreeLookup(index, city.fences))
        base_s, base_fixes, _ = consume_all(baseline, fleet.view, sample, progress, "baseline")
    part_fixes = sum(len(u) for u in part)
    fixes_per_s = fixes / engine_s
    baseline_per_s = base_fixes / base_s
    db = with_db(index, fleet, entries) if args.with_db else {}
    return {
        "fixes_per_s": round(fixes_per_s),
        "target_fixes_per_s": 20_000,
        "annotate_us_per_fix": round(annotate_s / part_fixes * 1e6, 2),
        "core_us_per_fix": round(core_s / part_fixes * 1e6, 2),
        "prepare_us_per_fix": round(prep_s / part_fixes * 1e6, 2),
        "breakdown_fixes": part_fixes,
        "fixes": fixes,
        "trucks": args.trucks,
        "incidents_opened": opened,
        "build_s": round(build_s, 2),
        "baseline_fixes_per_s": round(baseline_per_s),
        "baseline_fixes": base_fixes,
        "vs_baseline": round(fixes_per_s / baseline_per_s, 2),
        "city": city.counts,
        "scope": "in memory: stream decode + prepare_batch + annotate + process; "
        "no Redis, no database commit, no tick",
        **db,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench engine", description=__doc__)
    parser.add_argument("--trucks", type=int, default=2_000)
    parser.add_argument("--fixes-per-truck", type=int, default=60, help="one every 30 s")
    parser.add_argument("--baseline-share", type=float, default=0.05, help="trucks run on STRtree")
    parser.add_argument("--breakdown-share", type=float, default=0.25, help="trucks timed apart")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a tenth of the city")
    parser.add_argument(
        "--with-db", action="store_true", help="also commit each batch to a scratch database"
    )
    args = parser.parse_args(argv)
    if args.fixes_per_truck < DWELL_FIXES + STOP_FIXES + 10:
        parser.error(f"--fixes-per-truck must be at least {DWELL_FIXES + STOP_FIXES + 10}")
    console = Console(stderr=True)
    started = time.perf_counter()
    figures = run(args, console)
    console.log(f"done in {time.perf_counter() - started:.1f} s")
    print(json.dumps(figures))
    return 0

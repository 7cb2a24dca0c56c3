"""``tracker bench geofence``: the H3 index against shapely's STRtree on a synthetic city.

Ground truth is shapely on the original geometry: an STRtree ``intersects`` query over the
polygons as they are and over circles/corridors grown by 2 m (candidates), the round fences then
settled by their exact metric test. The STRtree timings are the bare ``intersects`` queries on
that same tree (points built from the fixes included, as a caller would have to).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from rich.console import Console

from tracker.bench.city import City, build_city
from tracker.geofence.fences import Fence, PolygonFence
from tracker.geofence.geojson import fence_from_geojson
from tracker.geofence.index import GeofenceIndex

console = Console(stderr=True)


def _tree_geoms(fences: list[Fence]) -> list[shapely.Geometry]:
    return [f.geom if isinstance(f, PolygonFence) else f.lonlat_shape(2.0) for f in fences]


def _truth(
    fences: list[Fence], tree: shapely.STRtree, lons: np.ndarray, lats: np.ndarray
) -> np.ndarray:
    """Sorted ``fix * n_fences + fence`` codes of every (fix, containing fence) pair."""
    fix, fidx = tree.query(shapely.points(lons, lats), predicate="intersects")
    keep = np.ones(fix.size, dtype=bool)
    order = np.argsort(fidx, kind="stable")
    fix, fidx = fix[order], fidx[order]
    starts = np.flatnonzero(np.r_[True, fidx[1:] != fidx[:-1]])
    for lo, hi in zip(starts.tolist(), np.r_[starts[1:], fidx.size].tolist(), strict=True):
        fence = fences[int(fidx[lo])]
        if not isinstance(fence, PolygonFence):
            sub = fix[lo:hi]
            keep[lo:hi] = fence.covers_many(lons[sub], lats[sub])
    return np.sort(fix[keep].astype(np.int64) * len(fences) + fidx[keep])


def _time_each(call: Callable[[int], object], n: int) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for i in range(n):
        t0 = clock()
        call(i)
        out.append((clock() - t0) / 1000.0)
    return out


def _update_visible_ms(index: GeofenceIndex, lon: float, lat: float) -> tuple[float, float]:
    """Time until a new fence is seen by a lookup loop running meanwhile; longest lookup gap."""
    square = [
        [lon - 1e-3, lat - 1e-3],
        [lon + 1e-3, lat - 1e-3],
        [lon + 1e-3, lat + 1e-3],
        [lon - 1e-3, lat + 1e-3],
        [lon - 1e-3, lat - 1e-3],
    ]
    fence = fence_from_geojson("bench-new", {"type": "Polygon", "coordinates": [square]})
    seen, stop, gaps = threading.Event(), threading.Event(), [0.0]

    def reader() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            found = any(fid == "bench-new" for fid, _ in index.containing(lon, lat))
            now = time.perf_counter()
            gaps[0] = max(gaps[0], now - last)
            last = now
            if found and not seen.is_set():
                seen.set()

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    index.upsert(fence)
    seen.wait(10.0)
    visible_ms = (time.perf_counter() - t0) * 1000.0
    time.sleep(0.05)
    stop.set()
    thread.join()
    return visible_ms, gaps[0] * 1000.0


def _engine_codes(
    index: GeofenceIndex, fences: list[Fence], lons: np.ndarray, lats: np.ndarray
) -> tuple[np.ndarray, float]:
    position = {f.fence_id: i for i, f in enumerate(fences)}
    t0 = time.perf_counter()
    result = index.containing_many(lons, lats)
    batch_s = time.perf_counter() - t0
    table = np.array([position[f.fence_id] for f in result.fences], dtype=np.int64)
    fix, fence_idx = result.pairs()  # spelled out after the clock: the answer is factored
    return np.sort(fix * len(fences) + table[fence_idx]), batch_s


def _single_lookups(
    index: GeofenceIndex,
    tree: shapely.STRtree,
    fences: list[Fence],
    city: City,
    truth: np.ndarray,
    n_single: int,
) -> tuple[list[float], list[float], int]:
    """Timings of single lookups (index, then STRtree) and how many fixes disagree."""
    lon_l, lat_l = city.lons[:n_single].tolist(), city.lats[:n_single].tolist()
    single = _time_each(lambda i: index.containing(lon_l[i], lat_l[i]), n_single)
    n_tree = min(n_single, 50_000)
    tree_single = _time_each(
        lambda i: tree.query(shapely.Point(lon_l[i], lat_l[i]), predicate="intersects"), n_tree
    )
    position = {f.fence_id: i for i, f in enumerate(fences)}
    found = [
        i * len(fences) + position[fid]
        for i in range(n_single)
        for fid, _ in index.containing(lon_l[i], lat_l[i])
    ]
    single_codes = np.sort(np.array(found, dtype=np.int64))
    mine = truth[truth < n_single * len(fences)]
    return single, tree_single, np.unique(np.setxor1d(single_codes, mine) // len(fences)).size


def run(n_fixes: int, scale: float, n_single: int) -> dict[str, Any]:
    with console.status("drawing the city…"):
        city = build_city(n_fixes, scale)
    fences, lons, lats = city.fences, city.lons, city.lats
    console.log(f"city: {city.counts}, {n_fixes:,} fixes")
    with console.status("building the H3 index…"):
        t0 = time.perf_counter()
        index = GeofenceIndex(fences)
        index.containing_many(lons[:1], lats[:1])  # builds the batch table too
        build_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    console.log(f"index built in {build_s:.1f} s, peak rss {rss_mb:.0f} MB")
    with console.status("building the STRtree and the ground truth…"):
        tree = shapely.STRtree(_tree_geoms(fences))
        truth = _truth(fences, tree, lons, lats)
    with console.status("batch lookups (H3 index, then STRtree)…"):
        codes, batch_s = _engine_codes(index, fences, lons, lats)
        t0 = time.perf_counter()
        tree.query(shapely.points(lons, lats), predicate="intersects")
        tree_bulk_s = time.perf_counter() - t0
    bad_fixes = np.unique(np.setxor1d(codes, truth) // len(fences)).size
    with console.status(f"single lookups on {n_single:,} fixes…"):
        single, tree_single, single_bad = _single_lookups(
            index, tree, fences, city, truth, n_single
        )
    with console.status("live update…"):
        visible_ms, gap_ms = _update_visible_ms(index, float(lons[0]), float(lats[0]))
    single_median = statistics.median(single)
    tree_median = statistics.median(tree_single)
    return {
        "agreement": round(1.0 - max(bad_fixes, single_bad) / n_fixes, 6),
        "single_median_us": round(single_median, 3),
        "single_p99_us": round(float(np.percentile(single, 99)), 3),
        "single_vs_strtree": round(tree_median / single_median, 2),
        "strtree_single_median_us": round(tree_median, 3),
        "batch_fixes_per_s": round(n_fixes / batch_s),
        "batch_vs_strtree": round(tree_bulk_s / batch_s, 2),
        "strtree_bulk_fixes_per_s": round(n_fixes / tree_bulk_s),
        "build_s": round(build_s, 2),
        "rss_mb": round(rss_mb),  # peak once the index (and its batch table) is built
        "rss_mb_bench_end": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
        "update_visible_ms": round(visible_ms, 1),
        "lookup_max_gap_ms": round(gap_ms, 1),
        "fences": len(fences),
        **city.counts,
        "buckets": len(index._snapshot.buckets),
        "fixes": n_fixes,
        "pairs": int(truth.size),
        "roads": "synthetic 40x40 km grid (Monaco extract too small for 5-40 km routes)",
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench geofence", description=__doc__)
    parser.add_argument("--fixes", type=int, default=1_000_000, help="number of fixes")
    parser.add_argument("--quick", action="store_true", help="a tenth of the fences, 100k fixes")
    parser.add_argument("--single", type=int, default=200_000, help="fixes timed one by one")
    args = parser.parse_args(argv)
    n_fixes = 100_000 if args.quick and args.fixes == 1_000_000 else args.fixes
    scale = 0.1 if args.quick else 1.0
    figures = run(n_fixes, scale, min(args.single, n_fixes))
    print(json.dumps(figures))
    return 0

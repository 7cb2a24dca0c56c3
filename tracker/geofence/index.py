"""The live geofence index: lookups on an immutable snapshot, updates by snapshot swap.

A worker builds it from fences loaded from the database (``GeofenceIndex(fences)``) and applies
changes as they arrive (``apply``/``upsert``/``remove``). Covers of changed fences are computed
before the writer lock is taken; the swap itself is one reference assignment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely

from tracker.geofence import hugepages
from tracker.geofence.batch import BatchResult
from tracker.geofence.cover import Cover, covers_of
from tracker.geofence.fences import CorridorFence, Fence, FenceKey
from tracker.geofence.projection import FloatArray
from tracker.geofence.snapshot import Snapshot

Event = Literal["enter", "exit", "cross"]
HUGE_PAGES_MIN_FENCES = 1_000


@dataclass(frozen=True, slots=True)
class Upsert:
    fence: Fence


@dataclass(frozen=True, slots=True)
class Remove:
    fence_id: str


Change = Upsert | Remove


class GeofenceIndex:
    containing: Callable[[float, float], tuple[FenceKey, ...]]
    """``containing(lon, lat)``: ``(fence_id, kind)`` of every fence containing the point
    (edges count as inside). It is the current snapshot's own method, re-bound at each swap,
    which saves a call on the hot path; a snapshot never changes, so either binding is whole."""

    def __init__(
        self,
        fences: Iterable[Fence] = (),
        *,
        workers: int = 2,
        point_skip_kinds: frozenset[str] = frozenset(),
        huge_pages: bool = True,
    ) -> None:
        """``point_skip_kinds``: fences of these kinds are held (``get``, ``segment_events``,
        ``corridor_distance_m``) but get no cells, so point lookups never return them. The
        engine skips corridors: it measures its own permit's corridor directly, and a city's
        thousands of long corridors are most of the cells, of the build time and of the exact
        tests where roads meet. ``huge_pages``: after a bulk build of at least
        ``HUGE_PAGES_MIN_FENCES`` fences, back the process's memory with huge pages (see
        hugepages.py)."""
        self._workers = workers
        self._huge_pages = huge_pages
        self._point_skip_kinds = point_skip_kinds
        self._write_lock = threading.Lock()
        self._publish(Snapshot.empty())
        self.apply(Upsert(f) for f in fences)

    def _publish(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self.containing = snapshot.lookup

    # -- updates -------------------------------------------------------------------------
    def apply(self, changes: Iterable[Change]) -> None:
        """Apply changes atomically: lookups see all of them or none. Last change per id wins."""
        last: dict[str, Change] = {}
        for change in changes:
            last[change.fence.fence_id if isinstance(change, Upsert) else change.fence_id] = change
        if not last:
            return
        upserts = [c.fence for c in last.values() if isinstance(c, Upsert)]
        removes = {i for i, c in last.items() if isinstance(c, Remove)}
        skip = self._point_skip_kinds
        covers = covers_of([f for f in upserts if f.kind not in skip], self._workers)
        covers += [Cover.empty(f) for f in upserts if f.kind in skip]
        with self._write_lock:
            if not self._snapshot.fences and not removes:
                big = self._huge_pages and len(covers) >= HUGE_PAGES_MIN_FENCES
                self._publish(Snapshot.from_covers(covers))  # empties ``covers``
                if big:
                    hugepages.collapse()
            else:
                self._publish(self._snapshot.with_changes(covers, removes))

    def upsert(self, fence: Fence) -> None:
        self.apply([Upsert(fence)])

    def remove(self, fence_id: str) -> None:
        self.apply([Remove(fence_id)])

    # -- reads ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._snapshot.fences)

    def get(self, fence_id: str) -> Fence | None:
        return self._snapshot.fences.get(fence_id)

    def containing_many(self, lons: FloatArray, lats: FloatArray) -> BatchResult:
        return self._snapshot.batch_table().containing_many(lons, lats, workers=self._workers)

    def corridor_distance_m(self, fence_id: str, lon: float, lat: float) -> float:
        fence = self._snapshot.fences.get(fence_id)
        if fence is None:
            raise KeyError(fence_id)
        if not isinstance(fence, CorridorFence):
            raise ValueError(f"fence {fence_id!r} is a {fence.kind}, not a corridor")
        return fence.distance_m(lon, lat)

    def segment_events(
        self,
        lon1: float,
        lat1: float,
        lon2: float,
        lat2: float,
        *,
        skip_kinds: frozenset[str] = frozenset(),
    ) -> list[tuple[str, Event]]:
        """Fences the straight segment between two fixes enters, exits or crosses (entered and
        left between the fixes). A segment that starts and ends inside gives no event.

        ``skip_kinds`` leaves out fences of those kinds (the engine skips corridors: it measures
        its own permit's corridor distance, and a city's thousands of long corridors would
        otherwise dominate the search)."""
        snap = self._snapshot
        fences, tree = _envelopes(snap, skip_kinds)
        seg = shapely.LineString([(lon1, lat1), (lon2, lat2)])
        events: list[tuple[str, Event]] = []
        for i in tree.query(seg).tolist():
            fence = fences[i]
            was, now = fence.covers_xy(lon1, lat1), fence.covers_xy(lon2, lat2)
            if was and not now:
                events.append((fence.fence_id, "exit"))
            elif now and not was:
                events.append((fence.fence_id, "enter"))
            elif not was and fence.intersects_segment(lon1, lat1, lon2, lat2):
                events.append((fence.fence_id, "cross"))
        return events


def _envelopes(snap: Snapshot, skip_kinds: frozenset[str]) -> tuple[list[Fence], shapely.STRtree]:
    key = "envelopes:" + ",".join(sorted(skip_kinds))
    cached = snap.cache.get(key)
    if isinstance(cached, _Envelopes):
        return cached.fences, cached.tree
    fences = [f for f in snap.fences.values() if f.kind not in skip_kinds]
    boxes = shapely.box(*np.array([f.bounds() for f in fences]).T) if fences else []
    built = _Envelopes(fences, shapely.STRtree(boxes))
    snap.cache[key] = built
    return built.fences, built.tree


@dataclass(frozen=True, slots=True)
class _Envelopes:
    fences: list[Fence]
    tree: shapely.STRtree

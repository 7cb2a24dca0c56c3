"""An immutable index snapshot: cell -> (answers, exact tests), plus which resolutions to probe.

A lookup reads ``GeofenceIndex._snapshot`` once and works on that object only; updates build a
new snapshot (copying the dicts, then rewriting only the affected cells) and publish it with one
reference assignment, so no lookup ever sees half an update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from h3.api.basic_int import latlng_to_cell

from tracker.geofence.cells import (
    BUCKET_RES,
    QUERY_RES,
    U64,
    descendants_at,
    parent_masks,
    parents,
    resolution_of,
)
from tracker.geofence.cover import Cover
from tracker.geofence.fences import Fence, FenceKey

Entry = tuple[tuple[FenceKey, ...], tuple[Fence, ...]]
Probes = tuple[tuple[int, int], ...]

_BUCKET_AND, _BUCKET_OR = parent_masks(BUCKET_RES)
_PROBES: dict[int, Probes] = {}


def probes_for(bits: int) -> Probes:
    """Parent masks for the resolutions set in ``bits``, coarse to fine (interned)."""
    probes = _PROBES.get(bits)
    if probes is None:
        probes = tuple(parent_masks(r) for r in range(16) if bits >> r & 1)
        _PROBES[bits] = probes
    return probes


@dataclass(frozen=True, slots=True)
class Snapshot:
    fences: dict[str, Fence]
    covers: dict[str, Cover]
    cells: dict[int, Entry]
    levels: dict[int, Probes]
    level_bits: dict[int, int]
    cache: dict[str, Any] = field(default_factory=dict)  # derived views (batch table, R-tree)

    @classmethod
    def empty(cls) -> Snapshot:
        return cls({}, {}, {}, {}, {})

    @classmethod
    def from_covers(cls, covers: list[Cover]) -> Snapshot:
        """Bulk build with numpy: one sort of all (cell, fence) rows; cells with the same fences
        share one entry tuple (found by a 128-bit set hash), which keeps the dict small."""
        if not covers:
            return cls.empty()
        fences = [c.fence for c in covers]
        cells = np.concatenate([np.r_[c.interior, c.boundary] for c in covers]).astype(np.uint64)
        sizes = [c.interior.size + c.boundary.size for c in covers]
        fidx = np.repeat(np.arange(len(covers), dtype=np.uint64), sizes)
        flag = np.concatenate(
            [np.r_[np.zeros(c.interior.size), np.ones(c.boundary.size)] for c in covers]
        )
        order = np.argsort(cells, kind="stable")
        cells, fidx, flag = cells[order], fidx[order], flag[order].astype(bool)
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        code = fidx * np.uint64(2) + flag.astype(np.uint64)
        sums = np.column_stack([np.add.reduceat(_mix(code, seed), starts) for seed in (1, 2)])
        _, first, inverse = np.unique(sums, axis=0, return_index=True, return_inverse=True)
        ends = np.r_[starts[1:], cells.size]
        entries = []
        for group in first.tolist():
            rows = range(int(starts[group]), int(ends[group]))
            members = [(fences[int(fidx[r])], bool(flag[r])) for r in rows]
            entries.append(
                (tuple(f.key for f, b in members if not b), tuple(f for f, b in members if b))
            )
        keys = cells[starts]
        table = dict(
            zip(keys.tolist(), [entries[i] for i in inverse.ravel().tolist()], strict=True)
        )
        level_bits = _bucket_bits(keys)
        levels = {b: probes_for(bits) for b, bits in level_bits.items()}
        return cls(
            {f.fence_id: f for f in fences},
            {c.fence.fence_id: c for c in covers},
            table,
            levels,
            level_bits,
        )

    def containing(self, lon: float, lat: float) -> list[FenceKey]:
        cell = latlng_to_cell(lat, lon, QUERY_RES)
        probes = self.levels.get((cell & _BUCKET_AND) | _BUCKET_OR)
        if probes is None:
            return []
        out: list[FenceKey] = []
        get = self.cells.get
        for and_mask, or_mask in probes:
            entry = get((cell & and_mask) | or_mask)
            if entry is not None:
                out += entry[0]
                for fence in entry[1]:
                    if fence.covers_xy(lon, lat):
                        out.append(fence.key)
        return out

    def with_changes(self, upserts: list[Cover], removes: set[str]) -> Snapshot:
        changed = removes | {c.fence.fence_id for c in upserts}
        gone = [self.covers[i] for i in changed if i in self.covers]
        touched: set[int] = set()
        for cover in gone:
            touched.update(cover.interior.tolist(), cover.boundary.tolist())
        added: dict[int, tuple[list[FenceKey], list[Fence]]] = {}
        for cover in upserts:
            for key in cover.interior.tolist():
                added.setdefault(key, ([], []))[0].append(cover.fence.key)
            for key in cover.boundary.tolist():
                added.setdefault(key, ([], []))[1].append(cover.fence)
        touched.update(added)
        cells = dict(self.cells)
        for key in touched:
            _rewrite(cells, key, changed, added.get(key))
        level_bits = dict(self.level_bits)
        for bucket, bits in _bucket_bits(np.fromiter(added, np.uint64, len(added))).items():
            level_bits[bucket] = level_bits.get(bucket, 0) | bits  # stale bits only cost a probe
        levels = dict(self.levels)
        levels.update({b: probes_for(level_bits[b]) for b in level_bits})
        fences = {i: f for i, f in self.fences.items() if i not in changed}
        covers = {i: c for i, c in self.covers.items() if i not in changed}
        for cover in upserts:
            fences[cover.fence.fence_id] = cover.fence
            covers[cover.fence.fence_id] = cover
        return Snapshot(fences, covers, cells, levels, level_bits)


def _rewrite(
    cells: dict[int, Entry],
    key: int,
    changed: set[str],
    new: tuple[list[FenceKey], list[Fence]] | None,
) -> None:
    old = cells.get(key)
    answers = [k for k in old[0] if k[0] not in changed] if old else []
    tests = [f for f in old[1] if f.fence_id not in changed] if old else []
    if new is not None:
        answers += new[0]
        tests += new[1]
    if answers or tests:
        cells[key] = (tuple(answers), tuple(tests))
    else:
        cells.pop(key, None)


def _mix(values: U64, seed: int) -> U64:
    """splitmix64 finaliser: spreads fence codes so that sums identify sets."""
    with np.errstate(over="ignore"):
        z = values + np.uint64((seed * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out: U64 = z ^ (z >> np.uint64(31))
    return out


def _bucket_bits(keys: U64) -> dict[int, int]:
    """For each res-``BUCKET_RES`` bucket, a bit set of the resolutions of keys over it."""
    if keys.size == 0:
        return {}
    res = resolution_of(keys)
    fine = res >= BUCKET_RES
    buckets = [parents(keys[fine], BUCKET_RES)]
    bits = [np.left_shift(np.int64(1), res[fine])]
    for r in np.unique(res[~fine]).tolist():
        kids = descendants_at(keys[res == r], BUCKET_RES)
        buckets.append(kids)
        bits.append(np.full(kids.size, 1 << r, dtype=np.int64))
    all_buckets, all_bits = np.concatenate(buckets), np.concatenate(bits)
    order = np.argsort(all_buckets, kind="stable")
    all_buckets, all_bits = all_buckets[order], all_bits[order]
    starts = np.flatnonzero(np.r_[True, all_buckets[1:] != all_buckets[:-1]])
    merged = np.bitwise_or.reduceat(all_bits, starts)
    return dict(zip(all_buckets[starts].tolist(), merged.tolist(), strict=True))

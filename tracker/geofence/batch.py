"""Vectorised lookups: the snapshot's answers as sorted numpy tables.

Cells come from h3ronpy (one call for the whole batch), buckets by bit masks; a fix's answer is
found with ``searchsorted`` among the leaf cells, else among the buckets. Answers are shared
entries stored as CSR rows of (fence, needs exact test); rows that need a test are settled fence
by fence with the fence's vectorised exact test. After a live update the table is patched for the
changed buckets only (rows cut out and spliced in), lazily on the next batch call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from h3ronpy.vector import coordinates_to_cells
from numpy.typing import NDArray

from tracker.geofence.answers import Entry, Node, unpack
from tracker.geofence.cells import (
    BUCKET_RES,
    QUERY_RES,
    U64,
    leaf_cells,
    parents,
)
from tracker.geofence.exact_many import RoundTests
from tracker.geofence.fences import Fence, FenceKey
from tracker.geofence.projection import FloatArray
from tracker.geofence.rows import Grouped, ragged_ranges, sorted_search

I64 = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Answers in factored form: fix ``i`` is inside the fences of its shared answer
    ``entry[i]`` (CSR ``inside_off``/``inside_fence``, no test was needed) and in the fences
    that passed an exact test for it (CSR ``extra_off``/``extra_fence``). Fences are indices
    into ``fences``. :meth:`pairs` spells everything out as (fix, fence) pairs."""

    entry: I64
    inside_off: I64
    inside_fence: I64
    extra_off: I64
    extra_fence: I64
    fences: tuple[Fence, ...]

    def fence_indices(self, i: int) -> list[int]:
        e = int(self.entry[i])
        inside = self.inside_fence[self.inside_off[e] : self.inside_off[e + 1]]
        extra = self.extra_fence[self.extra_off[i] : self.extra_off[i + 1]]
        return [*inside.tolist(), *extra.tolist()]

    def keys_of(self, i: int) -> list[FenceKey]:
        return [self.fences[j].key for j in self.fence_indices(i)]

    def pairs(self) -> tuple[I64, I64]:
        """Every (fix, fence index) pair, sorted by fix."""
        start = self.inside_off[self.entry]
        count = self.inside_off[self.entry + 1] - start
        fix_in = np.repeat(np.arange(self.entry.size, dtype=np.int64), count)
        fence_in = self.inside_fence[ragged_ranges(start, count)]
        fix_extra = np.repeat(np.arange(self.entry.size, dtype=np.int64), np.diff(self.extra_off))
        fix = np.r_[fix_in, fix_extra]
        order = np.argsort(fix, kind="stable")
        return fix[order], np.r_[fence_in, self.extra_fence][order]


@dataclass(frozen=True, slots=True)
class BatchTable:
    fences: tuple[Fence, ...]
    leaf_cells: U64  # sorted, QUERY_RES
    leaf_entry: I64
    bucket_cells: U64  # sorted, BUCKET_RES
    bucket_entry: I64
    entry_off: I64  # the last entry is the empty answer
    entry_fence: I64
    entry_test: BoolArray
    # the same entries split: fences inside without a test, and fences to test
    inside_off: I64 = field(init=False)
    inside_fence: I64 = field(init=False)
    test_off: I64 = field(init=False)
    test_fence: I64 = field(init=False)
    _round: list[RoundTests] = field(init=False)  # built on first use

    def __post_init__(self) -> None:
        object.__setattr__(self, "_round", [])
        owner = np.repeat(np.arange(self.entry_off.size - 1), np.diff(self.entry_off))
        n = self.entry_off.size - 1
        for name, pick in (("inside", ~self.entry_test), ("test", self.entry_test)):
            counts = np.bincount(owner[pick], minlength=n)
            object.__setattr__(self, f"{name}_off", np.r_[0, np.cumsum(counts)].astype(np.int64))
            object.__setattr__(self, f"{name}_fence", self.entry_fence[pick].astype(np.int64))

    @classmethod
    def from_grouped(cls, grouped: Grouped, fences: list[Fence]) -> BatchTable:
        off = np.r_[grouped.entry_off, grouped.entry_off[-1]]
        return cls(
            tuple(fences),
            grouped.leaf_cells,
            grouped.leaf_entry,
            grouped.bucket_cells,
            grouped.bucket_entry,
            off.astype(np.int64),
            grouped.entry_codes >> 1,
            (grouped.entry_codes & 1).astype(bool),
        )

    @classmethod
    def from_nodes(cls, nodes: Mapping[int, Node], fences: Mapping[str, Fence]) -> BatchTable:
        empty = np.zeros(0, dtype=np.int64)
        blank = cls((), empty.astype(np.uint64), empty, empty.astype(np.uint64), empty,
                    np.zeros(2, np.int64), empty, empty.astype(bool))  # fmt: skip
        return blank.patched(nodes, fences, frozenset(nodes))

    def patched(
        self, nodes: Mapping[int, Node], fences: Mapping[str, Fence], buckets: frozenset[int]
    ) -> BatchTable:
        """This table with the rows of ``buckets`` replaced by the answers now in ``nodes``."""
        builder = _EntryBuilder(self, fences)
        changed = np.fromiter(buckets, dtype=np.uint64, count=len(buckets))
        keep_leaf = ~np.isin(parents(self.leaf_cells, BUCKET_RES), changed)
        keep_bucket = ~np.isin(self.bucket_cells, changed)
        new_leaf: list[tuple[int, int]] = []
        new_bucket: list[tuple[int, int]] = []
        for bucket in buckets:
            default, own = unpack(nodes.get(bucket))
            if default[0] or default[1]:  # a bucket without an answer of its own: no row
                new_bucket.append((bucket, builder.entry_id(default)))
            cells = leaf_cells(bucket, np.array(list(own), dtype=np.int64)).tolist()
            new_leaf.extend(zip(cells, map(builder.entry_id, own.values()), strict=True))
        leaves = _splice(self.leaf_cells[keep_leaf], self.leaf_entry[keep_leaf], new_leaf)
        tops = _splice(self.bucket_cells[keep_bucket], self.bucket_entry[keep_bucket], new_bucket)
        return builder.table(*leaves, *tops)

    def containing_many(self, lons: FloatArray, lats: FloatArray) -> BatchResult:
        lons = np.ascontiguousarray(lons, dtype=np.float64)
        lats = np.ascontiguousarray(lats, dtype=np.float64)
        if lons.shape != lats.shape or lons.ndim != 1:
            raise ValueError("lons and lats must be 1-d arrays of the same length")
        cells = np.asarray(coordinates_to_cells(lats, lons, QUERY_RES), dtype=np.uint64)
        entry = np.full(cells.size, self.entry_off.size - 2, dtype=np.int64)
        hit, where = _find(self.leaf_cells, cells)
        entry[hit] = self.leaf_entry[where]
        miss = np.flatnonzero(~hit)
        bhit, bwhere = _find(self.bucket_cells, parents(cells[miss], BUCKET_RES))
        entry[miss[bhit]] = self.bucket_entry[bwhere]
        start = self.test_off[entry]
        count = self.test_off[entry + 1] - start
        fix = np.repeat(np.arange(cells.size, dtype=np.int64), count)
        fence = self.test_fence[ragged_ranges(start, count)]
        keep = self._exact(fix, fence, lons, lats)
        counts = np.bincount(fix[keep], minlength=cells.size)
        extra_off = np.r_[0, np.cumsum(counts)].astype(np.int64)
        return BatchResult(
            entry, self.inside_off, self.inside_fence, extra_off, fence[keep], self.fences
        )

    def round_tests(self) -> RoundTests:
        if not self._round:
            self._round.append(RoundTests(self.fences))
        return self._round[0]

    def _exact(self, fix: I64, fence: I64, lons: FloatArray, lats: FloatArray) -> BoolArray:
        """Circles and corridors all at once; polygons fence by fence (prepared GEOS)."""
        keep = np.zeros(fix.size, dtype=bool)
        if fix.size == 0:
            return keep
        tests = self.round_tests()
        round_rows = tests.handles(fence)
        keep[round_rows] = tests.covers(fix[round_rows], fence[round_rows], lons, lats)
        rest = np.flatnonzero(~round_rows)
        if rest.size == 0:
            return keep
        order = rest[np.argsort(fence[rest], kind="stable")]
        sorted_fence = fence[order]
        starts = np.flatnonzero(np.r_[True, sorted_fence[1:] != sorted_fence[:-1]])
        ends = np.r_[starts[1:], order.size]
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            pick = order[lo:hi]
            sub = fix[pick]
            keep[pick] = self.fences[int(sorted_fence[lo])].covers_many(lons[sub], lats[sub])
        return keep


def _find(table: U64, cells: U64) -> tuple[BoolArray, I64]:
    """Which ``cells`` are in the sorted ``table``, and the positions of those that are."""
    if table.size == 0:
        return np.zeros(cells.size, dtype=bool), np.zeros(0, dtype=np.int64)
    pos = sorted_search(table, cells)
    pos[pos == table.size] = 0
    hit = table[pos] == cells
    return hit, pos[hit]


def _splice(cells: U64, entry: I64, new: list[tuple[int, int]]) -> tuple[U64, I64]:
    if not new:
        return cells, entry
    new.sort()
    add_cells = np.array([c for c, _ in new], dtype=np.uint64)
    add_entry = np.array([e for _, e in new], dtype=np.int64)
    at = np.searchsorted(cells, add_cells)
    return np.insert(cells, at, add_cells), np.insert(entry, at, add_entry)


class _EntryBuilder:
    """Appends new entries (and the fences they name) to a table's CSR; the empty answer stays
    last."""

    def __init__(self, table: BatchTable, fences: Mapping[str, Fence]) -> None:
        self.base = table
        self.fences = list(table.fences)
        self.position = {id(f): i for i, f in enumerate(self.fences)}
        self.by_id = fences
        self.ids: dict[Entry, int] = {}
        self.lengths: list[int] = []
        self.codes: list[int] = []
        self.first_new = table.entry_off.size - 2

    def _fence_position(self, fence: Fence) -> int:
        pos = self.position.get(id(fence))
        if pos is None:
            pos = self.position[id(fence)] = len(self.fences)
            self.fences.append(fence)
        return pos

    def entry_id(self, entry: Entry) -> int:
        found = self.ids.get(entry)
        if found is not None:
            return found
        keys, tests = entry
        codes = [2 * self._fence_position(self.by_id[k[0]]) for k in keys]
        codes += [2 * self._fence_position(f) + 1 for f in tests]
        self.ids[entry] = found = self.first_new + len(self.lengths)
        self.lengths.append(len(codes))
        self.codes.extend(codes)
        return found

    def table(self, leaf: U64, leaf_entry: I64, buckets: U64, bucket_entry: I64) -> BatchTable:
        base = self.base  # no row names the empty answer, so its id may move
        old_off = base.entry_off[:-1]
        new_off = old_off[-1] + np.cumsum(np.array(self.lengths, dtype=np.int64))
        off = np.r_[old_off, new_off, old_off[-1] + sum(self.lengths)].astype(np.int64)
        codes = np.array(self.codes, dtype=np.int64)
        fence = np.r_[base.entry_fence, codes >> 1].astype(np.int64)
        test = np.r_[base.entry_test, (codes & 1).astype(bool)]
        return BatchTable(tuple(self.fences), leaf, leaf_entry, buckets, bucket_entry,
                          off, fence, test)  # fmt: skip

"""Vectorised lookups: the snapshot's answers as sorted numpy tables.

Fixes go through in chunks of ``CHUNK``: cells come from h3ronpy (one call per chunk), and a
fix's answer id from the dense cell table (dense.py: bit arithmetic and gathers, no search of
the sorted tables). Answers are shared entries stored as CSR rows of (fence, needs exact test);
rows that need a test are settled all at once by the flat exact tests (exact_many.py). After a
live update the table is patched for the changed buckets only (rows cut out and spliced in),
lazily on the next batch call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
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
    ragged_ranges,
)
from tracker.geofence.dense import DenseCells
from tracker.geofence.exact_many import ManyTests
from tracker.geofence.fences import Fence, FenceKey
from tracker.geofence.projection import FloatArray
from tracker.geofence.rows import Grouped

I64 = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
# Fixes per pass: the temporaries stay small (cache-friendly, no fresh pages per call).
CHUNK = 1 << 16


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
    dense: DenseCells = field(init=False)  # the lookup structure, from the sorted tables
    _tests: list[ManyTests] = field(init=False)  # built on first use

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tests", [])
        empty = self.entry_off.size - 2
        dense = DenseCells.build(
            self.leaf_cells, self.leaf_entry, self.bucket_cells, self.bucket_entry, empty
        )
        object.__setattr__(self, "dense", dense)
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

    def containing_many(
        self, lons: FloatArray, lats: FloatArray, *, workers: int = 1
    ) -> BatchResult:
        """Answers for many fixes; chunks run on ``workers`` threads (h3ronpy and numpy release
        the GIL)."""
        lons = np.ascontiguousarray(lons, dtype=np.float64)
        lats = np.ascontiguousarray(lats, dtype=np.float64)
        if lons.shape != lats.shape or lons.ndim != 1:
            raise ValueError("lons and lats must be 1-d arrays of the same length")
        tests = self.exact_tests()
        starts = range(0, max(lons.size, 1), CHUNK)

        def one(lo: int) -> tuple[I64, I64, I64]:
            return self._chunk(tests, lons[lo : lo + CHUNK], lats[lo : lo + CHUNK])

        if workers > 1 and len(starts) > 1:
            parts = list(_pool(workers).map(one, starts))
        else:
            parts = [one(lo) for lo in starts]
        entry = np.concatenate([p[0] for p in parts])
        counts = np.concatenate([p[1] for p in parts])
        extra_off = np.r_[0, np.cumsum(counts)].astype(np.int64)
        extra_fence = np.concatenate([p[2] for p in parts])
        return BatchResult(
            entry, self.inside_off, self.inside_fence, extra_off, extra_fence, self.fences
        )

    def _chunk(self, tests: ManyTests, lons: FloatArray, lats: FloatArray) -> tuple[I64, I64, I64]:
        """One chunk's answer ids, number of fences passed an exact test per fix, and those
        fences in fix order."""
        cells = np.asarray(coordinates_to_cells(lats, lons, QUERY_RES), dtype=np.uint64)
        entry = self.dense.entries(cells)
        start = self.test_off[entry]
        count = self.test_off[entry + 1] - start
        fix = np.repeat(np.arange(cells.size, dtype=np.int64), count)
        fence = self.test_fence[ragged_ranges(start, count)]
        keep = tests.covers(fix, fence, lons, lats)
        return entry, np.bincount(fix[keep], minlength=cells.size), fence[keep]

    def exact_tests(self) -> ManyTests:
        """The flat exact-test tables of this table's fences (built on first use)."""
        if not self._tests:
            self._tests.append(ManyTests(self.fences))
        return self._tests[0]


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="geofence")
        return pool


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

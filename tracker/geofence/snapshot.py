"""An immutable index snapshot: bucket -> answer, or bucket -> 512 slots of cell answers.

A lookup computes its ``QUERY_RES`` cell, finds its ``BUCKET_RES`` bucket by bit masks (one dict
hit) and, when the bucket's cells differ, indexes the bucket's slot list with the cell's three
last digits (no hashing, few cache misses). An answer is ``(keys inside, fences to test
exactly)``. A lookup reads ``GeofenceIndex._snapshot``
once and works on that object only. Updates rebuild only the buckets the changed fences touch
(copy on write, a few hundred cells each) and publish a new snapshot with one reference
assignment, so no lookup ever sees half an update.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

try:  # h3's compiled entry point, without two Python wrappers around it: ~0.1 µs a lookup
    from h3._cy import latlng_to_cell
except ImportError:  # pragma: no cover - a future h3 may move it
    from h3.api.basic_int import latlng_to_cell

from tracker.geofence.answers import (
    Answer,
    Entry,
    Node,
    pack,
    to_answer,
    unpack,
)
from tracker.geofence.batch import BatchTable
from tracker.geofence.cells import (
    BUCKET_RES,
    QUERY_RES,
    SLOT_MASK,
    SLOT_SHIFT,
    U64,
    expand_to,
    parent_masks,
    parents,
    resolution_of,
    slots_of,
    unique_cells,
)
from tracker.geofence.cover import Cover
from tracker.geofence.fences import Fence, FenceKey
from tracker.geofence.rows import Grouped, cover_rows, group, levels_of

_BUCKET_AND, _BUCKET_OR = parent_masks(BUCKET_RES)
Lookup = Callable[[float, float], tuple[FenceKey, ...]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    fences: dict[str, Fence]
    footprints: dict[str, U64]  # fence id -> the buckets its cover touches (sorted)
    buckets: dict[int, Node]
    batch_base: BatchTable | None = None  # table of this or an earlier snapshot
    pending: frozenset[int] = frozenset()  # buckets changed since batch_base was current
    cache: dict[str, object] = field(default_factory=dict)  # derived views (envelope tree)
    lookup: Lookup = field(init=False, repr=False)  # the single-fix lookup over ``buckets``

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", lookup_for(self.buckets))

    @classmethod
    def empty(cls) -> Snapshot:
        return cls({}, {}, {})

    @classmethod
    def from_covers(cls, covers: list[Cover]) -> Snapshot:
        """Bulk build: all rows grouped at once with numpy, then one dict per bucket."""
        fences = [c.fence for c in covers]
        footprints = {c.fence.fence_id: footprint(c) for c in covers}
        grouped = group(levels_of(covers))  # empties ``covers``: cells are freed as consumed
        with _gc_paused():  # millions of new tuples: no cycles, but they would trigger GC passes
            entries = _entries(grouped, fences)
            buckets = _nodes(grouped, entries)
        table = BatchTable.from_grouped(grouped, fences)
        fence_map = {f.fence_id: f for f in fences}
        return cls(fence_map, footprints, buckets, table, cache={"batch": table})

    def containing(self, lon: float, lat: float) -> tuple[FenceKey, ...]:
        return self.lookup(lon, lat)

    def batch_table(self) -> BatchTable:
        """The batch table, patched for the buckets changed since the last one was made."""
        table = self.cache.get("batch")
        if isinstance(table, BatchTable):
            return table
        if self.batch_base is None:
            table = BatchTable.from_nodes(self.buckets, self.fences)
        else:
            table = self.batch_base.patched(self.buckets, self.fences, self.pending)
        self.cache["batch"] = table
        return table

    def with_changes(self, upserts: list[Cover], removes: set[str]) -> Snapshot:
        changed = removes | {c.fence.fence_id for c in upserts}
        adds = _Additions(upserts)
        touched = set(adds.default) | set(adds.leaf)
        for fence_id in changed & self.footprints.keys():
            touched.update(self.footprints[fence_id].tolist())
        buckets = dict(self.buckets)  # bucket -> node references only: small and quick
        for bucket in touched:
            node = _rebuilt(buckets.get(bucket), changed, adds, bucket)
            if node is None:
                buckets.pop(bucket, None)
            else:
                buckets[bucket] = node
        fences = {i: f for i, f in self.fences.items() if i not in changed}
        footprints = {i: f for i, f in self.footprints.items() if i not in changed}
        for cover in upserts:
            fences[cover.fence.fence_id] = cover.fence
            footprints[cover.fence.fence_id] = footprint(cover)
        own = self.cache.get("batch")
        base, pending = (
            (own, frozenset(touched))
            if isinstance(own, BatchTable)
            else (self.batch_base, self.pending | touched)
        )
        return Snapshot(fences, footprints, buckets, base, pending)


def lookup_for(buckets: dict[int, Node]) -> Lookup:
    """The single-fix lookup over ``buckets``, with all it touches bound as closure variables
    (no global or attribute look-ups on the hot path)."""
    get, to_cell, res = buckets.get, latlng_to_cell, QUERY_RES
    bucket_and, bucket_or, shift, mask = _BUCKET_AND, _BUCKET_OR, SLOT_SHIFT, SLOT_MASK

    def containing(lon: float, lat: float) -> tuple[FenceKey, ...]:
        cell: int = to_cell(lat, lon, res)
        node = get((cell & bucket_and) | bucket_or)
        if node is None:
            return ()
        answer = node[(cell >> shift) & mask]
        if isinstance(answer, tuple):
            return answer
        return answer.resolve(lon, lat)

    return containing


def footprint(cover: Cover) -> U64:
    cells, _ = cover_rows(cover, 0)
    return unique_cells(parents(cells, BUCKET_RES))


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _entries(grouped: Grouped, fences: list[Fence]) -> list[Entry]:
    """Python answers for the distinct sets (``map`` over code slices keeps this quick)."""
    codes = grouped.entry_codes
    test = (codes & 1).astype(bool)
    owner = np.repeat(np.arange(grouped.entry_off.size - 1), np.diff(grouped.entry_off))
    n = grouped.entry_off.size - 1
    key_off = np.r_[0, np.cumsum(np.bincount(owner[~test], minlength=n))].tolist()
    test_off = np.r_[0, np.cumsum(np.bincount(owner[test], minlength=n))].tolist()
    key_idx, test_idx = (codes[~test] >> 1).tolist(), (codes[test] >> 1).tolist()
    key_of = [f.key for f in fences]
    fence_of = fences.__getitem__
    entries: list[Entry] = []
    for e in range(n):
        keys = tuple(map(key_of.__getitem__, key_idx[key_off[e] : key_off[e + 1]]))
        tests = tuple(map(fence_of, test_idx[test_off[e] : test_off[e + 1]]))
        entries.append((keys, tests))
    return entries


def _nodes(grouped: Grouped, entries: list[Entry]) -> dict[int, Node]:
    answers = [to_answer(e) for e in entries]
    defaults = dict(
        zip(
            grouped.bucket_cells.tolist(),
            [answers[i] for i in grouped.bucket_entry.tolist()],
            strict=True,
        )
    )
    nodes: dict[int, Node] = {b: (a,) * (SLOT_MASK + 1) for b, a in defaults.items()}
    cells = grouped.leaf_cells
    if cells.size == 0:
        return nodes
    own = [answers[i] for i in grouped.leaf_entry.tolist()]
    slots = slots_of(cells).tolist()
    owner = parents(cells, BUCKET_RES)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], cells.size].tolist()
    empty: Answer = ()
    for lo, hi, bucket in zip(starts.tolist(), ends, owner[starts].tolist(), strict=True):
        node = [defaults.get(bucket, empty)] * (SLOT_MASK + 1)
        for slot, answer in zip(slots[lo:hi], own[lo:hi], strict=True):
            node[slot] = answer
        nodes[bucket] = tuple(node)
    return nodes


class _Additions:
    """New fences' rows, by bucket, as Python lists (one fence is a few thousand rows)."""

    def __init__(self, covers: list[Cover]) -> None:
        self.fences = [c.fence for c in covers]
        self.default: dict[int, list[int]] = {}
        self.leaf: dict[int, dict[int, list[int]]] = {}
        for i, cover in enumerate(covers):
            cells, codes = cover_rows(cover, i)
            coarse = resolution_of(cells) == BUCKET_RES
            for bucket, code in zip(cells[coarse].tolist(), codes[coarse].tolist(), strict=True):
                self.default.setdefault(bucket, []).append(code)
            fine, fine_codes = expand_to(cells[~coarse], codes[~coarse], QUERY_RES)
            owners = parents(fine, BUCKET_RES).tolist()
            for bucket, slot, code in zip(
                owners, slots_of(fine).tolist(), fine_codes.tolist(), strict=True
            ):
                self.leaf.setdefault(bucket, {}).setdefault(slot, []).append(code)

    def merged(self, entry: Entry, codes: list[int] | None) -> Entry:
        if not codes:
            return entry
        keys = entry[0] + tuple([self.fences[c >> 1].key for c in codes if not c & 1])
        tests = entry[1] + tuple([self.fences[c >> 1] for c in codes if c & 1])
        return keys, tests


def _without(entry: Entry, changed: set[str]) -> Entry:
    keys, tests = entry
    if any(k[0] in changed for k in keys) or any(f.fence_id in changed for f in tests):
        keys = tuple([k for k in keys if k[0] not in changed])
        tests = tuple([f for f in tests if f.fence_id not in changed])
    return keys, tests


def _rebuilt(node: Node | None, changed: set[str], adds: _Additions, bucket: int) -> Node | None:
    """A bucket's node without the changed fences, then with the new ones added."""
    old_default, old_own = unpack(node)
    extra = adds.default.get(bucket)
    default = adds.merged(_without(old_default, changed), extra)
    memo: dict[int, Entry] = {}  # entries are shared between cells: rewrite each once
    own: dict[int, Entry] = {}
    for slot, entry in old_own.items():
        new = memo.get(id(entry))
        if new is None:
            new = memo[id(entry)] = adds.merged(_without(entry, changed), extra)
        own[slot] = new
    for slot, codes in adds.leaf.get(bucket, {}).items():
        own[slot] = adds.merged(own.get(slot, default), codes)
    return pack(default, {slot: e for slot, e in own.items() if e != default})

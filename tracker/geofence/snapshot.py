"""An immutable index snapshot: bucket -> answer, or bucket -> 512 slots of cell answers.

A lookup computes its ``QUERY_RES`` cell (one h3 call) and finds everything else by bit masks
on that integer: its ``ANCHOR_RES`` ancestor's bits pick a list (a small dict, always in cache),
the digits down to ``BUCKET_RES`` the bucket's node in it, and the cell's three last digits the
slot (no hashing of big keys, few cache misses). A slot holds the tuple of fence keys to return
as is, or a :class:`~tracker.geofence.answers.Tested` answer (keys inside, fences to test
exactly). A lookup reads ``GeofenceIndex._snapshot`` once and works on that object only.
Updates rebuild only the buckets the changed fences touch (copy on write, a few hundred cells
each) and publish a new snapshot with one reference assignment, so no lookup ever sees half an
update.
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
    Tested,
    pack,
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
    parents,
    resolution_of,
    slots_of,
    unique_cells,
)
from tracker.geofence.cover import Cover
from tracker.geofence.dense import ANCHOR_RES, MID_MASK, MID_SHIFT, DenseCells
from tracker.geofence.fences import Fence, FenceKey
from tracker.geofence.rows import Grouped, cover_rows, group, levels_of

# A QUERY_RES cell shifted right by ANCHOR_SHIFT keeps its mode, resolution, base cell and digits
# down to ANCHOR_RES: it names the cell's anchor, as a smaller int than the anchor cell itself.
ANCHOR_SHIFT = 3 * (15 - ANCHOR_RES)
_NOT_RES = ((1 << 64) - 1) ^ (0xF << 52)
_QUERY_RES_BITS = QUERY_RES << 52
_EMPTY_NODE: Node = ((),) * (SLOT_MASK + 1)
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
        footprints: dict[str, U64] = {}
        grouped = group(levels_of(covers, footprints))  # empties ``covers`` as it goes
        table = BatchTable.from_grouped(grouped, fences)
        with _gc_paused():  # millions of new tuples: no cycles, but they would trigger GC passes
            buckets = _nodes(table.dense, _answers(grouped, fences))
        table.exact_tests()  # part of the build: the first batch call should not pay for it
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
    (no global or attribute look-ups on the hot path).

    A big dict probe costs several cache misses (index, entry, key object); so the buckets are
    laid out as one list per ``ANCHOR_RES`` ancestor (a city has a few dozen: that dict stays in
    cache), indexed by the bucket's digits below the anchor (see dense.py)."""
    blocks = anchor_blocks(buckets)
    get, to_cell, res = blocks.get, latlng_to_cell, QUERY_RES
    anchor_shift, mid_shift, mid_mask = ANCHOR_SHIFT, MID_SHIFT, MID_MASK
    shift, mask = SLOT_SHIFT, SLOT_MASK

    def containing(lon: float, lat: float) -> tuple[FenceKey, ...]:
        cell: int = to_cell(lat, lon, res)
        block = get(cell >> anchor_shift)
        if block is None:
            return ()
        answer = block[(cell >> mid_shift) & mid_mask][(cell >> shift) & mask]
        if isinstance(answer, tuple):
            return answer
        return answer.resolve(lon, lat)

    return containing


def anchor_blocks(buckets: dict[int, Node]) -> dict[int, list[Node]]:
    """Anchor key (see ``ANCHOR_SHIFT``) -> its buckets' nodes by the digits below the anchor
    (a node of empty answers where there is no bucket)."""
    blocks: dict[int, list[Node]] = {}
    for bucket, node in buckets.items():
        anchor = ((bucket & _NOT_RES) | _QUERY_RES_BITS) >> ANCHOR_SHIFT
        block = blocks.get(anchor)
        if block is None:
            block = blocks[anchor] = [_EMPTY_NODE] * (MID_MASK + 1)
        block[(bucket >> MID_SHIFT) & MID_MASK] = node
    return blocks


def footprint(cover: Cover) -> U64:
    cells, _ = cover_rows(cover, 0)
    return unique_cells(parents(cells, BUCKET_RES))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """GC off while millions of tuples are made; then they are frozen (moved out of the
    collector's generations): they are immutable and acyclic, and the next full collection
    would otherwise scan them all (a pause of a second at city size, in a lookup or an update
    later on). Freed objects are still freed by reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _answers(grouped: Grouped, fences: list[Fence]) -> list[Answer]:
    """Python answers for the distinct sets, by entry id, and the empty answer last (the batch
    table's id for it). Keys and fences are looked up in one ``map`` each; an entry is then
    two slices."""
    codes = grouped.entry_codes
    test = (codes & 1).astype(bool)
    owner = np.repeat(np.arange(grouped.entry_off.size - 1), np.diff(grouped.entry_off))
    n = grouped.entry_off.size - 1
    key_off = np.r_[0, np.cumsum(np.bincount(owner[~test], minlength=n))].tolist()
    test_off = np.r_[0, np.cumsum(np.bincount(owner[test], minlength=n))].tolist()
    del owner
    key_of = [f.key for f in fences]
    keys = list(map(key_of.__getitem__, (codes[~test] >> 1).tolist()))
    tests = list(map(fences.__getitem__, (codes[test] >> 1).tolist()))
    answers: list[Answer] = [
        Tested(tuple(keys[a:b]), tuple(tests[c:d])) if c != d else tuple(keys[a:b])
        for a, b, c, d in zip(key_off[:-1], key_off[1:], test_off[:-1], test_off[1:], strict=True)
    ]
    answers.append(())
    return answers


def _nodes(dense: DenseCells, answers: list[Answer]) -> dict[int, Node]:
    """Each bucket's node from its row of the dense table (equal ids: one shared object)."""
    answer_of = answers.__getitem__
    rows = dense.slots.reshape(-1, SLOT_MASK + 1)
    return {
        bucket: tuple(map(answer_of, rows[r].tolist()))
        for r, bucket in enumerate(dense.buckets.tolist())
    }


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

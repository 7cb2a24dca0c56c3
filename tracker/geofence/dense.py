"""A dense two-level table from ``QUERY_RES`` cells to answer ids, for the batch path.

Searching millions of cells in sorted tables costs a sort or millions of cache-missing binary
searches. Here a cell's answer is found with bit arithmetic and two gathers: its ``ANCHOR_RES``
ancestor selects a block of a small row table (one searchsorted among a handful of anchors),
the cell's digits ``ANCHOR_RES + 1 .. BUCKET_RES`` pick its bucket's row there, and the last
three digits pick the slot in that row (as the single-fix nodes do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tracker.geofence.cells import (
    BUCKET_RES,
    SLOT_MASK,
    SLOT_SHIFT,
    U64,
    parent_masks,
    parents,
    unique_cells,
)

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]

ANCHOR_RES = 5  # one anchor covers ~250 km²: a city has a few dozen
_ANCHOR_AND, _ANCHOR_OR = parent_masks(ANCHOR_RES)
MID_SHIFT = 3 * (15 - BUCKET_RES)
_MID_BITS = 3 * (BUCKET_RES - ANCHOR_RES)
MID_MASK = (1 << _MID_BITS) - 1
_SLOTS = SLOT_MASK + 1
_SLOT_BITS = _SLOTS.bit_length() - 1


def _mid(cells: U64) -> I64:
    out: I64 = ((cells >> np.uint64(MID_SHIFT)) & np.uint64(MID_MASK)).astype(np.int64)
    return out


def _slot(cells: U64) -> I64:
    out: I64 = ((cells >> np.uint64(SLOT_SHIFT)) & np.uint64(SLOT_MASK)).astype(np.int64)
    return out


@dataclass(frozen=True, slots=True)
class DenseCells:
    buckets: U64  # sorted BUCKET_RES cells, one per row of ``slots``
    anchors: U64  # sorted ANCHOR_RES cells
    rows: I32  # anchor block (2**_MID_BITS entries each) -> bucket row; the empty row if none
    slots: I32  # (buckets + 1) * 512 answer ids, row after row; the last row is all empty

    @classmethod
    def build(
        cls, leaf_cells: U64, leaf_entry: I64, bucket_cells: U64, bucket_entry: I64, empty: int
    ) -> DenseCells:
        """From the sorted leaf and bucket tables of a batch table (``empty``: the id of the
        empty answer)."""
        leaf_buckets = parents(leaf_cells, BUCKET_RES)
        buckets = unique_cells(np.concatenate([bucket_cells, leaf_buckets]))
        n = buckets.size
        slots = np.full((n + 1, _SLOTS), empty, dtype=np.int32)
        slots[np.searchsorted(buckets, bucket_cells), :] = bucket_entry[:, None]
        slots[np.searchsorted(buckets, leaf_buckets), _slot(leaf_cells)] = leaf_entry
        bucket_anchor = parents(buckets, ANCHOR_RES)
        anchors = unique_cells(bucket_anchor)
        rows = np.full(anchors.size << _MID_BITS, n, dtype=np.int32)
        block = np.searchsorted(anchors, bucket_anchor).astype(np.int64)
        rows[(block << _MID_BITS) | _mid(buckets)] = np.arange(n, dtype=np.int32)
        return cls(buckets, anchors, rows, slots.ravel())

    @property
    def nbytes(self) -> int:
        return int(self.buckets.nbytes + self.anchors.nbytes + self.rows.nbytes + self.slots.nbytes)

    def entries(self, cells: U64) -> I64:
        """The answer id of each ``QUERY_RES`` cell."""
        empty_row = self.slots.size // _SLOTS - 1
        if self.anchors.size == 0:
            return np.full(cells.size, self.slots[-1], dtype=np.int64)
        anchor = (cells & np.uint64(_ANCHOR_AND)) | np.uint64(_ANCHOR_OR)
        block = np.searchsorted(self.anchors, anchor)
        np.minimum(block, self.anchors.size - 1, out=block)
        known = self.anchors[block] == anchor
        row = self.rows[(block << _MID_BITS) | _mid(cells)].astype(np.int64)
        row[~known] = empty_row
        out: I64 = self.slots[(row << _SLOT_BITS) | _slot(cells)].astype(np.int64)
        return out

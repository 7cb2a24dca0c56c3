"""Covers flattened into (cell, code) rows and grouped into shared answer sets, with numpy.

A row says "fence ``code >> 1`` is in this cell, exact test needed if ``code & 1``". Rows live at
two resolutions only: ``BUCKET_RES`` (a whole bucket, from cells that coarse or coarser) and
``QUERY_RES`` (one lookup cell, from finer cells pushed down). Every ``QUERY_RES`` row set also
holds its bucket's rows, so one dict hit answers a lookup. Cells with the same set of codes share
one entry (sets found by a 128-bit sum of mixed codes), which keeps memory small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tracker.geofence.cells import (
    BUCKET_RES,
    QUERY_RES,
    U64,
    expand_to,
    parents,
    resolution_of,
    unique_cells,
)
from tracker.geofence.cover import Cover

I64 = NDArray[np.int64]
_EMPTY_U64 = np.zeros(0, dtype=np.uint64)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Rows:
    bucket_cells: U64
    bucket_codes: I64
    leaf_cells: U64
    leaf_codes: I64

    @classmethod
    def of_cover(cls, cover: Cover, fence_idx: int) -> Rows:
        cells = np.concatenate([cover.interior, cover.boundary]).astype(np.uint64)
        codes = np.full(cells.size, 2 * fence_idx, dtype=np.int64)
        codes[cover.interior.size :] += 1
        coarse = resolution_of(cells) <= BUCKET_RES
        b_cells, b_codes = expand_to(cells[coarse], codes[coarse], BUCKET_RES)
        l_cells, l_codes = expand_to(cells[~coarse], codes[~coarse], QUERY_RES)
        return cls(b_cells, b_codes, l_cells, l_codes)

    @classmethod
    def concat(cls, parts: list[Rows]) -> Rows:
        if not parts:
            return cls(_EMPTY_U64, _EMPTY_I64, _EMPTY_U64, _EMPTY_I64)
        return cls(
            np.concatenate([p.bucket_cells for p in parts]),
            np.concatenate([p.bucket_codes for p in parts]),
            np.concatenate([p.leaf_cells for p in parts]),
            np.concatenate([p.leaf_codes for p in parts]),
        )

    def buckets(self) -> U64:
        """Every bucket these rows touch."""
        return unique_cells(np.r_[self.bucket_cells, parents(self.leaf_cells, BUCKET_RES)])


@dataclass(frozen=True, slots=True)
class Grouped:
    """Sorted unique cells (buckets and leaves mixed), each with an entry id; entries as CSR."""

    cells: U64
    entry_of_cell: I64
    entry_off: I64
    entry_codes: I64


def ragged_ranges(starts: I64, lengths: I64) -> I64:
    """Concatenation of ``range(s, s + n)`` for each pair, vectorised."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)


def with_bucket_rows(rows: Rows) -> tuple[U64, I64]:
    """All rows, each leaf cell also given its bucket's rows."""
    leaves = unique_cells(rows.leaf_cells)
    order = np.argsort(rows.bucket_cells, kind="stable")
    b_cells, b_codes = rows.bucket_cells[order], rows.bucket_codes[order]
    of_leaf = parents(leaves, BUCKET_RES)
    lo = np.searchsorted(b_cells, of_leaf, side="left")
    hi = np.searchsorted(b_cells, of_leaf, side="right")
    picked = ragged_ranges(lo.astype(np.int64), (hi - lo).astype(np.int64))
    cells = np.concatenate([b_cells, rows.leaf_cells, np.repeat(leaves, hi - lo)])
    codes = np.concatenate([b_codes, rows.leaf_codes, b_codes[picked]])
    return cells, codes


def group(cells: U64, codes: I64) -> Grouped:
    order = np.lexsort((codes, cells))
    cells, codes = cells[order], codes[order]
    if cells.size:
        fresh = np.r_[True, (cells[1:] != cells[:-1]) | (codes[1:] != codes[:-1])]
        cells, codes = cells[fresh], codes[fresh]
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]]) if cells.size else _EMPTY_I64
    if starts.size == 0:
        return Grouped(_EMPTY_U64, _EMPTY_I64, np.zeros(1, np.int64), _EMPTY_I64)
    mixed = [np.add.reduceat(_mix(codes.astype(np.uint64), seed), starts) for seed in (1, 2)]
    sums = np.ascontiguousarray(np.column_stack(mixed)).view(np.dtype((np.void, 16))).ravel()
    _, first, inverse = np.unique(sums, return_index=True, return_inverse=True)
    lengths = np.diff(np.r_[starts, cells.size])
    rep_len = lengths[first]
    entry_off = np.r_[0, np.cumsum(rep_len)].astype(np.int64)
    entry_codes = codes[ragged_ranges(starts[first], rep_len)]
    return Grouped(cells[starts], inverse.ravel().astype(np.int64), entry_off, entry_codes)


def _mix(values: U64, seed: int) -> U64:
    """splitmix64 finaliser: spreads codes so that sums identify sets."""
    with np.errstate(over="ignore"):
        z = values + np.uint64((seed * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out: U64 = z ^ (z >> np.uint64(31))
    return out

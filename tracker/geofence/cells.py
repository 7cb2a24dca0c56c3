"""H3 cell arithmetic on 64-bit integers, scalar and vectorised.

Every lookup computes the point's cell once at ``QUERY_RES`` and its ``BUCKET_RES`` parent by
bit masks (cheaper than an H3 call). A coarser cell stands for the union of its ``QUERY_RES``
descendants, and covers are built for that region (see cover.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

U64 = NDArray[np.uint64]

QUERY_RES = 12
MIN_RES = 7  # covers are not compacted coarser than this
BUCKET_RES = 9  # a point's res-9 parent selects the bucket holding its answers

_RES_SHIFT = 52
_RES_BITS = 0xF << _RES_SHIFT
_ALL = (1 << 64) - 1


def _low_digits(res: int) -> int:
    return (1 << (3 * (15 - res))) - 1


def parent_masks(res: int) -> tuple[int, int]:
    """``(and_mask, or_mask)`` with ``parent = (cell & and_mask) | or_mask``."""
    low = _low_digits(res)
    return _ALL & ~_RES_BITS & ~low, (res << _RES_SHIFT) | low


def resolution_of(cells: U64) -> NDArray[np.int64]:
    return ((cells >> np.uint64(_RES_SHIFT)) & np.uint64(0xF)).astype(np.int64)


def parents(cells: U64, res: int) -> U64:
    and_mask, or_mask = parent_masks(res)
    out: U64 = (cells & np.uint64(and_mask)) | np.uint64(or_mask)
    return out


def _children_once(cells: U64, level: int) -> U64:
    """The 7 children at ``level`` of each cell at ``level - 1``, row-major per parent."""
    base = (cells & np.uint64(_ALL & ~_RES_BITS)) | np.uint64(level << _RES_SHIFT)
    shift = np.uint64(3 * (15 - level))
    cleared = base & ~(np.uint64(7) << shift)
    kids: U64 = (cleared[:, None] | (np.arange(7, dtype=np.uint64)[None, :] << shift)).ravel()
    return kids


def expand_to(cells: U64, values: NDArray[Any], res: int) -> tuple[U64, NDArray[Any]]:
    """Cells no finer than ``res`` replaced by their descendants at ``res``, each carrying its
    ancestor's value (pentagons get a few phantom children, never produced by a lookup)."""
    out, vals = np.asarray(cells, dtype=np.uint64), np.asarray(values)
    if out.size == 0:
        return out, vals
    for level in range(int(resolution_of(out).min()) + 1, res + 1):
        coarse = resolution_of(out) < level
        if not coarse.any():
            continue
        kids = _children_once(out[coarse], level)
        out = np.concatenate([out[~coarse], kids])
        vals = np.concatenate([vals[~coarse], np.repeat(vals[coarse], 7)])
    return out, vals


def descendants_at(cells: U64, res: int) -> U64:
    """All children at ``res`` of cells no finer than ``res``."""
    out, _ = expand_to(cells, np.zeros(np.asarray(cells).size, dtype=np.int64), res)
    return out


def unique_cells(cells: U64) -> U64:
    """Sorted unique cells (a plain sort: numpy's hash-based unique is slower on these)."""
    out = np.sort(np.asarray(cells, dtype=np.uint64))
    if out.size == 0:
        return out
    kept: U64 = out[np.r_[True, out[1:] != out[:-1]]]
    return kept


# A ``QUERY_RES`` cell's place in its ``BUCKET_RES`` bucket: digits 10 to 12 (9 bits).
SLOT_SHIFT = 3 * (15 - QUERY_RES)
SLOT_MASK = (1 << 3 * (QUERY_RES - BUCKET_RES)) - 1
DEFAULT_SLOT = SLOT_MASK  # digits 7-7-7 name no cell: the slot holds the bucket's own answer
_LEAF_BASE_AND = _ALL & ~_RES_BITS & ~_low_digits(BUCKET_RES)
_LEAF_BASE_OR = (QUERY_RES << _RES_SHIFT) | _low_digits(QUERY_RES)


def slots_of(cells: U64) -> NDArray[np.int64]:
    out = ((cells >> np.uint64(SLOT_SHIFT)) & np.uint64(SLOT_MASK)).astype(np.int64)
    return out


def leaf_cells(bucket: int, slots: NDArray[np.int64]) -> U64:
    """The ``QUERY_RES`` cells at ``slots`` of ``bucket``."""
    base = np.uint64((bucket & _LEAF_BASE_AND) | _LEAF_BASE_OR)
    out: U64 = base | (slots.astype(np.uint64) << np.uint64(SLOT_SHIFT))
    return out


def ragged_ranges(starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenation of ``range(s, s + n)`` for each pair, vectorised."""
    total = int(lengths.sum())
    first = np.cumsum(lengths) - lengths
    out: NDArray[np.int64] = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lengths)
    return out

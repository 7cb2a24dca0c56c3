"""Covers flattened into per-resolution rows, and the answer of every lookup cell, with numpy.

A row says "fence ``code >> 1`` is in this cell, exact test needed if ``code & 1``". Rows are
kept at resolutions ``BUCKET_RES`` (coarser cells expanded to it) to ``QUERY_RES``, grouped by
cell. A lookup cell's answer is the union of the groups of its ancestors at every level (a
fence's cells are disjoint, so the union is a plain concatenation), and a set is identified by a
128-bit sum of mixed codes, which is additive over levels. So the sets of all lookup cells are
found without expanding rows to every cell, and each distinct set is materialised once.
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
    ragged_ranges,
    resolution_of,
    unique_cells,
)
from tracker.geofence.cover import Cover

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]  # codes: 2 * fence index + needs-test; half the memory of int64
LEVELS = tuple(range(BUCKET_RES, QUERY_RES + 1))
_EMPTY_U64 = np.zeros(0, dtype=np.uint64)
_EMPTY_I32 = np.zeros(0, dtype=np.int32)


def cover_rows(cover: Cover, fence_idx: int) -> tuple[U64, I32]:
    """A cover's cells (coarse ones expanded to ``BUCKET_RES``) and their codes."""
    cells = np.concatenate([cover.interior, cover.boundary]).astype(np.uint64)
    codes = np.full(cells.size, 2 * fence_idx, dtype=np.int32)
    codes[cover.interior.size :] += 1
    coarse = resolution_of(cells) < BUCKET_RES
    if coarse.any():
        kids, kid_codes = expand_to(cells[coarse], codes[coarse], BUCKET_RES)
        cells = np.concatenate([cells[~coarse], kids])
        codes = np.concatenate([codes[~coarse], kid_codes])
    return cells, codes


@dataclass(frozen=True, slots=True)
class Level:
    """Rows of one resolution grouped by cell (CSR), with each group's set hash."""

    cells: U64
    off: I64
    codes: I32
    hashes: NDArray[np.uint64]  # (n, 2)

    @classmethod
    def of(cls, cells: U64, codes: I32) -> Level:
        if cells.size == 0:
            return cls(_EMPTY_U64, np.zeros(1, np.int64), _EMPTY_I32, np.zeros((0, 2), np.uint64))
        cells, codes = sorted_rows(cells, codes)
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        firsts = cells[starts]
        del cells
        sums = [np.add.reduceat(_mix(codes, s), starts) for s in (1, 2)]
        off = np.r_[starts, codes.size].astype(np.int64)
        return cls(firsts, off, codes, np.column_stack(sums))

    def find(self, cells: U64) -> I64:
        """Group index of each cell, -1 where there is none."""
        if self.cells.size == 0:
            return np.full(cells.size, -1, dtype=np.int64)
        pos = np.searchsorted(self.cells, cells)
        pos[pos == self.cells.size] = 0
        return np.where(self.cells[pos] == cells, pos, -1).astype(np.int64)


def sorted_rows(cells: U64, codes: I32) -> tuple[U64, I32]:
    """Rows of one resolution sorted by cell, then code. When cell digits and code fit in 64 bits
    (always, for cities), both are packed into one key and sorted in place: a plain sort, no
    argsort and gathers, and no index array the size of the rows."""
    res = int(resolution_of(cells[:1])[0])
    low = 3 * (15 - res)  # the unused digits (all 7)
    code_bits = max(int(codes.max()).bit_length(), 1)
    if 7 + 3 * res + code_bits > 64 or int(codes.min()) < 0:
        order = np.lexsort((codes, cells))
        return cells[order], codes[order]
    body = np.uint64((1 << 52) - 1)  # base cell and digits
    top = int(cells[0]) & ~((1 << 52) - 1)  # mode and resolution: the same for every row
    key = ((cells & body) >> np.uint64(low)) << np.uint64(code_bits)
    key |= codes.astype(np.uint64)
    key.sort()
    out_codes = (key & np.uint64((1 << code_bits) - 1)).astype(np.int32)
    key >>= np.uint64(code_bits)
    key <<= np.uint64(low)
    key |= np.uint64(top | ((1 << low) - 1))
    return key, out_codes


@dataclass(frozen=True, slots=True)
class Grouped:
    """Bucket and lookup cells (sorted) with entry ids; entries as CSR over codes."""

    bucket_cells: U64
    bucket_entry: I64
    leaf_cells: U64
    leaf_entry: I64
    entry_off: I64
    entry_codes: I32


def levels_of(covers: list[Cover], footprints: dict[str, U64] | None = None) -> dict[int, Level]:
    """Rows of all covers by level. Empties ``covers`` as it goes, so that the cover arrays
    are freed while the (larger) row arrays grow: peak memory matters at city size. Fills
    ``footprints`` (fence id -> the sorted buckets its rows touch) on the way."""
    cells: dict[int, list[U64]] = {r: [] for r in LEVELS}
    codes: dict[int, list[I32]] = {r: [] for r in LEVELS}
    covers.reverse()
    for i in range(len(covers)):
        cover = covers.pop()
        row_cells, row_codes = cover_rows(cover, i)
        if footprints is not None:
            footprints[cover.fence.fence_id] = unique_cells(parents(row_cells, BUCKET_RES))
        res = resolution_of(row_cells)
        per_level = np.bincount(res, minlength=QUERY_RES + 1)
        for r in np.flatnonzero(per_level).tolist():
            pick = res == r
            cells[r].append(row_cells[pick])
            codes[r].append(row_codes[pick])
    levels = {}
    for r in LEVELS:
        level_cells = np.concatenate(cells.pop(r)) if cells[r] else _EMPTY_U64
        level_codes = np.concatenate(codes.pop(r)) if codes[r] else _EMPTY_I32
        levels[r] = Level.of(level_cells, level_codes)
    return levels


def group(levels: dict[int, Level]) -> Grouped:
    """Every lookup cell's set (as group indices per level), deduplicated by hash."""
    fine = [
        expand_to(levels[r].cells, np.zeros(levels[r].cells.size, np.int64), QUERY_RES)[0]
        for r in LEVELS[1:]
    ]
    leaves = unique_cells(np.concatenate(fine))
    buckets = levels[BUCKET_RES].cells
    # member[k][j]: group of candidate set j at level LEVELS[k]; buckets first, then leaves
    member = [np.r_[np.arange(buckets.size), levels[BUCKET_RES].find(parents(leaves, BUCKET_RES))]]
    for r in LEVELS[1:]:
        anc = leaves if r == QUERY_RES else parents(leaves, r)
        member.append(np.r_[np.full(buckets.size, -1, np.int64), levels[r].find(anc)])
    total = np.zeros((buckets.size + leaves.size, 2), dtype=np.uint64)
    for r, groups in zip(LEVELS, member, strict=True):
        has = groups >= 0
        total[has] += levels[r].hashes[groups[has]]
    first, inverse = _distinct_rows(total)
    entry_off, entry_codes = _materialise(levels, [m[first] for m in member])
    inverse = inverse.ravel().astype(np.int64)
    return Grouped(
        buckets, inverse[: buckets.size], leaves, inverse[buckets.size :], entry_off, entry_codes
    )


def _distinct_rows(total: NDArray[np.uint64]) -> tuple[I64, I64]:
    """First occurrence of each distinct row of ``total`` (n, 2) and each row's distinct id.
    Distinct by the first column (a plain 64-bit sort) when that is enough, which is checked:
    rows with equal first words must have equal second words; else by both words."""
    _, first, inverse = np.unique(total[:, 0], return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if np.array_equal(total[first[inverse], 1], total[:, 1]):
        return first.astype(np.int64), inverse.astype(np.int64)
    keyed = np.ascontiguousarray(total).view(np.dtype((np.void, 16))).ravel()
    _, first, inverse = np.unique(keyed, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.ravel().astype(np.int64)


def _materialise(levels: dict[int, Level], member: list[I64]) -> tuple[I64, I32]:
    """CSR of the codes of each representative set, level by level."""
    owners, codes = [], []
    for r, groups in zip(LEVELS, member, strict=True):
        has = np.flatnonzero(groups >= 0)
        level = levels[r]
        lo = level.off[groups[has]]
        n = level.off[groups[has] + 1] - lo
        owners.append(np.repeat(has, n))
        codes.append(level.codes[ragged_ranges(lo, n)])
    owner, code = np.concatenate(owners), np.concatenate(codes)
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=member[0].size)
    return np.r_[0, np.cumsum(counts)].astype(np.int64), code[order]


def _mix(values: I32, seed: int) -> U64:
    """splitmix64 finaliser: spreads codes so that sums identify sets (in place, one array)."""
    z = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        z += np.uint64((seed * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z

"""Centres of H3 children from their parent's centre and a per-area table of offsets.

Within one icosahedron face (and one hexagonal base cell) a child's centre is its parent's
centre moved by a lattice step that depends only on the child's digit in H3's planar (gnomonic)
frame. On the sphere, and in lon/lat, that step changes slowly with the place: over one
``GROUP_RES`` cell (~0.1 km²) by a few millimetres for the 40 m and 15 m steps of resolutions
11 and 12. So for every ``GROUP_RES`` cell ("group") the exact centres of one sample family per
resolution are computed once with h3ronpy (a cached table of lon/lat offsets by digit), and
every child in the group gets its parent's centre plus its digit's offset: a few numpy
operations instead of one H3 conversion per cell.

A group gets no table (``None``: callers then use exact centres) when the offsets may jump in
it: a pentagon base cell, or cells of the group's neighbourhood on more than one face (there
the steps change by metres). Each table is checked on a second family far from the sample; its
error, scaled up to the group's extent, must stay within ``CENTRE_TOL_M / 2`` at every level.
Callers add ``CENTRE_TOL_M`` to their distance margins.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from h3.api import basic_int as h3
from h3ronpy.vector import cells_to_coordinates
from numpy.typing import NDArray

from tracker.geo import M_PER_DEG
from tracker.geofence.cells import U64, parents
from tracker.geofence.projection import FloatArray

GROUP_RES = 9
FACE_RES = 7
TABLE_LEVELS = (10, 11, 12)  # child resolutions with offset tables
CENTRE_TOL_M = 0.1  # bound on the error of a centre from the tables (accumulated over levels)
# The check family sits about one res-10 step from the sample; a group reaches ~2.5 steps.
_CHECK_SCALE = 3.0
_PENTAGON_BASES = frozenset([4, 14, 24, 38, 49, 58, 63, 72, 83, 97, 107, 117])
_MAX_TABLES = 500_000

Table = NDArray[np.float64]  # (3, 7, 2): level, digit, (dlon, dlat) in degrees
_rows: dict[int, int] = {}  # group -> row of _store and _valid
_store = np.zeros((0, 3, 7, 2))
_valid = np.zeros(0, dtype=np.bool_)
_lock = threading.Lock()


def exact_centres(cells: U64) -> tuple[FloatArray, FloatArray]:
    """``(lons, lats)`` of the cells' centres, from h3ronpy."""
    if cells.size == 0:
        return np.zeros(0), np.zeros(0)
    table = cells_to_coordinates(np.asarray(cells, dtype=np.uint64))
    return np.asarray(table.column(1), dtype=np.float64), np.asarray(
        table.column(0), dtype=np.float64
    )


def children(cells: U64, res: int) -> U64:
    """The 7 children at ``res`` of each cell at ``res - 1``, by digit, parent after parent."""
    shift = np.uint64(3 * (15 - res))
    base = (cells & ~np.uint64(0xF << 52)) | np.uint64(res << 52)
    base &= ~(np.uint64(7) << shift)
    out: U64 = (base[:, None] | (np.arange(7, dtype=np.uint64)[None, :] << shift)).ravel()
    return out


@lru_cache(maxsize=65536)
def _single_face(area: int) -> bool:
    """Whether a ``FACE_RES`` cell and its neighbours (so every group in it and the groups'
    neighbours) lie on one icosahedron face."""
    faces: set[int] = set()
    for cell in h3.grid_disk(area, 1):
        faces.update(h3.get_icosahedron_faces(cell))
    return len(faces) == 1


def _build(groups: list[int]) -> list[Table | None]:
    """Offset tables of ``GROUP_RES`` cells (see the module docstring)."""
    bases = ((np.array(groups, dtype=np.uint64) >> np.uint64(45)) & np.uint64(0x7F)).tolist()
    plain = [g for g, b in zip(groups, bases, strict=True) if b not in _PENTAGON_BASES]
    built = dict(zip(plain, _build_plain(plain), strict=True)) if plain else {}
    return [built.get(g) for g in groups]


def _build_plain(groups: list[int]) -> list[Table | None]:
    """Offset tables of groups outside pentagon base cells."""
    g = np.array(groups, dtype=np.uint64)
    n = g.size
    # Sample parents (centre descendants) and check parents (digit 1, then 1 again).
    sample = [g, children(g, 10)[0::7], children(children(g, 10)[0::7], 11)[0::7]]
    check = [g, children(g, 10)[1::7], children(children(g, 10)[1::7], 11)[1::7]]
    parts = [g]
    for level, s, c in zip(TABLE_LEVELS, sample, check, strict=True):
        parts += [s, children(s, level), c, children(c, level)]
    lons, lats = exact_centres(np.concatenate(parts))
    kx = np.cos(np.radians(lats[:n])) * M_PER_DEG
    pos = n
    tables = np.zeros((n, 3, 7, 2))
    worst = np.zeros(n)
    for k in range(3):
        s_lon, s_lat = lons[pos : pos + n], lats[pos : pos + n]
        pos += n
        kid_lon = lons[pos : pos + 7 * n].reshape(n, 7)
        kid_lat = lats[pos : pos + 7 * n].reshape(n, 7)
        pos += 7 * n
        c_lon, c_lat = lons[pos : pos + n], lats[pos : pos + n]
        pos += n
        chk_lon = lons[pos : pos + 7 * n].reshape(n, 7)
        chk_lat = lats[pos : pos + 7 * n].reshape(n, 7)
        pos += 7 * n
        tables[:, k, :, 0] = kid_lon - s_lon[:, None]
        tables[:, k, :, 1] = kid_lat - s_lat[:, None]
        dx = (c_lon[:, None] + tables[:, k, :, 0] - chk_lon) * kx[:, None]
        dy = (c_lat[:, None] + tables[:, k, :, 1] - chk_lat) * M_PER_DEG
        worst += np.hypot(dx, dy).max(axis=1) * _CHECK_SCALE
    out: list[Table | None] = []
    for i, group in enumerate(groups):
        ok = (
            worst[i] <= CENTRE_TOL_M / 2
            and np.isfinite(tables[i]).all()
            and _single_face(h3.cell_to_parent(group, FACE_RES))
        )
        out.append(tables[i] if ok else None)
    return out


def tables_of(groups: U64) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """``(n, 3, 7, 2)`` offset tables of sorted unique ``GROUP_RES`` cells, and whether each
    group has one (zeros where it has none)."""
    global _store, _valid
    keys = groups.tolist()
    with _lock:  # rows are renumbered when the store is cleared: read them with the store
        row_of = _rows.get
        rows = [row_of(k, -1) for k in keys]
        if -1 in rows:
            missing = [k for k, r in zip(keys, rows, strict=True) if r == -1]
            built = _build(missing)
            if len(_rows) + len(missing) > _MAX_TABLES:
                _rows.clear()
            size = len(_rows) + len(missing)
            if size > _store.shape[0]:
                grown = np.zeros((2 * size, 3, 7, 2))
                grown[: _store.shape[0]] = _store
                valid = np.zeros(2 * size, dtype=np.bool_)
                valid[: _valid.size] = _valid
                _store, _valid = grown, valid
            for k, table in zip(missing, built, strict=True):
                row = _rows.setdefault(k, len(_rows))
                _store[row] = 0.0 if table is None else table
                _valid[row] = table is not None
            rows = [_rows[k] for k in keys]
        picks = np.array(rows, dtype=np.int64)
        return _store[picks], _valid[picks]


def child_centres(
    cells: U64, lons: FloatArray, lats: FloatArray, res: int
) -> tuple[U64, FloatArray, FloatArray, NDArray[np.bool_]]:
    """Children at ``res`` of ``cells`` (at ``res - 1``, centres ``lons``/``lats``), digit-major
    (child ``k`` of cell ``i`` at ``k * cells.size + i``), with their centres: exact up to
    ``GROUP_RES``, from the offset tables below it; and for each parent whether its children's
    centres are known (``False`` where its group has no table)."""
    kids = children(cells, res).reshape(-1, 7).T.ravel()  # digit-major
    if res <= GROUP_RES:
        kid_lons, kid_lats = exact_centres(kids)
        return kids, kid_lons, kid_lats, np.ones(cells.size, dtype=np.bool_)
    groups = parents(cells, GROUP_RES) if res > GROUP_RES + 1 else cells
    keys, which = np.unique(groups, return_inverse=True)
    which = which.ravel()
    tables, valid = tables_of(keys)
    step = tables[:, res - TABLE_LEVELS[0]]  # (n_groups, 7, 2)
    picked = step[which]  # (n_cells, 7, 2)
    kid_lons = (lons[None, :] + picked[:, :, 0].T).ravel()
    kid_lats = (lats[None, :] + picked[:, :, 1].T).ravel()
    return kids, kid_lons, kid_lats, valid[which]

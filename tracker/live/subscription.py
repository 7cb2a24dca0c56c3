"""What a live client wants, and a grid index that routes a fix to the clients that want it.

A fix reaches a client when its company passes the client's company filter and it lies inside the
client's viewport or belongs to one of the vehicles it follows; a client with neither viewport nor
vehicles gets every fix its company filter admits. Viewports are indexed on a lon/lat grid, so
routing a fix looks at the clients of one cell (plus the few "wide" ones), never at all clients.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat
CELL_DEG = 0.01  # ≈ 1 km: a street-level viewport covers a few cells, a city a few hundred
MAX_CELLS = 4096  # a viewport covering more cells is kept in the wide list instead
MAX_IDS = 10_000
K = TypeVar("K")


class SubscriptionError(ValueError):
    """A subscribe message that cannot be understood (its text is sent back to the client)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    bbox: BBox | None = None
    company_ids: frozenset[int] | None = None
    vehicle_ids: frozenset[int] = field(default_factory=frozenset)
    incident_types: frozenset[str] = field(default_factory=frozenset)

    def wants_fix(self, vehicle_id: int, lon: float, lat: float, company_id: int | None) -> bool:
        if self.company_ids is not None and company_id not in self.company_ids:
            return False
        if self.bbox is None and not self.vehicle_ids:
            return True
        if vehicle_id in self.vehicle_ids:
            return True
        return self.bbox is not None and in_bbox(self.bbox, lon, lat)

    def wants_incident(self, kind: str, company_id: int | None) -> bool:
        if self.company_ids is not None and company_id not in self.company_ids:
            return False
        return kind in self.incident_types or "*" in self.incident_types

    def restricted_to(self, company_id: int | None) -> Subscription:
        """The same subscription, seen through a company user's own company only."""
        if company_id is None:
            return self
        own = frozenset({company_id})
        return Subscription(self.bbox, own, self.vehicle_ids, self.incident_types)


def in_bbox(bbox: BBox, lon: float, lat: float) -> bool:
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def _ids(value: Any, name: str) -> frozenset[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise SubscriptionError(f"{name} must be a list of at most {MAX_IDS} integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise SubscriptionError(f"{name} must hold integers")
    return frozenset(value)


def _bbox(value: Any) -> BBox | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 4):
        raise SubscriptionError("bbox is [min_lon, min_lat, max_lon, max_lat]")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise SubscriptionError("bbox holds numbers")
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in value)
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise SubscriptionError("bbox corners out of range or out of order")
    return min_lon, min_lat, max_lon, max_lat


def parse_subscription(message: dict[str, Any]) -> Subscription:
    """A ``subscribe`` message's filters (missing ones mean "no filter")."""
    types = message.get("incident_types") or []
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise SubscriptionError("incident_types must be a list of strings")
    return Subscription(
        bbox=_bbox(message.get("bbox")),
        company_ids=_ids(message.get("company_ids"), "company_ids"),
        vehicle_ids=_ids(message.get("vehicle_ids"), "vehicle_ids") or frozenset(),
        incident_types=frozenset(types),
    )


def cell_of(lon: float, lat: float) -> tuple[int, int]:
    return math.floor(lon / CELL_DEG), math.floor(lat / CELL_DEG)


def cells_of(bbox: BBox) -> list[tuple[int, int]] | None:
    """The grid cells a viewport touches, or None when there are too many to index."""
    x0, y0 = cell_of(bbox[0], bbox[1])
    x1, y1 = cell_of(bbox[2], bbox[3])
    if (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_CELLS:
        return None
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


class SubscriptionIndex:
    """Client keys by grid cell, by followed vehicle, and a short list of wide viewports.

    ``candidates`` may return a client that does not want the fix (a cell is coarser than a
    viewport); the caller checks :meth:`Subscription.wants_fix`.
    """

    def __init__(self) -> None:
        self._cells: dict[tuple[int, int], set[int]] = {}
        self._vehicles: dict[int, set[int]] = {}
        self._wide: set[int] = set()
        self._placed: dict[int, tuple[list[tuple[int, int]], frozenset[int], bool]] = {}

    def __len__(self) -> int:
        return len(self._placed)

    def put(self, key: int, sub: Subscription) -> None:
        self.remove(key)
        cells: list[tuple[int, int]] = []
        wide = sub.bbox is None and not sub.vehicle_ids
        if sub.bbox is not None:
            found = cells_of(sub.bbox)
            if found is None:
                wide = True
            else:
                cells = found
        for cell in cells:
            self._cells.setdefault(cell, set()).add(key)
        for vid in sub.vehicle_ids:
            self._vehicles.setdefault(vid, set()).add(key)
        if wide:
            self._wide.add(key)
        self._placed[key] = (cells, sub.vehicle_ids, wide)

    def remove(self, key: int) -> None:
        placed = self._placed.pop(key, None)
        if placed is None:
            return
        cells, vehicles, wide = placed
        _discard_all(self._cells, cells, key)
        _discard_all(self._vehicles, vehicles, key)
        if wide:
            self._wide.discard(key)

    def candidates(self, vehicle_id: int, lon: float, lat: float) -> Iterator[int]:
        yield from self._cells.get(cell_of(lon, lat), ())
        yield from self._vehicles.get(vehicle_id, ())
        yield from self._wide


def _discard_all(table: dict[K, set[int]], keys: Iterable[K], key: int) -> None:
    for k in keys:
        members = table.get(k)
        if members is not None:
            members.discard(key)
            if not members:
                del table[k]

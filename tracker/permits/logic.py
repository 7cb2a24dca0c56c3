"""Approval checks, pure: the facts of a permit in, the reasons to refuse it out.

No database, Redis or clock: the caller gathers :class:`PermitFacts` (including ``today``) and
decides what to do with the :class:`Refusal` list (empty means the permit may be approved).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import shapely
from shapely.geometry import shape

from tracker.geofence.errors import GeometryError
from tracker.geofence.fences import CorridorFence
from tracker.geofence.geojson import fence_from_geojson
from tracker.geofence.projection import LocalProjection
from tracker.times import DAY_MIN, parse_hhmm

ENDPOINT_TOLERANCE_M = 100.0  # a corridor starts at a site / ends at a yard within this
MAX_VALIDITY_DAYS = 366


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str
    field: str


@dataclass(frozen=True, slots=True)
class VehicleFact:
    id: int
    plate: str
    company_id: int
    active: bool
    blacklisted: bool  # an active listing (view blacklisted_vehicles)


@dataclass(frozen=True, slots=True)
class PlaceFact:
    id: int
    name: str
    geometry: dict[str, Any]
    active: bool


@dataclass(frozen=True, slots=True)
class YardFact(PlaceFact):
    capacity_m3: float
    committed_m3: float  # other approved, unexpired permits' share of their quota here
    fill_m3: float = 0.0  # what the capacity ledger says the yard holds now


@dataclass(frozen=True, slots=True)
class ZoneFact:
    id: int
    name: str
    geometry: dict[str, Any]
    schedule: list[dict[str, Any]]  # weekly local windows (start, end, days); empty: always


@dataclass(frozen=True, slots=True)
class CorridorFact:
    geometry: dict[str, Any]
    half_width_m: float


@dataclass(frozen=True, slots=True)
class PermitFacts:
    company_id: int
    valid_from: date
    valid_to: date
    windows: list[tuple[str, str]]  # daily (start, end) "HH:MM", the city's local time
    quota_m3: float
    today: date
    vehicles: list[VehicleFact] = field(default_factory=list)
    sites: list[PlaceFact] = field(default_factory=list)
    yards: list[YardFact] = field(default_factory=list)
    corridors: list[CorridorFact] = field(default_factory=list)
    zones: list[ZoneFact] = field(default_factory=list)
    overlaps: list[tuple[int, int]] = field(default_factory=list)  # (vehicle id, permit id)
    company_grade: str | None = None  # credit grade A-D (tracker.blacklist); D refuses


def approval_refusals(facts: PermitFacts) -> list[Refusal]:
    """Every reason to refuse ``facts``, in a stable order; empty when it is sound."""
    return [
        *_credit(facts),
        *_dates(facts),
        *_windows(facts.windows),
        *_vehicles(facts),
        *_places(facts),
        *_capacity(facts),
        *_corridors(facts),
    ]


def _credit(f: PermitFacts) -> Iterable[Refusal]:
    if f.company_grade == "D":
        yield Refusal(
            "company_grade_d",
            "the company's credit grade is D: no new permits until it improves",
            "company_id",
        )


def _dates(f: PermitFacts) -> Iterable[Refusal]:
    if f.valid_to < f.valid_from:
        yield Refusal("invalid_dates", "valid_to is before valid_from", "valid_to")
    elif f.valid_to < f.today:
        yield Refusal("invalid_dates", f"the permit ended on {f.valid_to}", "valid_to")
    elif (f.valid_to - f.valid_from).days >= MAX_VALIDITY_DAYS:
        yield Refusal("invalid_dates", f"valid for more than {MAX_VALIDITY_DAYS} days", "valid_to")


def spans(start: str, end: str) -> list[tuple[int, int]]:
    """A daily window as half-open minute ranges; past midnight it is two."""
    a, b = parse_hhmm(start), parse_hhmm(end)
    return [(a, b)] if a < b else [(a, DAY_MIN), (0, b)]


def windows_overlap(one: Sequence[tuple[str, str]], other: Sequence[tuple[str, str]]) -> bool:
    ranges = [r for s, e in other for r in spans(s, e)]
    return any(a < d and c < b for s, e in one for a, b in spans(s, e) for c, d in ranges)


def _windows(windows: list[tuple[str, str]]) -> Iterable[Refusal]:
    if not windows:
        yield Refusal("invalid_windows", "at least one daily window is needed", "windows")
    for i, (start, end) in enumerate(windows):
        if start == end:
            yield Refusal("invalid_windows", f"window {start}-{end} is empty", f"windows[{i}]")
        elif windows_overlap([(start, end)], windows[i + 1 :]):
            yield Refusal(
                "invalid_windows", f"window {start}-{end} overlaps a later one", f"windows[{i}]"
            )


def _vehicles(f: PermitFacts) -> Iterable[Refusal]:
    for v in f.vehicles:
        if v.company_id != f.company_id:
            yield Refusal("vehicle_company", f"{v.plate} belongs to another company", "vehicle_ids")
        if not v.active:
            yield Refusal("vehicle_inactive", f"{v.plate} is not active", "vehicle_ids")
        if v.blacklisted:
            yield Refusal("vehicle_blacklisted", f"{v.plate} is blacklisted", "vehicle_ids")
    plates = {v.id: v.plate for v in f.vehicles}
    for vehicle_id, permit_id in f.overlaps:
        yield Refusal(
            "vehicle_overlap",
            f"{plates.get(vehicle_id, vehicle_id)} is already on approved permit {permit_id} "
            "for an overlapping time",
            "vehicle_ids",
        )


def _places(f: PermitFacts) -> Iterable[Refusal]:
    for kind, items in (("site", f.sites), ("yard", f.yards)):
        for p in items:
            if not p.active:
                yield Refusal(f"{kind}_inactive", f"{kind} {p.name} is not active", f"{kind}_ids")


def _capacity(f: PermitFacts) -> Iterable[Refusal]:
    share_m3 = f.quota_m3 / max(len(f.yards), 1)
    for y in f.yards:
        if y.fill_m3 >= y.capacity_m3:
            yield Refusal(
                "yard_full", f"yard {y.name} is full and closed to new permits", "yard_ids"
            )
            continue
        remaining_m3 = y.capacity_m3 - y.committed_m3
        if share_m3 > remaining_m3:
            yield Refusal(
                "yard_capacity",
                f"yard {y.name} has {max(remaining_m3, 0):.0f} m³ left, the permit needs "
                f"{share_m3:.0f} m³",
                "quota_m3",
            )


def _corridors(f: PermitFacts) -> Iterable[Refusal]:
    sites = [shape(s.geometry) for s in f.sites]
    yards = [shape(y.geometry) for y in f.yards]
    for i, c in enumerate(f.corridors):
        where = f"corridors[{i}]"
        try:
            fence = fence_from_geojson(where, c.geometry, half_width_m=c.half_width_m)
        except GeometryError as exc:
            yield Refusal("corridor_geometry", exc.message, f"{where}.{exc.field}")
            continue
        assert isinstance(fence, CorridorFence)
        coords = shapely.get_coordinates(fence.line)
        start, end = (
            (float(coords[0][0]), float(coords[0][1])),
            (
                float(coords[-1][0]),
                float(coords[-1][1]),
            ),
        )
        if not any(distance_m(start, s) <= ENDPOINT_TOLERANCE_M for s in sites):
            yield Refusal("corridor_start", "the corridor does not start at an origin site", where)
        if not any(distance_m(end, y) <= ENDPOINT_TOLERANCE_M for y in yards):
            yield Refusal("corridor_end", "the corridor does not end at a disposal yard", where)
        for zone in crossed_zones(fence, f.zones, f.windows, f.valid_from, f.valid_to):
            yield Refusal(
                "corridor_no_go_zone", f"the corridor crosses no-go zone {zone.name}", where
            )


def distance_m(point: tuple[float, float], area: shapely.Geometry) -> float:
    """Metres from a lon/lat point to a lon/lat area (0 inside), in a frame around the point."""
    proj = LocalProjection.around(*point)
    return float(shapely.distance(shapely.Point(0.0, 0.0), proj.to_metric(area)))


WEEK_MIN = 7 * DAY_MIN
ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)


def week_spans(start: str, end: str, days: Sequence[int]) -> list[tuple[int, int]]:
    """A weekly window as half-open ranges of minutes of the week (Monday 00:00 is 0). A window
    past midnight belongs to the day it starts on: Sunday 22:00-05:00 ends on Monday 05:00."""
    a, b = parse_hhmm(start), parse_hhmm(end)
    out: list[tuple[int, int]] = []
    for d in days:
        base = (d - 1) * DAY_MIN
        if a < b:
            out.append((base + a, base + b))
        else:
            out.append((base + a, base + DAY_MIN))
            following = (d % 7) * DAY_MIN  # the next day, Sunday -> Monday
            out.append((following, following + b))
    return out


def permit_weekdays(valid_from: date | None, valid_to: date | None) -> Sequence[int]:
    """The ISO weekdays among the permit's (local) days; every day when they are not known."""
    if valid_from is None or valid_to is None:
        return ALL_DAYS
    count = min((valid_to - valid_from).days + 1, 7)
    return sorted({(valid_from + timedelta(days=k)).isoweekday() for k in range(count)})


def zone_in_force(
    zone: ZoneFact,
    windows: Sequence[tuple[str, str]],
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> bool:
    """A zone matters when its ban holds during some hauling window on some weekday of the
    permit's validity. The permit's windows are daily: on each valid day, the minutes of the
    day they name (the engine's reading); the zone's start on their weekdays."""
    weekdays = permit_weekdays(valid_from, valid_to)
    if not zone.schedule:
        return bool(weekdays)
    hauling = [
        r
        for day in weekdays
        for s, e in windows
        for lo, hi in spans(s, e)
        for r in [((day - 1) * DAY_MIN + lo, (day - 1) * DAY_MIN + hi)]
    ]
    banned = [
        r
        for w in zone.schedule
        for r in week_spans(w["start"], w["end"], w.get("days") or ALL_DAYS)
    ]
    return any(a < d and c < b for a, b in hauling for c, d in banned)


def crossed_zones(
    fence: CorridorFence,
    zones: Sequence[ZoneFact],
    windows: Sequence[tuple[str, str]],
    valid_from: date,
    valid_to: date,
) -> list[ZoneFact]:
    body = fence.metric_shape(0.0)
    return [
        z
        for z in zones
        if zone_in_force(z, windows, valid_from, valid_to)
        and body.intersects(fence.projection.to_metric(shape(z.geometry)))
    ]

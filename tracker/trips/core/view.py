"""What the engine knows about the registry: fence roles and each vehicle's context.

The worker loads it from the database in one go (``tracker.trips.worker.registry``) into an
immutable :class:`RegistryView`, and swaps in a fresh view on a timer and whenever a fence
notice arrives (permit approval, suspension and expiry publish corridor fence changes, places
publish their fences). Ids handed to the core are registry ids as text for sites, yards and
zones, and fence ids as text for corridors (the geofence index answers distances by fence id).
The registry and permit APIs keep times of day as ``HH:MM`` local wall-clock times of the city's
zone (``settings.city_tz``) with ISO weekdays, and dates as local days: the view carries the zone
(a ``zoneinfo`` value, pure) and the contexts evaluate windows in it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from tracker.times import parse_hhmm
from tracker.trips.core.config import (
    RuleConfigError,
    check_zone_overrides,
    rules_with,
    split_permit_overrides,
)
from tracker.trips.core.models import (
    ALL_DAYS,
    CITY_TZ,
    PermitScope,
    RuleConfig,
    Sensors,
    SiteRule,
    TimeWindow,
    VehicleContext,
    YardRule,
    ZoneRule,
)

log = logging.getLogger(__name__)
Role = Literal["site", "yard", "zone", "corridor"]
DEFAULT_RULES = RuleConfig()

NO_SENSORS = Sensors()


def permit_with(
    scope: PermitScope, city: RuleConfig, overrides: dict[str, Any] | None
) -> PermitScope:
    if not overrides:
        return scope
    where = f"engine_rule_overrides permit {scope.permit_id}"
    try:
        fields, half_width_m = split_permit_overrides(overrides, where)
        rules = rules_with(city, fields, where) if fields else None
    except RuleConfigError as exc:
        log.warning("%s; ignored", exc)
        return scope
    corridors = scope.corridors
    if half_width_m is not None:
        corridors = dict.fromkeys(corridors, half_width_m)
    return replace(scope, corridors=corridors, rules=rules)


def zone_with(zone: ZoneRule, overrides: dict[str, Any] | None) -> ZoneRule:
    if not overrides:
        return zone
    where = f"engine_rule_overrides zone {zone.zone_id}"
    try:
        check_zone_overrides(overrides, where)
        windows = windows_of(overrides["schedule"]) if "schedule" in overrides else None
    except (RuleConfigError, ValueError) as exc:
        log.warning("%s; ignored", exc)
        return zone
    limit = overrides.get("speed_limit_kmh", zone.speed_limit_kmh)
    return replace(
        zone,
        no_go=overrides.get("no_go", zone.no_go),
        active_windows=zone.active_windows if windows is None else windows,
        speed_limit_kmh=None if limit is None else float(limit),
    )


def windows_of(raw: list[dict[str, Any]]) -> tuple[TimeWindow, ...]:
    """Windows from ``[{"start": "HH:MM", "end": "HH:MM", "days": [1, ...]}]`` (local times;
    ISO weekdays the window starts on, every day when ``days`` is missing: permits' windows)."""
    out = []
    for w in raw:
        days = frozenset(int(d) for d in w.get("days") or ALL_DAYS)
        if not days <= ALL_DAYS:
            raise ValueError(f"weekdays are 1 (Monday) to 7 (Sunday): {sorted(days)}")
        out.append(TimeWindow(parse_hhmm(w["start"]), parse_hhmm(w["end"]), days))
    return tuple(out)


def schedule_of(raw: list[dict[str, Any]], where: str) -> tuple[TimeWindow, ...]:
    """A zone's stored schedule; one the engine cannot read is logged and the zone holds
    always (the stricter reading), never a failed registry load."""
    try:
        return windows_of(raw)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable schedule (%s); the zone holds always", where, exc)
        return ()


def local_midnight_utc(day: date, tz: tzinfo) -> datetime:
    """The instant (UTC) at which ``day`` starts on the wall clocks of ``tz``."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class VehicleInfo:
    vehicle_id: int
    company_id: int
    rated_volume_m3: float
    blacklisted: bool
    listing_id: int | None = None  # the active blacklist listing (view blacklisted_vehicles)
    sensors: Sensors = NO_SENSORS  # trusted by its terminal model (config.sensors_by_model)


@dataclass(frozen=True, slots=True)
class RegistryView:
    """Fence roles, zone rules, vehicles and their approved permits, as of one load."""

    fence_roles: dict[str, tuple[Role, str]] = field(default_factory=dict)
    zones: dict[str, ZoneRule] = field(default_factory=dict)
    vehicles: dict[int, VehicleInfo] = field(default_factory=dict)
    permits: dict[int, tuple[PermitScope, ...]] = field(default_factory=dict)
    tz: tzinfo = CITY_TZ  # the city's zone (settings.city_tz)
    rules: RuleConfig = DEFAULT_RULES
    yards: dict[str, YardRule] = field(default_factory=dict)  # full, opening hours
    sites: dict[str, SiteRule] = field(default_factory=dict)  # active dates
    # Contexts built so far (the view is immutable, so each vehicle's is built once).
    contexts: dict[int, VehicleContext] = field(default_factory=dict, compare=False, repr=False)
    # Values derived from the view by the core (the annotator's zone grid), built once per view.
    derived: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def context(self, vehicle_id: int) -> VehicleContext:
        ctx = self.contexts.get(vehicle_id)
        if ctx is None:
            ctx = self.contexts[vehicle_id] = self._build_context(vehicle_id)
        return ctx

    def _build_context(self, vehicle_id: int) -> VehicleContext:
        info = self.vehicles.get(vehicle_id)
        return VehicleContext(
            vehicle_id=vehicle_id,
            permits=self.permits.get(vehicle_id, ()),
            zones=self.zones,
            tz=self.tz,
            yards=self.yards,
            sites=self.sites,
            blacklisted=info.blacklisted if info else False,
            blacklist_listing_id=info.listing_id if info else None,
            rated_volume_m3=info.rated_volume_m3 if info else None,
            sensors=info.sensors if info else NO_SENSORS,
            rules=self.rules,
        )

    def company_of(self, vehicle_id: int) -> int | None:
        info = self.vehicles.get(vehicle_id)
        return info.company_id if info else None


def permit_scope(row: dict[str, Any], tz: tzinfo) -> PermitScope:
    """A permit row as the engine sees it: valid over whole local days of ``tz``."""
    return PermitScope(
        permit_id=str(row["id"]),
        valid_from=local_midnight_utc(row["valid_from"], tz),
        valid_until=local_midnight_utc(row["valid_to"] + timedelta(days=1), tz),
        origin_ids=frozenset(str(i) for i in row["site_ids"]),
        yard_ids=frozenset(str(i) for i in row["yard_ids"]),
        corridors={str(k): float(v) for k, v in row["corridors"].items()},
        windows=windows_of(row["windows"]),
        quota_m3=None if row.get("quota_m3") is None else float(row["quota_m3"]),
        hauled_m3=float(row.get("hauled_m3") or 0.0),
    )


def hauled_until_of(row: dict[str, Any], vehicle_id: int) -> datetime | None:
    """The vehicle's latest departure among the permit's completed trips (a row's
    ``hauled_until``: vehicle id as text to an ISO timestamp)."""
    raw = (row.get("hauled_until") or {}).get(str(vehicle_id))
    return None if raw is None else datetime.fromisoformat(raw)


def site_rule(row: dict[str, Any], tz: tzinfo) -> SiteRule:
    """A site's active dates (local days of ``tz``, both included) as UTC instants."""
    start, end = row["active_from"], row["active_to"]
    return SiteRule(
        site_id=str(row["id"]),
        active_from=None if start is None else local_midnight_utc(start, tz),
        active_until=None if end is None else local_midnight_utc(end + timedelta(days=1), tz),
    )


def yard_rule(row: dict[str, Any]) -> YardRule:
    return YardRule(
        yard_id=str(row["id"]),
        full=bool(row["full"]),
        opening_windows=schedule_of(row["opening_hours"] or [], f"yard {row['id']}"),
    )

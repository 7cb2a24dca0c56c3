"""What the engine knows about the registry: fence roles and each vehicle's context.

Loaded from the database in one go (a few small queries) into an immutable
:class:`RegistryView`; the worker swaps in a fresh view on a timer and whenever a fence notice
arrives (permit approval, suspension and expiry publish corridor fence changes, places publish
their fences). Ids handed to the core are registry ids as text for sites, yards and zones, and
fence ids as text for corridors (the geofence index answers distances by fence id).
The registry and permit APIs keep times of day as ``HH:MM`` UTC and dates as UTC days, so the
contexts use a UTC offset of 0 unless told otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from tracker.trips.config import (
    RuleConfigError,
    check_zone_overrides,
    rules_with,
    split_permit_overrides,
)
from tracker.trips.models import (
    PermitScope,
    RuleConfig,
    Sensors,
    TimeWindow,
    VehicleContext,
    ZoneRule,
)

log = logging.getLogger(__name__)
Role = Literal["site", "yard", "zone", "corridor"]
DEFAULT_RULES = RuleConfig()

_PERMITS = """
SELECT p.id, p.valid_from, p.valid_to, p.windows,
       coalesce((SELECT array_agg(vehicle_id) FROM permit_vehicles v WHERE v.permit_id = p.id),
                '{}') AS vehicle_ids,
       coalesce((SELECT array_agg(site_id) FROM permit_sites s WHERE s.permit_id = p.id),
                '{}') AS site_ids,
       coalesce((SELECT array_agg(yard_id) FROM permit_yards y WHERE y.permit_id = p.id),
                '{}') AS yard_ids,
       coalesce((SELECT jsonb_object_agg(c.fence_id::text, c.half_width_m)
                 FROM permit_corridors c WHERE c.permit_id = p.id AND c.fence_id IS NOT NULL),
                '{}') AS corridors
FROM permits p WHERE p.state = 'approved' ORDER BY p.id
"""


_LISTINGS = """
SELECT DISTINCT ON (vehicle_id) vehicle_id, listing_id
FROM blacklisted_vehicles ORDER BY vehicle_id, since DESC, listing_id DESC
"""


# The vehicle's terminal model: its own column, else its newest active terminal's.
_VEHICLES = """
SELECT v.id, v.company_id, v.rated_volume_m3, v.blacklisted,
       coalesce(v.terminal_model,
                (SELECT t.model FROM terminals t WHERE t.vehicle_id = v.id AND t.active
                 ORDER BY t.id DESC LIMIT 1)) AS model
FROM vehicles v
"""
NO_SENSORS = Sensors()


async def _overrides(cur: Any) -> dict[tuple[str, int], dict[str, Any]]:
    await cur.execute("SELECT to_regclass('engine_rule_overrides') IS NOT NULL AS present")
    present = await cur.fetchone()
    if present is None or not present["present"]:
        return {}
    await cur.execute("SELECT scope, scope_id, rules FROM engine_rule_overrides")
    return {(r["scope"], int(r["scope_id"])): r["rules"] for r in await cur.fetchall()}


def _permit_with(
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


def _zone_with(zone: ZoneRule, overrides: dict[str, Any] | None) -> ZoneRule:
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


def parse_hhmm(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def windows_of(raw: list[dict[str, Any]]) -> tuple[TimeWindow, ...]:
    """Daily windows from ``[{"start": "HH:MM", "end": "HH:MM"}]`` (weekdays are ignored)."""
    return tuple(TimeWindow(parse_hhmm(w["start"]), parse_hhmm(w["end"])) for w in raw)


def local_midnight_utc(day: date, utc_offset_min: int) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) - timedelta(minutes=utc_offset_min)


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
    utc_offset_min: int = 0
    rules: RuleConfig = DEFAULT_RULES
    # Contexts built so far (the view is immutable, so each vehicle's is built once).
    contexts: dict[int, VehicleContext] = field(default_factory=dict, compare=False, repr=False)

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
            utc_offset_min=self.utc_offset_min,
            blacklisted=info.blacklisted if info else False,
            blacklist_listing_id=info.listing_id if info else None,
            rated_volume_m3=info.rated_volume_m3 if info else None,
            sensors=info.sensors if info else NO_SENSORS,
            rules=self.rules,
        )

    def company_of(self, vehicle_id: int) -> int | None:
        info = self.vehicles.get(vehicle_id)
        return info.company_id if info else None


async def load_registry(
    conn: AsyncConnection[Any],
    utc_offset_min: int = 0,
    rules: RuleConfig = DEFAULT_RULES,
    sensors: Mapping[str, Sensors] | None = None,
) -> RegistryView:
    """The registry as the engine sees it. ``rules`` is the city layer (``config``); rows of
    ``engine_rule_overrides`` refine it per permit and zone (a bad row is logged and skipped,
    never fatal); ``sensors`` maps terminal models to the sensors trusted for their vehicles."""
    roles: dict[str, tuple[Role, str]] = {}
    zones: dict[str, ZoneRule] = {}
    async with conn.cursor(row_factory=dict_row) as cur:
        overrides = await _overrides(cur)
        places: tuple[tuple[str, Role], ...] = (("sites", "site"), ("yards", "yard"))
        for table, role in places:
            query = sql.SQL("SELECT id, fence_id FROM {} WHERE active")
            await cur.execute(query.format(sql.Identifier(table)))
            for row in await cur.fetchall():
                roles[str(row["fence_id"])] = (role, str(row["id"]))
        await cur.execute("SELECT id, fence_id, schedule, speed_limit_kmh FROM zones WHERE active")
        for row in await cur.fetchall():
            zone_id = str(row["id"])
            roles[str(row["fence_id"])] = ("zone", zone_id)
            limit = row["speed_limit_kmh"]
            zone = ZoneRule(
                zone_id=zone_id,
                active_windows=windows_of(row["schedule"]),
                speed_limit_kmh=float(limit) if limit is not None else None,
            )
            zones[zone_id] = _zone_with(zone, overrides.get(("zone", int(row["id"]))))
        await cur.execute(_VEHICLES)
        by_model = sensors or {}
        vehicles = {
            int(r["id"]): VehicleInfo(
                int(r["id"]),
                int(r["company_id"]),
                float(r["rated_volume_m3"]),
                r["blacklisted"],
                sensors=by_model.get(r["model"] or "", NO_SENSORS),
            )
            for r in await cur.fetchall()
        }
        await cur.execute("SELECT to_regclass('blacklisted_vehicles') IS NOT NULL AS present")
        present = await cur.fetchone()
        # Active listings, from the view of the capacity/credit migration when it is there.
        if present is not None and present["present"]:
            await cur.execute(_LISTINGS)
            for r in await cur.fetchall():
                info = vehicles.get(int(r["vehicle_id"]))
                if info is not None:
                    vehicles[info.vehicle_id] = replace(
                        info, blacklisted=True, listing_id=int(r["listing_id"])
                    )
        await cur.execute(_PERMITS)
        permits: dict[int, list[PermitScope]] = {}
        for row in await cur.fetchall():
            scope = _permit_with(
                _permit_scope(row, utc_offset_min), rules, overrides.get(("permit", row["id"]))
            )
            for fence_id in scope.corridors:
                roles[fence_id] = ("corridor", fence_id)
            for vehicle_id in row["vehicle_ids"]:
                permits.setdefault(int(vehicle_id), []).append(scope)
    return RegistryView(
        roles, zones, vehicles, {k: tuple(v) for k, v in permits.items()}, utc_offset_min, rules
    )


def _permit_scope(row: dict[str, Any], utc_offset_min: int) -> PermitScope:
    return PermitScope(
        permit_id=str(row["id"]),
        valid_from=local_midnight_utc(row["valid_from"], utc_offset_min),
        valid_until=local_midnight_utc(row["valid_to"] + timedelta(days=1), utc_offset_min),
        origin_ids=frozenset(str(i) for i in row["site_ids"]),
        yard_ids=frozenset(str(i) for i in row["yard_ids"]),
        corridors={str(k): float(v) for k, v in row["corridors"].items()},
        windows=windows_of(row["windows"]),
    )

"""Loading the engine's :class:`~tracker.trips.core.view.RegistryView` from the database.

A few small queries in one go; rows of ``engine_rule_overrides`` refine the city's rules per
permit and zone (a bad row is logged and skipped by the core's ``permit_with``/``zone_with``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import tzinfo
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from tracker.trips.core.models import (
    CITY_TZ,
    PermitScope,
    RuleConfig,
    Sensors,
    SiteRule,
    YardRule,
    ZoneRule,
)
from tracker.trips.core.view import (
    DEFAULT_RULES,
    NO_SENSORS,
    RegistryView,
    Role,
    VehicleInfo,
    hauled_until_of,
    permit_scope,
    permit_with,
    schedule_of,
    site_rule,
    yard_rule,
    zone_with,
)

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
                '{}') AS corridors,
       p.quota_m3,
       (SELECT coalesce(sum(coalesce(trip_ledger_m3(t.volume_m3, v.rated_volume_m3), 0)), 0)
          FROM trips t JOIN vehicles v ON v.id = t.vehicle_id
         WHERE t.permit_id = p.id::text AND t.completed_at IS NOT NULL) AS hauled_m3,
       coalesce((SELECT jsonb_object_agg(h.vehicle_id::text, h.departed_at)
                   FROM (SELECT t.vehicle_id, max(t.departed_at) AS departed_at FROM trips t
                          WHERE t.permit_id = p.id::text AND t.completed_at IS NOT NULL
                            AND t.departed_at IS NOT NULL
                          GROUP BY t.vehicle_id) h),
                '{}') AS hauled_until
FROM permits p WHERE p.state = 'approved' ORDER BY p.id
"""

# Places as rules: a yard is full (closed) once its fill reaches its capacity.
_SITES = "SELECT id, fence_id, active_from, active_to FROM sites WHERE active"
_YARDS = """
SELECT id, fence_id, opening_hours, yard_fill_m3(id) >= capacity_m3 AS full
FROM yards WHERE active
"""


# The vehicle's terminal model: its own column, else its newest active terminal's; its active
# blacklist listing (the newest, should the view ever hold two).
_VEHICLES = """
SELECT v.id, v.company_id, v.rated_volume_m3,
       coalesce(v.terminal_model,
                (SELECT t.model FROM terminals t WHERE t.vehicle_id = v.id AND t.active
                 ORDER BY t.id DESC LIMIT 1)) AS model,
       (SELECT b.listing_id FROM blacklisted_vehicles b WHERE b.vehicle_id = v.id
         ORDER BY b.since DESC, b.listing_id DESC LIMIT 1) AS listing_id
FROM vehicles v
"""


async def _overrides(cur: Any) -> dict[tuple[str, int], dict[str, Any]]:
    await cur.execute("SELECT scope, scope_id, rules FROM engine_rule_overrides")
    return {(r["scope"], int(r["scope_id"])): r["rules"] for r in await cur.fetchall()}


async def load_registry(
    conn: AsyncConnection[Any],
    tz: tzinfo = CITY_TZ,
    rules: RuleConfig = DEFAULT_RULES,
    sensors: Mapping[str, Sensors] | None = None,
) -> RegistryView:
    """The registry as the engine sees it. ``rules`` is the city layer (``config``); rows of
    ``engine_rule_overrides`` refine it per permit and zone (a bad row is logged and skipped,
    never fatal); ``tz`` is the city's zone (``settings.city_tz``); ``sensors`` maps terminal
    models to the sensors trusted for their vehicles."""
    roles: dict[str, tuple[Role, str]] = {}
    zones: dict[str, ZoneRule] = {}
    sites: dict[str, SiteRule] = {}
    yards: dict[str, YardRule] = {}
    async with conn.cursor(row_factory=dict_row) as cur:
        overrides = await _overrides(cur)
        await cur.execute(_SITES)
        for row in await cur.fetchall():
            roles[str(row["fence_id"])] = ("site", str(row["id"]))
            sites[str(row["id"])] = site_rule(row, tz)
        await cur.execute(_YARDS)
        for row in await cur.fetchall():
            roles[str(row["fence_id"])] = ("yard", str(row["id"]))
            yards[str(row["id"])] = yard_rule(row)
        await cur.execute("SELECT id, fence_id, schedule, speed_limit_kmh FROM zones WHERE active")
        for row in await cur.fetchall():
            zone_id = str(row["id"])
            roles[str(row["fence_id"])] = ("zone", zone_id)
            limit = row["speed_limit_kmh"]
            zone = ZoneRule(
                zone_id=zone_id,
                active_windows=schedule_of(row["schedule"], f"zone {zone_id}"),
                speed_limit_kmh=float(limit) if limit is not None else None,
            )
            zones[zone_id] = zone_with(zone, overrides.get(("zone", int(row["id"]))))
        await cur.execute(_VEHICLES)
        by_model = sensors or {}
        vehicles = {
            int(r["id"]): VehicleInfo(
                int(r["id"]),
                int(r["company_id"]),
                float(r["rated_volume_m3"]),
                r["listing_id"] is not None,
                listing_id=None if r["listing_id"] is None else int(r["listing_id"]),
                sensors=by_model.get(r["model"] or "", NO_SENSORS),
            )
            for r in await cur.fetchall()
        }
        await cur.execute(_PERMITS)
        permits: dict[int, list[PermitScope]] = {}
        for row in await cur.fetchall():
            scope = permit_with(permit_scope(row, tz), rules, overrides.get(("permit", row["id"])))
            for fence_id in scope.corridors:
                roles[fence_id] = ("corridor", fence_id)
            for vehicle_id in row["vehicle_ids"]:
                until = hauled_until_of(row, int(vehicle_id))
                own = scope if until is None else replace(scope, hauled_until=until)
                permits.setdefault(int(vehicle_id), []).append(own)
    by_vehicle = {k: tuple(v) for k, v in permits.items()}
    return RegistryView(roles, zones, vehicles, by_vehicle, tz, rules, yards=yards, sites=sites)

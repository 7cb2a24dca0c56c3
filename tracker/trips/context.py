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

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from tracker.trips.models import PermitScope, RuleConfig, TimeWindow, VehicleContext, ZoneRule

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


@dataclass(frozen=True, slots=True)
class RegistryView:
    """Fence roles, zone rules, vehicles and their approved permits, as of one load."""

    fence_roles: dict[str, tuple[Role, str]] = field(default_factory=dict)
    zones: dict[str, ZoneRule] = field(default_factory=dict)
    vehicles: dict[int, VehicleInfo] = field(default_factory=dict)
    permits: dict[int, tuple[PermitScope, ...]] = field(default_factory=dict)
    utc_offset_min: int = 0
    rules: RuleConfig = DEFAULT_RULES

    def context(self, vehicle_id: int) -> VehicleContext:
        info = self.vehicles.get(vehicle_id)
        return VehicleContext(
            vehicle_id=vehicle_id,
            permits=self.permits.get(vehicle_id, ()),
            zones=self.zones,
            utc_offset_min=self.utc_offset_min,
            blacklisted=info.blacklisted if info else False,
            rated_volume_m3=info.rated_volume_m3 if info else None,
            rules=self.rules,
        )

    def company_of(self, vehicle_id: int) -> int | None:
        info = self.vehicles.get(vehicle_id)
        return info.company_id if info else None


async def load_registry(
    conn: AsyncConnection[Any], utc_offset_min: int = 0, rules: RuleConfig = DEFAULT_RULES
) -> RegistryView:
    roles: dict[str, tuple[Role, str]] = {}
    zones: dict[str, ZoneRule] = {}
    async with conn.cursor(row_factory=dict_row) as cur:
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
            zones[zone_id] = ZoneRule(
                zone_id=zone_id,
                active_windows=windows_of(row["schedule"]),
                speed_limit_kmh=float(limit) if limit is not None else None,
            )
        await cur.execute("SELECT id, company_id, rated_volume_m3, blacklisted FROM vehicles")
        vehicles = {
            int(r["id"]): VehicleInfo(
                int(r["id"]), int(r["company_id"]), float(r["rated_volume_m3"]), r["blacklisted"]
            )
            for r in await cur.fetchall()
        }
        await cur.execute(_PERMITS)
        permits: dict[int, list[PermitScope]] = {}
        for row in await cur.fetchall():
            scope = _permit_scope(row, utc_offset_min)
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

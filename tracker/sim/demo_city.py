"""``tracker seed --permits``: the demo city's places and permit, as the simulator drives them.

The simulator (``tracker.sim.places.demo_places``) hauls between origin sites and one disposal
yard; this registers exactly those places and one approved permit for the demo company, so the
engine sees permitted trips and the yard's capacity ledger fills:

- each simulated site as an origin site, unless an active site is the same place (an imported
  OSM site: its polygon matches), which is then reused;
- the simulated yard as a disposal yard with a capacity (an active yard that is the same place
  is reused); an active *site* on the same polygon (``tracker import osm`` registers a quarry
  as a site, the simulator tips there) is deactivated, so trucks tipping there are not read as
  loading at an origin;
- one approved permit of the demo company: its active trucks that are not blacklisted, the
  sites, the yard, one corridor per site, valid today and 90 days on, all day, with a quota;
- when the fleet has the outside-hours violator (``DEMO-00004``, ``motion.VIOLATIONS``), it is
  left off that permit and gets one of its own that says the same but allows one hour of the
  day, twelve hours from the seeding (``off_hours_window``), so its hauls in the demo's first
  hours are ``outside_hours``. A re-seed keeps that window while it is at least
  ``OFF_HOURS_CLEAR_H`` hours away, and moves it otherwise.

Each corridor is the route the simulator drives (``tracker.sim.motion.leg_between``: the fastest
road path), from the loading point to the tipping point. The corridor proposal of the permit
page (``tracker.permits.corridor.propose``) takes the *shortest* path and its own entry nodes, and
on Monaco's roads it strays more than a kilometre from the driven route for two of the three
sites, so the trucks would deviate on every haul; the command reports how far the proposal is
from each route.

Safe to run twice: places are matched by polygon, then upserted by name; the live demo permit
(found by its note) is kept when it already says the same and has at least 30 days left,
edited when it is a draft, and otherwise replaced (the old one revoked), so there is one.
Every write goes through the registry and permit services (audited as ``cli``) and its fence
notices are published on Redis, as the API does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import psycopg
import redis.asyncio as aioredis
import shapely
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel
from shapely.geometry import LineString, Polygon, shape

from tracker.accounts.models import Principal, Role
from tracker.geofence.projection import LocalProjection
from tracker.permits import repo as permits_repo
from tracker.permits import service as permits
from tracker.permits.corridor import NoRoute, propose
from tracker.permits.models import CorridorIn, PermitIn, PermitState
from tracker.registry import api, models, places, service
from tracker.roads.network import RoadNetwork
from tracker.sim.motion import VIOLATIONS, detour_node, leg_between
from tracker.sim.places import Place
from tracker.trips.core.models import CITY_TZ, in_windows
from tracker.trips.core.view import windows_of
from tracker.wire import FenceChange

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
Coords = list[tuple[float, float]]

CLI = Principal("cli", Role.admin)
DEMO_NOTE = "demo city: the simulated fleet's permit (tracker seed --permits)"
YARD_CAPACITY_M3 = 200_000.0
QUOTA_M3 = 100_000.0
NO_GO_NAME = "Demo no-go zone (school)"
NO_GO_RADIUS_M = 60.0
HALF_WIDTH_M = 60.0  # terminal noise is 5-15 m; the deviation rule ignores single 60 m jumps
VALID_DAYS = 90
RENEW_DAYS = 30  # a demo permit with fewer days left is replaced
ALL_DAY = [
    models.TimeWindow(start="00:00", end="12:00"),
    models.TimeWindow(start="12:00", end="00:00"),
]
MAX_PERMIT_VEHICLES = 500  # PermitIn.vehicle_ids
OFF_HOURS_NOTE = "demo city: the outside-hours violator's permit (tracker seed --permits)"
OFF_HOURS_PLATE = f"DEMO-{VIOLATIONS.index('outside_hours') + 1:05d}"  # tracker seed's plates
OFF_HOURS_AHEAD_H = 12  # the violator's one-hour window starts this far from the seeding
OFF_HOURS_CLEAR_H = 3  # a re-seed keeps a window at least this far from now
OFF_HOURS_QUOTA_M3 = 20_000.0  # with QUOTA_M3, within the yard's capacity
SAME_PLACE = 0.9  # intersection over union of two polygons that are the same place
SITE_KINDS = ("construction", "quarry", "mixing")
LIVE_STATES = frozenset(
    {
        PermitState.draft,
        PermitState.submitted,
        PermitState.approved,
        PermitState.rejected,
        PermitState.suspended,
    }
)


class DemoCityError(RuntimeError):
    """The demo city cannot be registered (no demo company or trucks yet, say)."""


@dataclass(frozen=True, slots=True)
class CityPlan:
    """The simulator's places and, per site, the line it drives from the site to the yard."""

    sites: list[Place]
    yard: Place
    routes: list[Coords]
    proposal_gaps_m: list[float | None]  # how far the driven route strays from the proposal
    no_go: Polygon | None = None  # a no-go zone on the deviating violator's detour


@dataclass
class CityOutcome:
    site_ids: list[int] = field(default_factory=list)
    yard_id: int = 0
    permit_id: int = 0
    vehicle_ids: list[int] = field(default_factory=list)
    off_hours_permit_id: int | None = None  # the outside-hours violator's own permit
    off_hours_vehicle_id: int | None = None
    lines: list[str] = field(default_factory=list)  # what was done, for the command's output


def _dedupe(coords: Sequence[tuple[float, float]]) -> Coords:
    out: Coords = []
    for c in coords:
        if not out or out[-1] != c:
            out.append(c)
    return out


def driven_route(network: RoadNetwork, origin: Place, destination: Place) -> Coords:
    """The line a simulated truck follows from ``origin``'s loading point to ``destination``'s
    tipping point: as ``TruckMotion._drive``, through the road nodes of ``leg_between``."""
    leg = leg_between(network, origin.node, destination.node)
    return _dedupe(
        [
            (origin.dwell_lon, origin.dwell_lat),
            network.coord(origin.node),
            *zip(leg.lons, leg.lats, strict=True),
            (destination.dwell_lon, destination.dwell_lat),
        ]
    )


def geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    mapping: dict[str, Any] = json.loads(json.dumps(geometry.__geo_interface__))
    return mapping


def stray_m(route: Coords, line: Coords) -> float:
    """The farthest a point of ``route`` (every 5 m) lies from ``line``, in metres."""
    proj = LocalProjection.around(*route[0])
    driven = shapely.segmentize(proj.to_metric(LineString(route)), 5.0)
    other = proj.to_metric(LineString(line))
    return float(shapely.distance(shapely.points(shapely.get_coordinates(driven)), other).max())


def plan_city(network: RoadNetwork, sites: list[Place], yard: Place) -> CityPlan:
    routes = [driven_route(network, s, yard) for s in sites]
    gaps: list[float | None] = []
    for site, route in zip(sites, routes, strict=True):
        try:
            found = propose(network, geojson(site.polygon), geojson(yard.polygon), [], HALF_WIDTH_M)
        except NoRoute:
            gaps.append(None)
            continue
        gaps.append(stray_m(route, found.coordinates))
    return CityPlan(sites, yard, routes, gaps, _no_go(network, sites, yard))


def _no_go(network: RoadNetwork, sites: list[Place], yard: Place) -> Polygon | None:
    """A round no-go zone on the road node the deviating violator turns off to."""
    try:
        node = detour_node(network, sites, sites[0], yard)
    except ValueError:
        return None
    lon, lat = network.coord(node)
    proj = LocalProjection.around(lon, lat)
    zone = proj.to_lonlat(proj.to_metric(shapely.Point(lon, lat)).buffer(NO_GO_RADIUS_M, 8))
    assert isinstance(zone, Polygon)
    return zone


def overlap(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Intersection over union of two lon/lat areas (0 when either is empty)."""
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union > 0 else 0.0


async def _publish(redis: aioredis.Redis, changes: list[FenceChange]) -> None:
    await places.publish(redis, changes)


async def _places(conn: AConn, table: str) -> list[Row]:
    query = sql.SQL(
        "SELECT p.*, f.geometry FROM {} p JOIN fences f ON f.id = p.fence_id ORDER BY p.id"
    ).format(sql.Identifier(table))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query)
        return await cur.fetchall()


def _same_place(rows: list[Row], polygon: Polygon, taken: set[int]) -> Row | None:
    """The active row whose polygon is ``polygon``'s place (best overlap), if any."""
    best, best_overlap = None, SAME_PLACE
    for row in rows:
        if not row["active"] or row["id"] in taken:
            continue
        score = overlap(polygon, shape(row["geometry"]))
        if score >= best_overlap:
            best, best_overlap = row, score
    return best


async def _upsert(
    conn: AConn,
    redis: aioredis.Redis,
    entity: service.Entity,
    rows: list[Row],
    body: models.SiteIn | models.YardIn | models.ZoneIn,
    fields: Sequence[str],
) -> tuple[int, str]:
    """Create the place, or update the row of that name when it differs; (id, what happened)."""
    polygon = shape(body.geometry)
    named = next((r for r in rows if r["name"] == body.name), None)
    if named is None:
        written = await service.create(conn, entity, body, CLI)
        await _publish(redis, written.changes)
        return int(written.row["id"]), "registered"
    same = (
        named["active"]
        and overlap(polygon, shape(named["geometry"])) > 0.999
        and all(_same_value(named[f], getattr(body, f)) for f in fields)
    )
    if same:
        return int(named["id"]), "already registered"
    written = await service.update(conn, entity, int(named["id"]), body, CLI)
    await _publish(redis, written.changes)
    return int(named["id"]), "updated"


def _same_value(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, float):
        return stored is not None and abs(float(stored) - wanted) < 1e-6
    if isinstance(wanted, list):
        return [_plain(x) for x in stored or []] == [_plain(x) for x in wanted]
    return bool(stored == wanted)


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


async def register_places(
    conn: AConn, redis: aioredis.Redis, plan: CityPlan, out: CityOutcome
) -> None:
    sites = await _places(conn, "sites")
    taken: set[int] = set()
    for place in plan.sites:
        found = _same_place(sites, place.polygon, taken)
        if found is not None:
            site_id, what = int(found["id"]), f"reused the registered site {found['name']!r}"
        else:
            body = models.SiteIn.model_validate(
                {
                    "name": place.name,
                    "geometry": geojson(place.polygon),
                    "kind": place.kind if place.kind in SITE_KINDS else "construction",
                }
            )
            site_id, what = await _upsert(conn, redis, api.SITE, sites, body, ("kind",))
        taken.add(site_id)
        out.site_ids.append(site_id)
        out.lines.append(f"site {place.name!r}: {what} (id {site_id})")
    yards = await _places(conn, "yards")
    found = _same_place(yards, plan.yard.polygon, set())
    if found is not None:
        out.yard_id = int(found["id"])
        what = f"reused the registered yard {found['name']!r}"
    else:
        yard = models.YardIn(
            name=plan.yard.name,
            geometry=geojson(plan.yard.polygon),
            capacity_m3=YARD_CAPACITY_M3,
        )
        out.yard_id, what = await _upsert(conn, redis, api.YARD, yards, yard, ("capacity_m3",))
    out.lines.append(f"yard {plan.yard.name!r}: {what} (id {out.yard_id})")
    if plan.no_go is not None:  # always in force: the deviating violator drives through it
        zone = models.ZoneIn(name=NO_GO_NAME, geometry=geojson(plan.no_go))
        zones = await _places(conn, "zones")
        zone_id, what = await _upsert(conn, redis, api.ZONE, zones, zone, ("schedule",))
        out.lines.append(f"no-go zone {NO_GO_NAME!r}: {what} (id {zone_id})")
    # A site on the yard's polygon (the quarry `tracker import osm` registered as a site).
    for row in sites:
        on_yard = overlap(plan.yard.polygon, shape(row["geometry"])) >= SAME_PLACE
        if row["active"] and row["id"] not in taken and on_yard:
            written = await service.deactivate(conn, api.SITE, int(row["id"]), CLI)
            await _publish(redis, written.changes)
            out.lines.append(f"site {row['name']!r} deactivated: it is the demo's disposal yard")


async def _company_trucks(
    conn: AConn, company: str
) -> tuple[int, list[int], list[str], int | None]:
    row = await (
        await conn.execute("SELECT id FROM companies WHERE name = %s", (company,))
    ).fetchone()
    if row is None:
        raise DemoCityError(f"no company {company!r}: run `tracker seed` first")
    company_id = int(row[0])
    cur = await conn.execute(
        """SELECT id, plate, active AND NOT EXISTS (
                  SELECT 1 FROM blacklisted_vehicles b WHERE b.vehicle_id = vehicles.id)
             FROM vehicles WHERE company_id = %s ORDER BY id""",
        (company_id,),
    )
    rows = await cur.fetchall()
    usable = [int(r[0]) for r in rows if r[2]]
    left_out = [str(r[1]) for r in rows if not r[2]]
    off_hours = next((int(r[0]) for r in rows if r[2] and r[1] == OFF_HOURS_PLATE), None)
    if not usable:
        raise DemoCityError(f"{company!r} has no active trucks: run `tracker seed` first")
    if len(usable) > MAX_PERMIT_VEHICLES:
        raise DemoCityError(
            f"{company!r} has {len(usable)} trucks; one permit covers {MAX_PERMIT_VEHICLES}"
        )
    return company_id, usable, left_out, off_hours


def off_hours_window(now: datetime, tz: tzinfo) -> models.TimeWindow:
    """One hour of the day, starting on the hour ``OFF_HOURS_AHEAD_H`` hours after ``now`` in
    the city's wall-clock time: the demo's first hours are outside it."""
    start = (now.astimezone(tz) + timedelta(hours=OFF_HOURS_AHEAD_H)).replace(
        minute=0, second=0, microsecond=0
    )
    end = start + timedelta(hours=1)
    return models.TimeWindow(start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))


def clear_of(windows: Sequence[models.TimeWindow], now: datetime, tz: tzinfo) -> bool:
    """Whether no minute of the next ``OFF_HOURS_CLEAR_H`` hours is in ``windows``."""
    core = windows_of([w.model_dump() for w in windows])
    minutes = range(0, OFF_HOURS_CLEAR_H * 60 + 1)
    return not any(in_windows(core, now + timedelta(minutes=m), tz) for m in minutes)


def permit_body(
    company_id: int,
    vehicle_ids: list[int],
    out: CityOutcome,
    plan: CityPlan,
    today: date,
    windows: Sequence[models.TimeWindow] = ALL_DAY,
    note: str = DEMO_NOTE,
    quota_m3: float = QUOTA_M3,
) -> PermitIn:
    return PermitIn(
        company_id=company_id,
        vehicle_ids=vehicle_ids,
        site_ids=out.site_ids,
        yard_ids=[out.yard_id],
        corridors=[
            CorridorIn(
                geometry={"type": "LineString", "coordinates": [list(c) for c in route]},
                half_width_m=HALF_WIDTH_M,
            )
            for route in plan.routes
        ],
        valid_from=today,
        valid_to=today + timedelta(days=VALID_DAYS),
        windows=list(windows),
        quota_m3=quota_m3,
        note=note,
    )


def _content(permit: Row | PermitIn) -> tuple[Any, ...]:
    """What a permit says, apart from its dates, comparable between a body and a stored row."""
    row = permit.model_dump(mode="json") if isinstance(permit, PermitIn) else permit
    windows = [(w["start"], w["end"]) for w in row["windows"]]
    corridors = [
        (
            tuple((round(x, 7), round(y, 7)) for x, y in c["geometry"]["coordinates"]),
            round(float(c["half_width_m"]), 3),
        )
        for c in row["corridors"]
    ]
    return (
        row["company_id"],
        sorted(set(row["vehicle_ids"])),
        sorted(set(row["site_ids"])),
        sorted(set(row["yard_ids"])),
        corridors,
        windows,
        round(float(row["quota_m3"]), 3),
    )


async def register_permit(
    conn: AConn,
    redis: aioredis.Redis,
    body: PermitIn,
    today: date,
    out: CityOutcome,
) -> None:
    live = await _live_permits(conn, body.company_id, body.note)
    current = live[-1] if live else None
    for extra in live[:-1]:  # older duplicates (a run interrupted half-way)
        if extra["state"] in (PermitState.approved, PermitState.suspended):
            await _transition(conn, redis, extra["id"], "revoke", "a newer demo permit exists")
            out.lines.append(f"permit {extra['id']}: revoked (a newer demo permit exists)")
    same = current is not None and _content(current) == _content(body)
    fresh = (
        current is not None
        and current["valid_from"] <= today
        and current["valid_to"] >= today + timedelta(days=RENEW_DAYS)
    )
    if current is not None and current["state"] == PermitState.approved and same and fresh:
        out.permit_id = int(current["id"])
        out.lines.append(f"permit {out.permit_id}: already approved, unchanged")
        return
    if current is not None and current["state"] == PermitState.suspended and same and fresh:
        await _approve(conn, redis, int(current["id"]), today)
        out.permit_id = int(current["id"])
        out.lines.append(f"permit {out.permit_id}: reinstated")
        return
    if current is not None and current["state"] == PermitState.submitted:
        await _transition(conn, redis, current["id"], "reject", "re-seeded by the demo")
        current["state"] = PermitState.rejected
    if current is not None and current["state"] in permits.EDITABLE:
        permit_id = int(current["id"])
        await permits.edit(conn, permit_id, body, CLI)
        await _transition(conn, redis, permit_id, "submit", None)
        await _approve(conn, redis, permit_id, today)
        out.permit_id = permit_id
        out.lines.append(f"permit {permit_id}: edited and approved")
        return
    created = await permits.create(conn, body, CLI)
    permit_id = int(created["id"])
    await _transition(conn, redis, permit_id, "submit", None)
    if current is not None:  # approved or suspended, but saying something else
        await _transition(conn, redis, current["id"], "revoke", f"replaced by permit {permit_id}")
        out.lines.append(f"permit {current['id']}: revoked, replaced by permit {permit_id}")
    await _approve(conn, redis, permit_id, today)
    out.permit_id = permit_id
    out.lines.append(f"permit {permit_id}: approved")


async def _live_permits(conn: AConn, company_id: int, note: str | None) -> list[Row]:
    """The company's demo permits with this note that are not over, oldest first."""
    rows = await permits_repo.load(conn, company_id=company_id, limit=1000)
    for row in rows:
        row["state"] = PermitState(row["state"])
    return [r for r in rows if r["note"] == note and r["state"] in LIVE_STATES]


async def _transition(
    conn: AConn, redis: aioredis.Redis, permit_id: int, action: str, reason: str | None
) -> None:
    _, changes = await permits.transition(conn, permit_id, action, CLI, reason)
    await _publish(redis, changes)


async def _approve(conn: AConn, redis: aioredis.Redis, permit_id: int, today: date) -> None:
    _, changes = await permits.approve(conn, permit_id, CLI, today)
    await _publish(redis, changes)


async def seed_demo_city(
    conn: AConn,
    redis: aioredis.Redis,
    plan: CityPlan,
    company: str,
    today: date,
    now: datetime | None = None,
    tz: tzinfo = CITY_TZ,
) -> CityOutcome:
    """Register the simulator's places and the demo permits (see the module). ``conn`` is in
    autocommit mode: each write is its own transaction, its fence notices published after it.
    ``now`` and ``tz`` place the outside-hours violator's window (the city's zone)."""
    out = CityOutcome()
    company_id, vehicle_ids, left_out, off_hours = await _company_trucks(conn, company)
    await register_places(conn, redis, plan, out)
    out.vehicle_ids = [v for v in vehicle_ids if v != off_hours]
    if left_out:
        out.lines.append(f"left off the permit (inactive or blacklisted): {', '.join(left_out)}")
    body = permit_body(company_id, out.vehicle_ids, out, plan, today)
    await register_permit(conn, redis, body, today, out)
    if off_hours is not None:  # after: an all-day permit still holding it is replaced by then
        await _off_hours_permit(conn, redis, plan, company_id, off_hours, today, now, tz, out)
    for site, route, gap in zip(plan.sites, plan.routes, plan.proposal_gaps_m, strict=True):
        length_km = route_km(route)
        note = "no proposal" if gap is None else f"the shortest-road proposal strays {gap:.0f} m"
        out.lines.append(
            f"corridor {site.name!r} -> {plan.yard.name!r}: the driven route, {length_km:.1f} km, "
            f"half-width {HALF_WIDTH_M:.0f} m ({note})"
        )
    return out


async def _off_hours_permit(
    conn: AConn,
    redis: aioredis.Redis,
    plan: CityPlan,
    company_id: int,
    vehicle_id: int,
    today: date,
    now: datetime | None,
    tz: tzinfo,
    out: CityOutcome,
) -> None:
    """The outside-hours violator's permit: the demo permit's places, one hour of the day."""
    now = now or datetime.now(UTC)
    current = await _live_permits(conn, company_id, OFF_HOURS_NOTE)
    kept = [
        models.TimeWindow(start=w["start"], end=w["end"])
        for w in (current[-1]["windows"] if current else [])
    ]
    windows = kept if kept and clear_of(kept, now, tz) else [off_hours_window(now, tz)]
    body = permit_body(
        company_id, [vehicle_id], out, plan, today, windows, OFF_HOURS_NOTE, OFF_HOURS_QUOTA_M3
    )
    found = CityOutcome(site_ids=out.site_ids, yard_id=out.yard_id)
    await register_permit(conn, redis, body, today, found)
    out.off_hours_permit_id, out.off_hours_vehicle_id = found.permit_id, vehicle_id
    window = f"{windows[0].start}-{windows[0].end}"
    out.lines.extend(f"{line} (the outside-hours violator, {window} only)" for line in found.lines)


def route_km(route: Coords) -> float:
    proj = LocalProjection.around(*route[0])
    return float(proj.to_metric(LineString(route)).length) / 1000.0

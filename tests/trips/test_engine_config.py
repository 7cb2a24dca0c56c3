"""Rule configuration per city, permit and zone; sensors per terminal model; the blacklist view;
and annotation against the geofence index it shortcuts."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC
from typing import Any

import psycopg
import pytest
from engine_scenario import build_world
from httpx import AsyncClient
from test_rules import ctx, permit_ctx, trip_with
from trips_world import CONTEXT, Drive, haul_to_yard, incidents, load_at_site, run

from tracker.geofence import GeofenceIndex, fence_from_geojson
from tracker.settings import Settings
from tracker.trips.core import IncidentOpened, RuleConfig, Sensors
from tracker.trips.core.annotate import annotate
from tracker.trips.core.config import RuleConfigError, city_rules, rules_with, sensors_by_model
from tracker.trips.core.view import RegistryView
from tracker.trips.worker.registry import load_registry
from tracker.wire import Fix

DUMPING = [("open", "dumping"), ("close", "dumping")]


# -- city layer ------------------------------------------------------------------------------
def test_city_rules_come_from_settings_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert city_rules("default", {}) == RuleConfig()  # docs/DOMAIN.md §2 defaults
    monkeypatch.setenv("TRACKER_ENGINE__CITY", "Shenzhen")
    monkeypatch.setenv("TRACKER_ENGINE__RULES", json.dumps({"dumping_dwell_s": 240}))
    engine = Settings.load().engine
    rules = city_rules(engine.city, engine.rules)
    assert rules.dumping_dwell_s == 240.0 and rules.speed_limit_kmh == 60.0
    assert rules.deviation_min_s == RuleConfig().deviation_min_s


def test_bad_overrides_name_the_setting() -> None:
    with pytest.raises(RuleConfigError, match="dumping_dwel_s"):
        rules_with(RuleConfig(), {"dumping_dwel_s": 1}, "engine.rules")
    with pytest.raises(RuleConfigError, match="stop_radius_m must be a number"):
        rules_with(RuleConfig(), {"stop_radius_m": "far"}, "engine.rules")
    with pytest.raises(RuleConfigError, match="unknown city"):
        city_rules("atlantis", {})
    with pytest.raises(RuleConfigError, match="sonar"):
        sensors_by_model({"X1": ["lift", "sonar"]})


def test_city_speed_limit_applies_to_every_road() -> None:
    fast = trip_with(lambda d: d.to(5000, 0, 70))
    assert incidents(run(fast)[1]) == []
    city = ctx(rules=city_rules("shenzhen", {}))
    assert ("open", "speeding") in incidents(run(fast, city)[1])


# -- permit layer ----------------------------------------------------------------------------
def test_permit_thresholds_override_the_city_for_its_trips() -> None:
    stop_4_min = trip_with(lambda d: d.stop(240))
    assert incidents(run(stop_4_min)[1]) == DUMPING
    patient = permit_ctx(rules=replace(RuleConfig(), dumping_dwell_s=300.0))
    assert incidents(run(stop_4_min, patient)[1]) == []


def test_permit_corridor_tolerance() -> None:
    detour_120 = trip_with(lambda d: d.to(2000, 120, 40).to(4000, 120, 40).to(4000, 0, 40))
    assert incidents(run(detour_120)[1]) == [
        ("open", "route_deviation"),
        ("close", "route_deviation"),
    ]
    assert incidents(run(detour_120, permit_ctx(corridors={"C1": 150.0}))[1]) == []


# -- sensors ---------------------------------------------------------------------------------
def lift_stop(d: Drive) -> None:
    d.stop(30).set(body_lifted=True).stop(60).set(body_lifted=None).stop(150)


def test_lift_sensor_detects_dumping_sooner_and_gps_alone_still_does() -> None:
    fixes = trip_with(lift_stop)
    with_lift = [e for e in run(fixes, ctx(sensors=Sensors(has_lift=True)))[1]
                 if isinstance(e, IncidentOpened)]  # fmt: skip
    gps_only = [e for e in run(fixes)[1] if isinstance(e, IncidentOpened)]
    assert [e.incident.type for e in with_lift] == ["dumping"]
    assert [e.incident.type for e in gps_only] == ["dumping"]
    assert (gps_only[0].time - with_lift[0].time).total_seconds() >= 120


def test_stray_sensor_bits_are_ignored_without_the_sensor() -> None:
    d = load_at_site().to(2000, 0, 40).set(body_lifted=True, cover_closed=False)
    fixes = haul_to_yard(d.to(6000, 0, 40).set(body_lifted=None, cover_closed=None)).fixes
    assert incidents(run(fixes)[1]) == []
    both = ctx(sensors=Sensors(has_lift=True, has_cover=True))
    types = {t for _, t in incidents(run(fixes, both)[1])}
    assert types == {"dumping", "uncovered"}


# -- the registry view: overrides, terminal models, blacklist --------------------------------
async def test_registry_view_reads_overrides_models_and_listings(
    client: AsyncClient,
    staff: dict[str, str],
    fleet: Any,
    db: psycopg.Connection[Any],
    database_url: str,
) -> None:
    vehicle_id, _ = fleet.truck("CFG-1")
    other_id, _ = fleet.truck("CFG-2")
    await build_world(client, staff, db, [vehicle_id, other_id])
    permit_id = db.execute("SELECT id FROM permits").fetchone()[0]  # type: ignore[index]
    zone_id = db.execute("SELECT id FROM zones").fetchone()[0]  # type: ignore[index]
    rows = [
        ("permit", permit_id, {"corridor_half_width_m": 80, "dumping_dwell_s": 300}),
        (
            "zone",
            zone_id,
            {
                "speed_limit_kmh": 30,
                "no_go": False,
                "schedule": [{"start": "07:00", "end": "09:00"}],
            },
        ),
    ]
    for scope, scope_id, rules in rows:
        db.execute(
            "INSERT INTO engine_rule_overrides (scope, scope_id, rules) VALUES (%s, %s, %s)",
            (scope, scope_id, json.dumps(rules)),
        )
    db.execute("UPDATE vehicles SET terminal_model = 'SIM-ZT' WHERE id = %s", (vehicle_id,))
    listing = db.execute(
        "INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by)"
        " VALUES (%s, 'manual', 'repeat dumping', 'test') RETURNING id",
        (vehicle_id,),
    ).fetchone()[0]  # type: ignore[index]
    db.commit()

    city = city_rules("default", {"haul_overdue_s": 7200})
    url = database_url
    async with await psycopg.AsyncConnection.connect(url) as conn:
        view = await load_registry(conn, UTC, city, sensors_by_model({"SIM-ZT": ["lift", "cover"]}))
    listed, plain = view.context(vehicle_id), view.context(other_id)
    (permit,) = listed.permits
    assert set(permit.corridors.values()) == {80.0}
    assert permit.rules is not None and permit.rules.dumping_dwell_s == 300.0
    assert permit.rules.haul_overdue_s == 7200.0  # the city layer underneath
    assert listed.rules_for(permit.permit_id).dumping_dwell_s == 300.0
    assert plain.rules_for(None) == city
    zone = view.zones[str(zone_id)]
    assert zone.speed_limit_kmh == 30.0 and zone.no_go is False
    assert [(w.start_min, w.end_min) for w in zone.active_windows] == [(420, 540)]
    assert listed.sensors == Sensors(has_lift=True, has_cover=True)
    assert plain.sensors == Sensors()
    assert listed.blacklisted and listed.blacklist_listing_id == listing
    assert not plain.blacklisted

    # A bad row is logged and skipped, never fatal: the permit keeps its own values.
    db.execute(
        "UPDATE engine_rule_overrides SET rules = %s WHERE scope = 'permit'",
        (json.dumps({"dumping_dwell_s": "long"}),),
    )
    db.execute("UPDATE blacklist_listings SET lifted_at = now(), lifted_how = 'manual'")
    db.commit()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        view = await load_registry(conn)
    again = view.context(vehicle_id)
    assert again.permits[0].rules is None and set(again.permits[0].corridors.values()) == {30.0}
    assert not again.blacklisted


def test_blacklisted_vehicle_moving_is_one_episode_per_movement() -> None:
    d = Drive(x=500, y=500).to(3000, 500, 40).stop(900).to(6000, 500, 40).stop(60)
    listed = ctx(blacklisted=True, blacklist_listing_id=7, permits=())
    _, events = run(d.fixes, listed)
    opened = [e for e in events if isinstance(e, IncidentOpened)]
    assert [e.incident.type for e in opened] == ["blacklisted_vehicle"] * 2
    assert opened[0].incident.detail["listing_id"] == 7
    assert incidents(run(d.fixes, replace(listed, blacklisted=False))[1]) == []


# -- annotation shortcuts agree with the index -----------------------------------------------
def _square(lon: float, lat: float, size: float) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_annotation_matches_the_index() -> None:
    """Zone segment events from the zone grid and corridor distances from the corridor's own
    segment grid equal the index's answers, on random segments around the fences."""
    fences = [
        fence_from_geojson("z1", _square(7.420, 43.734, 0.001), role="zone"),
        fence_from_geojson("z2", _square(7.4262, 43.7291, 0.0004), role="zone"),
        fence_from_geojson("s1", _square(7.410, 43.730, 0.002), role="site"),
        fence_from_geojson(
            "c1",
            {
                "type": "LineString",
                "coordinates": [[7.411, 43.731], [7.42, 43.7325], [7.431, 43.731]],
            },
            half_width_m=50.0,
            role="permit",
        ),
    ]
    index = GeofenceIndex(fences)
    roles: Any = {"z1": ("zone", "Z1"), "z2": ("zone", "Z2"), "s1": ("site", "S1"),
                  "c1": ("corridor", "c1")}  # fmt: skip
    view = RegistryView(fence_roles=roles)
    context = replace(CONTEXT, permits=(replace(CONTEXT.permits[0], corridors={"c1": 50.0}),))
    rng = random.Random(5)
    zone_of = {"z1": "Z1", "z2": "Z2"}
    seen: set[str] = set()
    for _ in range(3000):
        lon0, lat0 = rng.uniform(7.409, 7.432), rng.uniform(43.728, 43.736)
        lon1, lat1 = lon0 + rng.uniform(-0.004, 0.004), lat0 + rng.uniform(-0.003, 0.003)
        fix = Fix(vehicle_id=1, terminal_id=1, fix_time=CONTEXT.permits[0].valid_from,
                  received_at=CONTEXT.permits[0].valid_from, lon=lon1, lat=lat1)  # fmt: skip
        afix = annotate(index, view, context, fix, (lon0, lat0))
        expected = sorted(
            (zone_of[f], ev)
            for f, ev in index.segment_events(lon0, lat0, lon1, lat1)
            if f in zone_of
        )
        assert sorted(afix.segment_events) == expected
        seen.update(ev for _, ev in expected)
        want_m = index.corridor_distance_m("c1", lon1, lat1)
        assert afix.corridor_distance_m["c1"] == pytest.approx(want_m, abs=1e-6)
    assert seen == {"enter", "exit", "cross"}

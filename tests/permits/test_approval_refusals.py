"""One test per reason to refuse an approval: 409, the reason named, nothing written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from permit_world import LINE, TODAY, World, box

Setup = Callable[[World], Awaitable[dict[str, Any]]]


async def inactive_vehicle(w: World) -> dict[str, Any]:
    await w.client.delete(f"/api/v1/vehicles/{w.vehicle_ids[0]}", headers=w.staff)
    return {}


async def blacklisted_vehicle(w: World) -> dict[str, Any]:
    listing = {"vehicle_id": w.vehicle_ids[0], "reason": "dumped at night"}
    resp = await w.client.post("/api/v1/blacklist", json=listing, headers=w.staff)
    assert resp.status_code == 201, resp.text
    return {}


async def full_yard(w: World) -> dict[str, Any]:
    # the yard holds 1500 m³; another approved permit already commits 1000 of it
    await w.approved(vehicle_ids=w.vehicle_ids[1:])
    return {"quota_m3": 600}


async def corridor_from_elsewhere(w: World) -> dict[str, Any]:
    line = {**LINE, "coordinates": [[7.400, 43.731], *LINE["coordinates"][1:]]}
    return {"corridors": [{"geometry": line, "half_width_m": 30}]}


async def corridor_to_elsewhere(w: World) -> dict[str, Any]:
    line = {**LINE, "coordinates": [*LINE["coordinates"][:-1], [7.440, 43.731]]}
    return {"corridors": [{"geometry": line, "half_width_m": 30}]}


async def corridor_through_zone(w: World) -> dict[str, Any]:
    zone = {"name": "School", "geometry": box(7.420, 43.7305, 0.001)}
    assert (await w.post("/zones", zone)).status_code == 201
    return {}


async def reversed_dates(w: World) -> dict[str, Any]:
    return {"valid_to": (TODAY - timedelta(days=2)).isoformat()}


async def overlapping_windows(w: World) -> dict[str, Any]:
    windows = [{"start": "22:00", "end": "05:00"}, {"start": "04:00", "end": "06:00"}]
    return {"windows": windows}


async def vehicle_on_another_permit(w: World) -> dict[str, Any]:
    await w.approved(quota_m3=100)
    return {"quota_m3": 100, "valid_from": (TODAY + timedelta(days=20)).isoformat()}


@pytest.mark.parametrize(
    ("setup", "code", "field"),
    [
        (inactive_vehicle, "vehicle_inactive", "vehicle_ids"),
        (blacklisted_vehicle, "vehicle_blacklisted", "vehicle_ids"),
        (full_yard, "yard_capacity", "quota_m3"),
        (corridor_from_elsewhere, "corridor_start", "corridors[0]"),
        (corridor_to_elsewhere, "corridor_end", "corridors[0]"),
        (corridor_through_zone, "corridor_no_go_zone", "corridors[0]"),
        (reversed_dates, "invalid_dates", "valid_to"),
        (overlapping_windows, "invalid_windows", "windows[0]"),
        (vehicle_on_another_permit, "vehicle_overlap", "vehicle_ids"),
    ],
)
async def test_refusal(
    world: World, db: psycopg.Connection[Any], setup: Setup, code: str, field: str
) -> None:
    overrides = await setup(world)
    permit_id = await world.submitted(**overrides)
    fences_before = db.execute("SELECT count(*) FROM fences WHERE active").fetchone()
    resp = await world.post(f"/permits/{permit_id}/approve")
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"] == "permit_refused"
    assert [r["code"] for r in body["details"]] == [code], body
    assert body["details"][0]["field"] == field
    state = await world.client.get(f"/api/v1/permits/{permit_id}", headers=world.staff)
    assert state.json()["state"] == "submitted"
    assert db.execute("SELECT count(*) FROM fences WHERE active").fetchone() == fences_before


async def test_a_zone_out_of_force_during_the_windows_is_no_obstacle(world: World) -> None:
    zone = {
        "name": "Market",
        "geometry": box(7.420, 43.7305, 0.001),
        "schedule": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00"}],
    }
    assert (await world.post("/zones", zone)).status_code == 201
    await world.approved()  # hauls 22:00-05:00: the daytime ban does not apply


def _next(weekday: int) -> date:
    """The next city day (after today) that is ``weekday`` (1 Monday ... 7 Sunday)."""
    return TODAY + timedelta(days=(weekday - TODAY.isoweekday() - 1) % 7 + 1)


@pytest.mark.parametrize(("weekday", "refused"), [(6, False), (7, False), (5, True), (1, True)])
async def test_a_weekday_zone_is_checked_on_the_permits_days(
    world: World, weekday: int, refused: bool
) -> None:
    zone = {
        "name": "School",
        "geometry": box(7.420, 43.7305, 0.001),
        "schedule": [{"days": [1, 2, 3, 4, 5], "start": "07:00", "end": "09:00"}],
    }
    assert (await world.post("/zones", zone)).status_code == 201
    day = _next(weekday).isoformat()
    permit_id = await world.submitted(
        valid_from=day, valid_to=day, windows=[{"start": "06:00", "end": "10:00"}]
    )
    resp = await world.post(f"/permits/{permit_id}/approve")
    if refused:
        assert resp.status_code == 409, resp.text
        assert [r["code"] for r in resp.json()["details"]] == ["corridor_no_go_zone"]
    else:
        assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(("zone_day", "refused"), [(7, True), (1, False)])
async def test_a_night_zone_runs_from_sunday_into_monday(
    world: World, zone_day: int, refused: bool
) -> None:
    zone = {
        "name": "Night quiet",
        "geometry": box(7.420, 43.7305, 0.001),
        "schedule": [{"days": [zone_day], "start": "22:00", "end": "05:00"}],
    }
    assert (await world.post("/zones", zone)).status_code == 201
    monday = _next(1).isoformat()
    permit_id = await world.submitted(
        valid_from=monday, valid_to=monday, windows=[{"start": "01:00", "end": "04:00"}]
    )
    resp = await world.post(f"/permits/{permit_id}/approve")
    assert resp.status_code == (409 if refused else 200), resp.text

"""``GET /api/v1/kpi`` over a known fleet hour (see ``kpi_world``) in the real database."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from kpi_world import KpiWorld, make_kpi_world


def iso(t: Any) -> str:
    return str(t.isoformat().replace("+00:00", "Z"))


@pytest.fixture
def world(db: psycopg.Connection[Any], clean: None) -> KpiWorld:
    return make_kpi_world(db)


async def get_kpi(client: AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = await client.get("/api/v1/kpi", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_fleet_quality_incidents_and_trips(
    client: AsyncClient, staff: dict[str, str], world: KpiWorld
) -> None:
    body = await get_kpi(client, staff, **{"from": iso(world.start), "to": iso(world.end)})
    assert body["from"] == iso(world.start) and body["to"] == iso(world.end)
    assert body["fleet"] == {
        "registered": 4,
        "with_terminal": 3,
        "install_rate": 0.75,
        "online": 2,  # a2 (2 min before the end) and b1 (5 min); a1 stopped 15 min before
        "online_rate": 0.5,
        "online_window_min": 10,
    }
    q = body["data_quality"]
    assert (q["fixes"], q["reporting_vehicles"]) == (71 + 36 + 1, 3)
    assert q["fixes_per_vehicle_h"] == 36.0
    assert q["invalid_share"] == round(3 / 108, 6)
    assert q["filtered_share"] == round(5 / 108, 6)
    assert q["drift_share"] == round(2 / 108, 6)
    assert q["quality_rate"] == round(103 / 108, 6)
    assert q["mean_fix_interval_s"] == round((69 * 30 + 34 * 20) / 103, 1)
    assert (q["gaps"], q["gap_time_s"]) == (1, 480.0)  # a2's parked silence is no gap
    tracked = 69 * 30 + 600 + 34 * 20
    assert q["track_completeness"] == round(1 - 480 / tracked, 6)
    assert q["bucket"] == "5 minutes"
    assert len(q["by_time"]) == 12 and q["by_time"][0]["at"] == iso(world.start)  # empty too
    assert sum(b["fixes"] for b in q["by_time"]) == 108
    assert sum(b["gaps"] for b in q["by_time"]) == 1
    assert sum(b["invalid"] for b in q["by_time"]) == 3
    assert body["incidents"] == {
        "total": 3,
        "by_type": [{"type": "no_permit", "count": 2}, {"type": "route_deviation", "count": 1}],
        "by_company": [
            {"company_id": world.company_a, "name": "Alpha Haulage", "count": 2},
            {"company_id": world.company_b, "name": "Beta Earthworks", "count": 1},
        ],
    }
    assert body["trips"] == {"completed": 2, "to_yard": 1, "elsewhere": 1, "volume_m3": 27.5}


async def test_thresholds_change_the_figures(
    client: AsyncClient, staff: dict[str, str], world: KpiWorld
) -> None:
    window = {"from": iso(world.start), "to": iso(world.end)}
    wide = await get_kpi(client, staff, **window, online_min=30, gap_s=700)
    assert wide["fleet"]["online"] == 3  # a1's last fix, 15 min before the end, now counts
    assert wide["data_quality"]["gaps"] == 0  # the 600 s step is under 700 s
    strict = await get_kpi(client, staff, **window, gap_s=25, move_m=10)
    assert strict["data_quality"]["gaps"] == 70  # each of a1's moving steps; a2 stands still
    assert strict["data_quality"]["mean_fix_interval_s"] == 20.0


async def test_company_scope(
    client: AsyncClient, staff: dict[str, str], world: KpiWorld, accounts: Any
) -> None:
    window = {"from": iso(world.start), "to": iso(world.end)}
    body = await get_kpi(client, staff, **window, company_id=world.company_b)
    assert body["company_id"] == world.company_b
    assert (body["fleet"]["registered"], body["fleet"]["online"]) == (1, 1)
    assert body["data_quality"]["fixes"] == 1
    assert body["incidents"]["by_company"] == [
        {"company_id": world.company_b, "name": "Beta Earthworks", "count": 1}
    ]
    assert body["trips"]["completed"] == 0
    # A company user sees its own company, whatever it asks for.
    own = accounts.headers("company_user", world.company_a)
    mine = await get_kpi(client, own, **window, company_id=world.company_b)
    assert mine["company_id"] == world.company_a
    assert (mine["fleet"]["registered"], mine["data_quality"]["fixes"]) == (3, 107)
    assert mine["incidents"]["total"] == 2 and mine["trips"]["completed"] == 2


async def test_default_window_is_the_last_day(
    client: AsyncClient, staff: dict[str, str], world: KpiWorld
) -> None:
    body = await get_kpi(client, staff)
    assert body["data_quality"]["fixes"] == 109  # with a1's fix before the hour
    assert body["data_quality"]["bucket"] == "1 hour"
    assert body["fleet"]["online"] == 0  # all fixes are hours old


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"from": "2026-01-02T00:00:00"}, 400, "from"),  # no timezone
        ({"to": "2026-01-02T00:00:00"}, 400, "to"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 400, "from"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, 400, "from"),
        ({"from": "yesterday"}, 422, "from"),
        ({"online_min": "0"}, 422, "online_min"),
        ({"gap_s": "5"}, 422, "gap_s"),
        ({"company_id": "x"}, 422, "company_id"),
    ],
)
async def test_bad_parameters_name_the_field(
    client: AsyncClient, staff: dict[str, str], params: dict[str, str], status: int, field: str
) -> None:
    resp = await client.get("/api/v1/kpi", params=params, headers=staff)
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field


async def test_needs_a_token(client: AsyncClient) -> None:
    resp = await client.get("/api/v1/kpi")
    assert resp.status_code == 401

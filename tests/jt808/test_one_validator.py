"""One validator for every front end: the same bad fix gets the same verdict by HTTP (the real
API) and by JT/T 808 (the real gateway), and is stored alike."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient

from tracker.ingest.jt808 import Result, make_location
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.fields import BEIJING_OFFSET
from tracker.ingest.jt808.fixes import report_to_item
from tracker.wire import Fix

PHONE = "13912345678"
WHEN = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
GOOD = {"lon": 7.4246, "lat": 43.7384, "speed_kmh": 32.5, "heading_deg": 90, "altitude_m": 55}
COLUMNS = "lon, lat, speed_kmh, heading_deg, altitude_m, satellites"

# (case, the values sent, the verdict: "stored" with the dropped fields, or "rejected" naming one)
CASES = [
    ("speed over 300 km/h", {"speed_kmh": 400.0}, ("stored", ["speed_kmh"])),
    ("heading past 360", {"heading_deg": 400}, ("stored", ["heading_deg"])),
    ("altitude above 9000 m", {"altitude_m": 9500}, ("stored", ["altitude_m"])),
    ("satellites above 99", {"satellites": 120}, ("stored", ["satellites"])),
    ("latitude past the pole", {"lat": 95.0}, ("rejected", ["lat"])),
    ("time before 2000", {"time": datetime(1999, 12, 31, 18, tzinfo=UTC)}, ("rejected", ["time"])),
]


def _http_fix(values: dict[str, Any]) -> dict[str, Any]:
    when = values.pop("time", WHEN)
    return {"time": when.isoformat(), **values}


async def _by_jt808(gw: Any, values: dict[str, Any], expected: Result) -> None:
    when = values.pop("time", WHEN)
    satellites = values.pop("satellites", None)
    extras = () if satellites is None else ((0x31, bytes([satellites])),)
    term = await asyncio.wait_for(TerminalClient.connect("127.0.0.1", gw.port, PHONE), 5)
    serial = await term.send(make_location(fix_time=when, extras=extras, **values))
    reply = await asyncio.wait_for(term.reply_to(serial), 5)
    assert reply.result == expected  # 0 stored; 2 refused (kept in the quarantine)
    await term.close()


def _stored(db: psycopg.Connection[Any], vehicle_id: int) -> list[tuple[Any, ...]]:
    query = f"SELECT {COLUMNS} FROM pings WHERE vehicle_id = %s"  # fixed column names
    return db.execute(query, (vehicle_id,)).fetchall()


@pytest.mark.parametrize(("values", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_same_verdict_by_http_and_by_jt808(
    client: AsyncClient,
    fleet: Any,
    jt808_fleet: Any,
    start_gateway: Any,
    db: psycopg.Connection[Any],
    values: dict[str, Any],
    verdict: tuple[str, list[str]],
) -> None:
    status, fields = verdict
    http_vehicle, token = fleet.truck("HTTP-1")
    jt808_vehicle = jt808_fleet.add(PHONE, "JT808-1")
    resp = await client.post(
        "/api/v1/positions",
        json={"fixes": [_http_fix({**GOOD, **values})]},
        headers={"Authorization": f"Bearer {token}"},
    )
    (result,) = resp.json()["results"]
    gw = await start_gateway(require_auth=False)
    expected = Result.OK if status == "stored" else Result.BAD_MESSAGE
    await _by_jt808(gw, {**GOOD, **values}, expected)

    assert result["status"] == status
    named = result.get("dropped") if status == "stored" else result["errors"]
    assert [e["field"] for e in named] == fields
    by_http, by_jt808 = _stored(db, http_vehicle), _stored(db, jt808_vehicle)
    assert by_http == by_jt808  # the same row, the bad value dropped alike, or no row at all
    assert len(by_http) == (1 if status == "stored" else 0)
    if status == "stored":
        assert by_http[0][COLUMNS.split(", ").index(fields[0])] is None
        assert (gw.stats.values_dropped, gw.stats.fixes_rejected) == (1, 0)
    else:
        assert (gw.stats.values_dropped, gw.stats.fixes_rejected) == (0, 1)


def test_an_unreadable_bcd_time_refuses_the_fix_naming_only_the_time() -> None:
    good = make_location(lon=7.42, lat=43.73, fix_time=WHEN)
    bad = replace(good, time_bcd=bytes(6), fix_time=None)  # as decoded from all-zero BCD
    verdict = report_to_item(
        bad, vehicle_id=1, terminal_id=1, received_at=WHEN, utc_offset=BEIJING_OFFSET
    )
    assert verdict.item == [{"field": "time", "message": "not a valid BCD date and time"}]


def test_heading_360_is_north_by_jt808_too() -> None:
    report = make_location(lon=7.42, lat=43.73, fix_time=WHEN, heading_deg=360)
    verdict = report_to_item(
        report, vehicle_id=1, terminal_id=1, received_at=WHEN, utc_offset=BEIJING_OFFSET
    )
    assert isinstance(verdict.item, Fix) and verdict.item.heading_deg == 0.0
    assert verdict.item.source == "jt808" and verdict.dropped == []

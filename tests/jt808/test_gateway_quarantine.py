"""What JT/T 808 refuses is answered truthfully and kept in the quarantine (issue 14, item 3):
real frames over TCP to a real gateway, rows in TimescaleDB, the officers' API."""

from __future__ import annotations

import asyncio
import dataclasses
import struct
from typing import Any

import psycopg
from httpx import AsyncClient
from test_gateway import PHONE, connected, report, rows, within

from tracker.ingest.jt808 import Dialect, LocationBatch, PlatformResponse, Result
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.framing import seal
from tracker.ingest.jt808.gateway import Jt808Gateway
from tracker.ingest.jt808.header import encode_header
from tracker.ingest.jt808.location import BatchKind

DAY_S = 86_400


async def quarantined(
    gw: Jt808Gateway, db: psycopg.Connection[Any], expected: int
) -> dict[tuple[str, str], int]:
    """(reason, field) → count in ingest_quarantine, once ``expected`` refusals are written."""
    recorder = gw.handler.ingest.quarantine
    assert recorder is not None
    for _ in range(100):
        await recorder.flush()
        got = db.execute("SELECT reason, field, refused FROM ingest_quarantine").fetchall()
        if sum(n for _, _, n in got) >= expected:
            return {(r, f): n for r, f, n in got}
        await asyncio.sleep(0.05)
    raise AssertionError(f"quarantine holds {got}")


async def reply(term: TerminalClient, message: Any) -> PlatformResponse:
    serial = await term.send(message)
    answer = await within(term.reply_to(serial))
    assert isinstance(answer, PlatformResponse) and answer.reply_serial == serial
    return answer


async def test_refused_fixes_are_answered_2_and_quarantined(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    no_time = dataclasses.replace(report(10), time_bcd=bytes(6), fix_time=None)
    for refused in (report(100 * DAY_S), report(-2 * DAY_S), no_time, report(10, lon=0, lat=0)):
        assert (await reply(term, refused)).result == Result.BAD_MESSAGE  # not 0: not stored
    mixed = LocationBatch(BatchKind.BLIND_AREA, (report(50), report(95 * DAY_S)))
    assert (await reply(term, mixed)).result == Result.OK  # one stored: the message was handled
    bad = LocationBatch(BatchKind.BLIND_AREA, (report(91 * DAY_S), report(92 * DAY_S)))
    assert (await reply(term, bad)).result == Result.BAD_MESSAGE
    assert rows(db, vehicle_id) == 1
    assert gw.stats.fixes_rejected == 7
    held = await quarantined(gw, db, 7)
    assert held == {
        ("past", "time"): 4, ("future", "time"): 1, ("invalid_time", "time"): 1,
        ("zero", "lon"): 1,
    }  # fmt: skip
    recorder = gw.handler.ingest.quarantine
    assert recorder is not None
    assert recorder.stats.refused["past"] == 4 and recorder.stats.quarantined == 7
    sample = db.execute(
        "SELECT samples -> 0 FROM ingest_quarantine WHERE reason = 'invalid_time'"
    ).fetchone()
    assert sample is not None and sample[0]["raw"]["time"] == "000000000000"
    assert sample[0]["raw"]["lon"] == 7.4246 and sample[0]["message"]
    await term.close()


async def test_a_different_position_for_a_stored_second_is_quarantined(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    first = report(30)
    assert (await reply(term, first)).result == Result.OK
    assert (await reply(term, first)).result == Result.OK  # a resend: a plain duplicate
    other = dataclasses.replace(first, lon=7.5, lat=43.8)  # same second, another position
    assert (await reply(term, other)).result == Result.OK  # the second is taken: told 0
    assert rows(db, vehicle_id) == 1
    assert await quarantined(gw, db, 1) == {("conflicting_duplicate", "time"): 1}
    row = db.execute("SELECT samples -> 0 -> 'raw' FROM ingest_quarantine").fetchone()
    assert row is not None and row[0]["lon"] == 7.5
    await term.close()


async def test_officers_query_the_quarantine_per_terminal(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any], client: AsyncClient,
    staff: dict[str, str], accounts: Any,
) -> None:  # fmt: skip
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    jt808_fleet.add("13800000002", "MC-2")
    gw = await start_gateway()
    for phone in (PHONE, "13800000002"):
        term = await connected(gw.port, phone=phone)
        assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
        for _ in range(3 if phone == PHONE else 1):
            assert (await reply(term, report(100 * DAY_S))).result == Result.BAD_MESSAGE
        await term.close()
    await quarantined(gw, db, 4)
    answer = await client.get(
        "/api/v1/quarantine", params={"vehicle_id": vehicle_id}, headers=staff
    )
    assert answer.status_code == 200, answer.text
    [entry] = answer.json()
    assert entry["vehicle_id"] == vehicle_id and entry["identity"] == PHONE
    assert entry["refused"] == 3
    [why] = entry["reasons"]
    assert why["reason"] == "past" and why["protocol"] == "jt808" and len(why["samples"]) == 3
    assert len((await client.get("/api/v1/quarantine", headers=staff)).json()) == 2
    for role in ("enforcement_officer", "viewer", "admin"):
        seen = await client.get("/api/v1/quarantine", headers=accounts.headers(role))
        assert seen.status_code == 200 and len(seen.json()) == 2
    company = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,))
    own = accounts.headers("company_user", company.fetchone()[0])  # type: ignore[index]
    assert len((await client.get("/api/v1/quarantine", headers=own)).json()) == 2
    db.execute("INSERT INTO companies (name) VALUES ('Other') RETURNING id")
    other_id = db.execute("SELECT id FROM companies WHERE name = 'Other'").fetchone()
    other = accounts.headers("company_user", other_id[0])  # type: ignore[index]
    assert (await client.get("/api/v1/quarantine", headers=other)).json() == []
    later = await client.get(
        "/api/v1/quarantine", params={"since": "2999-01-01T00:00:00Z"}, headers=staff
    )
    assert later.json() == []
    for params in ({"reason": "nonsense"}, {"since": "yesterday"}, {"limit": 0}):
        bad = await client.get("/api/v1/quarantine", params=params, headers=staff)
        assert bad.status_code in (400, 422) and next(iter(params)) in bad.text
    assert (await client.get("/api/v1/quarantine")).status_code == 401


async def test_batch_items_too_short_are_quarantined(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    body = struct.pack(">HB", 2, 1) + struct.pack(">H", 10) + bytes(10) + b"\x00\x03abc"
    await term.send_raw(seal(encode_header(0x0704, len(body), PHONE, 42, Dialect()) + body))
    assert await within(term.reply_to(42)) == PlatformResponse(42, 0x0704, Result.BAD_MESSAGE)
    assert await quarantined(gw, db, 2) == {("short_item", "item"): 2}
    await term.close()

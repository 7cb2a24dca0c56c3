"""What the gateway tells the engine besides positions: the 0x0704 blind-area mark on the
stored fixes (``pings.blind_area``), and heartbeats (``HEARD_KEY``): a terminal heard while no
positions come is holding them back, not cut."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis

from tracker.ingest.jt808 import (
    Dialect,
    Heartbeat,
    LocationBatch,
    LocationReport,
    PlatformResponse,
    Result,
    Version,
    make_location,
)
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.location import BatchKind
from tracker.wire import HEARD_KEY

PHONE = "13912345670"
STATUS = 0b11 | (0b11 << 8)  # ACC on, located, full load


def report(seconds_ago: int) -> LocationReport:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
    return make_location(lon=7.4246, lat=43.7384, fix_time=when, speed_kmh=32.5, heading_deg=90,
                         altitude_m=55, status_bits=STATUS)  # fmt: skip


async def within(awaitable: Any, seconds: float = 5.0) -> Any:
    return await asyncio.wait_for(awaitable, seconds)


async def authenticated(port: int, code: str) -> TerminalClient:
    term = await within(TerminalClient.connect("127.0.0.1", port, PHONE, Dialect(Version.V2013)))
    assert await within(term.authenticate(code)) == Result.OK
    return term


async def test_blind_area_upload_marks_its_fixes(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-7")
    gw = await start_gateway()
    term = await authenticated(gw.port, jt808_fleet.code)
    for kind, ago in ((BatchKind.NORMAL, (40, 30)), (BatchKind.BLIND_AREA, (900, 890, 880))):
        serial = await term.send(LocationBatch(kind, tuple(report(s) for s in ago)))
        assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0704, 0)
    await term.close()
    rows = db.execute(
        "SELECT fix_time < now() - interval '10 minutes', blind_area, flags FROM pings "
        "WHERE vehicle_id = %s ORDER BY fix_time",
        (vehicle_id,),
    ).fetchall()
    # Marked, and not noise: no flag (history, exports and the latest position keep them).
    assert rows == [(True, True, 0), (True, True, 0), (True, True, 0), (False, False, 0),
                    (False, False, 0)]  # fmt: skip


async def test_heartbeat_is_heard_by_the_engine(
    start_gateway: Any, jt808_fleet: Any, rdb: redis.Redis
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-8")
    gw = await start_gateway()
    term = await authenticated(gw.port, jt808_fleet.code)
    serial = await term.send(report(5))  # a position is not a heartbeat
    await within(term.reply_to(serial))
    await gw.flush_heard()
    assert rdb.hget(HEARD_KEY, str(vehicle_id)) is None
    before_us = int(time.time() * 1_000_000)
    serial = await term.send(Heartbeat())
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0002, 0)
    for _ in range(100):  # the gateway's sweep writes it (every few seconds at most)
        raw = rdb.hget(HEARD_KEY, str(vehicle_id))
        if raw is not None:
            break
        await asyncio.sleep(0.1)
    assert raw is not None
    assert before_us <= int(raw) <= int(time.time() * 1_000_000)
    await term.close()


async def test_heartbeat_before_authentication_is_not_heard(
    start_gateway: Any, jt808_fleet: Any, rdb: redis.Redis
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-9")
    gw = await start_gateway()
    term = await within(TerminalClient.connect("127.0.0.1", gw.port, PHONE, Dialect(Version.V2013)))
    serial = await term.send(Heartbeat())
    await within(term.reply_to(serial))
    await gw.flush_heard()
    assert rdb.hget(HEARD_KEY, str(vehicle_id)) is None
    await term.close()

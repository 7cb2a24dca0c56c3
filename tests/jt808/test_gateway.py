"""The gateway end to end: real frames over TCP, a real platform, rows in TimescaleDB."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

from tracker.ingest.jt808 import (
    Authentication,
    Dialect,
    Heartbeat,
    LocationBatch,
    LocationReport,
    Logout,
    PlatformResponse,
    RegistrationReply,
    Result,
    TerminalResponse,
    Version,
    encode_frames,
    make_location,
)
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.location import BatchKind

T = TypeVar("T")
PHONE = "13912345678"
DIALECTS = {
    "2011": Dialect(Version.V2011),
    "2013": Dialect(Version.V2013),
    "2019": Dialect(Version.V2019, protocol_version=1),
}
LOADED = 0b11 << 8
STATUS = 0b11 | LOADED  # ACC on, located, full load


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    """A missing reply fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


def report(
    seconds_ago: int, lon: float = 7.4246, lat: float = 43.7384, **kw: Any
) -> LocationReport:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
    status = kw.pop("status_bits", STATUS)
    return make_location(lon=lon, lat=lat, fix_time=when, speed_kmh=32.5, heading_deg=90,
                         altitude_m=55, status_bits=status, **kw)  # fmt: skip


def rows(db: psycopg.Connection[Any], vehicle_id: int) -> int:
    row = db.execute("SELECT count(*) FROM pings WHERE vehicle_id = %s", (vehicle_id,)).fetchone()
    return int(row[0]) if row else 0


async def connected(
    port: int, phone: str = PHONE, dialect: Dialect | None = None
) -> TerminalClient:
    return await within(TerminalClient.connect("127.0.0.1", port, phone, dialect))


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=DIALECTS.keys())
async def test_register_authenticate_report(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any], dialect: Dialect
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "粤B88888", registered=False)
    gw = await start_gateway()
    term = await connected(gw.port, dialect=dialect)
    reg = await within(term.register("粤B88888"))
    assert reg.result == 0 and reg.auth_code
    assert await within(term.authenticate(reg.auth_code)) == Result.OK
    serial = await term.send(report(30))
    frame, reply = await within(term.receive())
    assert rows(db, vehicle_id) == 1  # stored before the 0x8001 was sent
    assert reply == PlatformResponse(serial, 0x0200, Result.OK)
    assert frame.header.version is (Version.V2019 if dialect.long_header else Version.V2013)
    assert frame.header.phone == PHONE
    row = db.execute("SELECT source, loaded, ignition, speed_kmh, extra FROM pings").fetchone()
    assert row is not None and row[:4] == (2, True, True, 32.5)
    assert row[4]["status_bits"] == STATUS
    await term.close()


@pytest.mark.parametrize("dialect", DIALECTS.values(), ids=DIALECTS.keys())
async def test_heartbeat_and_logout(start_gateway: Any, jt808_fleet: Any, dialect: Dialect) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port, dialect=dialect)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    await term.send(TerminalResponse(7, 0x8103, 0))  # answers a command of ours: no reply
    for beat in (Heartbeat(), Heartbeat(b"\x01\x04\x00\x00\x00\x01")):  # with a body: ignored
        serial = await term.send(beat)
        _, reply = await within(term.receive())  # the next frame: nothing came for the 0x0001
        assert reply == PlatformResponse(serial, 0x0002, 0)
    serial = await term.send(Logout())
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0003, 0)
    with pytest.raises(ConnectionError):
        await within(term.receive())
    await term.close()


async def test_unknown_terminal_is_refused(start_gateway: Any, jt808_fleet: Any) -> None:
    jt808_fleet.add("13800000001", "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port, phone="13899999999")
    reg = await within(term.register("MC-9"))
    assert reg == RegistrationReply(0, 4, None)  # terminal not in database, no code
    assert await within(term.authenticate("guess")) == Result.FAILURE
    await term.close()


async def test_auto_registration_by_plate(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.vehicle("MC-7")
    gw = await start_gateway(auto_register=True)
    term = await connected(gw.port, phone="013700000002")
    reg = await within(term.register("MC-7", model="ZT-200"))
    assert reg.result == 0 and reg.auth_code
    row = db.execute("SELECT vehicle_id, model, jt808_auth_code FROM terminals "
                     "WHERE identity = '13700000002'").fetchone()  # fmt: skip
    assert row == (vehicle_id, "ZT-200", reg.auth_code)
    stranger = await connected(gw.port, phone="13700000003")
    assert (await within(stranger.register("NO-SUCH-PLATE"))).result == 2  # vehicle unknown
    await term.close()
    await stranger.close()


async def test_location_before_authentication_is_refused(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port)
    serial = await term.send(report(10))
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0200, 1)
    assert await within(term.authenticate("wrong")) == Result.FAILURE
    serial = await term.send(report(10))
    assert (await within(term.reply_to(serial))).result == Result.FAILURE
    assert rows(db, vehicle_id) == 0
    await term.close()


async def test_lenient_mode_accepts_locations_without_authentication(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway(require_auth=False)
    term = await connected(gw.port)
    serial = await term.send(report(10))
    assert (await within(term.reply_to(serial))).result == Result.OK
    assert rows(db, vehicle_id) == 1
    await term.close()


async def test_batch_and_blind_area_upload(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port, dialect=DIALECTS["2019"])
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    serial = await term.send(LocationBatch(BatchKind.NORMAL, tuple(report(s) for s in (40, 30))))
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0704, 0)
    assert rows(db, vehicle_id) == 2
    late = tuple(report(3600 + s) for s in range(0, 600, 10))  # 60 items: sub-packaged
    frames = encode_frames(LocationBatch(BatchKind.BLIND_AREA, late), phone=PHONE,
                           serial=term.serial, dialect=term.dialect)  # fmt: skip
    assert len(frames) > 1
    term.serial += len(frames)
    await term.send_raw(b"".join(frames))
    answers = [(await within(term.receive()))[1] for _ in frames]
    assert [a.reply_serial for a in answers if isinstance(a, PlatformResponse)] == list(
        range(serial + 1, serial + 1 + len(frames))
    )
    assert rows(db, vehicle_id) == 62  # the last packet's 0x8001 came after the commit
    await term.close()


async def test_sensor_mapping_follows_the_terminal_model(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, "MC-1", model="ZT-100")
    models = {"ZT-100": {"body_lifted": "status:29", "cover_closed": "!status:28"}}
    gw = await start_gateway(models=models)
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    serial = await term.send(report(10, status_bits=STATUS | 1 << 29 | 1 << 28))
    assert (await within(term.reply_to(serial))).result == Result.OK
    row = db.execute("SELECT loaded, body_lifted, cover_closed FROM pings").fetchone()
    assert row == (True, True, False)
    await term.close()


async def test_authentication_2019_body(start_gateway: Any, jt808_fleet: Any) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port, dialect=DIALECTS["2019"])
    serial = await term.send(Authentication(jt808_fleet.code, "860000000000001", "v2"))
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0102, 0)
    await term.close()

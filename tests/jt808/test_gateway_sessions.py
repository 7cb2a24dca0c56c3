"""Sessions under stress: garbage, bad checksums, pipelining, replacement, idleness."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

from tracker.ingest.jt808 import Heartbeat, PlatformResponse, Result, make_location, seal
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.header import VERSION_FLAG_BIT, Version

T = TypeVar("T")
PHONE = "13912345678"


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


async def authenticated(port: int, code: str, phone: str = PHONE) -> TerminalClient:
    term = await within(TerminalClient.connect("127.0.0.1", port, phone))
    assert await within(term.authenticate(code)) == Result.OK
    return term


def location(seconds_ago: int) -> Any:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=seconds_ago)
    return make_location(lon=7.42, lat=43.73, fix_time=when, speed_kmh=20.0)


async def test_malformed_frames_are_answered_or_dropped(
    start_gateway: Any, jt808_fleet: Any
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await authenticated(gw.port, jt808_fleet.code)
    _, good = term.frame(Heartbeat())
    bad_checksum = good[:-2] + bytes((good[-2] ^ 0x55,)) + good[-1:]
    await term.send_raw(bad_checksum)
    _, reply = await within(term.receive())
    assert isinstance(reply, PlatformResponse) and reply.result == Result.BAD_MESSAGE
    serial, unsupported = term.frame(Heartbeat())
    unsupported = seal(b"\x09\x00" + unsupported[3:-2])  # message id 0x0900, resealed
    await term.send_raw(unsupported)
    _, reply = await within(term.receive())
    assert reply == PlatformResponse(serial, 0x0900, Result.UNSUPPORTED)
    # noise, an invalid escape, a short frame and an oversize run: all dropped silently
    await term.send_raw(b"\x00\xff\x13\x7e\x7d\x05\x00\x7e\x7e\x01\x7e")
    await term.send_raw(b"\x7e" + os.urandom(5000).replace(b"\x7e", b"") + b"\x7e")
    serial = await term.send(Heartbeat())
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0002, 0)
    assert gw.stats.dropped_frames == 3 and gw.stats.bad_frames == 2
    await term.close()


async def test_lenient_checksum_accepts_a_bad_checksum(
    start_gateway: Any, jt808_fleet: Any
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway(strict_checksum=False)
    term = await authenticated(gw.port, jt808_fleet.code)
    serial, good = term.frame(Heartbeat())
    await term.send_raw(good[:-2] + bytes((good[-2] ^ 0x55,)) + good[-1:])
    assert await within(term.reply_to(serial)) == PlatformResponse(serial, 0x0002, 0)
    await term.close()


async def test_pipelined_frames_are_answered_in_order(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await authenticated(gw.port, jt808_fleet.code)
    frames = [term.frame(m) for m in (location(50), Heartbeat(), location(40), location(30))]
    await term.send_raw(b"".join(f for _, f in frames))
    replies = [(await within(term.receive()))[1] for _ in frames]
    assert [(r.reply_serial, r.reply_id) for r in replies if isinstance(r, PlatformResponse)] == [
        (frames[0][0], 0x0200), (frames[1][0], 0x0002),
        (frames[2][0], 0x0200), (frames[3][0], 0x0200),
    ]  # fmt: skip
    row = db.execute("SELECT count(*) FROM pings").fetchone()
    assert row == (3,)
    await term.close()


async def test_flag_with_2013_header_is_answered_in_2013(
    start_gateway: Any, jt808_fleet: Any
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await authenticated(gw.port, jt808_fleet.code)
    serial, frame = term.frame(Heartbeat())
    raw = bytearray(frame[1:-2])  # a heartbeat needs no escaping: header, no body
    raw[2] |= VERSION_FLAG_BIT >> 8
    await term.send_raw(seal(bytes(raw)))
    answer, reply = await within(term.receive())
    assert reply == PlatformResponse(serial, 0x0002, 0)
    assert answer.header.version is Version.V2013 and answer.header.phone == PHONE
    await term.close()


async def test_new_connection_replaces_the_old(start_gateway: Any, jt808_fleet: Any) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    old = await authenticated(gw.port, jt808_fleet.code)
    new = await authenticated(gw.port, jt808_fleet.code)
    with pytest.raises(ConnectionError):
        await within(old.receive())
    serial = await new.send(Heartbeat())
    assert (await within(new.reply_to(serial))).result == Result.OK
    assert gw.stats.replaced_sessions == 1 and gw.registry.get(PHONE) is not None
    await old.close()
    await new.close()


async def test_idle_connection_is_closed(start_gateway: Any, jt808_fleet: Any) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway(idle_timeout_s=0.3)
    term = await authenticated(gw.port, jt808_fleet.code)
    with pytest.raises(ConnectionError):
        await within(term.receive(), 3.0)
    assert gw.stats.idle_closed == 1 and len(gw.registry) == 0
    await term.close()


async def test_connection_limit(start_gateway: Any, jt808_fleet: Any) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway(max_connections=1)
    first = await authenticated(gw.port, jt808_fleet.code)
    second = await within(TerminalClient.connect("127.0.0.1", gw.port, "13800000002"))
    with pytest.raises(ConnectionError):
        await within(second.request(Heartbeat()))
    await second.close()
    serial = await first.send(Heartbeat())
    assert (await within(first.reply_to(serial))).result == Result.OK
    await first.close()

"""Sub-packaged messages over TCP to a real gateway (issue 14, item 4): a reused serial never
splices two messages, a missing packet is asked for with 0x8003, and hoarded pieces stay under
the reassembly limits."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psycopg
from test_gateway import PHONE, connected, report, within

from tracker.ingest.jt808 import Dialect, LocationBatch, PlatformResponse, Result, encode_frames
from tracker.ingest.jt808.client import TerminalClient
from tracker.ingest.jt808.framing import seal
from tracker.ingest.jt808.header import encode_header
from tracker.ingest.jt808.location import BatchKind
from tracker.ingest.jt808.messages import RetransmissionRequest


def batch(first_s: int, lon: float, n: int = 100) -> LocationBatch:
    """``n`` fixes a second apart from ``first_s`` seconds ago, at longitudes from ``lon``."""
    reports = tuple(report(first_s - i, lon=round(lon + i * 1e-4, 6)) for i in range(n))
    return LocationBatch(BatchKind.BLIND_AREA, reports)


async def answers(term: TerminalClient, n: int) -> list[Any]:
    return [(await within(term.receive()))[1] for _ in range(n)]


def stored(db: psycopg.Connection[Any]) -> set[float]:
    return {round(r[0], 6) for r in db.execute("SELECT lon FROM pings").fetchall()}


def lons(message: LocationBatch) -> set[float]:
    return {round(r.lon, 6) for r in message.reports}


async def test_interleaved_messages_with_a_reused_serial_are_never_spliced(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway()
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    a, b = batch(2000, 7.40), batch(1000, 7.45)  # 3,000 bytes each: 3 packets
    frames_a = encode_frames(a, phone=PHONE, serial=500)
    frames_b = encode_frames(b, phone=PHONE, serial=500)  # the terminal reused the serials
    assert len(frames_a) == len(frames_b) == 3
    for fa, fb in zip(frames_a, frames_b, strict=True):
        await term.send_raw(fa)
        await term.send_raw(fb)
    replies = await answers(term, 6)
    assert all(isinstance(r, PlatformResponse) and r.result == Result.OK for r in replies)
    assert stored(db) == lons(a) | lons(b)  # each message's own items, all of them
    assert gw.handler.reassembly.messages == 0 and gw.handler.reassembly.bytes == 0
    await term.close()


async def test_a_missing_packet_is_asked_for_with_0x8003(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, "MC-1")
    gw = await start_gateway(subpacket_retransmit_after_s=0.2)
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
    a = batch(2000, 7.40)
    first, second, third = encode_frames(a, phone=PHONE, serial=700)
    await term.send_raw(first)
    await term.send_raw(third)
    acks = await answers(term, 2)  # each packet acknowledged as held, no fix yet
    assert [r.result for r in acks] == [Result.OK, Result.OK] and stored(db) == set()
    _, request = await within(term.receive())
    assert request == RetransmissionRequest(700, (2,))
    await term.send_raw(second)
    _, done = await within(term.receive())
    assert done == PlatformResponse(701, 0x0704, Result.OK)  # the completing packet's answer
    assert stored(db) == lons(a)
    await term.close()


async def test_hoarding_connections_stay_under_the_reassembly_limits(
    start_gateway: Any, jt808_fleet: Any
) -> None:
    total_bytes = 200 * 1024
    gw = await start_gateway(subpacket_total_bytes=total_bytes, subpacket_total_messages=300)
    budget = gw.handler.reassembly
    phones = [f"1380000{n:04d}" for n in range(64)]
    for n, phone in enumerate(phones):
        jt808_fleet.add(phone, f"H-{n}")
    piece = os.urandom(1023)

    async def hoard(phone: str, authenticate: bool) -> list[int]:
        term = await connected(gw.port, phone=phone)
        if authenticate:
            assert await within(term.authenticate(jt808_fleet.code)) == Result.OK
        for m in range(20):  # the first piece of 20 messages of 256 packets each
            header = encode_header(0x0704, len(piece), phone, m * 256, Dialect(), (256, 1))
            await term.send_raw(seal(header + piece))
        results = [r.result for r in await answers(term, 20)]
        hoarders.append(term)
        return results

    hoarders: list[TerminalClient] = []
    anonymous = await asyncio.gather(*(hoard(p, authenticate=False) for p in phones))
    assert {r for rs in anonymous for r in rs} == {Result.FAILURE}  # not held at all
    assert budget.messages == 0 and budget.bytes == 0
    held = await asyncio.gather(*(hoard(p, authenticate=True) for p in phones))
    assert Result.FAILURE in {r for rs in held for r in rs}  # the total cap refused some
    assert budget.bytes <= total_bytes and budget.messages <= 300
    assert budget.refused > 0 and budget.evicted > 0  # 8 partial messages per connection
    for term in hoarders:
        await term.close()
    for _ in range(100):  # closed connections give their pieces back
        if budget.messages == 0:
            break
        await asyncio.sleep(0.02)
    assert budget.messages == 0 and budget.bytes == 0

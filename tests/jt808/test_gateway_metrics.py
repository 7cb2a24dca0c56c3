"""The gateway's Prometheus metrics (issue 14, item 6): connections, sessions, frames by outcome,
fixes by outcome under protocol jt808, read from the exposition the health listener serves."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from test_gateway_sessions import PHONE, authenticated, location, within

from tracker import metrics


def read(name: str, **labels: str) -> float:
    body, _ = metrics.exposition()
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


async def test_connections_sessions_frames_and_fixes_are_exported(
    start_gateway: Any, jt808_fleet: Any
) -> None:
    jt808_fleet.add(PHONE, "MG-1")
    gw = await start_gateway()
    frames_before = read("tracker_gateway_frames_total", outcome="ok")
    stored_before = read("tracker_ingest_fixes_total", protocol="jt808", outcome="stored")
    conns, sessions = read("tracker_gateway_connections"), read("tracker_gateway_sessions")
    term = await authenticated(gw.port, jt808_fleet.code)
    assert read("tracker_gateway_connections") == conns + 1
    assert read("tracker_gateway_sessions") == sessions + 1
    reply = await within(term.request(location(30)))
    assert reply.result == 0
    assert read("tracker_ingest_fixes_total", protocol="jt808", outcome="stored") == (
        stored_before + 1
    )
    assert read("tracker_gateway_frames_total", outcome="ok") >= frames_before + 2
    await term.close()
    for _ in range(100):  # the gateway notices the close on its next read
        if read("tracker_gateway_connections") == conns:
            break
        await asyncio.sleep(0.02)
    assert read("tracker_gateway_connections") == conns
    assert read("tracker_gateway_sessions") == sessions

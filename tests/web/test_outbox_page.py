"""The outbox page in headless Chromium: an admin subscribes a receiver, sees the delivery die
with its reason, replays it and sees it delivered; the page speaks Chinese by default."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from live_world import LiveServer

from tracker.db import make_pool
from tracker.outbox import OutboxEvent, emit
from tracker.outbox.deliverer import Deliverer
from tracker.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "outbox"))
from outbox_receivers import Receiver

pytestmark = pytest.mark.slow


def _delivered(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM outbox_deliveries WHERE state = 'delivered'")
        return int(row.fetchone()[0])  # type: ignore[index]


async def _deliver(settings: Settings, now: datetime | None = None) -> None:
    pool = make_pool(settings)
    await pool.open(wait=True)
    deliverer = Deliverer(settings, pool)
    try:
        await deliverer.round(now)
    finally:
        await deliverer.senders.aclose()
        await pool.close()


async def test_subscribe_dead_letter_and_replay_in_the_page(
    live: LiveServer, page: Any, settings: Settings, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE outbox_deliveries, outbox_events, outbox_subscriptions CASCADE")
    receiver = Receiver(status=410, answer=b'{"error": "gone"}').start()
    try:
        await page.goto(f"{live.base_url}/map/outbox.html#token=test-staff")
        await page.wait_for_selector("body[data-loaded='1']", timeout=5000)
        assert await page.locator("h2").first.inner_text() == "订阅 刷新"
        await page.fill("#sub-name", "交警支队")
        await page.fill("#sub-target", receiver.url)
        await page.check("#sub-types input[value='yard.fill']")
        await page.click("#sub-form button[type=submit]")
        await page.wait_for_selector("#subscriptions tr[data-subscription-id]", timeout=5000)
        assert "消纳场容量预警" in await page.locator("#subscriptions").inner_text()

        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await emit(
                conn, OutboxEvent("yard.fill", datetime.now(UTC), {"yard": "北郊"}, yard_id=1)
            )
        await _deliver(settings)
        await page.click("#reload")
        reason = page.locator("#dead td[data-reason]")
        await reason.wait_for(timeout=5000)
        assert "HTTP 410" in await reason.inner_text()

        receiver.status = 200
        await page.click("#dead button")
        await page.wait_for_selector("#status:has-text('已重新排队')", timeout=5000)
        # delivery is at least once, not at once: a send that failed under load is retried
        # (the clock moved past its back-off), a few rounds at most
        for attempt in range(5):
            await _deliver(settings, datetime.now(UTC) + timedelta(minutes=10 * attempt))
            if _delivered(database_url) == 1:
                break
        await page.click("#reload")
        await page.wait_for_selector("#dead-empty:not([hidden])", timeout=5000)
        counts = await page.locator("#subscriptions td[data-counts]").inner_text()
        assert counts.startswith("已投递 1")
        assert "北郊" in await page.locator("#events").inner_text()
        assert len(receiver.got) == 2
    finally:
        receiver.stop()

"""Outbox fixtures: empty outbox tables, real local HTTP receivers, a deliverer on the pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from outbox_receivers import Receiver

from tracker.db import make_pool
from tracker.outbox.deliverer import Deliverer
from tracker.settings import Settings


@pytest.fixture
def outbox_clean(database_url: str, clean: None) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE outbox_deliveries, outbox_events, outbox_subscriptions, outbox_templates, "
            "outbox_credit_grades RESTART IDENTITY CASCADE"
        )


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.stop()


@pytest.fixture
def receiver(receivers: list[Receiver]) -> Receiver:
    r = Receiver().start()
    receivers.append(r)
    return r


@pytest.fixture
def outbox_settings(settings: Settings, outbox_clean: None) -> Settings:
    return settings


@pytest.fixture
async def deliverer(outbox_settings: Settings) -> AsyncIterator[Deliverer]:
    pool = make_pool(outbox_settings)
    await pool.open(wait=True)
    d = Deliverer(outbox_settings, pool)
    try:
        yield d
    finally:
        await d.senders.aclose()
        await pool.close()


def subscribe(conn: psycopg.Connection[Any], **fields: Any) -> int:
    """Insert a subscription row (the API's own tests go through the API)."""
    row = {
        "name": "test",
        "kind": "department",
        "channel": "webhook",
        "created_by": "test",
        **fields,
    }
    cols = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    got = conn.execute(
        f"INSERT INTO outbox_subscriptions ({cols}) VALUES ({marks}) RETURNING id",
        list(row.values()),
    ).fetchone()
    assert got is not None
    return int(got[0])


@pytest.fixture
def subscribe_fn() -> Any:
    return subscribe

"""The outbox against real receivers: commit-bound, ordered, retried, dead-lettered, signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from outbox_receivers import Receiver as R

from tracker.accounts.models import BOOTSTRAP
from tracker.blacklist import service as blacklist
from tracker.blacklist.models import ListingIn
from tracker.outbox import OutboxEvent, emit
from tracker.outbox.deliverer import Deliverer

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _deliveries(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT subscription_id, event_id, state, last_error FROM outbox_deliveries ORDER BY id"
    ).fetchall()


async def _list(database_url: str, vehicle_id: int, reason: str = "test") -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        row = await blacklist.list_vehicle(
            conn, ListingIn(vehicle_id=vehicle_id, reason=reason), BOOTSTRAP
        )
    return int(row["id"])


async def test_rolled_back_change_sends_nothing_and_committed_one_arrives_once(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    fleet: Any,
    receiver: Any,
    subscribe_fn: Any,
    database_url: str,
) -> None:
    vehicle_id, _ = fleet.truck("粤B10001")
    subscribe_fn(db, target=receiver.url, secret="s3cret")

    # a blacklisting that rolls back leaves no event behind
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await blacklist.list_vehicle(
                    conn, ListingIn(vehicle_id=vehicle_id, reason="x"), BOOTSTRAP
                )
                raise RuntimeError("the caller fails after the write")
    await deliverer.round(T0)
    assert receiver.got == []
    assert db.execute("SELECT count(*) FROM outbox_events").fetchone() == (0,)

    # an event of an open transaction is not delivered; after its commit it is, once
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        await blacklist.list_vehicle(
            conn, ListingIn(vehicle_id=vehicle_id, reason="超载"), BOOTSTRAP
        )
        stats = await deliverer.round(T0)
        assert stats.delivered == 0 and receiver.got == []
    stats = await deliverer.round(T0)
    assert stats.delivered == 1
    await deliverer.round(T0 + timedelta(minutes=5))
    assert len(receiver.got) == 1
    body = receiver.got[0].json()
    assert body["type"] == "vehicle.listed"
    assert body["data"]["plate"] == "粤B10001" and body["data"]["reason"] == "超载"
    assert body["subject"]["vehicle_id"] == vehicle_id
    assert "粤B10001" in body["title"] and "黑名单" in body["title"]  # zh-CN by default
    assert _deliveries(db)[0][2] == "delivered"


async def test_webhook_signature_and_headers_verify_at_the_receiver(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    fleet: Any,
    receiver: Any,
    subscribe_fn: Any,
    database_url: str,
) -> None:
    vehicle_id, _ = fleet.truck("粤B10002")
    sub = subscribe_fn(db, target=receiver.url, secret="k-9f2")
    await _list(database_url, vehicle_id)
    await deliverer.round(T0)
    (got,) = receiver.got
    ts = got.headers["X-Muck-Timestamp"]
    assert ts == str(int(T0.timestamp()))
    expected = hmac.new(b"k-9f2", ts.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Muck-Signature"] == "v1=" + expected
    assert got.headers["Content-Type"].startswith("application/json")
    event_id = got.json()["event_id"]
    assert (
        got.headers["Idempotency-Key"] == f"muck-{event_id}-{sub}" == got.json()["idempotency_key"]
    )
    assert got.headers["X-Muck-Event"] == "vehicle.listed"
    wrong = hmac.new(b"other", ts.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Muck-Signature"] != "v1=" + wrong


async def test_receiver_down_an_hour_then_everything_arrives_in_order(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receivers: list[Any],
    subscribe_fn: Any,
    database_url: str,
) -> None:
    down, up = R().start(), R().start()
    receivers.extend([down, up])
    down.stop()  # connection refused from now on
    sub_down = subscribe_fn(db, target=down.url)
    sub_up = subscribe_fn(db, target=up.url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for i in range(6):
            await emit(
                conn,
                OutboxEvent("yard.fill", T0, {"yard": f"Y{i}", "level": 80, "seq": i}, yard_id=i),
            )
    t = T0
    while t < T0 + timedelta(hours=1):
        await deliverer.round(t)
        t += timedelta(seconds=30)
    # the healthy subscriber got all six at once, in order; the other nothing, all pending
    assert [r.json()["data"]["seq"] for r in up.got] == list(range(6))
    states = db.execute(
        "SELECT state, count(*) FROM outbox_deliveries WHERE subscription_id = %s GROUP BY 1",
        (sub_down,),
    ).fetchall()
    assert states == [("pending", 6)]
    attempts = db.execute(
        "SELECT attempts FROM outbox_deliveries WHERE subscription_id = %s ORDER BY id", (sub_down,)
    ).fetchall()
    assert attempts[0][0] >= 5 and all(a == (0,) for a in attempts[1:])  # only the head tried
    # back after an hour: everything arrives, in order
    down.start()
    await deliverer.round(t + timedelta(minutes=15))
    assert [r.json()["data"]["seq"] for r in down.got] == list(range(6))
    assert db.execute(
        "SELECT count(*) FROM outbox_deliveries WHERE state = 'delivered'"
    ).fetchone() == (12,)
    assert sub_up != sub_down


async def test_bad_url_and_4xx_are_dead_lettered_with_reason_and_do_not_block(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receivers: list[Any],
    subscribe_fn: Any,
    database_url: str,
) -> None:
    refusing = R(status=422, answer=b'{"error": "unknown schema"}').start()
    receivers.append(refusing)
    bad = subscribe_fn(db, target="ftp://example.invalid/hook")
    four = subscribe_fn(db, target=refusing.url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for i in range(2):
            await emit(conn, OutboxEvent("yard.fill", T0, {"seq": i}, yard_id=1))
    await deliverer.round(T0)
    rows = _deliveries(db)
    assert {(s, st) for s, _e, st, _r in rows} == {(bad, "dead"), (four, "dead")}
    reasons = {s: r for s, _e, _st, r in rows}
    assert "bad URL" in reasons[bad] and "ftp" in reasons[bad]
    assert "HTTP 422" in reasons[four] and "unknown schema" in reasons[four]
    assert len(refusing.got) == 2  # the second was tried although the first died


async def test_gives_up_after_the_retry_period(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receivers: list[Any],
    subscribe_fn: Any,
    database_url: str,
) -> None:
    failing = R(status=503).start()
    receivers.append(failing)
    subscribe_fn(db, target=failing.url)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await emit(conn, OutboxEvent("yard.fill", T0, {"seq": 0}, yard_id=1))
    await deliverer.round(T0)
    await deliverer.round(T0 + timedelta(hours=23))
    assert _deliveries(db)[0][2] == "pending"
    await deliverer.round(T0 + timedelta(hours=24, seconds=1))
    (_s, _e, state, reason) = _deliveries(db)[0]
    assert state == "dead" and "gave up after 86400 s" in reason and "HTTP 503" in reason


async def test_scopes_and_company_subscriptions_see_only_their_events(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    fleet: Any,
    receivers: list[Any],
    subscribe_fn: Any,
    database_url: str,
) -> None:
    mine, theirs, yards = R().start(), R().start(), R().start()
    receivers.extend([mine, theirs, yards])
    v1, _ = fleet.truck("粤B20001", "甲公司")
    v2, _ = fleet.truck("粤B20002", "乙公司")
    c1 = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (v1,)).fetchone()[0]  # type: ignore[index]
    subscribe_fn(db, kind="company", company_id=c1, target=mine.url)
    subscribe_fn(db, target=theirs.url, scope_vehicle_ids=[v2])
    subscribe_fn(db, target=yards.url, event_types=["yard.fill"])
    await _list(database_url, v1)
    await _list(database_url, v2)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await emit(conn, OutboxEvent("yard.fill", T0, {"level": 95}, yard_id=3))
    await deliverer.round(T0)
    assert [r.json()["data"]["plate"] for r in mine.got] == ["粤B20001"]
    assert [r.json()["data"]["plate"] for r in theirs.got] == ["粤B20002"]
    assert [r.json()["type"] for r in yards.got] == ["yard.fill"]


def test_unknown_event_types_are_refused() -> None:
    with pytest.raises(ValueError):
        OutboxEvent("vehicle.teleported", T0)
    assert orjson.dumps({"a": 1})

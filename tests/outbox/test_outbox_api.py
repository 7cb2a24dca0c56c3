"""The outbox API: who may subscribe what, delivery state, dead letters and replay, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from httpx import AsyncClient
from outbox_receivers import Receiver

from tracker.outbox import OutboxEvent, emit
from tracker.outbox.deliverer import Deliverer

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
API = "/api/v1/outbox"


def _company(db: psycopg.Connection[Any], fleet: Any, plate: str, name: str) -> tuple[int, int]:
    vehicle_id, _ = fleet.truck(plate, name)
    row = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,)).fetchone()
    assert row is not None
    return int(row[0]), vehicle_id


async def test_company_users_manage_only_their_own_subscriptions(
    client: AsyncClient,
    accounts: Any,
    fleet: Any,
    db: psycopg.Connection[Any],
    outbox_clean: None,
    staff: dict[str, str],
) -> None:
    mine, _ = _company(db, fleet, "粤B40001", "甲公司")
    theirs, _ = _company(db, fleet, "粤B40002", "乙公司")
    company = accounts.headers("company_user", mine)
    body = {"name": "调度群", "kind": "company", "channel": "webhook",
            "target": "https://hooks.example/甲", "secret": "k"}  # fmt: skip
    resp = await client.post(f"{API}/subscriptions", json=body, headers=company)
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    assert sub["company_id"] == mine and sub["has_secret"] and "secret" not in sub
    # another company, or a department, is not theirs to subscribe
    for other in ({**body, "company_id": theirs}, {**body, "kind": "department"}):
        resp = await client.post(f"{API}/subscriptions", json=other, headers=company)
        assert resp.status_code == 403 and resp.json()["error"] == "forbidden"
    admin_sub = await client.post(
        f"{API}/subscriptions",
        json={**body, "company_id": theirs, "name": "乙"},
        headers=staff,
    )
    assert admin_sub.status_code == 201
    listed = (await client.get(f"{API}/subscriptions", headers=company)).json()
    assert [s["id"] for s in listed] == [sub["id"]]
    other_id = admin_sub.json()["id"]
    assert (
        await client.delete(f"{API}/subscriptions/{other_id}", headers=company)
    ).status_code == 404
    for internal in ("http://127.0.0.1:5432/", "http://10.0.0.8/hook", "http://localhost/x"):
        resp = await client.post(
            f"{API}/subscriptions", json={**body, "target": internal}, headers=company
        )
        assert resp.status_code == 400 and resp.json()["field"] == "target", internal
    viewer = accounts.headers("viewer")
    assert (await client.get(f"{API}/subscriptions", headers=viewer)).status_code == 403
    # audited
    actions = db.execute(
        "SELECT action, entity, entity_id FROM audit_log WHERE entity = 'outbox_subscription' "
        "ORDER BY id"
    ).fetchall()
    assert actions == [
        ("create", "outbox_subscription", sub["id"]),
        ("create", "outbox_subscription", other_id),
    ]
    put = await client.put(
        f"{API}/subscriptions/{sub['id']}", json={**body, "active": False}, headers=company
    )
    assert put.status_code == 200 and put.json()["active"] is False and put.json()["has_secret"]


async def test_bad_targets_and_types_are_4xx_naming_the_field(
    client: AsyncClient, outbox_clean: None, staff: dict[str, str]
) -> None:
    base = {"name": "x", "channel": "webhook", "target": "https://ok.example/h"}
    cases = [
        ({**base, "target": "javascript:alert(1)"}, "target"),
        ({**base, "channel": "sms", "target": "call me"}, "target"),
        ({**base, "channel": "email", "target": "no-at-sign"}, "target"),
        ({**base, "event_types": ["vehicle.teleported"]}, "event_types"),
        ({**base, "target": "https://x.example/" + "a" * 2100}, "target"),
        ({**base, "kind": "company"}, "company_id"),
    ]
    for body, field in cases:
        resp = await client.post(f"{API}/subscriptions", json=body, headers=staff)
        assert 400 <= resp.status_code < 500, (body, resp.text)
        assert resp.json()["field"] == field, resp.json()


async def test_delivery_state_dead_letters_and_replay(
    client: AsyncClient,
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    receiver: Receiver,
    staff: dict[str, str],
    database_url: str,
) -> None:
    receiver.status = 400
    resp = await client.post(
        f"{API}/subscriptions",
        json={"name": "交警", "channel": "webhook", "target": receiver.url},
        headers=staff,
    )
    sub = resp.json()["id"]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        event_id = await emit(conn, OutboxEvent("yard.fill", T0, {"yard": "北郊"}, yard_id=1))
    await deliverer.round(T0)
    (dead,) = (await client.get(f"{API}/dead-letters", headers=staff)).json()
    assert dead["event_id"] == event_id and dead["state"] == "dead"
    assert "HTTP 400" in dead["last_error"] and dead["last_status"] == 400
    per_event = (await client.get(f"{API}/events/{event_id}/deliveries", headers=staff)).json()
    assert [d["id"] for d in per_event] == [dead["id"]]
    events = (await client.get(f"{API}/events", headers=staff)).json()
    assert events[0]["deliveries"] == {"dead": 1}
    # the receiver is fixed; the admin replays the dead letter
    receiver.status = 200
    replayed = await client.post(f"{API}/deliveries/{dead['id']}/replay", headers=staff)
    assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
    again = await client.post(f"{API}/deliveries/{dead['id']}/replay", headers=staff)
    assert again.status_code == 409
    await deliverer.round()
    per_sub = (await client.get(f"{API}/subscriptions/{sub}/deliveries", headers=staff)).json()
    assert per_sub[0]["state"] == "delivered" and per_sub[0]["replays"] == 1
    assert [r.json()["idempotency_key"] for r in receiver.got] == [dead["idempotency_key"]] * 2
    assert db.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'replay' AND entity = 'outbox_delivery'"
    ).fetchone() == (1,)


async def test_a_city_edits_a_template(
    client: AsyncClient,
    deliverer: Deliverer,
    receiver: Receiver,
    staff: dict[str, str],
    subscribe_fn: Any,
    db: psycopg.Connection[Any],
    database_url: str,
) -> None:
    subscribe_fn(db, target=receiver.url)
    resp = await client.put(
        f"{API}/templates/yard.fill",
        json={"title": "【南宁】{yard}告警", "body": "{yard}已达{level}%，请{missing}处置。"},
        headers=staff,
    )
    assert resp.status_code == 200
    listed = (await client.get(f"{API}/templates", headers=staff)).json()
    assert next(t for t in listed if t["event_type"] == "yard.fill")["custom"] is True
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await emit(conn, OutboxEvent("yard.fill", T0, {"yard": "北郊", "level": 95}, yard_id=1))
    await deliverer.round(T0)
    body = receiver.got[0].json()
    assert body["title"] == "【南宁】北郊告警" and body["text"] == "北郊已达95%，请处置。"
    bad = await client.put(f"{API}/templates/nope.nope", json={"title": "a", "body": "b"},
                           headers=staff)  # fmt: skip
    assert bad.status_code == 404

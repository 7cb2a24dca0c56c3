"""Checkpoints in the registry, and the sighting API: authentication per camera system,
validation naming the field, idempotent repeats, the plate rules, scoping of reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from httpx import AsyncClient
from sighting_world import NOW, STAFF, World, sighting

from tracker.wire import Channel, IncidentMessage, channel


def scalar(db: psycopg.Connection[Any], query: str) -> Any:
    row = db.execute(query).fetchone()
    assert row is not None
    return row[0]


async def test_checkpoints_are_registry_places_with_audit(
    client: AsyncClient, db: psycopg.Connection[Any], accounts: Any
) -> None:
    body = {"name": "那洪卡点", "lon": 108.28, "lat": 22.78, "directions": [{"name": "outbound"}],
            "district": "江南区", "cameras": ["c-9"]}  # fmt: skip
    bad = await client.post("/api/v1/checkpoints", json={**body, "lon": 190}, headers=STAFF)
    assert bad.status_code == 422 and bad.json()["field"] == "lon"
    bad = await client.post(
        "/api/v1/checkpoints",
        json={**body, "directions": [{"name": "in", "bearing_deg": 400}]},
        headers=STAFF,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "directions.0.bearing_deg"
    company = scalar(db, "INSERT INTO companies (name) VALUES ('Acme') RETURNING id")
    company_user = accounts.headers("company_user", company)
    refused = await client.post("/api/v1/checkpoints", json=body, headers=company_user)
    assert refused.status_code == 403
    made = await client.post("/api/v1/checkpoints", json=body, headers=STAFF)
    assert made.status_code == 201, made.text
    cp = made.json()
    assert cp["directions"] == [{"name": "outbound", "bearing_deg": None}]
    assert cp["cameras"] == ["c-9"] and cp["muck_lanes"] is True
    put = await client.put(
        f"/api/v1/checkpoints/{cp['id']}", json={**body, "cameras": ["c-9", "c-10"]}, headers=STAFF
    )
    assert put.json()["cameras"] == ["c-9", "c-10"]
    gone = await client.delete(f"/api/v1/checkpoints/{cp['id']}", headers=STAFF)
    assert gone.json()["active"] is False
    actions = db.execute(
        "SELECT action FROM audit_log WHERE entity = 'checkpoint' ORDER BY id"
    ).fetchall()
    assert [a[0] for a in actions] == ["create", "update", "deactivate"]


async def test_each_camera_system_posts_with_its_own_token(
    client: AsyncClient, db: psycopg.Connection[Any], fleet: Any, accounts: Any
) -> None:
    w = await World(client, db).build()
    company = scalar(db, "INSERT INTO companies (name) VALUES ('Acme') RETURNING id")
    company_user = accounts.headers("company_user", company)
    assert (await client.get("/api/v1/camera-systems", headers=company_user)).status_code == 403
    token_of_b = f"/api/v1/camera-systems/{w.camera_b_id}/token"
    assert (await client.post(token_of_b, headers=company_user)).status_code == 403
    item = sighting("桂A12345", w.checkpoint_id)
    assert (await w.post("", item)).status_code == 401
    assert (await w.post("mt_not-a-token", item)).status_code == 401
    _, token = fleet.truck("桂A99999")  # a terminal's token is no camera system's
    assert (await w.post(token, item)).status_code == 401
    first = await w.post(w.camera_a, item)
    assert first.status_code == 200, first.text
    ids = db.execute("SELECT camera_system_id FROM sightings").fetchall()
    assert len(ids) == 1
    # rotating B's token: the old one stops; deactivating B: refused
    old_b = w.camera_b
    again = await client.post(f"/api/v1/camera-systems/{w.camera_b_id}/token", headers=STAFF)
    assert (await w.post(old_b, sighting("桂A12346", w.checkpoint_id))).status_code == 401
    new_b = again.json()["token"]
    assert (await w.post(new_b, sighting("桂A12346", w.checkpoint_id))).status_code == 200
    await client.delete(f"/api/v1/camera-systems/{w.camera_b_id}", headers=STAFF)
    refused = await w.post(new_b, sighting("桂A12347", w.checkpoint_id))
    assert refused.status_code == 403 and refused.json()["field"] == "authorization"
    systems = db.execute("SELECT token_hash IS NOT NULL FROM camera_systems").fetchall()
    assert systems == [(True,), (True,)]  # hashes only: the token is in no column
    listed = await client.get("/api/v1/camera-systems", headers=STAFF)
    assert all("token" not in str(k) or k == "token_issued_at" for k in listed.json()[0])
    audited = scalar(db, "SELECT count(*) FROM audit_log WHERE action = 'post_sightings'")
    assert audited == 2


async def test_a_repeat_stores_nothing_new_and_answers_the_same_ids(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w = await World(client, db).build()
    batch = [
        sighting("桂A12345", w.checkpoint_id, sighting_id="a-1"),
        sighting("桂AD12345", w.checkpoint_id, sighting_id="a-2", plate_colour="green"),
    ]
    first = (await w.post(w.camera_a, *batch)).json()
    assert first["stored"] == 2 and first["duplicate"] == 0
    again = (await w.post(w.camera_a, *batch)).json()
    assert again["stored"] == 0 and again["duplicate"] == 2
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    # another system reading the same plate at the same checkpoint and instant: the same read
    other = (await w.post(w.camera_b, {**batch[0], "sighting_id": "b-77"})).json()
    assert other["results"][0] == {**first["results"][0], "status": "duplicate",
                                   "sighting_id": "b-77"}  # fmt: skip
    # plates compare normalised: spaces and the dot do not make a new read
    spaced = await w.post(w.camera_b, {**batch[0], "sighting_id": None, "plate": "桂A·123 45"})
    assert spaced.json()["duplicate"] == 1
    assert scalar(db, "SELECT count(*) FROM sightings") == 2
    assert scalar(db, "SELECT count(*) FROM incidents") == 2  # two unregistered plates, once


async def test_bad_fields_are_refused_by_name_and_store_nothing(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w = await World(client, db).build()
    good = sighting("桂A12345", w.checkpoint_id)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "plate": "ABC123"}, "sightings.1.plate"),
        ({**good, "plate": "桂A1234"}, "sightings.1.plate"),
        ({**good, "time": (NOW + timedelta(days=2)).isoformat()}, "sightings.1.time"),
        ({**good, "time": (NOW - timedelta(days=91)).isoformat()}, "sightings.1.time"),
        ({**good, "time": "2026-12-07T10:00:00"}, "sightings.1.time"),  # no offset
        ({**good, "confidence": 1.5}, "sightings.1.confidence"),
        ({**good, "plate_colour": "purple"}, "sightings.1.plate_colour"),
        ({**good, "checkpoint_id": 9999}, "sightings.1.checkpoint_id"),
        ({**good, "photo_ref": "x" * 501}, "sightings.1.photo_ref"),
        ({**good, "camera_id": "c" * 65}, "sightings.1.camera_id"),
        ({**good, "speed": 3}, "sightings.1.speed"),
    ]
    before = await client.get("/metrics", headers=STAFF)
    assert before.status_code == 200
    for bad, field in cases:
        answer = await w.post(w.camera_a, good, bad)
        assert 400 <= answer.status_code < 500, (field, answer.text)
        assert answer.json()["field"] == field, answer.text
    assert scalar(db, "SELECT count(*) FROM sightings") == 0
    assert scalar(db, "SELECT count(*) FROM incidents") == 0
    assert (await client.post("/api/v1/sightings", content=b"{", headers={
        "Authorization": f"Bearer {w.camera_a}"})).status_code == 400  # fmt: skip
    text = (await client.get("/metrics", headers=STAFF)).text
    refused = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tracker_sightings_refused_total{")
    )
    assert refused >= len(cases) + 1
    # a batch over the limit
    w.client.app.state.platform.settings.sightings.max_batch = 3  # type: ignore[attr-defined]
    big = await w.post(w.camera_a, *[sighting(f"桂A1234{i}", w.checkpoint_id) for i in range(4)])
    assert big.status_code == 413 and big.json()["field"] == "sightings"


async def test_plate_rules_raise_unregistered_and_no_permit(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w = await World(client, db).build()
    permitted, company, _ = w.truck("桂A11111")
    w.permit(permitted, company)
    unpermitted, _, _ = w.truck("桂A22222")
    empty, _, _ = w.truck("桂A33333")
    answer = await w.post(
        w.camera_a,
        sighting("桂B54321", w.checkpoint_id),  # no such vehicle
        sighting("桂A11111", w.checkpoint_id, loaded=True),
        sighting("桂A22222", w.checkpoint_id, loaded=True),
        sighting("桂A33333", w.checkpoint_id, loaded=False),
        sighting("桂C77777", w.checkpoint_id, confidence=0.4),  # a doubtful read
        sighting("桂A1111B", w.checkpoint_id),  # 桂A11111 misread: one character off
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["vehicle_id"] for r in results] == [None, permitted, unpermitted, empty, None, None]
    found = {(i["type"], i["vehicle_id"]) for i in w.incidents()}
    assert found == {("unregistered_vehicle", None), ("no_permit", unpermitted)}
    unregistered = next(i for i in w.incidents() if i["type"] == "unregistered_vehicle")
    assert unregistered["detail"]["plate"] == "桂B54321"
    assert unregistered["detail"]["sighting"]["checkpoint"] == "大沙田卡点"
    first = unregistered["evidence"]["features"][0]
    assert first["properties"]["source"] == "sighting"
    assert first["geometry"]["coordinates"] == [108.32, 22.82]
    # the incidents API lists it (no vehicle) for officers
    listed = await client.get("/api/v1/incidents?type=unregistered_vehicle", headers=STAFF)
    assert listed.status_code == 200 and listed.json()["incidents"][0]["vehicle_id"] is None
    # its outbox event names the plate read, as a registered truck's names its own
    outbox = db.execute(
        "SELECT payload ->> 'plate' FROM outbox_events WHERE type = 'incident.opened'"
        " AND payload ->> 'incident_id' = %s ORDER BY id DESC LIMIT 1",  # ids recur per test
        (unregistered["incident_id"],),
    ).fetchall()
    assert outbox == [("桂B54321",)]


async def test_a_new_sighting_incident_reaches_the_live_map(
    client: AsyncClient, db: psycopg.Connection[Any], rdb: Any
) -> None:
    w = await World(client, db).build()
    pubsub = rdb.pubsub()
    pubsub.subscribe(channel(rdb, Channel.INCIDENTS))
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    await w.post(w.camera_a, sighting("桂B54321", w.checkpoint_id, sighting_id="x-1"))
    await w.post(w.camera_a, sighting("桂B54321", w.checkpoint_id, sighting_id="x-1"))  # repeat
    got = pubsub.get_message(timeout=2)
    assert got is not None, "no live message"
    message = IncidentMessage.decode(got["data"])
    assert message.type == "unregistered_vehicle" and message.vehicle_id is None
    assert message.detail == "桂B54321 · 大沙田卡点"
    assert pubsub.get_message(timeout=1) is None  # the repeat raised nothing new
    pubsub.close()


async def test_an_unknown_plate_on_mixed_lanes_raises_nothing(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w = await World(client, db).build(muck_lanes=False)
    assert (await w.post(w.camera_a, sighting("桂B54321", w.checkpoint_id))).status_code == 200
    assert w.incidents() == []


async def test_company_users_read_only_their_own_vehicles_sightings(
    client: AsyncClient, db: psycopg.Connection[Any], accounts: Any
) -> None:
    w = await World(client, db).build()
    mine, my_company, _ = w.truck("桂A11111", "Acme")
    theirs, _, _ = w.truck("桂A22222", "Other")
    await w.post(
        w.camera_a,
        sighting("桂A11111", w.checkpoint_id),
        sighting("桂A22222", w.checkpoint_id),
        sighting("桂B54321", w.checkpoint_id),
    )
    me = accounts.headers("company_user", my_company)
    seen = (await client.get("/api/v1/sightings", headers=me)).json()
    assert [s["vehicle_id"] for s in seen] == [mine]
    other = await client.get(f"/api/v1/sightings?vehicle_id={theirs}", headers=me)
    assert other.json() == []
    everyone = (await client.get("/api/v1/sightings", headers=STAFF)).json()
    assert len(everyone) == 3
    by_plate = await client.get("/api/v1/sightings", params={"plate": "桂b54321"}, headers=STAFF)
    assert [s["plate"] for s in by_plate.json()] == ["桂B54321"]
    assert by_plate.json()[0]["checkpoint_name"] == "大沙田卡点"
    span = {"from": (NOW - timedelta(days=40)).isoformat(), "to": NOW.isoformat()}
    too_long = await client.get("/api/v1/sightings", params=span, headers=STAFF)
    assert too_long.status_code == 400 and too_long.json()["field"] == "to"
    assert (await client.get("/api/v1/sightings")).status_code == 401


async def test_an_unregistered_plate_confirmed_opens_a_case(
    client: AsyncClient, db: psycopg.Connection[Any]
) -> None:
    w = await World(client, db).build()
    await w.post(w.camera_a, sighting("桂B54321", w.checkpoint_id))
    [incident] = w.incidents()
    confirmed = await client.post(
        f"/api/v1/incidents/{incident['incident_id']}/confirm",
        json={"note": "卡点抓拍，车辆未登记"},
        headers=STAFF,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["case_id"] is not None
    subtype = scalar(db, f"SELECT subtype FROM cases WHERE id = {confirmed.json()['case_id']}")
    assert subtype == "no_permit"

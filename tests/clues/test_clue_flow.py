"""Staff clues: who may report, read and act; verification (audited, never by the clue's own
author), conversion to a case (the request recorded while no case exists) and closure; the
receipt follows the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from clue_media import b64
from httpx import AsyncClient


def clue(**changes: Any) -> dict[str, Any]:
    body = {
        "kind": "dumping",
        "text": "路边倾倒建筑垃圾",
        "lon": 108.37,
        "lat": 22.81,
        "observed_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "plate": "粤B-12345",
        "contact": "网格员 张三",
    }
    body.update(changes)
    return body


async def test_roles_that_may_report_read_and_act(
    clue_client: AsyncClient, accounts: Any, vehicle_code: tuple[int, str]
) -> None:
    officer = accounts.headers("enforcement_officer")
    viewer = accounts.headers("viewer")
    company = accounts.headers("company_user", 1)
    permit = accounts.headers("permit_officer")
    for who in (viewer, company, permit):
        resp = await clue_client.post("/api/v1/clues", json=clue(), headers=who)
        assert resp.status_code == 403, resp.text
    resp = await clue_client.post("/api/v1/clues", json=clue(), headers=officer)
    assert resp.status_code == 201, resp.text
    clue_id = resp.json()["id"]
    assert (await clue_client.get("/api/v1/clues")).status_code == 401
    for who in (company, permit):
        assert (await clue_client.get("/api/v1/clues", headers=who)).status_code == 403
        assert (await clue_client.get(f"/api/v1/clues/{clue_id}", headers=who)).status_code == 403
    seen = await clue_client.get(f"/api/v1/clues/{clue_id}", headers=viewer)
    assert seen.status_code == 200 and seen.json()["contact"] is None  # officers only
    seen = await clue_client.get(f"/api/v1/clues/{clue_id}", headers=officer)
    assert seen.json()["contact"] == "网格员 张三"
    assert seen.json()["vehicle_id"] == vehicle_code[0] and seen.json()["source"] == "officer"
    resp = await clue_client.post(
        f"/api/v1/clues/{clue_id}/verify", json={"note": "ok"}, headers=viewer
    )
    assert resp.status_code == 403
    unknown = await clue_client.post("/api/v1/clues", json=clue(vehicle_id=999), headers=officer)
    assert unknown.status_code == 404 and unknown.json()["field"] == "vehicle_id"


async def test_verify_then_case_and_the_receipt_follows(
    clue_client: AsyncClient,
    accounts: Any,
    vehicle_code: tuple[int, str],
    photos: dict[str, bytes],
    db: psycopg.Connection[Any],
) -> None:
    author, checker = (
        accounts.headers("enforcement_officer"),
        accounts.headers("enforcement_officer"),
    )
    resp = await clue_client.post(
        "/api/v1/clues", json=clue(photos=[b64(photos["jpeg"])]), headers=author
    )
    clue_id, receipt = resp.json()["id"], resp.json()["receipt"]
    photo = await clue_client.get(f"/api/v1/clues/{clue_id}/photos/0", headers=checker)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content.startswith(b"\xff\xd8") and b"Exif" not in photo.content
    missing = await clue_client.get(f"/api/v1/clues/{clue_id}/photos/1", headers=checker)
    assert missing.status_code == 404

    early = await clue_client.post(f"/api/v1/clues/{clue_id}/to-case", json={}, headers=checker)
    assert early.status_code == 409 and early.json()["field"] == "status"  # not verified yet
    own = await clue_client.post(
        f"/api/v1/clues/{clue_id}/verify", json={"note": "mine"}, headers=author
    )
    assert own.status_code == 403 and own.json()["error"] == "four_eyes"
    empty = await clue_client.post(
        f"/api/v1/clues/{clue_id}/verify", json={"note": ""}, headers=checker
    )
    assert empty.status_code == 422 and empty.json()["field"] == "note"
    ok = await clue_client.post(
        f"/api/v1/clues/{clue_id}/verify", json={"note": "照片属实"}, headers=checker
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "verified" and ok.json()["verify_note"] == "照片属实"
    status = await clue_client.get(f"/api/v1/public/clues/{receipt}")
    assert status.json()["status"] == "verified"
    again = await clue_client.post(
        f"/api/v1/clues/{clue_id}/verify", json={"note": "twice"}, headers=checker
    )
    assert again.status_code == 409

    case = await clue_client.post(
        f"/api/v1/clues/{clue_id}/to-case", json={"note": "立案"}, headers=checker
    )
    assert case.status_code == 200, case.text
    assert case.json()["status"] == "to_case" and case.json()["case_request"]["note"] == "立案"
    case_id = case.json()["case_id"]
    opened = db.execute(
        "SELECT source, source_ref, subtype FROM cases WHERE id = %s", (case_id,)
    ).fetchone()
    assert opened == ("clue", str(clue_id), "dumping_at_will")  # a real case, from the clue
    assert (await clue_client.get(f"/api/v1/public/clues/{receipt}")).json()["status"] == "to_case"
    closing = await clue_client.post(
        f"/api/v1/clues/{clue_id}/close", json={"reason": "late"}, headers=checker
    )
    assert closing.status_code == 409
    actions = db.execute(
        "SELECT action, before->>'status', after->>'status' FROM audit_log"
        " WHERE entity = 'clue' ORDER BY id"
    ).fetchall()
    assert actions == [
        ("create", None, None),
        ("verify", "new", "verified"),
        ("to_case", "verified", "to_case"),
    ]


async def test_a_clue_is_closed_with_a_reason(
    clue_client: AsyncClient, accounts: Any, vehicle_code: tuple[int, str]
) -> None:
    officer = accounts.headers("enforcement_officer")
    _, code = vehicle_code
    body = {k: v for k, v in clue().items() if k != "plate"}
    receipt = (await clue_client.post(f"/api/v1/public/vehicles/{code}/clues", json=body)).json()[
        "receipt"
    ]
    listed = await clue_client.get("/api/v1/clues?status=new", headers=officer)
    (row,) = listed.json()["clues"]
    no_reason = await clue_client.post(f"/api/v1/clues/{row['id']}/close", json={}, headers=officer)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    closed = await clue_client.post(
        f"/api/v1/clues/{row['id']}/close", json={"reason": "重复举报"}, headers=officer
    )
    assert closed.status_code == 200 and closed.json()["close_reason"] == "重复举报"
    status = (await clue_client.get(f"/api/v1/public/clues/{receipt}")).json()
    assert status["status"] == "closed" and "重复举报" not in str(status)
    assert (await clue_client.get("/api/v1/clues?status=new", headers=officer)).json() == {
        "clues": []
    }


async def test_a_clue_whose_kind_has_no_case_type_needs_one_chosen(
    clue_client: AsyncClient, accounts: Any, db: psycopg.Connection[Any]
) -> None:
    author = accounts.headers("enforcement_officer")
    checker = accounts.headers("enforcement_officer")
    resp = await clue_client.post("/api/v1/clues", json=clue(kind="overload"), headers=author)
    clue_id = resp.json()["id"]
    verified = await clue_client.post(
        f"/api/v1/clues/{clue_id}/verify", json={"note": "属实"}, headers=checker
    )
    assert verified.status_code == 200, verified.text
    url = f"/api/v1/clues/{clue_id}/to-case"
    unnamed = await clue_client.post(url, json={"note": "立案"}, headers=checker)
    assert unnamed.status_code == 400 and unnamed.json()["field"] == "subtype"
    unknown = await clue_client.post(url, json={"subtype": "nope"}, headers=checker)
    assert unknown.status_code == 400 and unknown.json()["field"] == "subtype"
    chosen = await clue_client.post(url, json={"subtype": "unsafe_site"}, headers=checker)
    assert chosen.status_code == 200, chosen.text
    row = db.execute("SELECT subtype FROM cases WHERE id = %s", (chosen.json()["case_id"],))
    assert row.fetchone() == ("unsafe_site",)

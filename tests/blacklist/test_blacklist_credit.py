"""Blacklist and credit (issue 6): points per confirmed incident, automatic listing at the
threshold, manual listing, expiry, appeals, history and the company grade."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient

from tracker.blacklist import service

TODAY = datetime.now(UTC).date()
LINE = {"type": "LineString", "coordinates": [[7.411, 43.731], [7.421, 43.731], [7.431, 43.731]]}


def box(lon: float, lat: float, size: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class Fleet:
    client: AsyncClient
    staff: dict[str, str]
    db: psycopg.Connection[Any]
    company_id: int = 0
    other_company_id: int = 0
    vehicle_ids: list[int] = field(default_factory=list)
    site_id: int = 0
    yard_id: int = 0
    incidents: int = 0

    async def post(self, path: str, body: Any = None, headers: Any = None) -> Any:
        return await self.client.post(f"/api/v1{path}", json=body, headers=headers or self.staff)

    async def get(self, path: str, headers: Any = None) -> Any:
        return await self.client.get(f"/api/v1{path}", headers=headers or self.staff)

    def incident(self, vehicle: int, kind: str) -> str:
        """An open incident as the engine stores it."""
        self.incidents += 1
        incident_id = f"{self.vehicle_ids[vehicle]}:{kind}:{self.incidents}"
        self.db.execute(
            "INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at, "
            "detected_at) VALUES (%s, %s, %s, %s, now(), now())",
            (incident_id, kind, self.vehicle_ids[vehicle], self.company_id),
        )
        return incident_id

    async def confirm(self, vehicle: int, kind: str, officer: dict[str, str]) -> str:
        incident_id = self.incident(vehicle, kind)
        resp = await self.post(f"/incidents/{incident_id}/confirm", {"note": "seen"}, officer)
        assert resp.status_code == 200, resp.text
        return incident_id

    async def approve(self, vehicle: int) -> Any:
        body = {
            "company_id": self.company_id, "vehicle_ids": [self.vehicle_ids[vehicle]],
            "site_ids": [self.site_id], "yard_ids": [self.yard_id],
            "corridors": [{"geometry": LINE, "half_width_m": 30}],
            "valid_from": TODAY.isoformat(), "valid_to": (TODAY + timedelta(days=30)).isoformat(),
            "windows": [{"start": "22:00", "end": "05:00"}], "quota_m3": 100,
        }  # fmt: skip
        made = await self.post("/permits", body)
        assert made.status_code == 201, made.text
        permit_id = made.json()["id"]
        assert (await self.post(f"/permits/{permit_id}/submit")).status_code == 200
        return await self.post(f"/permits/{permit_id}/approve")


@pytest.fixture
async def fleet(client: AsyncClient, staff: dict[str, str], db: psycopg.Connection[Any]) -> Fleet:
    f = Fleet(client, staff, db)
    f.company_id = (await f.post("/companies", {"name": "Haul Co"})).json()["id"]
    f.other_company_id = (await f.post("/companies", {"name": "Other Co"})).json()["id"]
    for plate in ("B-1", "B-2"):
        truck = {"plate": plate, "company_id": f.company_id, "rated_volume_m3": 16}
        f.vehicle_ids.append((await f.post("/vehicles", truck)).json()["id"])
    site = {"name": "Tower", "kind": "construction", "geometry": box(7.410, 43.730)}
    f.site_id = (await f.post("/sites", site)).json()["id"]
    yard = {"name": "East", "geometry": box(7.430, 43.730), "capacity_m3": 100000}
    f.yard_id = (await f.post("/yards", yard)).json()["id"]
    return f


async def test_points_accumulate_and_list_the_vehicle_at_the_threshold(
    fleet: Fleet, accounts: Any
) -> None:
    officer = accounts.headers("enforcement_officer")
    policy = (await fleet.get("/blacklist/policy")).json()
    assert (policy["points"]["speeding"], policy["threshold_points"]) == (2, 12)
    for _ in range(5):
        await fleet.confirm(0, "speeding", officer)
    pts = (await fleet.get(f"/vehicles/{fleet.vehicle_ids[0]}/points")).json()
    assert (pts["points"], pts["listed"], len(pts["entries"])) == (10, False, 5)
    assert (await fleet.get("/blacklist")).json() == []
    dismissed = fleet.incident(0, "dumping")  # a dismissed incident costs nothing
    await fleet.post(f"/incidents/{dismissed}/dismiss", {"note": "a traffic jam"}, officer)
    last = await fleet.confirm(0, "speeding", officer)
    pts = (await fleet.get(f"/vehicles/{fleet.vehicle_ids[0]}/points")).json()
    assert (pts["points"], pts["listed"]) == (12, True)
    assert pts["listing"]["source"] == "auto" and "12 points" in pts["listing"]["reason"]
    (listing,) = (await fleet.get("/blacklist")).json()
    assert listing["vehicle_id"] == fleet.vehicle_ids[0] and listing["active"] is True
    view = fleet.db.execute("SELECT vehicle_id, listing_id FROM blacklisted_vehicles").fetchall()
    assert view == [(fleet.vehicle_ids[0], listing["id"])]
    # once per incident: the same incident confirmed again books nothing
    fleet.db.execute("UPDATE incidents SET status = 'open' WHERE incident_id = %s", (last,))
    fleet.db.execute("UPDATE incidents SET status = 'confirmed' WHERE incident_id = %s", (last,))
    assert fleet.db.execute("SELECT count(*) FROM vehicle_points").fetchone() == (6,)
    # a listed vehicle cannot go on a permit; the other one can
    refused = await fleet.approve(0)
    assert refused.status_code == 409
    assert [d["code"] for d in refused.json()["details"]] == ["vehicle_blacklisted"]
    assert (await fleet.approve(1)).status_code == 200
    actions = [h["action"] for h in (await fleet.get("/blacklist/history")).json()]
    assert actions[:2] == ["listed", "points"] and actions.count("points") == 6


async def test_manual_listing_delisting_and_an_expired_listing_lifts_itself(
    fleet: Fleet, accounts: Any
) -> None:
    officer = accounts.headers("permit_officer")
    vid = fleet.vehicle_ids[0]
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = await fleet.post(
        "/blacklist", {"vehicle_id": vid, "reason": "forged permit", "expires_at": soon}, officer
    )
    assert made.status_code == 201, made.text
    listing = made.json()
    assert (listing["source"], listing["active"], listing["reason"]) == (
        "manual", True, "forged permit",
    )  # fmt: skip
    again = await fleet.post("/blacklist", {"vehicle_id": vid, "reason": "twice"}, officer)
    assert again.status_code == 409 and again.json()["field"] == "vehicle_id"
    assert (await fleet.approve(0)).status_code == 409
    # time passes: the listing's hour is over
    fleet.db.execute(
        "UPDATE blacklist_listings SET listed_at = listed_at - interval '2 hours', "
        "expires_at = expires_at - interval '2 hours' WHERE id = %s",
        (listing["id"],),
    )
    fleet.db.execute("UPDATE blacklist_history SET at = at - interval '2 hours'")
    assert (await fleet.get("/blacklist")).json() == []  # reads lift it at once
    assert (await fleet.get(f"/vehicles/{vid}/points")).json()["listed"] is False
    assert fleet.db.execute("SELECT count(*) FROM blacklisted_vehicles").fetchone() == (0,)
    assert (await fleet.approve(0)).status_code == 200
    platform = fleet.client.app.state.platform  # type: ignore[attr-defined]
    assert await service.lift_expired(platform.pool) == 1  # and the task records it
    assert await service.lift_expired(platform.pool) == 0
    lifted = (await fleet.get(f"/blacklist/{listing['id']}")).json()
    assert (lifted["lifted_how"], lifted["lifted_by"]) == ("expired", "system")
    # listed again by hand (no expiry), then delisted by hand with a reason
    relisted = await fleet.post("/blacklist", {"vehicle_id": vid, "reason": "again"}, officer)
    assert relisted.status_code == 201
    lid = relisted.json()["id"]
    delisted = await fleet.post(f"/blacklist/{lid}/delist", {"reason": "paid the fine"}, officer)
    assert delisted.status_code == 200
    assert (delisted.json()["lifted_how"], delisted.json()["lifted_reason"]) == (
        "manual", "paid the fine",
    )  # fmt: skip
    twice = await fleet.post(f"/blacklist/{lid}/delist", {"reason": "x"}, officer)
    assert twice.status_code == 409
    actions = [
        h["action"] for h in (await fleet.get(f"/blacklist/history?vehicle_id={vid}")).json()
    ]
    assert actions == ["delisted", "listed", "expired", "listed"]
    # checks and roles
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    bad = await fleet.post("/blacklist", {"vehicle_id": vid, "reason": "x", "expires_at": past},
                           officer)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["field"] == "expires_at"
    blank = await fleet.post("/blacklist", {"vehicle_id": vid, "reason": ""}, officer)
    assert blank.status_code == 422 and blank.json()["field"] == "reason"
    nobody = await fleet.post("/blacklist", {"vehicle_id": 9999, "reason": "x"}, officer)
    assert nobody.status_code == 404
    viewer = accounts.headers("viewer")
    assert (await fleet.post("/blacklist", {"vehicle_id": vid, "reason": "x"}, viewer)
            ).status_code == 403  # fmt: skip
    audited = fleet.db.execute(
        "SELECT action FROM audit_log WHERE entity = 'blacklist_listing' ORDER BY id"
    ).fetchall()
    assert [a for (a,) in audited] == ["list", "expire", "list", "delist"]


async def test_an_appeal_flow_end_to_end(fleet: Fleet, accounts: Any) -> None:
    officer = accounts.headers("enforcement_officer")
    company = accounts.headers("company_user", fleet.company_id)
    stranger = accounts.headers("company_user", fleet.other_company_id)
    vid = fleet.vehicle_ids[0]
    dumping = await fleet.confirm(0, "dumping", officer)  # 12 points: listed at once
    (listing,) = (await fleet.get("/blacklist", company)).json()
    assert listing["vehicle_id"] == vid
    assert (await fleet.get("/blacklist", stranger)).json() == []

    body = {"listing_id": listing["id"], "statement": "the truck was stolen that night"}
    assert (await fleet.post("/appeals", body, stranger)).status_code == 404
    assert (await fleet.post("/appeals", body, officer)).status_code == 403
    filed = await fleet.post("/appeals", body, company)
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert (appeal["status"], appeal["company_id"], appeal["vehicle_id"]) == (
        "pending", fleet.company_id, vid,
    )  # fmt: skip
    assert (await fleet.post("/appeals", body, company)).status_code == 409  # one at a time
    pending = (await fleet.get("/appeals?status=pending", officer)).json()
    assert [a["id"] for a in pending] == [appeal["id"]]
    assert (await fleet.get(f"/appeals/{appeal['id']}", stranger)).status_code == 404
    own = await fleet.post(f"/appeals/{appeal['id']}/uphold", {"note": "x"}, company)
    assert own.status_code == 403

    upheld = await fleet.post(
        f"/appeals/{appeal['id']}/uphold", {"note": "police report confirms the theft"}, officer
    )
    assert upheld.status_code == 200, upheld.text
    assert upheld.json()["status"] == "upheld" and upheld.json()["decided_at"] is not None
    assert (await fleet.get("/blacklist")).json() == []
    lifted = (await fleet.get(f"/blacklist/{listing['id']}")).json()
    assert lifted["lifted_how"] == "appeal"
    again = await fleet.post(f"/appeals/{appeal['id']}/reject", {"note": "x"}, officer)
    assert again.status_code == 409

    # an appeal against the incident's points, rejected: the points stand
    second = await fleet.post("/appeals", {"incident_id": dumping, "statement": "not us"},
                              company)  # fmt: skip
    assert second.status_code == 201, second.text
    rejected = await fleet.post(f"/appeals/{second.json()['id']}/reject",
                                {"note": "the video shows the plate"}, officer)  # fmt: skip
    assert rejected.json()["status"] == "rejected"
    assert (await fleet.get(f"/vehicles/{vid}/points")).json()["points"] == 12
    history = (await fleet.get(f"/blacklist/history?vehicle_id={vid}", company)).json()
    assert [h["action"] for h in history] == [
        "appeal_rejected", "appeal_filed", "appeal_upheld", "delisted", "appeal_filed", "listed",
        "points",
    ]  # fmt: skip
    neither = await fleet.post("/appeals", {"statement": "x"}, company)
    assert neither.status_code == 422


async def test_an_upheld_points_appeal_voids_them_and_lifts_the_automatic_listing(
    fleet: Fleet, accounts: Any
) -> None:
    officer = accounts.headers("enforcement_officer")
    company = accounts.headers("company_user", fleet.company_id)
    vid = fleet.vehicle_ids[0]
    await fleet.confirm(0, "wrong_yard", officer)
    disputed = await fleet.confirm(0, "wrong_yard", officer)  # 6 + 6: listed
    assert (await fleet.get(f"/vehicles/{vid}/points")).json()["listed"] is True
    filed = await fleet.post("/appeals", {"incident_id": disputed, "statement": "yard sign"},
                             company)  # fmt: skip
    upheld = await fleet.post(f"/appeals/{filed.json()['id']}/uphold",
                              {"note": "the yard was mislabelled"}, officer)  # fmt: skip
    assert upheld.status_code == 200, upheld.text
    pts = (await fleet.get(f"/vehicles/{vid}/points")).json()
    assert (pts["points"], pts["listed"]) == (6, False)
    voided = [e for e in pts["entries"] if e["incident_id"] == disputed]
    assert voided[0]["voided_at"] is not None


async def test_company_credit_score_and_grade(fleet: Fleet, accounts: Any) -> None:
    officer = accounts.headers("enforcement_officer")
    clean = (await fleet.get(f"/companies/{fleet.company_id}/credit")).json()
    assert (clean["score"], clean["grade"]) == (100.0, "A")
    await fleet.confirm(0, "speeding", officer)  # 2 points over 2 vehicles: 100 - 2*1
    assert (await fleet.get(f"/companies/{fleet.company_id}/credit")).json()["score"] == 98.0
    await fleet.confirm(1, "route_deviation", officer)  # 5 points: 100 - 2*2.5 = 95
    await fleet.confirm(1, "dumping", officer)  # 17 points and a listing: 100 - 17 - 10
    credit = (await fleet.get(f"/companies/{fleet.company_id}/credit")).json()
    assert credit == {
        "company_id": fleet.company_id, "name": "Haul Co", "score": 73.0, "grade": "C",
        "window_days": 365, "active_vehicles": 2, "points": 17, "listings": 1, "listed_now": 1,
    }  # fmt: skip
    assert service.grade(90) == "A" and service.grade(89.9) == "B" and service.grade(59.9) == "D"
    stranger = accounts.headers("company_user", fleet.other_company_id)
    assert (await fleet.get(f"/companies/{fleet.company_id}/credit", stranger)).status_code == 404


async def test_the_points_policy_is_configurable(fleet: Fleet, accounts: Any) -> None:
    officer = accounts.headers("enforcement_officer")
    viewer = accounts.headers("viewer")
    denied = await fleet.client.put("/api/v1/blacklist/policy", json={"threshold_points": 4},
                                    headers=viewer)  # fmt: skip
    assert denied.status_code == 403
    try:
        changed = await fleet.client.put(
            "/api/v1/blacklist/policy",
            json={"points": {"speeding": 4}, "threshold_points": 4},
            headers=fleet.staff,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["points"]["speeding"] == 4
        await fleet.confirm(0, "speeding", officer)
        assert (await fleet.get(f"/vehicles/{fleet.vehicle_ids[0]}/points")).json()["listed"]
        bad = await fleet.client.put("/api/v1/blacklist/policy", json={"window_days": 0},
                                     headers=fleet.staff)  # fmt: skip
        assert bad.status_code == 422 and bad.json()["field"] == "window_days"
    finally:
        fleet.db.execute("UPDATE credit_settings SET threshold_points = 12")
        fleet.db.execute(
            "UPDATE credit_points_policy SET points = 2 WHERE incident_type = 'speeding'"
        )

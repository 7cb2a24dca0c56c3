"""Cases from the engine's incidents (an officer's confirmation, the auto-open round), the
assessment of units, districts and companies, the chain's tamper evidence, and the public
list of sanctions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from case_world import IN_E, IN_W1, World

from tracker.cases import escalation
from tracker.cases.machine import Deadlines
from tracker.evidence.chain import verify


def _incident(world: World, incident_id: str, kind: str, place: tuple[float, float]) -> None:
    world.db.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at, "
        "detected_at, lon, lat) VALUES (%s, %s, %s, %s, now(), now(), %s, %s)",
        (incident_id, kind, world.vehicles["haul"], world.companies["haul"], *place),
    )


async def test_confirming_an_incident_opens_its_case(world: World) -> None:
    officer = world.account("enforcement_officer")
    _incident(world, "inc-1", "dumping", IN_E)
    _incident(world, "inc-2", "weird_type", IN_E)
    resp = await world.client.post("/api/v1/incidents/inc-1/confirm", json={"note": "核实"},
                                   headers=officer)  # fmt: skip
    assert resp.status_code == 200, resp.text
    cid = resp.json()["case_id"]
    case = (await world.client.get(f"/api/v1/cases/{cid}", headers=officer)).json()
    assert (case["source"], case["source_ref"], case["subtype"]) == (
        "incident", "inc-1", "dumping_at_will")  # fmt: skip
    assert case["unit_id"] == world.units["um_e"]
    assert case["company_id"] == world.companies["haul"]
    assert case["evidence"] == [{"kind": "incident", "href": "/api/v1/incidents/inc-1"}]
    # an incident whose vehicle the registry no longer holds still opens its case
    world.db.execute(
        "INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at, "
        "detected_at, lon, lat) VALUES ('inc-3', 'dumping', 999999, 999999, now(), now(), %s, %s)",
        IN_E,
    )
    gone = await world.client.post("/api/v1/incidents/inc-3/confirm", json={"note": "x"},
                                   headers=officer)  # fmt: skip
    assert gone.status_code == 200 and gone.json()["case_id"] is not None
    # a type no subtype takes opens no case
    resp = await world.client.post("/api/v1/incidents/inc-2/confirm", json={"note": "x"},
                                   headers=officer)  # fmt: skip
    assert resp.status_code == 200 and resp.json()["case_id"] is None


async def test_the_intake_round_opens_one_case_per_incident(
    world: World, database_url: str
) -> None:
    _incident(world, "inc-a", "dumping", IN_W1)
    _incident(world, "inc-b", "speeding", IN_W1)
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        assert await escalation.open_for_incidents(conn, [], now, Deadlines()) == []
        first = await escalation.open_for_incidents(conn, ["dumping"], now, Deadlines())
        again = await escalation.open_for_incidents(conn, ["dumping"], now, Deadlines())
    assert len(first) == 1 and again == []
    rows = world.db.execute("SELECT source_ref, unit_id FROM cases").fetchall()
    assert rows == [("inc-a", world.units["um_w"])]


async def test_assessment_per_unit_district_and_company(world: World) -> None:
    a = world.account("enforcement_officer")
    b = world.account("enforcement_officer")
    party = world.account("company_user", company="haul")
    done = (await world.open(a, IN_W1))["id"]
    for action, who, body in (("review", a, {}), ("dispatch", a, {}),
                              ("notify", a, {"penalty_cny": 8000}),
                              ("accept", party, {"signature": "s"}), ("decide", b, {}),
                              ("deliver", b, {"method": "post"}),
                              ("execute", b, {"outcome": "paid"}), ("close", b, {})):  # fmt: skip
        assert (await world.act(done, action, who, **body)).status_code == 200
    dropped = (await world.open(a, IN_W1))["id"]
    await world.act(dropped, "dismiss", a, note="重复立案")
    await world.act(dropped, "reopen", a, note="并非重复")
    await world.open(a, IN_E)
    resp = await world.client.get("/api/v1/cases/assessment", headers=a)
    assert resp.status_code == 200, resp.text
    units = {u["name"]: u for u in resp.json()["units"]}
    west = units["西区城管执法局"]
    assert (west["cases"], west["closed"], west["reopened"]) == (2, 1, 1)
    assert west["by_state"] == {"closed": 1, "reviewed": 1}
    assert west["closure_rate"] == 0.5 and west["on_time_rate"] == 1.0
    assert west["feedback_rate"] == 1.0
    assert set(west["stage_mean_s"]) >= {"opened", "reviewed", "notified", "decided"}
    assert units["东区城管执法局"]["by_state"] == {"opened": 1}
    districts = {d["name"]: d["cases"] for d in resp.json()["districts"]}
    assert districts == {"西区": 2, "东区": 1}
    companies = resp.json()["companies"]
    assert companies[0]["company_id"] == world.companies["haul"]
    assert (companies[0]["cases"], companies[0]["decided"]) == (3, 1)
    assert companies[0]["penalties_cny"] == 8000.0 and companies[0]["grade"] == "A"
    # a unit's officer is assessed on its own cases only
    um_e = world.account("enforcement_officer", unit="um_e")
    scoped = (await world.client.get("/api/v1/cases/assessment", headers=um_e)).json()
    assert [u["name"] for u in scoped["units"]] == ["东区城管执法局"]
    party_resp = await world.client.get("/api/v1/cases/assessment", headers=party)
    assert party_resp.status_code == 403


async def test_a_changed_event_breaks_the_chain(world: World) -> None:
    a = world.account("enforcement_officer")
    cid = (await world.open(a))["id"]
    await world.act(cid, "review", a, note="ok")
    await world.act(cid, "dispatch", a)

    def events() -> list[tuple[dict[str, Any], str]]:
        rows = world.db.execute(
            "SELECT event, hash FROM case_events WHERE case_id = %s ORDER BY seq", (cid,)
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    assert verify(events()).ok
    world.db.execute(
        "UPDATE case_events SET event = jsonb_set(event, '{note}', '\"changed\"') "
        "WHERE case_id = %s AND seq = 2",
        (cid,),
    )
    check = verify(events())
    assert not check.ok and check.first_bad == 1
    world.db.execute("DELETE FROM case_events WHERE case_id = %s AND seq = 2", (cid,))
    assert not verify(events()).ok


async def test_the_public_list_of_sanctions(world: World) -> None:
    world.db.execute("UPDATE credit_settings SET score_listing_penalty = 50")
    listing = {"vehicle_id": world.vehicles["other"], "reason": "多次随意倾倒"}
    resp = await world.client.post("/api/v1/blacklist", json=listing, headers=world.staff)
    assert resp.status_code == 201, resp.text
    public = await world.client.get("/api/v1/public/sanctions")
    assert public.status_code == 200
    body = public.json()
    assert [v["plate"] for v in body["vehicles"]] == ["桂A-other"]
    assert [(c["company_id"], c["grade"]) for c in body["companies"]] == [
        (world.companies["other"], "D")
    ]

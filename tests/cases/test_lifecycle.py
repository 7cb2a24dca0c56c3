"""A case from opening to closure through the API: every transition, who may take it, the
decision document, delivery consent, the party's portal, reopening, and the hash chain."""

from __future__ import annotations

from typing import Any

import pytest
from case_world import World

from tracker.cases.machine import TRANSITIONS, State
from tracker.evidence.chain import verify


async def _timeline(world: World, case_id: int, who: dict[str, str]) -> dict[str, Any]:
    resp = await world.client.get(f"/api/v1/cases/{case_id}", headers=who)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_a_case_walks_from_opened_to_closed_and_back(world: World) -> None:
    proposer = world.account("enforcement_officer", unit="um_w")
    decider = world.account("enforcement_officer", unit="um_w")
    party = world.account("company_user", company="haul")
    case = await world.open(proposer)
    cid = case["id"]
    assert (await world.act(cid, "review", proposer, note="视频核实")).json()["state"] == "reviewed"
    assert (await world.act(cid, "dispatch", proposer)).json()["state"] == "dispatched"
    # the penalty must be within the subtype's range (¥5,000-50,000 for dumping at will)
    low = await world.act(cid, "notify", proposer, penalty_cny=100)
    assert low.status_code == 400 and low.json()["field"] == "penalty_cny"
    told = await world.act(cid, "notify", proposer, penalty_cny=20000)
    assert told.status_code == 200, told.text
    assert told.json()["state"] == "notified" and told.json()["party_due_at"] is not None
    # the party sees its notice in the portal, and answers with its confirmation
    notices = (await world.client.get("/api/v1/cases/notices", headers=party)).json()["notices"]
    assert [(n["case_id"], n["kind"]) for n in notices] == [(cid, "notice")]
    assert notices[0]["body"]["penalty_cny"] == "20000.00"
    unsigned = await world.act(cid, "accept", party)
    assert unsigned.status_code == 400 and unsigned.json()["field"] == "signature"
    accepted = await world.act(cid, "accept", party, signature="张三")
    assert accepted.json()["state"] == "accepted", accepted.text
    # four eyes: the proposer may not decide
    same = await world.act(cid, "decide", proposer)
    assert same.status_code == 403 and same.json()["error"] == "four_eyes"
    decided = await world.act(cid, "decide", decider)
    assert decided.status_code == 200, decided.text
    doc = await world.client.get(f"/api/v1/cases/{cid}/decision", headers=party)
    assert doc.status_code == 200
    for words in ("行政处罚决定书", "Haul Co", "《城市建筑垃圾管理规定》第二十六条",
                  "20,000.00", "行政复议", "日内缴纳"):  # fmt: skip
        assert words in doc.text
    # electronic delivery needs the party's written consent
    refused = await world.act(cid, "deliver", decider, method="electronic")
    assert refused.status_code == 409 and refused.json()["field"] == "method"
    consent = await world.client.post("/api/v1/cases/e-delivery-consent", headers=party)
    assert consent.status_code == 200
    assert (await world.act(cid, "deliver", decider, method="electronic")).status_code == 200
    assert (await world.act(cid, "execute", decider)).status_code == 400  # outcome missing
    assert (await world.act(cid, "execute", decider, outcome="paid")).json()["state"] == "executed"
    closed = await world.act(cid, "close", decider)
    assert closed.json()["state"] == "closed" and closed.json()["closed_at"] is not None
    assert (await world.act(cid, "reopen", decider)).status_code == 400  # a reason is needed
    reopened = await world.act(cid, "reopen", decider, note="复核发现新证据")
    assert reopened.json()["state"] == "reviewed" and reopened.json()["reopened"] == 1
    dismissed = await world.act(cid, "dismiss", decider, note="证据不足")
    assert dismissed.json()["state"] == "dismissed"

    detail = await _timeline(world, cid, decider)
    actions = [e["action"] for e in detail["timeline"]]
    assert actions == ["open", "review", "dispatch", "notify", "accept", "decide", "deliver",
                       "execute", "close", "reopen", "dismiss"]  # fmt: skip
    check = verify((e["event"], e["hash"]) for e in detail["timeline"])
    assert check.ok and check.checked == 11
    kinds = [n["kind"] for n in reversed(detail["notices"])]
    assert kinds == ["notice", "decision", "delivery"]
    audit = world.db.execute(
        "SELECT action FROM audit_log WHERE entity = 'case' AND entity_id = %s ORDER BY id",
        (cid,),
    ).fetchall()
    assert [a[0] for a in audit] == ["case." + a for a in actions]
    # every notice also went out through the outbox, to the case's company
    sent = world.db.execute(
        "SELECT type, company_id, payload ->> 'case_id' FROM outbox_events"
        " WHERE type LIKE 'case.%%' AND payload ->> 'case_id' = %s ORDER BY id",
        (str(cid),),
    ).fetchall()
    company = world.companies["haul"]
    assert sent == [(f"case.{k}", company, str(cid)) for k in ("notice", "decision", "delivery")]


async def test_a_statement_with_a_hearing_request_for_a_large_fine(world: World) -> None:
    officer = world.account("enforcement_officer")
    party = world.account("company_user", company="haul")
    cid = (await world.open(officer))["id"]
    for action in ("review", "dispatch"):
        assert (await world.act(cid, action, officer)).status_code == 200
    assert (await world.act(cid, "notify", officer, penalty_cny=40000)).status_code == 200
    no_text = await world.act(cid, "state", party, signature="李四")
    assert no_text.status_code == 400 and no_text.json()["field"] == "statement"
    stated = await world.act(
        cid, "state", party, statement="车辆当时在核准路线上", signature="李四", hearing=True
    )
    assert stated.status_code == 200, stated.text
    assert stated.json()["state"] == "stated" and stated.json()["hearing_requested"] is True
    detail = await _timeline(world, cid, party)
    assert detail["timeline"][-1]["event"]["detail"]["statement"] == "车辆当时在核准路线上"
    assert detail["actions"] == []  # the party has nothing more to do


async def test_a_requested_hearing_is_held_before_the_decision(world: World) -> None:
    proposer = world.account("enforcement_officer")
    chair = world.account("enforcement_officer")
    party = world.account("company_user", company="haul")
    cid = (await world.open(proposer))["id"]
    for action in ("review", "dispatch"):
        assert (await world.act(cid, action, proposer)).status_code == 200
    assert (await world.act(cid, "notify", proposer, penalty_cny=40000)).status_code == 200
    asked = await world.act(cid, "state", party, statement="不服", signature="李四", hearing=True)
    assert asked.status_code == 200, asked.text
    assert (await _timeline(world, cid, chair))["actions"] == ["hear", "dismiss"]
    early = await world.act(cid, "decide", chair)
    assert early.status_code == 409 and early.json()["field"] == "hearing", early.text
    # the officer who proposed the penalty may not preside the hearing (Art. 64)
    own = await world.act(cid, "hear", proposer, minutes="听证记录")
    assert own.status_code == 403 and own.json()["error"] == "four_eyes"
    unminuted = await world.act(cid, "hear", chair)
    assert unminuted.status_code == 400 and unminuted.json()["field"] == "minutes"
    future = await world.act(cid, "hear", chair, minutes="m", held_at="2999-01-01T00:00:00Z")
    assert future.status_code == 400 and future.json()["field"] == "held_at"
    held = await world.act(cid, "hear", chair, minutes="当事人陈述：车辆未偏离路线……")
    assert held.status_code == 200 and held.json()["state"] == "stated", held.text
    again = await world.act(cid, "hear", chair, minutes="m")
    assert again.status_code == 409 and again.json()["field"] == "hearing"
    assert "decide" in (await _timeline(world, cid, chair))["actions"]
    decided = await world.act(cid, "decide", chair)
    assert decided.status_code == 200 and decided.json()["state"] == "decided", decided.text
    detail = await _timeline(world, cid, chair)
    hearing = [e for e in detail["timeline"] if e["action"] == "hear"]
    assert hearing[0]["event"]["detail"]["minutes"].startswith("当事人陈述")


async def test_a_statement_without_a_hearing_is_decided_without_one(world: World) -> None:
    proposer = world.account("enforcement_officer")
    decider = world.account("enforcement_officer")
    party = world.account("company_user", company="haul")
    cid = (await world.open(proposer))["id"]
    for action in ("review", "dispatch"):
        await world.act(cid, action, proposer)
    await world.act(cid, "notify", proposer, penalty_cny=40000)
    await world.act(cid, "state", party, statement="情况说明", signature="李四")
    assert "hear" not in (await _timeline(world, cid, decider))["actions"]
    assert (await world.act(cid, "hear", decider, minutes="m")).status_code == 409
    assert (await world.act(cid, "decide", decider)).status_code == 200


async def test_a_hearing_is_for_large_fines_only(world: World) -> None:
    officer = world.account("enforcement_officer")
    party = world.account("company_user", company="haul")
    cid = (await world.open(officer))["id"]
    for action in ("review", "dispatch"):
        await world.act(cid, action, officer)
    await world.act(cid, "notify", officer, penalty_cny=6000)
    resp = await world.act(cid, "state", party, statement="x", signature="y", hearing=True)
    assert resp.status_code == 400 and resp.json()["field"] == "hearing"


ALL_STATES = list(State)


def _path_to(state: State) -> list[tuple[str, dict[str, Any], str]]:
    """Actions (with body and actor: 'p' proposer, 'd' decider, 'c' company) reaching ``state``."""
    walk = [("review", {}, "p"), ("dispatch", {}, "p"), ("notify", {"penalty_cny": 9000}, "p"),
            ("accept", {"signature": "s"}, "c"), ("decide", {}, "d"),
            ("deliver", {"method": "post"}, "d"), ("execute", {"outcome": "rectified"}, "d"),
            ("close", {}, "d")]  # fmt: skip
    order = ["opened", "reviewed", "dispatched", "notified", "accepted", "decided", "delivered",
             "executed", "closed"]  # fmt: skip
    if state == State.dismissed:
        return [("dismiss", {"note": "n"}, "p")]
    if state == State.stated:
        return [*walk[:3], ("state", {"statement": "s", "signature": "s"}, "c")]
    return walk[: order.index(state.value)]


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
async def test_every_action_is_refused_from_every_state_it_does_not_leave(
    world: World, action: str
) -> None:
    who = {"p": world.account("enforcement_officer"), "d": world.account("enforcement_officer"),
           "c": world.account("company_user", company="haul")}  # fmt: skip
    body = {"note": "n", "penalty_cny": 9000, "statement": "s", "signature": "s",
            "method": "post", "outcome": "paid"}  # fmt: skip
    actor = who["c"] if action in ("state", "accept") else who["d"]
    for state in ALL_STATES:
        if state in TRANSITIONS[action].sources:
            continue
        cid = (await world.open(who["p"]))["id"]
        for step, step_body, by in _path_to(state):
            resp = await world.act(cid, step, who[by], **step_body)
            assert resp.status_code == 200, (state, step, resp.text)
        resp = await world.act(cid, action, actor, **body)
        if (
            state
            not in {
                State.notified,
                State.stated,
                State.accepted,
                State.decided,
                State.delivered,
                State.executed,
                State.closed,
            }
            and actor is who["c"]
        ):
            assert resp.status_code == 404, (action, state)  # the party cannot see it yet
        else:
            assert resp.status_code == 409, (action, state, resp.text)
            assert resp.json()["field"] == "state"

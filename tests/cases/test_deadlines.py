"""Deadlines and overdue escalation with a controllable clock: every stage's deadline, the
party's statement period before a decision, the hearing period, escalation once per stage
(and again after a move), and the maintenance round."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from case_world import IN_W1, World

from tracker.accounts.models import Principal, Role
from tracker.cases import escalation, service
from tracker.cases.machine import Deadlines
from tracker.cases.models import MoveIn
from tracker.errors import BadRequest, TrackerError
from tracker.evidence.chain import verify

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
D = Deadlines()
DAY = timedelta(days=1)


@pytest.fixture
async def conn(world: World, database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
        yield c


def officer(world: World, name: str) -> Principal:
    row = world.db.execute(
        "INSERT INTO users (username, password_hash, role) VALUES (%s, 'x', "
        "'enforcement_officer') RETURNING id",
        (name,),
    ).fetchone()
    assert row is not None
    return Principal(name, Role.enforcement_officer, None, int(row[0]))


async def _open(conn: Any, world: World, who: Principal, at: datetime = T0) -> int:
    case = await service.open_case(
        conn, source="hand", subtype="dumping_at_will", who=who, now=at, d=D, facts="f",
        lon=IN_W1[0], lat=IN_W1[1], vehicle_id=world.vehicles["haul"],
    )  # fmt: skip
    return int(case["id"])


async def _move(conn: Any, cid: int, action: str, who: Principal, at: datetime, **body: Any) -> Any:
    return await service.move(conn, cid, action, MoveIn(**body), who, at, D)


async def test_every_stage_has_its_deadline(conn: Any, world: World) -> None:
    a, b = officer(world, "of-a"), officer(world, "of-b")
    cid = await _open(conn, world, a)
    row = await _move(conn, cid, "review", a, T0 + DAY)
    assert row["due_at"] == T0 + DAY + 2 * DAY  # dispatch within 2 days (city setting)
    row = await _move(conn, cid, "dispatch", a, T0 + 2 * DAY)
    assert row["due_at"] == T0 + 90 * DAY  # decision within 90 days of opening (Art. 60)
    row = await _move(conn, cid, "notify", a, T0 + 3 * DAY, penalty_cny=12000)
    assert row["party_due_at"] == T0 + 8 * DAY  # 5 days to answer / ask a hearing (Art. 64)
    assert row["due_at"] == T0 + 90 * DAY
    # the decision waits for the party's period unless it has answered
    with pytest.raises(service.CaseRefused) as refused:
        await _move(conn, cid, "decide", b, T0 + 7 * DAY)
    assert refused.value.body()["details"][0]["code"] == "party_period"
    row = await _move(conn, cid, "decide", b, T0 + 8 * DAY)
    assert row["state"] == "decided" and row["due_at"] == T0 + 15 * DAY  # deliver in 7 days
    row = await _move(conn, cid, "deliver", b, T0 + 9 * DAY, method="in_person")
    assert row["due_at"] == T0 + 24 * DAY  # pay within 15 days of delivery
    row = await _move(conn, cid, "execute", b, T0 + 30 * DAY, outcome="paid")
    assert row["due_at"] is None
    events = world.db.execute(
        "SELECT event FROM case_events WHERE case_id = %s ORDER BY seq", (cid,)
    ).fetchall()
    on_time = [(e[0]["action"], e[0].get("on_time")) for e in events]
    assert on_time == [("open", None), ("review", True), ("dispatch", True), ("notify", True),
                       ("decide", True), ("deliver", True), ("execute", False)]  # fmt: skip


async def test_a_hearing_may_be_asked_within_the_period_only(conn: Any, world: World) -> None:
    a = officer(world, "of-a")
    party = Principal("p", Role.company_user, world.companies["haul"], None)
    for late, expect in ((False, None), (True, "hearing_late")):
        cid = await _open(conn, world, a)
        for i, action in enumerate(("review", "dispatch")):
            await _move(conn, cid, action, a, T0 + i * DAY)
        await _move(conn, cid, "notify", a, T0 + 2 * DAY, penalty_cny=30000)
        at = T0 + (8 if late else 6) * DAY
        body = {"statement": "s", "signature": "s", "hearing": True}
        if expect is None:
            assert (await _move(conn, cid, "state", party, at, **body))["hearing_requested"]
        else:
            with pytest.raises(TrackerError) as refused:
                await _move(conn, cid, "state", party, at, **body)
            assert refused.value.body()["details"][0]["code"] == expect


async def test_overdue_cases_are_escalated_once_per_stage(conn: Any, world: World) -> None:
    a = officer(world, "of-a")
    cid = await _open(conn, world, a)
    other = await _open(conn, world, a, T0 + 2 * DAY)
    assert await escalation.escalate_overdue(conn, T0 + 3 * DAY - timedelta(seconds=1)) == []
    assert await escalation.escalate_overdue(conn, T0 + 3 * DAY + timedelta(seconds=1)) == [cid]
    assert await escalation.escalate_overdue(conn, T0 + 4 * DAY) == []  # once per stage
    assert await escalation.escalate_overdue(conn, T0 + 6 * DAY) == [other]
    row = world.db.execute("SELECT escalated_at, state FROM cases WHERE id = %s", (cid,)).fetchone()
    assert row == (T0 + 3 * DAY + timedelta(seconds=1), "opened")
    notice = world.db.execute(
        "SELECT kind, unit_id, body ->> 'due_at' FROM case_notices WHERE case_id = %s", (cid,)
    ).fetchall()
    assert notice == [("escalation", world.units["um_w"], "2026-03-05T01:00:00Z")]
    # a late move clears the flag; the next stage escalates again when it is overdue
    await _move(conn, cid, "review", a, T0 + 7 * DAY)
    assert await escalation.escalate_overdue(conn, T0 + 8 * DAY) == []
    assert await escalation.escalate_overdue(conn, T0 + 9 * DAY + timedelta(seconds=1)) == [cid]
    events = world.db.execute(
        "SELECT event, hash FROM case_events WHERE case_id = %s ORDER BY seq", (cid,)
    ).fetchall()
    assert [e[0]["action"] for e in events] == ["open", "escalate", "review", "escalate"]
    assert verify((e[0], e[1]) for e in events).ok
    audit = world.db.execute(
        "SELECT actor FROM audit_log WHERE action = 'case.escalate' AND entity_id = %s", (cid,)
    ).fetchall()
    assert audit == [("system",), ("system",)]


async def test_the_decision_deadline_counts_from_opening(conn: Any, world: World) -> None:
    a = officer(world, "of-a")
    cid = await _open(conn, world, a)
    await _move(conn, cid, "review", a, T0 + DAY)
    await _move(conn, cid, "dispatch", a, T0 + 2 * DAY)
    assert await escalation.escalate_overdue(conn, T0 + 89 * DAY) == []
    assert await escalation.escalate_overdue(conn, T0 + 90 * DAY + timedelta(minutes=1)) == [cid]


async def test_closed_cases_are_never_escalated(conn: Any, world: World) -> None:
    a = officer(world, "of-a")
    cid = await _open(conn, world, a)
    await _move(conn, cid, "dismiss", a, T0, note="重复")
    assert await escalation.escalate_overdue(conn, T0 + 400 * DAY) == []


async def test_the_maintenance_round_escalates(world: World, settings: Any) -> None:
    from tracker.maintenance import TASKS, Services

    a = officer(world, "of-a")
    past = datetime.now(UTC) - 10 * DAY
    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as c:
        cid = await _open(c, world, a, past)
    task = next(t for t in TASKS if t.name == "case-escalation")
    from tracker.db import make_pool

    pool = make_pool(settings)
    await pool.open(wait=True)
    try:
        assert await task.round(Services(settings, pool, None)) == [cid]  # type: ignore[arg-type]
    finally:
        await pool.close()


async def test_an_unknown_subtype_or_company_is_refused(conn: Any, world: World) -> None:
    a = officer(world, "of-a")
    with pytest.raises(BadRequest) as bad:
        await service.open_case(conn, source="hand", subtype="nope", who=a, now=T0, d=D, facts="f")
    assert bad.value.field == "subtype"
    with pytest.raises(BadRequest) as bad:
        await service.open_case(
            conn, source="hand", subtype="speeding", who=a, now=T0, d=D, facts="f", company_id=999
        )
    assert bad.value.field == "company_id"

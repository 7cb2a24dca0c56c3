"""Case moves: gather the facts, let the pure machine decide, then in one transaction update the
case, chain its event, write the audit row and record any notice (tracker.cases.notify)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from tracker.accounts import repo as audit
from tracker.accounts.four_eyes import require_other_account
from tracker.accounts.models import BOOTSTRAP, Principal, Role
from tracker.cases import document, jurisdictions, machine, repo
from tracker.cases.machine import Deadlines, State
from tracker.cases.models import MoveIn
from tracker.cases.notify import notify
from tracker.errors import BadRequest, Conflict, Forbidden, NotFound

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
SOURCES = ("incident", "clue", "hand")


class CaseRefused(Conflict):
    code = "case_refused"


def _actor(who: Principal) -> Row:
    return {"username": who.username, "user_id": who.user_id, "role": who.role.value}


async def open_case(
    conn: AConn,
    *,
    source: str,
    subtype: str,
    who: Principal,
    now: datetime,
    d: Deadlines,
    facts: str,
    lon: float | None = None,
    lat: float | None = None,
    company_id: int | None = None,
    vehicle_id: int | None = None,
    source_ref: str | None = None,
) -> Row:
    """Open a case (立案) from an incident, a clue or by hand, routed to the unit whose area
    holds its place. Opening the same source twice returns the first case. Runs in the
    caller's transaction when there is one."""
    if source not in SOURCES:
        raise BadRequest(f"source is one of {SOURCES}", field="source")
    kind = await repo.subtype(conn, subtype)
    if kind is None:
        raise BadRequest(f"unknown case subtype {subtype}", field="subtype")
    async with conn.transaction():
        if vehicle_id is not None:
            cur = await conn.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,))
            vrow = await cur.fetchone()
            if vrow is None:
                raise BadRequest(f"no vehicle {vehicle_id}", field="vehicle_id")
            company_id = company_id if company_id is not None else vrow[0]
        place = await jurisdictions.route(conn, lon, lat, kind["unit_kind"])
        values = {
            "subtype": subtype, "source": source, "source_ref": source_ref,
            "company_id": company_id, "vehicle_id": vehicle_id, "lon": lon, "lat": lat,
            "district_id": place.district_id, "area_id": place.area_id,
            "unit_id": place.unit_id, "facts": facts, "opened_at": now,
            "due_at": machine.due_at(State.opened, opened_at=now, state_at=now, d=d),
        }  # fmt: skip
        event = {
            "action": "open", "at": repo.iso(now), "actor": _actor(who), "from": None,
            "to": State.opened.value,
            "detail": {"source": source, "source_ref": source_ref, "subtype": subtype,
                       "unit_id": place.unit_id, "facts": facts},
        }  # fmt: skip
        try:
            case_id = await repo.insert_case(conn, values, event)
        except psycopg.errors.ForeignKeyViolation:
            raise BadRequest("unknown company", field="company_id") from None
        if case_id is None:  # already opened from this source
            cur = await conn.execute(
                "SELECT id FROM cases WHERE source = %s AND source_ref = %s", (source, source_ref)
            )
            found = await cur.fetchone()
            assert found is not None
            row = await repo.load(conn, int(found[0]), BOOTSTRAP)
            assert row is not None
            return row
        row = await repo.load(conn, case_id, BOOTSTRAP)
        assert row is not None
        await audit.record(conn, who, "case.open", "case", case_id, None, _public(row))
    return row


def _public(row: Row) -> Row:
    return {k: v for k, v in row.items() if k not in ("decision",)}


async def get_visible(conn: AConn, case_id: int, who: Principal, *, lock: bool = False) -> Row:
    row = await repo.load(conn, case_id, who, lock=lock)
    if row is None:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return row


def _raise(refusals: list[machine.Refusal]) -> None:
    first = refusals[0]
    details = [{"code": r.code, "message": r.message, "field": r.field} for r in refusals]
    message = "; ".join(r.message for r in refusals)
    if first.code == "role":
        raise Forbidden(message, field=first.field, details=details)
    if first.code == "state":
        raise Conflict(message, field=first.field, details=details)
    if first.code in ("penalty_missing", "penalty_range", "no_hearing"):
        raise BadRequest(message, field=first.field, details=details)
    raise CaseRefused(message, field=first.field, details=details)


async def move(
    conn: AConn,
    case_id: int,
    action: str,
    body: MoveIn,
    who: Principal,
    now: datetime,
    d: Deadlines,
) -> Row:
    """Take ``action`` on a case ``who`` can see (404 otherwise)."""
    if action not in machine.TRANSITIONS:
        raise NotFound(f"unknown case action {action}", field="action")
    t = machine.TRANSITIONS[action]
    async with conn.transaction():
        case = await get_visible(conn, case_id, who, lock=True)
        kind = await repo.subtype(conn, case["subtype"])
        assert kind is not None
        state = State(case["state"])
        penalty = body.penalty_cny if body.penalty_cny is not None else case["penalty_cny"]
        facts = machine.CaseFacts(
            state=state, role=who.role, now=now, penalty_cny=penalty,
            penalty_min_cny=kind["penalty_min_cny"], penalty_max_cny=kind["penalty_max_cny"],
            party_due_at=case["party_due_at"], hearing_requested=body.hearing,
            hearing_pending=await repo.hearing_pending(conn, case),
        )  # fmt: skip
        refused = machine.refusals(action, facts, d)
        if refused:
            _raise(refused)
        if action in ("decide", "hear"):  # nor may the proposer preside the hearing (Art. 64)
            await require_other_account(
                conn, who, entity="case", entity_id=case_id, authored_by=("case.notify",),
                decision=action,
            )  # fmt: skip
        changes, detail = await _effects(conn, case, kind, action, body, who, now, d, penalty)
        target = t.target
        changes.update(
            state=target.value, state_at=now, escalated_at=None,
            due_at=machine.due_at(target, opened_at=case["opened_at"], state_at=now, d=d),
        )  # fmt: skip
        await repo.update(conn, case_id, changes)
        due = case["due_at"]
        event = {
            "action": action, "at": repo.iso(now), "actor": _actor(who), "from": state.value,
            "to": target.value, "note": body.note, "detail": detail,
            "stage_s": round((now - case["state_at"]).total_seconds(), 3),
            "due_at": None if due is None else repo.iso(due),
            "on_time": None if due is None else now <= due,
        }  # fmt: skip
        await repo.append_event(conn, case_id, event)
        after = await repo.load(conn, case_id, BOOTSTRAP)
        assert after is not None
        await audit.record(
            conn, who, f"case.{action}", "case", case_id, _public(case), _public(after)
        )
        await _tell(conn, after, action, now, detail)
    return after


async def _effects(
    conn: AConn, case: Row, kind: Row, action: str, body: MoveIn, who: Principal,
    now: datetime, d: Deadlines, penalty: float | None,
) -> tuple[Row, Row]:  # fmt: skip
    """The column changes and the event detail of an action, beyond the state itself."""
    if action == "dispatch" and body.unit_id is not None:
        cur = await conn.execute("SELECT 1 FROM units WHERE id = %s AND active", (body.unit_id,))
        if await cur.fetchone() is None:
            raise BadRequest(f"no active unit {body.unit_id}", field="unit_id")
        return {"unit_id": body.unit_id}, {"unit_id": body.unit_id}
    if action == "dispatch":
        return {}, {"unit_id": case["unit_id"]}
    if action == "notify":
        party_due = machine.party_due_at(now, d)
        hearing = penalty is not None and penalty >= d.large_fine_cny
        detail = {"penalty_cny": f"{penalty:.2f}", "legal_basis": kind["legal_basis"],
                  "party_due_at": repo.iso(party_due), "hearing_right": hearing}  # fmt: skip
        return {"penalty_cny": penalty, "party_due_at": party_due}, detail
    if action in ("state", "accept"):
        return await _party_answer(case, action, body, who)
    if action == "hear":
        return _hearing(body, now)
    if action == "decide":
        return await _decision(conn, case, kind, now, d, penalty)
    if action == "deliver":
        return await _delivery(conn, case, body)
    if action == "execute":
        if body.outcome is None:
            raise BadRequest("outcome: paid or rectified", field="outcome")
        return {}, {"outcome": body.outcome}
    if action in ("close", "dismiss"):
        if action == "dismiss" and not body.note:
            raise BadRequest("a dismissal needs a reason (note)", field="note")
        return {"closed_at": now}, {}
    if action == "reopen":
        if not body.note:
            raise BadRequest("a reopening needs a reason (note)", field="note")
        return {"reopened": case["reopened"] + 1, "closed_at": None}, {}
    return {}, {}


def _hearing(body: MoveIn, now: datetime) -> tuple[Row, Row]:
    if body.minutes is None:
        raise BadRequest("the hearing's minutes (听证笔录) are required", field="minutes")
    held = body.held_at or now
    if held > now:
        raise BadRequest("a hearing is recorded once held, not before", field="held_at")
    return {}, {"minutes": body.minutes, "held_at": repo.iso(held)}


async def _party_answer(case: Row, action: str, body: MoveIn, who: Principal) -> tuple[Row, Row]:
    if who.role != Role.company_user or who.company_id != case["company_id"]:
        raise Forbidden("only the party's own accounts answer a notice", field="authorization")
    if body.signature is None:
        raise BadRequest("the party's confirmation (signature) is required", field="signature")
    if action == "state":
        if body.statement is None:
            raise BadRequest("the statement is required", field="statement")
        detail = {"statement": body.statement, "signature": body.signature, "hearing": body.hearing}
        return {"hearing_requested": body.hearing}, detail
    return {}, {"signature": body.signature}


async def _decision(
    conn: AConn, case: Row, kind: Row, now: datetime, d: Deadlines, penalty: float | None
) -> tuple[Row, Row]:
    assert penalty is not None
    party = await repo.party(conn, case["company_id"])
    cur = await conn.execute("SELECT name FROM units WHERE id = %s", (case["unit_id"],))
    unit = await cur.fetchone()
    evidence = [f"{case['source']} {case['source_ref']}"] if case["source_ref"] else []
    evidence.append(f"案件事件链 {case['events']} 条 (SHA-256)")
    doc = document.content(
        case, kind, party, evidence, penalty, now, d.execution_days, unit[0] if unit else None
    )
    return {"decision": doc, "penalty_cny": penalty}, {
        "penalty_cny": f"{penalty:.2f}",
        "number": doc["number"],
    }


async def _delivery(conn: AConn, case: Row, body: MoveIn) -> tuple[Row, Row]:
    if body.method is None:
        raise BadRequest("method: electronic, in_person or post", field="method")
    if body.method == "electronic":
        party = await repo.party(conn, case["company_id"])
        if party is None or party["e_delivery_consent_at"] is None:
            raise CaseRefused(
                "electronic delivery needs the party's written consent (Art. 61)", field="method"
            )
    return {}, {"method": body.method}


async def _tell(conn: AConn, case: Row, action: str, now: datetime, detail: Row) -> None:
    kinds = {"notify": "notice", "decide": "decision", "deliver": "delivery"}
    if action in kinds and case["company_id"] is not None:
        body: Row = {"state": case["state"], **detail}
        if action == "decide":
            body["decision"] = case["decision"]
        await notify(conn, case, kinds[action], now, body)  # type: ignore[arg-type]


async def consent_e_delivery(conn: AConn, who: Principal, now: datetime) -> Row:
    if who.role != Role.company_user or who.company_id is None:
        raise Forbidden("a company account gives its company's consent", field="authorization")
    async with conn.transaction():
        await conn.execute(
            "UPDATE companies SET e_delivery_consent_at = %s WHERE id = %s", (now, who.company_id)
        )
        after = {"company_id": who.company_id, "e_delivery_consent_at": now.isoformat()}
        await audit.record(conn, who, "e_delivery_consent", "company", who.company_id, None, after)
    return after

"""The permit workflow: drafts, transitions and approval, each in one transaction with its audit
row; corridor fences are published after the commit.

draft → submitted → approved | rejected; approved → suspended | revoked | expired; a suspended
permit may be revoked, or approved again (the checks run again). Drafts and rejected permits may
be edited (a rejected one goes back to draft).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import psycopg

from tracker.accounts import repo as audit
from tracker.accounts.four_eyes import require_other_account
from tracker.accounts.models import SYSTEM, Principal
from tracker.errors import BadRequest, Conflict, Forbidden, NotFound
from tracker.geofence.errors import GeometryError
from tracker.geofence.geojson import fence_from_geojson
from tracker.permits import logic, repo
from tracker.permits.models import PermitIn, PermitState
from tracker.registry import places
from tracker.wire import FenceChange

AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
EDITABLE = frozenset({PermitState.draft, PermitState.rejected})
# action -> (states it starts from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[PermitState], PermitState]] = {
    "submit": (frozenset({PermitState.draft}), PermitState.submitted),
    "reject": (frozenset({PermitState.submitted}), PermitState.rejected),
    "suspend": (frozenset({PermitState.approved}), PermitState.suspended),
    "revoke": (frozenset({PermitState.approved, PermitState.suspended}), PermitState.revoked),
}
APPROVABLE = frozenset({PermitState.submitted, PermitState.suspended})
# Four eyes (tracker.accounts.four_eyes): who wrote a permit may not decide it.
AUTHORING = ("create", "update", "submit")
DECISIONS = frozenset({"approve", "reject"})


async def _four_eyes(conn: AConn, who: Principal, permit_id: int, decision: str) -> None:
    await require_other_account(
        conn, who, entity="permit", entity_id=permit_id, authored_by=AUTHORING, decision=decision
    )


class PermitRefused(Conflict):
    code = "permit_refused"


def check_corridors(body: PermitIn) -> None:
    for i, c in enumerate(body.corridors):
        if c.geometry.get("type") != "LineString":
            raise BadRequest("a corridor is a GeoJSON LineString", field=f"corridors.{i}.type")
        try:
            fence_from_geojson("new", c.geometry, half_width_m=c.half_width_m)
        except GeometryError as exc:
            raise BadRequest(exc.message, field=f"corridors.{i}.{exc.field}") from None


def _own(who: Principal, company_id: int) -> None:
    if not who.sees_company(company_id):
        raise Forbidden("a company user works on its own company's permits", field="company_id")


async def get_visible(conn: AConn, permit_id: int, who: Principal, *, lock: bool = False) -> Row:
    rows = await repo.load(conn, permit_id=permit_id, lock=lock)
    if not rows or not who.sees_company(rows[0]["company_id"]):
        raise NotFound(f"no permit {permit_id}", field="permit_id")
    return rows[0]


async def create(conn: AConn, body: PermitIn, who: Principal) -> Row:
    _own(who, body.company_id)
    await asyncio.to_thread(check_corridors, body)  # geometry work off the event loop
    async with conn.transaction():
        await repo.check_references(conn, body)
        permit_id = await repo.insert(conn, body)
        permit = (await repo.load(conn, permit_id=permit_id))[0]
        await audit.record(conn, who, "create", "permit", permit_id, None, permit)
    return permit


async def edit(conn: AConn, permit_id: int, body: PermitIn, who: Principal) -> Row:
    _own(who, body.company_id)
    await asyncio.to_thread(check_corridors, body)  # geometry work off the event loop
    async with conn.transaction():
        before = await get_visible(conn, permit_id, who, lock=True)
        if before["state"] not in EDITABLE:
            raise Conflict(f"a {before['state']} permit cannot be edited", field="state")
        await repo.check_references(conn, body)
        await repo.replace(conn, permit_id, body)
        after = (await repo.load(conn, permit_id=permit_id))[0]
        await audit.record(conn, who, "update", "permit", permit_id, before, after)
    return after


async def transition(
    conn: AConn, permit_id: int, action: str, who: Principal, reason: str | None
) -> tuple[Row, list[FenceChange]]:
    sources, target = TRANSITIONS[action]
    changes: list[FenceChange] = []
    async with conn.transaction():
        before = await get_visible(conn, permit_id, who, lock=True)
        if before["state"] not in sources:
            raise Conflict(f"cannot {action} a {before['state']} permit", field="state")
        if action in DECISIONS:
            await _four_eyes(conn, who, permit_id, action)
        await repo.set_state(conn, permit_id, target, reason)
        if before["state"] == PermitState.approved:
            changes = await _retire_corridors(conn, before)
        after = (await repo.load(conn, permit_id=permit_id))[0]
        await audit.record(conn, who, action, "permit", permit_id, before, after)
    return after, changes


async def approve(
    conn: AConn, permit_id: int, who: Principal, today: date
) -> tuple[Row, list[FenceChange]]:
    """Approve when every check passes (:class:`PermitRefused` listing the reasons if not) and
    put the corridors in the engine."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (repo.APPROVAL_LOCK,))
        before = await get_visible(conn, permit_id, who, lock=True)
        if before["state"] not in APPROVABLE:
            raise Conflict(f"cannot approve a {before['state']} permit", field="state")
        await _four_eyes(conn, who, permit_id, "approve")
        refusals = logic.approval_refusals(await repo.facts(conn, before, today))
        if refusals:
            raise PermitRefused(
                "; ".join(r.message for r in refusals),
                field=refusals[0].field,
                details=[
                    {"code": r.code, "message": r.message, "field": r.field} for r in refusals
                ],
            )
        changes = []
        for c in before["corridors"]:
            change = await places.save_fence(
                conn,
                c["geometry"],
                role="corridor",
                name=f"permit {permit_id}",
                fence_id=c["fence_id"],
                half_width_m=c["half_width_m"],
            )
            await repo.set_corridor_fence(conn, c["id"], change.id)
            changes.append(change)
        await repo.set_state(conn, permit_id, PermitState.approved, None)
        after = (await repo.load(conn, permit_id=permit_id))[0]
        await audit.record(conn, who, "approve", "permit", permit_id, before, after)
    return after, changes


async def expire_due(conn: AConn) -> list[FenceChange]:
    """Mark approved permits past their last day expired and take their corridors out."""
    changes: list[FenceChange] = []
    async with conn.transaction():
        for permit_id in await repo.expired_ids(conn):
            before = (await repo.load(conn, permit_id=permit_id))[0]
            await repo.set_state(conn, permit_id, PermitState.expired, "validity ended")
            changes += await _retire_corridors(conn, before)
            await audit.record(
                conn,
                SYSTEM,
                "expire",
                "permit",
                permit_id,
                {"state": "approved"},
                {"state": "expired"},
            )
    return changes


async def _retire_corridors(conn: AConn, permit: Row) -> list[FenceChange]:
    changes = []
    for c in permit["corridors"]:
        if c["fence_id"] is not None:
            retired = await places.retire_fence(conn, c["fence_id"])
            if retired is not None:
                changes.append(retired)
    return changes

"""Blacklist rules: manual listing and delisting, appeals, credit, and the expiry task.

Credit score (0-100) of a company over the policy window: 100 − ``score_points_weight`` × its
vehicles' points per active vehicle − ``score_listing_penalty`` × listings of its vehicles begun
in the window (not counting listings an appeal overturned). Grades: A ≥ 90, B ≥ 80, C ≥ 60,
D below (docs/DOMAIN.md §4).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal
from tracker.blacklist import repo
from tracker.blacklist.models import AppealIn, ListingIn, PolicyIn
from tracker.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)
AConn = psycopg.AsyncConnection[Any]
Row = dict[str, Any]
GRADES = ((90.0, "A"), (80.0, "B"), (60.0, "C"))


def grade(score: float) -> str:
    return next((g for floor, g in GRADES if score >= floor), "D")


def credit_score(points: int, vehicles: int, listings: int, cfg: Row) -> float:
    per_vehicle = points / max(vehicles, 1)
    score = 100.0 - float(cfg["score_points_weight"]) * per_vehicle
    score -= float(cfg["score_listing_penalty"]) * listings
    return round(min(max(score, 0.0), 100.0), 1)


async def visible_vehicle(conn: AConn, vehicle_id: int, who: Principal) -> Row:
    row = await repo.vehicle(conn, vehicle_id)
    if row is None or not who.sees_company(row["company_id"]):
        raise NotFound(f"no vehicle {vehicle_id}", field="vehicle_id")
    return row


async def list_vehicle(conn: AConn, body: ListingIn, who: Principal) -> Row:
    if body.expires_at is not None:
        if body.expires_at.tzinfo is None:
            raise BadRequest("expires_at needs a timezone (RFC 3339)", field="expires_at")
        if body.expires_at <= datetime.now(UTC):
            raise BadRequest("expires_at is not in the future", field="expires_at")
    async with conn.transaction():
        await visible_vehicle(conn, body.vehicle_id, who)
        await conn.execute("SELECT 1 FROM vehicles WHERE id = %s FOR UPDATE", (body.vehicle_id,))
        await repo.lift_expired(conn, body.vehicle_id)
        if await repo.active_listing(conn, body.vehicle_id) is not None:
            raise Conflict(f"vehicle {body.vehicle_id} is already listed", field="vehicle_id")
        listing_id = await repo.insert_listing(
            conn, body.vehicle_id, body.reason, who.username, body.expires_at
        )
        row = await repo.listing(conn, listing_id)
        assert row is not None
        await repo.add_history(
            conn, body.vehicle_id, who.username, "listed", listing_id=listing_id,
            detail={"source": "manual", "reason": body.reason},
        )  # fmt: skip
        await audit.record(conn, who, "list", "blacklist_listing", listing_id, None, row)
    return row


async def delist(conn: AConn, listing_id: int, reason: str, who: Principal, how: str) -> Row:
    """Lift an active listing by hand (``how`` 'manual') or by an upheld appeal."""
    before = await repo.listing(conn, listing_id, lock=True)
    if before is None or not who.sees_company(before["company_id"]):
        raise NotFound(f"no listing {listing_id}", field="listing_id")
    if not before["active"]:
        raise Conflict(f"listing {listing_id} is no longer active", field="listing_id")
    await repo.lift(conn, listing_id, who.username, how, reason)
    after = await repo.listing(conn, listing_id)
    assert after is not None
    await repo.add_history(
        conn, before["vehicle_id"], who.username, "delisted", listing_id=listing_id,
        detail={"how": how, "reason": reason},
    )  # fmt: skip
    await audit.record(conn, who, "delist", "blacklist_listing", listing_id, before, after)
    return after


async def policy(conn: AConn) -> Row:
    return {**await repo.settings(conn), "points": await repo.points_policy(conn)}


async def set_policy(conn: AConn, body: PolicyIn, who: Principal) -> Row:
    async with conn.transaction():
        before = await policy(conn)
        changes = body.model_dump(exclude={"points"}, exclude_none=True)
        await repo.update_settings(conn, changes)
        for kind, pts in body.points.items():
            await repo.set_points(conn, kind, pts)
        after = await policy(conn)
        await audit.record(conn, who, "update", "credit_policy", None, before, after)
    return after


async def vehicle_points(conn: AConn, vehicle_id: int, who: Principal, limit: int) -> Row:
    vehicle = await visible_vehicle(conn, vehicle_id, who)
    cfg = await repo.settings(conn)
    total = await repo.points_in_window(conn, vehicle_id, cfg["window_days"])
    listing = await repo.active_listing(conn, vehicle_id)
    return {
        "vehicle_id": vehicle_id,
        "plate": vehicle["plate"],
        "points": total,
        "window_days": cfg["window_days"],
        "threshold_points": cfg["threshold_points"],
        "amber_points": cfg["amber_points"],
        "listed": listing is not None,
        "listing": listing,
        "entries": await repo.vehicle_points(conn, vehicle_id, limit),
    }


async def company_credit(conn: AConn, company_id: int, who: Principal) -> Row:
    if not who.sees_company(company_id):
        raise NotFound(f"no company {company_id}", field="company_id")
    cfg = await repo.settings(conn)
    rec = await repo.company_record(conn, company_id, cfg["window_days"])
    if rec is None:
        raise NotFound(f"no company {company_id}", field="company_id")
    score = credit_score(int(rec["points"]), int(rec["active_vehicles"]), int(rec["listings"]), cfg)
    return {
        "company_id": company_id,
        "name": rec["name"],
        "score": score,
        "grade": grade(score),
        "window_days": cfg["window_days"],
        "active_vehicles": int(rec["active_vehicles"]),
        "points": int(rec["points"]),
        "listings": int(rec["listings"]),
        "listed_now": int(rec["listed_now"]),
    }


async def file_appeal(conn: AConn, body: AppealIn, who: Principal) -> Row:
    async with conn.transaction():
        if body.listing_id is not None:
            target = await repo.listing(conn, body.listing_id)
            if target is None or not who.sees_company(target["company_id"]):
                raise NotFound(f"no listing {body.listing_id}", field="listing_id")
            if not target["active"]:
                raise Conflict("the listing is no longer active", field="listing_id")
        else:
            assert body.incident_id is not None
            target = await repo.incident_points(conn, body.incident_id)
            if target is None or not who.sees_company(target["company_id"]):
                raise NotFound(
                    f"no confirmed incident {body.incident_id} with points", field="incident_id"
                )
            if target["voided_at"] is not None:
                raise Conflict("the incident's points are already void", field="incident_id")
        if await repo.pending_appeal(conn, body.listing_id, body.incident_id) is not None:
            raise Conflict("an appeal against it is pending", field="listing_id")
        row = await repo.insert_appeal(
            conn, target["company_id"], target["vehicle_id"], body.listing_id,
            body.incident_id, body.statement, who.username,
        )  # fmt: skip
        await repo.add_history(
            conn, row["vehicle_id"], who.username, "appeal_filed", appeal_id=row["id"],
            listing_id=body.listing_id, detail={"incident_id": body.incident_id},
        )  # fmt: skip
        await audit.record(conn, who, "file", "appeal", row["id"], None, row)
    return row


async def decide_appeal(
    conn: AConn, appeal_id: int, uphold: bool, note: str, who: Principal
) -> Row:
    """Reject, or uphold: lift the listing, or void the incident's points (and lift an automatic
    listing they no longer justify)."""
    async with conn.transaction():
        before = await repo.appeal(conn, appeal_id, lock=True)
        if before is None:
            raise NotFound(f"no appeal {appeal_id}", field="appeal_id")
        if before["status"] != "pending":
            raise Conflict(f"appeal {appeal_id} is already {before['status']}", field="status")
        if uphold:
            await _uphold(conn, before, note, who)
        status = "upheld" if uphold else "rejected"
        await repo.decide_appeal(conn, appeal_id, status, who.username, note)
        after = await repo.appeal(conn, appeal_id)
        assert after is not None
        await repo.add_history(
            conn, before["vehicle_id"], who.username, f"appeal_{status}", appeal_id=appeal_id,
            listing_id=before["listing_id"], detail={"note": note},
        )  # fmt: skip
        await audit.record(conn, who, status, "appeal", appeal_id, before, after)
    return after


async def _uphold(conn: AConn, appeal: Row, note: str, who: Principal) -> None:
    if appeal["listing_id"] is not None:
        listing = await repo.listing(conn, appeal["listing_id"])
        if listing is not None and listing["active"]:
            await delist(conn, appeal["listing_id"], f"appeal upheld: {note}", who, "appeal")
        return
    voided = await repo.void_points(conn, appeal["incident_id"], who.username)
    if voided is None:
        return
    await repo.add_history(
        conn, appeal["vehicle_id"], who.username, "points_voided",
        appeal_id=appeal["id"], detail={"incident_id": voided["incident_id"],
                                        "points": voided["points"]},
    )  # fmt: skip
    cfg = await repo.settings(conn)
    listing = await repo.active_listing(conn, appeal["vehicle_id"])
    total = await repo.points_in_window(conn, appeal["vehicle_id"], cfg["window_days"])
    if listing is not None and listing["source"] == "auto" and total < cfg["threshold_points"]:
        await delist(conn, listing["id"], f"points below threshold after appeal: {note}", who,
                     "appeal")  # fmt: skip


async def lift_expired(pool: AsyncConnectionPool[Any]) -> int:
    """Record the lifting of listings past their expiry (reads already treat them as lifted);
    the maintenance task ``blacklist-expiry`` (tracker.maintenance)."""
    async with pool.connection() as conn, conn.transaction():
        return await repo.lift_expired(conn)

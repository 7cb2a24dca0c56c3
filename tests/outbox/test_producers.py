"""Producers: each change that must reach someone writes its event in its own transaction."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import psycopg
import pytest

from tracker.outbox.notices import credit_grades, permits_expiring
from tracker.wire import OUTBOX_EVENT_TYPES

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _events(db: psycopg.Connection[Any]) -> list[tuple[str, Any, Any, dict[str, Any]]]:
    return db.execute(
        "SELECT type, company_id, vehicle_id, payload FROM outbox_events ORDER BY id"
    ).fetchall()


def _incident(db: psycopg.Connection[Any], iid: str, kind: str, vehicle_id: int, **kw: Any) -> None:
    company = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,)).fetchone()
    assert company is not None
    db.execute(
        """INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at,
                                  detected_at, late, status)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (iid, kind, vehicle_id, company[0], T0, T0, kw.get("late", False),
         kw.get("status", "open")),
    )  # fmt: skip


def test_every_type_the_database_emits_is_declared() -> None:
    text = resources.files("tracker.sql").joinpath("0015_outbox.sql").read_text("utf-8")
    emitted = set(
        re.findall(r"'((?:incident|permit|vehicle|yard|terminal|company)\.[a-z_]+)'", text)
    )
    emitted |= {f"permit.{s}" for s in ("approved", "rejected", "suspended")}  # 'permit.' || state
    assert emitted and emitted <= set(OUTBOX_EVENT_TYPES)


def test_incident_lifecycle_and_terminal_offline(
    db: psycopg.Connection[Any], fleet: Any, outbox_clean: None
) -> None:
    vehicle_id, _ = fleet.truck("粤B30001")
    _incident(db, "i-1", "speeding", vehicle_id)
    _incident(db, "i-late", "speeding", vehicle_id, late=True)  # stored, not alarmed
    _incident(db, "i-2", "terminal_offline", vehicle_id)
    db.execute("UPDATE incidents SET status = 'confirmed', note = '属实' WHERE incident_id = 'i-1'")
    db.execute("UPDATE incidents SET note = 'x' WHERE incident_id = 'i-1'")  # no status change
    db.execute("UPDATE incidents SET status = 'closed' WHERE incident_id = 'i-1'")
    db.execute("UPDATE incidents SET status = 'dismissed' WHERE incident_id = 'i-2'")
    kinds = [(t, p.get("incident_id")) for t, _c, _v, p in _events(db)]
    assert kinds == [
        ("incident.opened", "i-1"),
        ("incident.opened", "i-2"),
        ("terminal.offline", "i-2"),
        ("incident.escalated", "i-1"),
        ("incident.closed", "i-1"),
        ("incident.retracted", "i-2"),
    ]
    assert all(v == vehicle_id and c is not None for _t, c, v, _p in _events(db))
    assert _events(db)[0][3]["plate"] == "粤B30001"


def test_points_near_threshold_once_and_blacklisting(
    db: psycopg.Connection[Any], fleet: Any, outbox_clean: None
) -> None:
    vehicle_id, _ = fleet.truck("粤B30002")
    for i, kind in enumerate(["wrong_yard", "route_deviation", "speeding"]):  # 6, 9, 11 points
        _incident(db, f"p-{i}", kind, vehicle_id, status="confirmed")
    near = [p for t, _c, _v, p in _events(db) if t == "vehicle.points_near_threshold"]
    assert [(p["points"], p["threshold_points"]) for p in near] == [(9, 12)]
    _incident(db, "p-3", "speeding", vehicle_id, status="confirmed")  # 13: listed by the trigger
    listed = [p for t, _c, _v, p in _events(db) if t == "vehicle.listed"]
    assert len(listed) == 1 and listed[0]["source"] == "auto"
    db.execute("UPDATE blacklist_listings SET lifted_at = now(), lifted_how = 'manual', "
               "lifted_by = 'x', lifted_reason = '整改完成'")  # fmt: skip
    delisted = [p for t, _c, _v, p in _events(db) if t == "vehicle.delisted"]
    assert delisted == [{**delisted[0], "reason": "整改完成", "lifted_how": "manual"}]


def _permit(db: psycopg.Connection[Any], company_id: int, valid_to: date) -> int:
    row = db.execute(
        """INSERT INTO permits (company_id, valid_from, valid_to, quota_m3, state)
           VALUES (%s, %s, %s, 100, 'submitted') RETURNING id""",
        (company_id, valid_to - timedelta(days=30), valid_to),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_permit_transitions_and_expiring_once(
    db: psycopg.Connection[Any], fleet: Any, outbox_clean: None, database_url: str
) -> None:
    vehicle_id, _ = fleet.truck("粤B30003")
    company = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,)).fetchone()
    assert company is not None
    soon = _permit(db, company[0], date(2026, 3, 4))
    later = _permit(db, company[0], date(2026, 4, 30))
    other = _permit(db, company[0], date(2026, 3, 3))
    db.execute("UPDATE permits SET state = 'approved' WHERE id IN (%s, %s)", (soon, later))
    db.execute("UPDATE permits SET state = 'rejected', reason = '材料不全' WHERE id = %s", (other,))
    assert [(t, p["permit_id"]) for t, _c, _v, p in _events(db)] == [
        ("permit.approved", soon), ("permit.approved", later), ("permit.rejected", other),
    ]  # fmt: skip

    async def twice() -> list[int]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return [await permits_expiring(conn, T0, 3), await permits_expiring(conn, T0, 3)]

    import asyncio

    assert asyncio.run(twice()) == [1, 0]  # once per permit and last day
    (expiring,) = [p for t, _c, _v, p in _events(db) if t == "permit.expiring"]
    assert expiring == {"permit_id": soon, "valid_to": "2026-03-04", "days_left": 2}


def test_yard_alert_and_credit_grade_change(
    db: psycopg.Connection[Any], fleet: Any, outbox_clean: None, database_url: str
) -> None:
    fence = db.execute(
        """INSERT INTO fences (kind, role, geometry) VALUES ('polygon', 'yard',
           '{"type": "Polygon", "coordinates": []}') RETURNING id"""
    ).fetchone()
    assert fence is not None
    yard = db.execute(
        "INSERT INTO yards (name, fence_id, capacity_m3) VALUES ('西郊', %s, 1000) RETURNING id",
        (fence[0],),
    ).fetchone()
    assert yard is not None
    db.execute("INSERT INTO yard_alerts (yard_id, level, fill_pct) VALUES (%s, 95, 95.5)", yard)
    assert [(t, p) for t, _c, _v, p in _events(db)] == [
        ("yard.fill", {"yard": "西郊", "level": 95, "fill_pct": 95.5})
    ]
    vehicle_id, _ = fleet.truck("粤B30004")

    async def grades() -> int:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await credit_grades(conn, T0)

    import asyncio

    assert asyncio.run(grades()) == 0  # the first grade is stored, not told
    _incident(db, "c-1", "dumping", vehicle_id, status="confirmed")  # 12 points, listed
    assert asyncio.run(grades()) == 1
    (changed,) = [p for t, _c, _v, p in _events(db) if t == "company.credit_changed"]
    assert changed["old_grade"] == "A" and changed["grade"] != "A"
    assert asyncio.run(grades()) == 0


@pytest.mark.parametrize("kind", sorted(OUTBOX_EVENT_TYPES))
def test_every_type_has_chinese_and_english_text(kind: str) -> None:
    from tracker.outbox.templates import DEFAULTS, render

    assert kind in DEFAULTS["zh-CN"] and kind in DEFAULTS["en"]
    title, body = render(kind, {"plate": "粤B1"}, T0)
    assert title and body and "{" not in title + body


def test_the_credit_round_does_not_block_a_companys_new_rows(
    db: psycopg.Connection[Any], fleet: Any, database_url: str, outbox_clean: None
) -> None:
    """While the round holds its companies (a second process skips them), a company's new
    vehicle or user still goes in: its foreign-key check is not blocked by the round's lock."""
    vehicle_id, _ = fleet.truck("粤B30005")
    row = db.execute("SELECT company_id FROM vehicles WHERE id = %s", (vehicle_id,)).fetchone()
    assert row is not None
    company_id = row[0]
    db.commit()

    async def round_then_insert() -> None:
        held = await psycopg.AsyncConnection.connect(database_url)
        async with held, held.transaction():
            await credit_grades(held, T0)  # its row locks are kept until this commits
            async with await psycopg.AsyncConnection.connect(
                database_url, autocommit=True
            ) as other:
                await other.execute("SET lock_timeout = '2s'")
                await other.execute(
                    "INSERT INTO users (username, password_hash, role, company_id)"
                    " VALUES ('credit-round-user', 'unusable', 'company_user', %s)",
                    (company_id,),
                )
                skipped = await other.execute(
                    "SELECT id FROM companies WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                    (company_id,),
                )
                assert await skipped.fetchall() == []  # a second round skips it

    import asyncio

    asyncio.run(round_then_insert())

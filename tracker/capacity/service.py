"""Yard fill, forecast and alerts.

Forecast: the inflow is the trips' volume booked in the last ``inflow_days`` (14 by default)
divided by that many days, or by the days since the yard was registered when that is shorter
(at least one); ``days_to_full`` is the remaining volume over that rate (null with no inflow,
0 once full). Adjustments do not count as inflow.

Alerts: each of 80, 95 and 100 % raises one alert when the fill crosses it upwards. The level a
yard stands at is stored; when the fill falls back below a level (an excavation, a survey), the
level drops too, so the next crossing alerts again. Alerts are written first (an outbox) and
published (``tracker.wire.YardAlert``) after the commit; one that could not be sent is sent
next round.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from redis.exceptions import RedisError

from tracker.capacity import repo
from tracker.capacity.models import ALERT_LEVELS, FillPoint, YardCapacity, YardCapacityDetail
from tracker.wire import Channel, YardAlert, channel, rfc3339

log = logging.getLogger(__name__)
AConn = psycopg.AsyncConnection[Any]


def fill_pct(fill_m3: float, capacity_m3: float) -> float:
    return round(100.0 * fill_m3 / capacity_m3, 2) if capacity_m3 > 0 else 100.0


def level_of(pct: float) -> int:
    """The highest alert level ``pct`` has reached (0: none)."""
    return max((lv for lv in ALERT_LEVELS if pct >= lv), default=0)


def crossings(stood_at: int, pct: float) -> list[int]:
    """The levels crossed upwards from ``stood_at`` to ``pct``."""
    return [lv for lv in ALERT_LEVELS if stood_at < lv <= pct]


def capacity_of(row: dict[str, Any]) -> YardCapacity:
    capacity, fill = float(row["capacity_m3"]), float(row["fill_m3"])
    remaining = max(capacity - fill, 0.0)
    inflow = inflow_per_day(row)
    if remaining <= 0:
        days_to_full: float | None = 0.0
    else:
        days_to_full = round(remaining / inflow, 1) if inflow > 0 else None
    return YardCapacity(
        yard_id=row["yard_id"],
        name=row["name"],
        capacity_m3=capacity,
        fill_m3=round(fill, 3),
        remaining_m3=round(remaining, 3),
        fill_pct=fill_pct(fill, capacity),
        status="closed" if fill >= capacity else "open",
        days_to_full=days_to_full,
    )


def inflow_per_day(row: dict[str, Any]) -> float:
    return round(float(row["inflow_m3"]) / float(row["window_days"]), 3)


async def all_yards(conn: AConn, inflow_days: int) -> list[YardCapacity]:
    return [capacity_of(r) for r in await repo.yards(conn, inflow_days)]


async def one_yard(
    conn: AConn, yard_id: int, inflow_days: int, history_days: int
) -> YardCapacityDetail | None:
    rows = await repo.yards(conn, inflow_days, yard_id)
    if not rows:
        return None
    base = capacity_of(rows[0])
    points = [FillPoint(**p) for p in await repo.history(conn, yard_id, history_days)]
    return YardCapacityDetail(
        **base.model_dump(), inflow_m3_per_day=inflow_per_day(rows[0]), history=points
    )


async def check_alerts(conn: AConn) -> int:
    """Fold new ledger rows, record the alerts of every level crossed; returns how many."""
    raised = 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (repo.CAPACITY_LOCK,))
        await repo.fold(conn)
        for row in await repo.alert_states(conn):
            pct = fill_pct(float(row["fill_m3"]), float(row["capacity_m3"]))
            for lv in crossings(int(row["alert_level"]), pct):
                await repo.record_alert(conn, row["yard_id"], lv, pct)
                raised += 1
            if level_of(pct) != row["alert_level"]:
                await repo.set_alert_level(conn, row["yard_id"], level_of(pct))
    return raised


def alert_message(alert: dict[str, Any]) -> bytes:
    level = int(alert["level"])
    at: datetime = alert["at"]
    closed = level >= 100
    return YardAlert(
        int(alert["yard_id"]), level, float(alert["fill_pct"]), closed, rfc3339(at)
    ).encode()


async def publish_alerts(conn: AConn, redis: aioredis.Redis) -> list[dict[str, Any]]:
    """Send the stored alerts not sent yet; mark them sent."""
    async with conn.transaction():
        pending = await repo.unpublished_alerts(conn)
        sent: list[int] = []
        yards = channel(redis, Channel.YARDS)
        try:
            for alert in pending:
                await redis.publish(yards, alert_message(alert))
                sent.append(int(alert["id"]))
        except RedisError as exc:  # the rest stay in the outbox for the next round
            log.warning("yard alert publish failed: %s", exc)
        if sent:
            await repo.mark_published(conn, sent)
    return [a for a in pending if int(a["id"]) in sent]


async def refresh(pool: AsyncConnectionPool[Any], redis: aioredis.Redis) -> Sequence[Any]:
    """One round (the maintenance task ``yard-capacity``): fold, alert, publish. Returns the
    alerts sent."""
    async with pool.connection() as conn:
        await check_alerts(conn)
        return await publish_alerts(conn, redis)

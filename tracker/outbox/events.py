"""The producers' side: one function, :func:`emit`, in the producer's own transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg

from tracker.wire import OUTBOX_EVENT_TYPES

AConn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event for the outside world. The subject keys decide who hears it (subscription
    scopes); ``dedupe_key`` makes a producer that may run twice emit once."""

    type: str
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    company_id: int | None = None
    vehicle_id: int | None = None
    yard_id: int | None = None
    district: str | None = None
    dedupe_key: str | None = None

    def __post_init__(self) -> None:
        if self.type not in OUTBOX_EVENT_TYPES:
            raise ValueError(f"unknown outbox event type {self.type!r}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")


async def emit(conn: AConn, event: OutboxEvent) -> int | None:
    """Write ``event`` in ``conn``'s open transaction: it is delivered only if that commits.
    Returns the event id (None: its ``dedupe_key`` was emitted before)."""
    cur = await conn.execute(
        "SELECT outbox_emit(%s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
        (
            event.type,
            event.occurred_at,
            event.company_id,
            event.vehicle_id,
            event.yard_id,
            event.district,
            orjson.dumps(event.payload, option=orjson.OPT_NON_STR_KEYS).decode(),
            event.dedupe_key,
        ),
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])

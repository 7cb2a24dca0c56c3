"""``GET /api/v1/quarantine``: the fixes the pipeline refused, per terminal, for the officers.

Every account reads (company users only their own company's vehicles). One entry per terminal,
newest refusal first: its counts per reason and field, first and last refusal, and the newest
samples of what was sent (tracker.ingest.quarantine).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tracker.accounts.models import Role
from tracker.deps import PlatformDep, StaffDep
from tracker.errors import BadRequest
from tracker.ingest.quarantine import REASONS
from tracker.times import parse_time

_REASON_KEYS = ("reason", "field", "protocol", "refused", "first_received_at",
                "last_received_at", "samples")  # fmt: skip
router = APIRouter(prefix="/api/v1", tags=["quarantine"])

_QUERY = """
WITH rows AS (
    SELECT q.*, t.identity, v.plate, v.company_id
      FROM ingest_quarantine q
      JOIN terminals t ON t.id = q.terminal_id
      LEFT JOIN vehicles v ON v.id = coalesce(q.vehicle_id, t.vehicle_id)
     WHERE (%(terminal_id)s::bigint IS NULL OR q.terminal_id = %(terminal_id)s)
       AND (%(vehicle_id)s::bigint IS NULL OR q.vehicle_id = %(vehicle_id)s)
       AND (%(reason)s::text IS NULL OR q.reason = %(reason)s)
       AND (%(since)s::timestamptz IS NULL OR q.last_received_at >= %(since)s)
       AND (%(company_id)s::bigint IS NULL OR v.company_id = %(company_id)s)
), chosen AS (
    SELECT terminal_id FROM rows GROUP BY terminal_id
     ORDER BY max(last_received_at) DESC, terminal_id LIMIT %(limit)s
)
SELECT r.terminal_id, min(r.identity) AS identity, max(r.vehicle_id) AS vehicle_id,
       min(r.plate) AS plate, r.protocol, r.reason, r.field, sum(r.refused)::bigint AS refused,
       min(r.first_received_at) AS first_received_at,
       max(r.last_received_at) AS last_received_at,
       (array_agg(r.samples ORDER BY r.day DESC))[1] AS samples
  FROM rows r JOIN chosen USING (terminal_id)
 GROUP BY r.terminal_id, r.protocol, r.reason, r.field
 ORDER BY max(r.last_received_at) DESC
"""


@router.get(
    "/quarantine",
    summary="Refused fixes per terminal: counts by reason, first and last, samples",
    description="Every fix the ingest pipeline refused (validation, noise filters, a different "
    "position for a second already stored: `conflicting_duplicate`), whichever protocol, kept "
    f"with its reason. Reasons: {', '.join(REASONS)}. `since` (RFC 3339) keeps what was refused "
    "since then (per day and reason: rows whose last refusal is newer). Company users see their "
    "own company's vehicles only.",
)
async def list_quarantine(
    platform: PlatformDep,
    who: StaffDep,
    terminal_id: int | None = None,
    vehicle_id: int | None = None,
    reason: str | None = None,
    since: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    if reason is not None and reason not in REASONS:
        raise BadRequest(f"unknown reason; one of {', '.join(REASONS)}", field="reason")
    since_at: datetime | None = None
    if since is not None:
        try:
            parsed = parse_time(since)
        except (OverflowError, ValueError):
            parsed = "out of range"
        if isinstance(parsed, str):
            raise BadRequest(parsed, field="since")
        since_at = parsed
    params = {
        "terminal_id": terminal_id,
        "vehicle_id": vehicle_id,
        "reason": reason,
        "since": since_at,
        "company_id": who.company_id if who.role == Role.company_user else None,
        "limit": limit,
    }
    if who.role == Role.company_user and who.company_id is None:
        return []
    async with platform.pool.connection() as conn:
        cur = await conn.execute(_QUERY, params)
        names = [d.name for d in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in await cur.fetchall()]
    terminals: dict[int, dict[str, Any]] = {}
    for r in rows:
        entry = terminals.setdefault(
            r["terminal_id"],
            {
                "terminal_id": r["terminal_id"],
                "identity": r["identity"],
                "vehicle_id": r["vehicle_id"],
                "plate": r["plate"],
                "refused": 0,
                "first_received_at": r["first_received_at"],
                "last_received_at": r["last_received_at"],
                "reasons": [],
            },
        )
        entry["refused"] += r["refused"]
        entry["first_received_at"] = min(entry["first_received_at"], r["first_received_at"])
        entry["last_received_at"] = max(entry["last_received_at"], r["last_received_at"])
        entry["reasons"].append(
            {
                k: r[k]
                for k in (
                    "reason",
                    "field",
                    "protocol",
                    "refused",
                    "first_received_at",
                    "last_received_at",
                    "samples",
                )
            }
        )
    return list(terminals.values())

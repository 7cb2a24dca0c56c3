"""``GET /api/v1/kpi``: the fleet KPIs regulators track (docs/DOMAIN.md §5) for a time window.

Online and install rates are as of ``to``; data quality, incidents and trips cover
``[from, to)``. A company user sees its own company's figures only.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import psycopg
from fastapi import APIRouter, Query

from tracker.accounts.models import Principal, Role
from tracker.deps import PlatformDep, StaffDep
from tracker.errors import BadRequest, Unavailable
from tracker.kpi import repo
from tracker.kpi.models import (
    CompanyCount,
    FleetKpi,
    IncidentKpi,
    Kpi,
    QualityBucket,
    QualityKpi,
    TripKpi,
    TypeCount,
)
from tracker.times import to_utc

router = APIRouter(prefix="/api/v1", tags=["kpi"])
MAX_WINDOW = timedelta(days=31)
DEFAULT_WINDOW = timedelta(hours=24)
STATEMENT_TIMEOUT_MS = 30_000


def _ratio(part: float, whole: float) -> float | None:
    return None if not whole else round(part / whole, 6)


BUCKETS = {
    "5 minutes": timedelta(minutes=5),
    "1 hour": timedelta(hours=1),
    "1 day": timedelta(days=1),
}


def _bucket(span: timedelta) -> str:
    if span <= timedelta(hours=3):
        return "5 minutes"
    if span <= timedelta(days=2):
        return "1 hour"
    return "1 day"


def _every_bucket(
    rows: list[repo.Row], begin: datetime, end: datetime, size: str
) -> list[QualityBucket]:
    """Every bucket of the window, empty ones as zeros (``time_bucket`` aligns to the epoch)."""
    step = BUCKETS[size].total_seconds()
    found = {r["at"]: r for r in rows}
    at = datetime.fromtimestamp(math.floor(begin.timestamp() / step) * step, UTC)
    out: list[QualityBucket] = []
    while at < end:
        r = found.get(at, {})
        counts = {k: r.get(k, 0) for k in ("fixes", "invalid", "filtered", "gaps")}
        out.append(QualityBucket(at=at, **counts))
        at += BUCKETS[size]
    return out


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The checked ``[from, to)``: timezone-aware, in range (tracker.times), in order, at most
    31 days."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise BadRequest(f"{name} needs a timezone (RFC 3339, e.g. ...Z)", field=name)
        if value is not None and isinstance(problem := to_utc(value), str):
            raise BadRequest(problem, field=name)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise BadRequest("from must be before to", field="from")
    if end - start > MAX_WINDOW:
        raise BadRequest("the window is at most 31 days", field="from")
    return start.astimezone(UTC), end.astimezone(UTC)


def _scope(principal: Principal, company_id: int | None) -> int | None:
    return principal.company_id if principal.role == Role.company_user else company_id


def _fleet(row: repo.Row, online_min: int) -> FleetKpi:
    registered = int(row["registered"])
    return FleetKpi(
        registered=registered,
        with_terminal=row["with_terminal"],
        install_rate=_ratio(row["with_terminal"], registered),
        online=row["online"],
        online_rate=_ratio(row["online"], registered),
        online_window_min=online_min,
    )


def _quality(
    total: repo.Row, by_time: list[QualityBucket], span: timedelta, gap_s: float, move_m: float,
    size: str,
) -> QualityKpi:  # fmt: skip
    fixes = int(total.get("fixes") or 0)
    reporting = int(total["reporting"])
    hours = span.total_seconds() / 3600
    tracked = float(total.get("tracked_s") or 0)
    gap_time = float(total.get("gap_time_s") or 0)
    steps = int(total.get("steps") or 0)
    return QualityKpi(
        fixes=fixes,
        reporting_vehicles=reporting,
        fixes_per_vehicle_h=None if not reporting else round(fixes / reporting / hours, 2),
        mean_fix_interval_s=None if not steps else round(float(total["step_time_s"]) / steps, 1),
        quality_rate=_ratio(total.get("good") or 0, fixes),
        invalid_share=_ratio(total.get("invalid") or 0, fixes),
        filtered_share=_ratio(total.get("filtered") or 0, fixes),
        drift_share=_ratio(total.get("drift") or 0, fixes),
        gaps=int(total.get("gaps") or 0),
        gap_time_s=round(gap_time, 1),
        track_completeness=None if not tracked else round(max(0.0, 1 - gap_time / tracked), 6),
        gap_s=gap_s,
        move_m=move_m,
        bucket=size,
        rollup_hours=int(total.get("rollup_hours") or 0),
        by_time=by_time,
    )


@router.get("/kpi", summary="Fleet KPIs: online rate, data quality, incidents, trips")
async def kpi(
    platform: PlatformDep,
    principal: StaffDep,
    start: Annotated[
        datetime | None, Query(alias="from", description="RFC 3339; default: to - 24 h")
    ] = None,
    to: Annotated[datetime | None, Query(description="RFC 3339, exclusive; default: now")] = None,
    company_id: int | None = None,
    online_min: Annotated[
        int, Query(ge=1, le=1440, description="online: a fix in this many minutes before to")
    ] = 10,
    gap_s: Annotated[
        float, Query(ge=10, le=86400, description="a step longer than this may be a gap")
    ] = 120,
    move_m: Annotated[
        float, Query(ge=0, le=100_000, description="a long step is a gap if the truck moved more")
    ] = 200,
) -> Kpi:
    begin, end = window(start, to)
    company = _scope(principal, company_id)
    size = _bucket(end - begin)
    started = time.perf_counter()
    try:
        async with platform.pool.connection() as conn, conn.transaction():
            await repo.prepare(conn, STATEMENT_TIMEOUT_MS)
            online_since = end - timedelta(minutes=online_min)
            fleet = await repo.fleet(conn, end, online_since, company)
            total, buckets = await repo.quality(
                conn, begin, end, company, gap_s=gap_s, move_m=move_m, bucket=size
            )
            by_type, by_company = await repo.incidents(conn, begin, end, company)
            trips = await repo.trips(conn, begin, end, company)
    except psycopg.errors.QueryCanceled:
        raise Unavailable(
            "the KPI queries took too long: ask for a shorter window", field="from"
        ) from None
    return Kpi(
        start=begin,
        to=end,
        company_id=company,
        query_ms=round((time.perf_counter() - started) * 1000, 1),
        fleet=_fleet(fleet, online_min),
        data_quality=_quality(
            total, _every_bucket(buckets, begin, end, size), end - begin, gap_s, move_m, size
        ),
        incidents=IncidentKpi(
            total=sum(r["count"] for r in by_type),
            by_type=[TypeCount(**r) for r in by_type],
            by_company=[CompanyCount(**r) for r in by_company],
        ),
        trips=TripKpi(**trips),
    )

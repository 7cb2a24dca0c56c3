"""Export endpoints: ``GET /api/v1/exports/{kind}`` streams an export as it is read, and
``/api/v1/exports/jobs`` runs a long one off the request with progress. Scoped like the list
endpoints (tracker.exports.datasets), limited in period and rows, audited (who, what, scope)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tracker.accounts import repo as audit
from tracker.accounts.models import Principal
from tracker.deps import PlatformDep, StaffDep
from tracker.errors import Conflict, NotFound, TooManyRequests
from tracker.exports import datasets, formats, jobs
from tracker.exports.datasets import ExportParams, ExportQuery
from tracker.exports.stream import count_rows, export_bytes

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
Format = Literal["csv", "xlsx", "gpx", "kml", "geojson"]
Language = Literal["zh", "en"]
_slots: dict[int, asyncio.Semaphore] = {}  # per platform: exports streaming at once


class ExportJobIn(BaseModel):
    kind: str = Field(min_length=1, max_length=32)
    format: Format = "csv"
    headers: Language = "zh"
    params: ExportParams = ExportParams()


def _disposition(q: ExportQuery, fmt: str) -> str:
    name = f"{q.filename}.{fmt}"
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"


async def _prepare(
    platform: PlatformDep, who: Principal, kind: str, fmt: str, params: ExportParams, how: str
) -> tuple[ExportQuery, int]:
    """Build, count and audit one export (before any byte is sent)."""
    cfg = platform.settings.exports
    q = datasets.build(kind, fmt, params, who, cfg)
    total = await count_rows(platform.pool, q, cfg.max_rows)
    scope = {k: v for k, v in q.params.items() if k not in ("since", "until", "sample_s")}
    record = {
        "kind": kind,
        "format": fmt,
        "how": how,
        "rows": total,
        "since": q.params["since"].isoformat(),
        "until": q.params["until"].isoformat(),
        "scope": scope,
    }
    async with platform.pool.connection() as conn, conn.transaction():
        await audit.record(conn, who, "export", "export", None, None, record)
    return q, total


@router.get(
    "/{kind}",
    summary="Stream an export: tracks as CSV, GPX, KML, GeoJSON; tables as CSV or XLSX",
    description="`kind`: track (vehicle_id, since, until ≤ 31 days), incidents, trips, "
    "blacklist, blacklist-history, yard-ledger (yard_id), cases (unit_id, status, type; "
    "scoped like the case queue). Headers are Chinese unless "
    "`headers=en`; table times are the city's local time, the track's `time_utc` is UTC. "
    "Audited; at most `exports.max_rows` rows (400 naming `until` beyond).",
    response_class=StreamingResponse,
)
async def export(
    kind: str,
    platform: PlatformDep,
    who: StaffDep,
    params: Annotated[ExportParams, Query()],
    format: Format = "csv",
    headers: Language = "zh",
) -> StreamingResponse:
    cfg = platform.settings.exports
    slots = _slots.setdefault(id(platform), asyncio.Semaphore(cfg.concurrent))
    if slots.locked():
        raise TooManyRequests("too many exports running; retry or start a job", retry_after_s=5)
    q, total = await _prepare(platform, who, kind, format, params, "stream")
    zone = ZoneInfo(platform.settings.city_tz)

    async def body() -> AsyncIterator[bytes]:
        async with slots:
            async for chunk in export_bytes(
                platform.pool, q, format, headers, zone, cfg.batch_rows
            ):
                yield chunk

    return StreamingResponse(
        body(),
        media_type=formats.MEDIA_TYPES[format],
        headers={"Content-Disposition": _disposition(q, format), "X-Export-Rows": str(total)},
    )


@router.post(
    "/jobs",
    status_code=202,
    summary="Start an export job (for long exports): poll it, then fetch its file",
)
async def start_job(body: ExportJobIn, platform: PlatformDep, who: StaffDep) -> dict[str, Any]:
    if len(jobs._running) >= platform.settings.exports.concurrent:
        raise TooManyRequests("too many export jobs running; retry later", retry_after_s=10)
    q, total = await _prepare(platform, who, body.kind, body.format, body.params, "job")
    job = await jobs.create(
        platform.pool,
        platform.settings,
        who,
        body.kind,
        body.format,
        body.params.model_dump(mode="json", exclude_none=True),
        total,
    )
    jobs.start(platform.pool, platform.settings, job["id"], q, body.format, body.headers)
    return job


@router.get("/jobs/{job_id}", summary="An export job's state and progress (rows, percent)")
async def get_job(job_id: uuid.UUID, platform: PlatformDep, who: StaffDep) -> dict[str, Any]:
    job = await jobs.get(platform.pool, job_id, who)
    if job is None:
        raise NotFound(f"no export job {job_id}", field="job_id")
    return job


@router.get(
    "/jobs/{job_id}/file",
    summary="The file of a finished export job",
    response_class=StreamingResponse,
)
async def job_file(job_id: uuid.UUID, platform: PlatformDep, who: StaffDep) -> StreamingResponse:
    job = await jobs.get(platform.pool, job_id, who)
    if job is None or job["state"] == "expired":
        raise NotFound(f"no export job {job_id} (or its file expired)", field="job_id")
    if job["state"] != "done":
        raise Conflict(f"export job {job_id} is {job['state']}", field="job_id")
    path = jobs.job_path(platform.settings, job_id, job["format"])
    if not await asyncio.to_thread(path.exists):
        raise NotFound(f"the file of export job {job_id} is gone", field="job_id")

    async def chunks() -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, 256 * 1024):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    name = f"{job['kind']}-{job_id}.{job['format']}"
    return StreamingResponse(
        chunks(),
        media_type=formats.MEDIA_TYPES[job["format"]],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

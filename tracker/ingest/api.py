"""``POST /api/v1/positions``: terminals post batches of fixes over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from tracker.deps import PlatformDep
from tracker.errors import Forbidden, PayloadTooLarge, Unavailable
from tracker.ingest.http_body import fix_schema, parse_batch, validate_fix
from tracker.ingest.quarantine import Origin
from tracker.responses import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_FIX_SCHEMA = fix_schema()
_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["fixes"],
                    "properties": {
                        "vehicle_id": {"type": "integer"},
                        "fixes": {"type": "array", "items": _FIX_SCHEMA},
                    },
                }
            },
            "application/x-ndjson": {"schema": _FIX_SCHEMA},
        },
    }
}


@router.post(
    "/positions",
    openapi_extra=_OPENAPI,
    summary="Post a batch of fixes (terminal token)",
    description="Answered only after the accepted fixes are committed. One result per fix: "
    "`stored`, `duplicate` (already stored: same vehicle and fix time) or `rejected` with "
    "errors naming the field. A bad optional sensor value (speed, heading, altitude, "
    "satellites, alarm bits, the truck's signals, extra) does not cost the fix: the value is "
    "dropped and named in the fix's `dropped`. Retrying a batch is safe. When storage cannot "
    "take the batch (the writer's queue is full, the database is away or locked) or cannot answer "
    "within the request deadline (`TRACKER_INGEST_DEADLINE_S`), the answer is 503 with "
    "`Retry-After`: nothing was acknowledged, send again (a batch that was stored meanwhile is "
    "then answered `duplicate`).",
)
async def post_positions(
    request: Request,
    platform: PlatformDep,
    authorization: Annotated[str | None, Header()] = None,
    content_type: Annotated[str, Header()] = "application/json",
) -> JSONResponse:
    deadline_s = platform.settings.ingest_deadline_s
    deadline = asyncio.get_running_loop().time() + deadline_s
    try:
        async with asyncio.timeout_at(deadline):
            terminal = await platform.terminals.authenticate(authorization)
    except TimeoutError:
        raise _past_deadline(platform.settings.retry_after_s, deadline_s) from None
    limit = platform.settings.max_body_bytes
    if int(request.headers.get("content-length") or 0) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes", field="body")
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"body larger than {limit} bytes", field="body")
    batch = parse_batch(body, content_type, platform.settings.max_batch_fixes)
    if batch.vehicle_id is not None and batch.vehicle_id != terminal.vehicle_id:
        raise Forbidden("this terminal may post only for its own vehicle", field="vehicle_id")
    received_at = datetime.now(UTC)
    verdicts = [
        validate_fix(raw, terminal.vehicle_id, terminal.terminal_id, received_at)
        for raw in batch.fixes
    ]
    origin = Origin("http", terminal.terminal_id, terminal.vehicle_id)  # for the quarantine
    try:
        async with asyncio.timeout_at(deadline):
            outcome = await platform.ingest.ingest([v.item for v in verdicts], origin, batch.fixes)
    except TimeoutError:
        raise _past_deadline(platform.settings.retry_after_s, deadline_s) from None
    for result, verdict in zip(outcome.results, verdicts, strict=True):
        if verdict.dropped:
            result["dropped"] = verdict.dropped
    return JSONResponse(outcome.body())


def _past_deadline(retry_after_s: int, deadline_s: float) -> Unavailable:
    return Unavailable(
        f"not stored within the {deadline_s:g} s deadline; nothing was acknowledged, retry",
        retry_after_s=retry_after_s,
    )

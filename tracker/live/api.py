"""``/api/v1/live`` (websocket: snapshot, then deltas) and ``GET /api/v1/fences`` for the map.

Protocol (JSON text frames; lon, lat; RFC 3339 UTC times):

- in ``{"type": "auth", "token": ...}`` first, unless the URL carries ``?token=``;
- in ``{"type": "subscribe", "id"?, "bbox"?, "company_ids"?, "vehicle_ids"?,
  "incident_types"?}``, again whenever the map moves; ``{"type": "ping"}``;
- out ``hello`` (after auth), ``snapshot`` (``id``, ``reason``, ``vehicles``, ``incidents``,
  ``yard_alerts``) after each subscribe or when a slow client's queue overflowed, then ``fixes``
  (``vehicles``: the newest fix per vehicle since the last message), ``incident``,
  ``yard_capacity`` (a disposal yard's fill alert, to every client), ``fences_changed``, ``pong``,
  ``error`` (``code``, ``message``). Authentication failures close with code 4401.

A vehicle entry carries the engine's ``state`` (one of ``tracker.wire.VEHICLE_STATES``, served
with how the map draws and names them by ``GET /api/v1/live/states``), ``trip_id``, ``permit_id``
and ``state_at`` once the engine has published them; a state change arrives as a ``fixes`` delta
with the vehicle's newest fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response, WebSocket
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from tracker.accounts.models import Principal, Role
from tracker.deps import AdminDep, Platform, PlatformDep, StaffDep, get_principal
from tracker.errors import NotFound, TrackerError, Unavailable
from tracker.live.feed import LiveFeed
from tracker.live.fences import visible_fences
from tracker.live.hub import LiveClient, LiveHub
from tracker.live.queue import Batch
from tracker.live.roads import roads_geojson
from tracker.live.subscription import SubscriptionError, parse_subscription
from tracker.permits.corridor import road_network_path
from tracker.responses import JSONResponse
from tracker.wire import VEHICLE_STATES

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["live"])
AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
MAX_MESSAGE_BYTES = 256 * 1024
SEND_INTERVAL_S = 0.2
# How the map draws (a CSS class) and names each engine state where it is not the state's own
# name; a translated page replaces the labels here.
_DRAWN_AS = {"in_incident": "incident"}
_LABELS = {"in_incident": "in incident"}


async def start(app: FastAPI) -> None:
    platform: Platform = app.state.platform
    hub = LiveHub()
    feed = LiveFeed(hub, platform.redis, platform.vehicles, platform.settings.shards)
    app.state.live_hub, app.state.live_feed = hub, feed
    await feed.start()


async def stop(app: FastAPI) -> None:
    feed: LiveFeed | None = getattr(app.state, "live_feed", None)
    if feed is not None:
        await feed.stop()


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


async def _authenticate(ws: WebSocket, platform: Platform) -> Principal | None:
    token = ws.query_params.get("token")
    if token is None:
        try:
            first = orjson.loads(await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT_S))
        except (TimeoutError, orjson.JSONDecodeError):
            first = None
        if isinstance(first, dict) and first.get("type") == "auth":
            token = str(first.get("token") or "")
    try:
        return await get_principal(platform, f"Bearer {token or ''}")
    except TrackerError as exc:
        await ws.send_text(_dumps({"type": "error", "code": exc.code, "message": str(exc)}))
        await ws.close(CLOSE_UNAUTHORIZED)
        return None


def _batch_messages(hub: LiveHub, client: LiveClient, batch: Batch) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if batch.snapshot is not None:
        vehicles, incidents = hub.snapshot(client)
        messages.append(
            {
                "type": "snapshot",
                "id": batch.snapshot,
                "reason": batch.snapshot_reason,
                "time": datetime.now(UTC),
                "vehicles": vehicles,
                "incidents": incidents,
                "yard_alerts": list(hub.yard_alerts.values()),
            }
        )
    elif batch.fixes:
        messages.append({"type": "fixes", "vehicles": batch.fixes})
    messages.extend(batch.events)
    return messages


async def _send_loop(ws: WebSocket, hub: LiveHub, client: LiveClient) -> None:
    while True:
        batch = await client.queue.take()
        for message in _batch_messages(hub, client, batch):
            await ws.send_text(orjson.dumps(message, option=orjson.OPT_UTC_Z).decode())
            client.sent_messages += 1
        client.sent_fixes += len(batch.fixes)
        # A short pause lets a busy viewport's fixes gather (and coalesce) into one message.
        await asyncio.sleep(SEND_INTERVAL_S)


def _handle(hub: LiveHub, client: LiveClient, text: str, count: int) -> None:
    try:
        message = orjson.loads(text)
        if not isinstance(message, dict):
            raise SubscriptionError("a message is a JSON object with a type")
        kind = message.get("type")
        if kind == "subscribe":
            request_id = str(message.get("id") or count)
            hub.subscribe(client, parse_subscription(message), request_id)
        elif kind == "ping":
            client.queue.put_event({"type": "pong", "time": datetime.now(UTC)})
        elif kind != "auth":
            raise SubscriptionError(f"unknown message type {kind!r}")
    except (orjson.JSONDecodeError, SubscriptionError) as exc:
        client.queue.put_event({"type": "error", "code": "bad_message", "message": str(exc)})


async def _receive_loop(ws: WebSocket, hub: LiveHub, client: LiveClient) -> None:
    count = 0
    while True:
        text = await ws.receive_text()
        count += 1
        if len(text) > MAX_MESSAGE_BYTES:
            client.queue.put_event({"type": "error", "code": "too_large", "message": "too big"})
            continue
        _handle(hub, client, text, count)


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    """Live positions and incidents for a map: subscribe, get a snapshot, then deltas."""
    platform: Platform = ws.app.state.platform
    hub: LiveHub = ws.app.state.live_hub
    await ws.accept()
    principal = await _authenticate(ws, platform)
    if principal is None:
        return
    own = principal.company_id if principal.role == Role.company_user else None
    client = hub.connect(own)
    feed: LiveFeed = ws.app.state.live_feed
    try:
        await feed.acquire()
    except TimeoutError:
        hub.disconnect(client)
        feed.release()
        await ws.close(1013)  # try again later: Redis is not answering
        return
    await ws.send_text(_dumps({"type": "hello", "role": principal.role.value, "company_id": own}))
    tasks = [
        asyncio.create_task(_send_loop(ws, hub, client)),
        asyncio.create_task(_receive_loop(ws, hub, client)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.disconnect(client)
        feed.release()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@router.get("/live/stats", summary="Live hub figures of this API process (admin)")
async def live_stats(request: Request, principal: AdminDep) -> dict[str, Any]:
    hub: LiveHub = request.app.state.live_hub
    return hub.stats()


@router.get("/live/states", summary="The engine's truck states, as the live map draws them")
async def live_states() -> dict[str, Any]:
    """Public: the states are no secret, and the page needs them before it has a token."""
    states = [
        {"state": s, "drawn_as": _DRAWN_AS.get(s, s), "label": _LABELS.get(s, s)}
        for s in VEHICLE_STATES
    ]
    return {"states": states}


@router.get("/roads", summary="The imported road network as GeoJSON (public OSM data)")
async def roads(platform: PlatformDep) -> Response:
    """What the map draws when no tile server is reachable."""
    try:
        path = road_network_path(platform.settings)
    except Unavailable:
        raise NotFound("no road network imported yet (tracker import osm FILE.pbf)") from None
    body = await asyncio.to_thread(roads_geojson, path)
    return Response(body, media_type="application/json", headers={"Cache-Control": "max-age=3600"})


@router.get(
    "/fences",
    summary="Active fences (sites, yards, zones, corridors) as GeoJSON; a company user sees its "
    "own sites and permit corridors, and the public yards and no-go zones",
)
async def fences(platform: PlatformDep, principal: StaffDep) -> JSONResponse:
    async with platform.pool.connection() as conn:
        rows = await visible_fences(conn, principal)
    features = [
        {
            "type": "Feature",
            "id": row.id,
            "geometry": row.geometry,
            "properties": {
                "id": row.id,
                "role": row.role,
                "kind": row.kind,
                "name": row.name,
                "radius_m": row.radius_m,
                "half_width_m": row.half_width_m,
                "version": row.version,
            },
        }
        for row in rows
    ]
    return JSONResponse({"type": "FeatureCollection", "count": len(features), "features": features})


WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def mount_web(app: FastAPI) -> None:
    """Serve the browser pages under ``/map`` (and send ``/`` there), when ``web/`` exists."""
    if not WEB_DIR.is_dir():
        return
    app.mount("/map", StaticFiles(directory=WEB_DIR, html=True), name="web")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/map/")

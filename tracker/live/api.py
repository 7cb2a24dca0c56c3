"""``/api/v1/live`` (websocket: snapshot, then deltas) and ``GET /api/v1/fences`` for the map.

Protocol (JSON text frames; lon, lat; RFC 3339 UTC times):

- in ``{"type": "auth", "token": ...}`` first (a token in the URL is refused: close 4400);
- in ``{"type": "subscribe", "id"?, "bbox"?, "company_ids"?, "vehicle_ids"?,
  "incident_types"?}``, again whenever the map moves; ``{"type": "ping"}``;
- out ``hello`` (after auth), ``snapshot`` (``id``, ``reason``, ``vehicles``, ``incidents``,
  ``yard_alerts``) after each subscribe or when a slow client's queue overflowed, then ``fixes``
  (``vehicles``: the newest fix per vehicle since the last message), ``incident``,
  ``yard_capacity`` (a disposal yard's fill alert, to every client), ``fences_changed``, ``pong``,
  ``error`` (``code``, ``message``). Authentication failures close with code 4401; a binary
frame with 1003 (unsupported data). The handshake is refused (HTTP 403) when the ``Origin``
header names a site other than the API's own origin (its ``Host``, or ``public_base_url``) or
one of ``web_allowed_origins``; clients that send no ``Origin`` (not browsers) are let in.

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
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Request, Response, WebSocket, WebSocketDisconnect
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
from tracker.live.sessions import LiveSessions
from tracker.live.subscription import SubscriptionError, parse_subscription
from tracker.permits.corridor import road_network_path
from tracker.responses import JSONResponse
from tracker.security import token_in_query
from tracker.settings import Settings
from tracker.wire import VEHICLE_STATES

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["live"])
AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_UNSUPPORTED_DATA = 1003
MAX_MESSAGE_BYTES = 256 * 1024
SEND_INTERVAL_S = 0.2
# How the map draws (a CSS class) and names each engine state where it is not the state's own
# name; a translated page replaces the labels here.
_DRAWN_AS = {"in_incident": "incident"}
_LABELS = {"in_incident": "in incident", "suspected": "suspected offline"}


async def start(app: FastAPI) -> None:
    platform: Platform = app.state.platform
    hub = LiveHub()
    feed = LiveFeed(hub, platform.redis, platform.vehicles, platform.settings.shards)
    app.state.live_hub, app.state.live_feed = hub, feed
    app.state.live_sessions = LiveSessions(platform.pool)
    platform.revocations.add(app.state.live_sessions)
    await feed.start()


async def stop(app: FastAPI) -> None:
    feed: LiveFeed | None = getattr(app.state, "live_feed", None)
    if feed is not None:
        await feed.stop()


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


class BinaryFrame(Exception):
    """The client sent a binary frame: the protocol is JSON text only."""


async def _receive_text(ws: WebSocket) -> str:
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise BinaryFrame
    return str(text)


def _origin_allowed(ws: WebSocket, settings: Settings) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser: Origin guards browsers' cross-site requests only
    scheme = "https" if ws.url.scheme == "wss" else "http"
    own = {f"{scheme}://{ws.headers.get('host', '')}", _origin_of(settings.public_base_url)}
    allowed = own | {_origin_of(o) for o in settings.web_allowed_origins}
    return origin.rstrip("/").lower() in allowed


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def _authenticate(ws: WebSocket, platform: Platform) -> tuple[Principal, str] | None:
    if token_in_query(ws.scope.get("query_string", b"")) is not None:
        message = 'tokens are not accepted in URLs: send {"type": "auth", "token": ...} first'
        await ws.send_text(_dumps({"type": "error", "code": "token_in_url", "message": message}))
        await ws.close(CLOSE_BAD_REQUEST)
        return None
    token = ""
    try:
        first = orjson.loads(await asyncio.wait_for(_receive_text(ws), AUTH_TIMEOUT_S))
    except (TimeoutError, orjson.JSONDecodeError):
        first = None
    if isinstance(first, dict) and first.get("type") == "auth":
        token = str(first.get("token") or "")
    try:
        return await get_principal(platform, f"Bearer {token}"), token
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
        text = await _receive_text(ws)
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
    if not _origin_allowed(ws, platform.settings):
        await ws.close(CLOSE_UNAUTHORIZED)  # before accept: the handshake gets HTTP 403
        return
    await ws.accept()
    try:
        authenticated = await _authenticate(ws, platform)
    except BinaryFrame:
        await ws.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
        return
    except WebSocketDisconnect:
        return
    if authenticated is None:
        return
    principal, token = authenticated
    sessions: LiveSessions = ws.app.state.live_sessions
    ended = sessions.open(principal.user_id, token) if principal.user_id is not None else None
    try:
        await _serve(ws, hub, principal, ended)
    finally:
        if ended is not None and principal.user_id is not None:
            sessions.close(principal.user_id, ended)


async def _serve(
    ws: WebSocket, hub: LiveHub, principal: Principal, ended: asyncio.Event | None
) -> None:
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
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(_send_loop(ws, hub, client)),
        asyncio.create_task(_receive_loop(ws, hub, client)),
    ]
    if ended is not None:
        tasks.append(asyncio.create_task(ended.wait()))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if any(not t.cancelled() and isinstance(t.exception(), BinaryFrame) for t in done):
            await ws.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
        elif ended is not None and ended.is_set():
            message = {"type": "error", "code": "unauthorized", "message": "token revoked"}
            with contextlib.suppress(Exception):
                await ws.send_text(_dumps(message))
                await ws.close(CLOSE_UNAUTHORIZED)
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

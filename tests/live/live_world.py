"""Helpers of the live tests (shared with the browser tests): the app served by uvicorn in the
test's event loop on a free port, a websocket client of the live protocol, fix posting."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from httpx import AsyncClient
from websockets.asyncio.client import ClientConnection

from tracker.app import create_app
from tracker.live.feed import LiveFeed
from tracker.live.hub import LiveHub
from tracker.settings import Settings


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    ws_url: str

    @property
    def hub(self) -> LiveHub:
        hub: LiveHub = self.app.state.live_hub
        return hub

    @property
    def feed(self) -> LiveFeed:
        feed: LiveFeed = self.app.state.live_feed
        return feed


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    live = LiveServer(app, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/api/v1/live")
    try:
        yield live
    finally:
        server.should_exit = True
        await task
        sock.close()


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def post_fix(
    http: AsyncClient, token: str, lon: float, lat: float, at: datetime | None = None, **extra: Any
) -> None:
    fix = {"time": iso(at or datetime.now(UTC)), "lon": lon, "lat": lat, **extra}
    resp = await http.post(
        "/api/v1/positions", json={"fixes": [fix]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200 and resp.json()["rejected"] == 0, resp.text


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


class Live:
    """A websocket client speaking the live protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **message: Any) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def recv(self, within_s: float = 3.0) -> dict[str, Any]:
        async with asyncio.timeout(within_s):
            message: dict[str, Any] = orjson.loads(await self.ws.recv())
        return message

    async def expect(self, kind: str, within_s: float = 3.0) -> dict[str, Any]:
        """The next message of ``kind`` (skipping others)."""
        async with asyncio.timeout(within_s):
            while True:
                message: dict[str, Any] = orjson.loads(await self.ws.recv())
                if message["type"] == kind:
                    return message

    async def subscribe(self, **filters: Any) -> dict[str, Any]:
        await self.send(type="subscribe", **filters)
        return await self.expect("snapshot")

    async def positions(self, vid: int, within_s: float = 3.0) -> dict[str, Any]:
        """The vehicle's entry in the next delta that carries it."""
        async with asyncio.timeout(within_s):
            while True:
                message = await self.expect("fixes", within_s)
                for vehicle in message["vehicles"]:
                    if vehicle["vehicle_id"] == vid:
                        return dict(vehicle)

"""Fixtures for the websocket tests: the app on a real port, an HTTP client, websockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient
from live_world import Live, LiveServer, serve
from websockets.asyncio.client import ClientConnection, connect

from tracker.settings import Settings


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve(settings) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=live.base_url) as c:
        yield c


@pytest.fixture
async def open_live(live: LiveServer) -> AsyncIterator[Any]:
    sockets: list[ClientConnection] = []

    async def opener(token: str = "test-staff", **kwargs: Any) -> Live:
        ws = await connect(live.ws_url, **kwargs)
        sockets.append(ws)
        client = Live(ws)
        await client.send(type="auth", token=token)
        hello = await client.recv()
        assert hello["type"] == "hello", hello
        return client

    yield opener
    for ws in sockets:
        await ws.close()

"""A JT/T 808 gateway on a free port, started as ``tracker gateway`` starts it (its own pool,
Redis client and ingest pipeline; no API), on TimescaleDB + Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from tracker.ingest.jt808 import repo as jt808_repo
from tracker.ingest.jt808.gateway import Jt808Gateway, gateway_process
from tracker.registry import repo
from tracker.settings import Settings

StartGateway = Callable[..., Awaitable[Jt808Gateway]]


async def _writer_connected(settings: Settings) -> None:
    """Wait until the group-commit writer's connections are set up: a writer stopped while
    connecting leaks its connection (a ResourceWarning, an error under our warning policy)."""
    query = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
             "AND state = 'idle' AND query = 'COMMIT'")  # fmt: skip
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        for _ in range(200):
            row = await (await conn.execute(query)).fetchone()
            await conn.rollback()
            if row is not None and row[0] >= settings.writer_connections:
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def start_gateway(settings: Settings) -> AsyncIterator[StartGateway]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(**jt808: Any) -> Jt808Gateway:
            options = {"host": "127.0.0.1", "port": 0, **jt808}
            cfg = settings.model_copy(update={"jt808": settings.jt808.model_copy(update=options)})
            gateway = await stack.enter_async_context(gateway_process(cfg))
            await _writer_connected(cfg)
            return gateway

        yield start


class Jt808Fleet:
    """Registers vehicles with a JT/T 808 terminal each (identity = phone)."""

    code = "c0de-42"  # the auth code stored for every terminal

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def add(self, phone: str, plate: str, model: str = "generic", registered: bool = True) -> int:
        company_id = repo.ensure_company(self.conn, "Acme Haulage")
        vehicle_id = repo.ensure_vehicle(self.conn, plate, company_id, 16.0)
        code = self.code if registered else None
        jt808_repo.ensure_jt808_terminals(self.conn, {vehicle_id: phone}, model, code)
        return vehicle_id

    def vehicle(self, plate: str) -> int:
        """A vehicle with no terminal yet (for auto-registration)."""
        company_id = repo.ensure_company(self.conn, "Acme Haulage")
        return repo.ensure_vehicle(self.conn, plate, company_id, 16.0)


@pytest.fixture
def jt808_fleet(db: psycopg.Connection[Any], clean: None) -> Jt808Fleet:
    return Jt808Fleet(db)

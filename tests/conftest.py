"""Shared fixtures: a real TimescaleDB database and a real Redis, both from ``make services``.

The session creates its own database (dropped at the end) with the production migrations, and
uses its own Redis database number; each test starts from empty tables and an empty Redis.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import redis
from httpx import ASGITransport, AsyncClient
from psycopg import sql

from tracker.app import create_app, lifespan
from tracker.db import migrate
from tracker.registry import repo
from tracker.settings import Settings

BASE_DB_URL = os.environ.get(
    "TRACKER_DATABASE_URL", "postgresql://postgres@127.0.0.1:55432/tracker"
)
BASE_REDIS_URL = os.environ.get("TRACKER_REDIS_URL", "redis://127.0.0.1:56379/0")
# Own Redis database per session (of 1-11; the benchmarks use 12-14), so suites run at once
# by different people do not flush each other's keys.
TEST_REDIS_DB = 1 + os.getpid() % 11


def _with_db(url: str, dbname: str) -> str:
    return str(psycopg.conninfo.make_conninfo(url, dbname=dbname))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"tracker_test_{os.getpid()}"
    admin = _with_db(BASE_DB_URL, "postgres")
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(f"TimescaleDB is not reachable ({exc}); run `make services` first")
    url = _with_db(BASE_DB_URL, name)
    migrate(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def redis_url() -> str:
    base = BASE_REDIS_URL.rsplit("/", 1)[0] if BASE_REDIS_URL.count("/") > 2 else BASE_REDIS_URL
    return f"{base}/{TEST_REDIS_DB}"


@pytest.fixture
def clean(database_url: str, redis_url: str) -> Iterator[None]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE pings, terminals, vehicles, companies, users, user_tokens, audit_log, "
            "sites, yards, zones, permits, fences, incidents, trips, engine_checkpoints, "
            "engine_shards, ingest_commits, yard_ledger, yard_fill, yard_alerts, vehicle_points, "
            "blacklist_listings, blacklist_history, appeals, vehicle_codes, engine_rule_overrides, "
            "kpi_vehicle_hours, kpi_vehicle_days, kpi_rollup_state, ingest_quarantine "
            "RESTART IDENTITY CASCADE"
        )
        conn.execute("SELECT credit_policy_defaults()")  # a test may have changed the policy
    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    r.close()
    yield


@pytest.fixture
def settings(database_url: str, redis_url: str, clean: None) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        migrate_on_start=False,
        staff_token="test-staff",
    )


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def rdb(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


class Fleet:
    """Registers vehicles with terminals and hands out their tokens."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def truck(self, plate: str, company: str = "Acme Haulage") -> tuple[int, str]:
        company_id = repo.ensure_company(self.conn, company)
        vehicle_id = repo.ensure_vehicle(self.conn, plate, company_id, 16.0)
        terminal_id = repo.ensure_terminal(self.conn, f"T-{plate}", vehicle_id)
        return vehicle_id, repo.issue_token(self.conn, terminal_id)


@pytest.fixture
def fleet(db: psycopg.Connection[Any], clean: None) -> Fleet:
    return Fleet(db)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with lifespan(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


@pytest.fixture
def staff() -> dict[str, str]:
    return {"Authorization": "Bearer test-staff"}


class Accounts:
    """Staff accounts with ready API tokens (no KDF work: the tokens are inserted directly)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def headers(self, role: str, company_id: int | None = None) -> dict[str, str]:
        username = f"{role}-{company_id or 0}-{secrets.token_hex(3)}"
        row = self.conn.execute(
            "INSERT INTO users (username, password_hash, role, company_id) "
            "VALUES (%s, 'unusable', %s, %s) RETURNING id",
            (username, role, company_id),
        ).fetchone()
        assert row is not None
        token = "mu_test_" + secrets.token_urlsafe(16)
        self.conn.execute(
            "INSERT INTO user_tokens (token_hash, user_id, expires_at) "
            "VALUES (%s, %s, now() + interval '1 hour')",
            (hashlib.sha256(token.encode()).digest(), row[0]),
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def accounts(db: psycopg.Connection[Any], clean: None) -> Accounts:
    return Accounts(db)

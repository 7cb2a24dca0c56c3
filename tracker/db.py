"""Database access: the connection pool and versioned migrations.

Migrations are the ``tracker/sql/NNNN_name.sql`` files, applied in order, each in its own
transaction, and recorded in ``schema_migrations``. An advisory lock lets several processes
start at once without racing. ``tracker migrate`` runs them by hand, ``tracker serve`` on start
(``migrate_on_start``); the other processes only wait for them (:func:`wait_for_schema`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg_pool import AsyncConnectionPool

from tracker.settings import Settings

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x6D75636B  # "muck"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("tracker.sql").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions in {versions}")
    return found


def migrate(conninfo: str, city_tz: str | None = None) -> list[int]:
    """Apply pending migrations; return the versions applied now. ``city_tz`` is the city's
    zone (settings.city_tz) for migrations that convert stored times (0017)."""
    applied_now: list[int] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if city_tz:
            conn.execute("SELECT set_config('tracker.city_tz', %s, false)", (city_tz,))
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    integer PRIMARY KEY,
                       name       text NOT NULL,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            done: dict[int, str] = {int(v): str(c) for v, c in rows}
            for mig in load_migrations():
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        log.warning(
                            "migration %04d_%s changed after it was applied", mig.version, mig.name
                        )
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s,%s,%s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                applied_now.append(mig.version)
                log.info("applied migration %04d_%s", mig.version, mig.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied_now


class SchemaNotReady(RuntimeError):
    """The database lacks migrations this code needs, and nobody applied them in time."""


async def missing_migrations(conninfo: str) -> list[int]:
    """The versions this code knows that the database has not applied (all when it has none)."""
    known = [mig.version for mig in load_migrations()]
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = await cur.fetchone()
        if not row or not row[0]:
            return known
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {int(r[0]) for r in await cur.fetchall()}
    return [v for v in known if v not in done]


async def wait_for_schema(conninfo: str, timeout_s: float, poll_s: float = 0.5) -> None:
    """Wait until every migration is applied (by ``tracker migrate`` or ``tracker serve``):
    processes that do not migrate (gateway, maintenance) start against a complete schema."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            missing = await missing_migrations(conninfo)
        except psycopg.OperationalError as exc:  # the database is not up yet
            why = str(exc).strip()
        else:
            if not missing:
                return
            why = f"migrations {missing} not applied"
        if loop.time() >= deadline:
            raise SchemaNotReady(
                f"{why} after {timeout_s:.0f} s; run `tracker migrate` (or start `tracker serve`)"
            )
        log.info("waiting for the schema: %s", why)
        await asyncio.sleep(poll_s)


def session_options(
    statement_timeout_s: float, lock_timeout_s: float, city_tz: str | None = None
) -> str:
    """A session's ``options``: UTC (times come back as UTC and serialise as ``…Z``), and its
    statement and lock timeouts, so no query blocks a connection for long; the city's zone
    (``city_today()`` in SQL, migration 0017) when given."""
    city = f" -c tracker.city_tz={city_tz}" if city_tz else ""
    return (
        f"-c TimeZone=UTC -c statement_timeout={int(statement_timeout_s * 1000)}"
        f" -c lock_timeout={int(lock_timeout_s * 1000)}{city}"
    )


def make_pool(settings: Settings, statement_timeout_s: float | None = None) -> AsyncConnectionPool:
    """The process's pool. A connection is checked before it is handed out (one round trip on
    an idle connection), so after a database restart no caller gets a dead one; a caller waits
    at most ``db_pool_timeout_s`` for a connection (then ``PoolTimeout``: a 503). Sessions have
    the settings' statement timeout unless ``statement_timeout_s`` is given (0: none, for the
    engine, whose catch-up reads after a long outage may take long)."""
    return AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.db_pool_size,
        open=False,
        timeout=settings.db_pool_timeout_s,
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "autocommit": True,
            "connect_timeout": max(1, int(settings.db_pool_timeout_s)),
            "options": session_options(
                settings.db_statement_timeout_s, settings.db_lock_timeout_s, settings.city_tz
            ),
        },
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker migrate", description=__doc__)
    parser.add_argument("--database-url", help="defaults to TRACKER_DATABASE_URL")
    args = parser.parse_args(argv)
    settings = Settings.load()
    applied = migrate(args.database_url or settings.database_url, settings.city_tz)
    print(f"migrations applied: {applied or 'none (up to date)'}")
    return 0

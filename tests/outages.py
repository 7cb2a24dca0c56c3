"""Cutting connections under the platform, for the outage tests: only the test's own Redis
database and PostgreSQL database, so a demo or another suite on the same servers is spared."""

from __future__ import annotations

from typing import Any

import psycopg
import redis


def cut_redis_clients(rdb: redis.Redis) -> int:
    """Every client of ``rdb``'s database but ``rdb`` itself; how many were cut."""
    dbnum = int(rdb.connection_pool.connection_kwargs.get("db", 0))
    me = rdb.client_id()
    cut = 0
    for c in rdb.client_list():
        if int(c["db"]) == dbnum and int(c["id"]) != me:
            cut += int(rdb.client_kill_filter(_id=c["id"]))
    return cut


def cut_db_sessions(db: psycopg.Connection[Any], application_name: str | None = None) -> int:
    """Every other session of ``db``'s database (of one application, if named)."""
    query = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    if application_name is not None:
        row = db.execute(query + " AND application_name = %s", (application_name,)).fetchone()
    else:
        row = db.execute(query).fetchone()
    return int(row[0]) if row else 0

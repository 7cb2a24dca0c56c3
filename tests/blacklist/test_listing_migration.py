"""Migration 0010: the old ``vehicles.blacklisted`` flag becomes manual listings, then goes.

Applied to a scratch database that holds the earlier migrations and vehicles flagged the old
way, through the same ``migrate`` that production runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tracker.db import load_migrations, migrate

ONE_TRUTH = 10  # the migration under test


@pytest.fixture
def before_one_truth(database_url: str) -> Iterator[str]:
    """A scratch database migrated up to, not including, migration 0010."""
    name = f"tracker_mig_{os.getpid()}"
    admin = str(psycopg.conninfo.make_conninfo(database_url, dbname="postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = str(psycopg.conninfo.make_conninfo(database_url, dbname=name))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for mig in load_migrations():
                if mig.version >= ONE_TRUTH:
                    break
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s,%s,%s)",
                        (mig.version, mig.name, mig.checksum),
                    )
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _vehicle(conn: psycopg.Connection[Any], plate: str, flagged: bool) -> int:
    row = conn.execute(
        "INSERT INTO vehicles (plate, company_id, rated_volume_m3, blacklisted)"
        " SELECT %s, id, 16, %s FROM companies RETURNING id",
        (plate, flagged),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_flagged_vehicles_are_listed_after_the_migration(before_one_truth: str) -> None:
    with psycopg.connect(before_one_truth, autocommit=True) as conn:
        conn.execute("INSERT INTO companies (name) VALUES ('Acme Haulage')")
        flagged = _vehicle(conn, "A-1", True)
        plain = _vehicle(conn, "A-2", False)
        both = _vehicle(conn, "A-3", True)  # flagged and already listed: keeps its listing
        conn.execute(
            "INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by)"
            " VALUES (%s, 'manual', 'forged permit', 'officer')",
            (both,),
        )
    assert migrate(before_one_truth) == [
        m.version for m in load_migrations() if m.version >= ONE_TRUTH
    ]
    with psycopg.connect(before_one_truth, autocommit=True) as conn:
        listed = conn.execute(
            "SELECT b.vehicle_id, l.source, l.reason, l.listed_by FROM blacklisted_vehicles b"
            " JOIN blacklist_listings l ON l.id = b.listing_id ORDER BY b.vehicle_id"
        ).fetchall()
        assert [(v, s) for v, s, *_ in listed] == [(flagged, "manual"), (both, "manual")]
        assert "blacklisted flag" in listed[0][2] and listed[0][3] == "system"
        assert listed[1][2] == "forged permit"
        history = conn.execute("SELECT vehicle_id, actor, action FROM blacklist_history").fetchall()
        assert history == [(flagged, "system", "listed")]
        audit = conn.execute(
            "SELECT action, entity, after->>'vehicle_id' FROM audit_log"
            " WHERE entity = 'blacklist_listing'"
        ).fetchall()
        assert audit == [("list", "blacklist_listing", str(flagged))]
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'vehicles' AND column_name = 'blacklisted'"
        ).fetchall()
        assert columns == []
        assert plain not in {v for v, *_ in listed}

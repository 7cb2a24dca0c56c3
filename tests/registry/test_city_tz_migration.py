"""Migration 0017: windows stored in UTC become the city's local wall-clock times.

Applied to a scratch database that holds the earlier migrations and UTC windows, through the
same ``migrate`` that production runs, for the default zone and for another one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tracker.db import load_migrations, migrate

CITY_TZ = 17  # the migration under test


@pytest.fixture
def before_city_tz(database_url: str) -> Iterator[str]:
    """A scratch database migrated up to, not including, migration 0017."""
    name = f"tracker_tz_{os.getpid()}"
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
                if mig.version >= CITY_TZ:
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


def _store_utc_windows(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    company = conn.execute("INSERT INTO companies (name) VALUES ('Acme') RETURNING id").fetchone()
    assert company is not None
    # 22:00-05:00 Beijing time had to be typed as 14:00-21:00 UTC
    permit = conn.execute(
        "INSERT INTO permits (company_id, valid_from, valid_to, windows, quota_m3)"
        " VALUES (%s, '2026-05-01', '2026-05-31', %s, 100) RETURNING id",
        (company[0], json.dumps([{"start": "14:00", "end": "21:00"}])),
    ).fetchone()
    fence = conn.execute(
        "INSERT INTO fences (kind, role, geometry) VALUES ('polygon', 'zone', '{}') RETURNING id"
    ).fetchone()
    assert permit is not None and fence is not None
    # Monday-Friday 23:00-01:00 UTC is Tuesday-Saturday 07:00-09:00 in Beijing; Sunday 18:00 UTC
    # is Monday 02:00
    schedule = [
        {"days": [1, 2, 3, 4, 5], "start": "23:00", "end": "01:00"},
        {"days": [7], "start": "18:00", "end": "20:30"},
    ]
    zone = conn.execute(
        "INSERT INTO zones (name, fence_id, schedule) VALUES ('School', %s, %s) RETURNING id",
        (fence[0], json.dumps(schedule)),
    ).fetchone()
    assert zone is not None
    conn.execute(
        "INSERT INTO engine_rule_overrides (scope, scope_id, rules) VALUES ('zone', %s, %s)",
        (zone[0], json.dumps({"schedule": [{"start": "00:30", "end": "02:00"}]})),
    )
    return int(permit[0]), int(zone[0]), int(company[0])


@pytest.mark.parametrize(
    ("city_tz", "permit", "schedule", "override"),
    [
        (
            None,  # Asia/Shanghai, UTC+8
            [{"start": "22:00", "end": "05:00"}],
            [
                {"days": [2, 3, 4, 5, 6], "start": "07:00", "end": "09:00"},
                {"days": [1], "start": "02:00", "end": "04:30"},
            ],
            [{"start": "08:30", "end": "10:00"}],
        ),
        (
            "America/Bogota",  # UTC-5, no daylight saving
            [{"start": "09:00", "end": "16:00"}],
            [
                {"days": [1, 2, 3, 4, 5], "start": "18:00", "end": "20:00"},
                {"days": [7], "start": "13:00", "end": "15:30"},
            ],
            [{"start": "19:30", "end": "21:00"}],
        ),
    ],
)
def test_utc_windows_become_local(
    before_city_tz: str,
    city_tz: str | None,
    permit: list[dict[str, Any]],
    schedule: list[dict[str, Any]],
    override: list[dict[str, Any]],
) -> None:
    with psycopg.connect(before_city_tz, autocommit=True) as conn:
        permit_id, zone_id, _ = _store_utc_windows(conn)
    assert migrate(before_city_tz, city_tz)[0] == CITY_TZ
    with psycopg.connect(before_city_tz, autocommit=True) as conn:
        got = conn.execute("SELECT windows FROM permits WHERE id = %s", (permit_id,)).fetchone()
        assert got == (permit,)
        got = conn.execute("SELECT schedule FROM zones WHERE id = %s", (zone_id,)).fetchone()
        assert got == (schedule,)
        got = conn.execute("SELECT rules->'schedule' FROM engine_rule_overrides").fetchone()
        assert got == (override,)
        if city_tz is None:
            # the city's day: Beijing's, whatever the session's TimeZone
            same = conn.execute(
                "SELECT city_today() = (now() AT TIME ZONE 'Asia/Shanghai')::date"
            ).fetchone()
            assert same == (True,)

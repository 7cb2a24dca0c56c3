"""The hourly KPI rollup (tracker.kpi.rollup) gives the raw query's figures, in the real database.

A hand-built fleet over ten hours: ``v1`` drives with a fix every 30 s, loses 10 min while moving
across an hour boundary (a gap split between two hours) and inside an hour, parks for 100 min
across an empty hour, parks inside an hour, and has a 90 s step (long, but under gap_s); ``v2``
reports every 20 s with invalid and flagged fixes and a 10 min gap across an hour boundary;
``v3`` has a single fix. Windows with partial hours at both ends, unrolled hours at the end,
day buckets and other thresholds are compared between the two paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient

from tracker.app import create_app, lifespan
from tracker.kpi import repo, rollup
from tracker.registry import repo as registry
from tracker.settings import Settings
from tracker.wire import FixFlag

LAT = 30.65
MOVE = 0.05  # degrees of lon: ~4.8 km
JITTER = 0.00005  # ~5 m: a parked truck's fixes wander a little


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class World:
    def __init__(self, db: psycopg.Connection[Any]) -> None:
        self.db = db
        # hour 5 is a midnight (UTC): the day rows and a day boundary inside the data
        self.base = datetime.now(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) - timedelta(hours=29)
        a = registry.ensure_company(db, "Rollup A")
        self.company_b = registry.ensure_company(db, "Rollup B")
        self.v1 = registry.ensure_vehicle(db, "ROLL-1", a, 16.0)
        self.v2 = registry.ensure_vehicle(db, "ROLL-2", self.company_b, 16.0)
        self.v3 = registry.ensure_vehicle(db, "ROLL-3", self.company_b, 16.0)
        rows: list[tuple[int, datetime, float]] = []
        lon = 104.0

        def drive(vid: int, h0: float, h1: float, step_s: int) -> None:
            nonlocal lon
            t = self.at(h0)
            while t <= self.at(h1):
                rows.append((vid, t, lon))
                lon += 0.0005
                t += timedelta(seconds=step_s)

        drive(self.v1, 0 + 50 / 60, 1 + 55 / 60, 30)
        lon += MOVE  # gap across 2:00 (1:55 -> 2:05)
        drive(self.v1, 2 + 5 / 60, 3 + 10 / 60, 30)
        lon += MOVE  # gap inside the hour (3:10 -> 3:20)
        drive(self.v1, 3 + 20 / 60, 3.5, 30)
        lon += JITTER - 0.0005  # parked 3:30 -> 5:10 across the empty hour 4
        drive(self.v1, 5 + 10 / 60, 5 + 40 / 60, 30)
        lon += JITTER - 0.0005  # parked inside the hour (5:40 -> 5:55)
        drive(self.v1, 5 + 55 / 60, 7.5, 30)
        lon += 0.003  # a 90 s step over ~290 m
        rows.append((self.v1, self.at(7.5) + timedelta(seconds=90), lon))
        lon += 0.0005
        drive(self.v1, 7.5 + 2 / 60, 9 + 20 / 60, 30)
        lon = 105.0
        drive(self.v2, 0, 4 + 55 / 60, 20)
        lon += MOVE  # gap across 5:00 (4:55 -> 5:05)
        drive(self.v2, 5 + 5 / 60, 9.5, 20)
        rows.append((self.v3, self.at(3.55), 106.0))
        self.insert(rows)

    def at(self, hours: float) -> datetime:
        return self.base + timedelta(seconds=round(hours * 3600))

    def insert(self, rows: list[tuple[int, datetime, float]]) -> None:
        out = []
        for i, (vid, t, lon) in enumerate(rows):
            valid = i % 17 != 5
            flags = int(FixFlag.JUMP) if i % 23 == 7 else 0 if valid else int(FixFlag.INVALID)
            out.append((vid, t, t, 1, lon, LAT, 0, valid, flags, 1))
        with self.db.cursor() as cur:
            cur.executemany(
                "INSERT INTO pings (vehicle_id, fix_time, received_at, terminal_id, lon, lat,"
                " h3_cell, valid, flags, source) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                out,
            )


@pytest.fixture
def world(db: psycopg.Connection[Any], clean: None) -> World:
    return World(db)


@pytest.fixture
async def aconn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


async def both(
    conn: psycopg.AsyncConnection[Any],
    start: datetime,
    end: datetime,
    company: int | None = None,
    *,
    gap_s: float = 120,
    move_m: float = 200,
    bucket: str = "1 hour",
) -> tuple[tuple[repo.Row, list[repo.Row]], tuple[repo.Row, list[repo.Row]]]:
    kw: dict[str, Any] = {"gap_s": gap_s, "move_m": move_m, "bucket": bucket}
    rolled = await repo.quality(conn, start, end, company, **kw)
    raw = await repo.quality(conn, start, end, company, **kw, use_rollup=False)
    return rolled, raw


KEYS = ("fixes", "invalid", "filtered", "drift", "good", "gaps", "gap_time_s", "tracked_s")
KEYS += ("steps", "step_time_s")


def figures(result: tuple[repo.Row, list[repo.Row]]) -> tuple[Any, ...]:
    total, buckets = result
    head = tuple(total.get(k) for k in (*KEYS, "reporting"))
    return head, [(b["at"], *(b[k] for k in KEYS)) for b in buckets]


async def roll_all(conn: psycopg.AsyncConnection[Any], now: datetime) -> tuple[datetime, datetime]:
    got = None
    for _ in range(6):  # advance, then backfill BATCH hours a round
        got = await rollup.rollup_round(conn, now)
    assert got is not None
    return got


async def test_rollup_equals_raw(aconn: psycopg.AsyncConnection[Any], world: World) -> None:
    rolled_from, rolled_to = await roll_all(aconn, world.at(8) + timedelta(minutes=10))
    assert rolled_to == world.at(8) and rolled_from <= world.at(-12)
    cur = await aconn.execute(
        "SELECT count(*) FROM kpi_vehicle_hours WHERE hour < %s", (world.at(8),)
    )
    assert (await cur.fetchone()) == (7 + 8 + 1,)  # v1 has no fix in hour 4
    cur = await aconn.execute("SELECT hour, count(*) FROM kpi_vehicle_days GROUP BY hour")
    assert await cur.fetchall() == [(world.at(-19), 3)]  # the one whole day rolled up
    windows = [
        (world.at(0.2915), world.at(7.7)),  # partial hours at both ends
        (world.at(0), world.at(8)),  # whole hours
        (world.at(1.5), world.at(9.9)),  # from mid-gap hour; 8:00 on is not rolled yet
        (world.at(2 + 1 / 60), world.at(5 + 1 / 60)),  # starts and ends just after a gap
    ]
    for start, end in windows:
        rolled, raw = await both(aconn, start, end)
        assert rolled[0]["rollup_hours"] > 0 and raw[0]["rollup_hours"] == 0
        assert figures(rolled) == figures(raw), (start, end)
    whole = (await both(aconn, world.at(0), world.at(8)))[0][0]
    # 1:55->2:05 and 3:10->3:20 for v1, 4:55->5:05 for v2; the parked silences are no gaps
    assert (whole["gaps"], whole["gap_time_s"]) == (3, 3 * 480.0)
    assert whole["reporting"] == 3
    # the thresholds: a 60 s gap threshold counts the 90 s step; no move threshold counts
    # the parked silences (they wander ~5 m); a huge one none
    for gap_s, move_m in ((60, 200), (60, 0), (700, 0), (120, 10_000), (86_400, 0)):
        rolled, raw = await both(aconn, world.at(0.5), world.at(9), gap_s=gap_s, move_m=move_m)
        assert figures(rolled) == figures(raw), (gap_s, move_m)
    (by60, _), _ = await both(aconn, world.at(0), world.at(8), gap_s=60)
    assert by60["gaps"] == 4
    (parked, _), _ = await both(aconn, world.at(0), world.at(8), move_m=0)
    assert parked["gaps"] == 5
    # under SHORT_STEP_S, and with 5 minute buckets, the figures come from the fixes only
    (low, _), _ = await both(aconn, world.at(0), world.at(8), gap_s=50)
    (short, _), _ = await both(aconn, world.at(0), world.at(8), bucket="5 minutes")
    assert low["rollup_hours"] == short["rollup_hours"] == 0
    # one company; day buckets over three days
    rolled, raw = await both(aconn, world.at(0.25), world.at(7.75), world.company_b)
    assert figures(rolled) == figures(raw) and rolled[0]["reporting"] == 2
    rolled, raw = await both(aconn, world.at(-50), world.at(9.1), bucket="1 day")
    assert figures(rolled) == figures(raw)
    assert len(rolled[1]) == 2 and rolled[0]["rollup_hours"] == 36
    # the whole day came from its day row: without it the figures miss that day's fixes
    await aconn.execute("DELETE FROM kpi_vehicle_days")
    assert figures(await repo.quality(aconn, world.at(-50), world.at(9.1), None, gap_s=120,
                                      move_m=200, bucket="1 day")) != figures(raw)  # fmt: skip
    assert await rollup.roll_days(aconn, world.at(-19), world.at(5)) == 3
    for start, end, company, move_m in (
        (world.at(-40.5), world.at(9.4), None, 200),
        (world.at(-19), world.at(5), world.company_b, 200),
        (world.at(-30), world.at(7.2), None, 0),
    ):
        rolled, raw = await both(aconn, start, end, company, move_m=move_m, bucket="1 day")
        assert figures(rolled) == figures(raw), (start, end)


async def test_late_fixes_are_rolled_again(
    aconn: psycopg.AsyncConnection[Any], world: World
) -> None:
    await roll_all(aconn, world.at(7) + timedelta(minutes=10))
    start, end = world.at(0.75), world.at(8.5)
    rolled, raw = await both(aconn, start, end)
    assert figures(rolled) == figures(raw)
    # late: v1 was not parked in hour 4 after all (moved there and back: two gaps), and v2's
    # stored fix in hour 6
    world.insert(
        [(world.v1, world.at(4.5), 104.2), (world.v2, world.at(6.5) + timedelta(seconds=10), 105.3)]
    )
    rolled, raw = await both(aconn, start, end)
    assert figures(rolled) != figures(raw)  # the rollup has not seen them yet
    by_day = await both(aconn, world.at(-30.2), end, bucket="1 day")
    assert figures(by_day[0]) != figures(by_day[1])
    assert raw[0]["gaps"] == rolled[0]["gaps"] + 2  # v1: to hour 4 and back
    assert await rollup.rollup_round(aconn, world.at(8) + timedelta(minutes=10)) == (
        world.at(-35),
        world.at(8),
    )  # hours 4 and 6 re-rolled (within LOOKBACK of 7:00), hour 7 rolled
    rolled, raw = await both(aconn, start, end)
    assert figures(rolled) == figures(raw)
    assert rolled[0]["rollup_hours"] == 7
    by_day = await both(aconn, world.at(-30.2), end, bucket="1 day")  # day row re-rolled too
    assert figures(by_day[0]) == figures(by_day[1])


async def test_api_answers_the_same_from_the_rollup(
    settings: Settings, world: World, aconn: psycopg.AsyncConnection[Any]
) -> None:
    headers = {"Authorization": "Bearer test-staff"}
    params = {"from": iso(world.at(0.4)), "to": iso(world.at(9.6))}
    bodies = []
    for interval_s in (0.0, 0.3):  # the task off, then on
        app = create_app(settings.model_copy(update={"kpi_rollup_interval_s": interval_s}))
        transport = ASGITransport(app=app)
        async with lifespan(app), AsyncClient(transport=transport, base_url="http://test") as c:
            for _ in range(300 if interval_s else 0):  # the task's rounds, BATCH hours each
                got = await rollup.state(aconn)
                if got is not None and got[0] <= world.at(0):
                    break
                await asyncio.sleep(0.1)
            else:
                assert not interval_s, "the rollup task did not roll up the hours"
            bodies.append((await c.get("/api/v1/kpi", params=params, headers=headers)).json())
    before, after = bodies
    assert before["data_quality"]["rollup_hours"] == 0
    assert after["data_quality"]["rollup_hours"] == 8
    assert after["data_quality"]["gaps"] == 3
    for body in (before, after):
        del body["query_ms"], body["data_quality"]["rollup_hours"]
    assert after == before

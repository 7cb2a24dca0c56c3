"""One poison fix must not fail everyone's group commit (issue 14, item 2).

Two layers: the validator drops from ``extra`` whatever PostgreSQL's ``jsonb`` would refuse
(named in the answer), and the writer isolates whatever the database still refuses, so only the
bad fixes fail and the rest of their group is stored and acknowledged.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from tracker.ingest.http_body import validate_fix
from tracker.ingest.writer import GroupCommitWriter, Refused
from tracker.wire import Fix

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
T = "2026-11-23T02:00:00Z"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _deep(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    inner = doc
    for _ in range(levels - 1):
        inner["a"] = {}
        inner = inner["a"]
    return doc


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"note": "a\x00b"}, "extra.note"),
        ({"k\x00": 1}, "extra"),
        ({"list": [1, {"deep": "\x00"}]}, "extra.list[1].deep"),
        ({"x": float("nan")}, "extra.x"),
        ({"x": float("inf")}, "extra.x"),
        ({"x": 2**70}, "extra.x"),
        ({"x": {1, 2}}, "extra.x"),
        (_deep(33), "nested deeper than 32"),
        (_deep(300), "nested deeper than 32"),  # orjson's own recursion limit is 254
    ],
)
def test_what_jsonb_refuses_is_dropped_from_extra_and_named(
    extra: dict[str, Any], where: str
) -> None:
    verdict = validate_fix({"time": T, "lon": 7.4, "lat": 43.7, "extra": extra}, 1, 1, NOW)
    assert isinstance(verdict.item, Fix), verdict.item
    assert verdict.item.extra is None
    assert [d["field"] for d in verdict.dropped] == ["extra"]
    assert where in verdict.dropped[0]["message"]


def test_extra_within_limits_is_kept() -> None:
    extra = {"a": [1, 2.5, True, None, "ok"], "b": _deep(31)}
    verdict = validate_fix({"time": T, "lon": 7.4, "lat": 43.7, "extra": extra}, 1, 1, NOW)
    assert isinstance(verdict.item, Fix) and verdict.item.extra == extra
    assert verdict.dropped == []


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body(first_s: int, n: int, **kw: Any) -> dict[str, Any]:
    return {
        "fixes": [
            {"time": (T0 + timedelta(seconds=first_s + i)).isoformat(), "lon": 7.42, "lat": 43.73}
            | kw
            for i in range(n)
        ]
    }


async def test_a_poisoned_fix_beside_other_terminals_costs_no_one_anything(
    client: AsyncClient, fleet: Any, db: Any
) -> None:
    trucks = [fleet.truck(f"P-{n:03d}") for n in range(6)]
    poisoned_vid, poisoned_token = trucks[0]
    poison = body(100, 1, extra={"note": "\x00"})
    # sent together, so the writer groups them: before the fix, the whole group got 503
    answers = await asyncio.gather(
        client.post("/api/v1/positions", json=poison, headers=auth(poisoned_token)),
        *(client.post("/api/v1/positions", json=body(0, 20), headers=auth(t)) for _, t in trucks),
    )
    assert [a.status_code for a in answers] == [200] * 7, [a.text for a in answers]
    first = answers[0].json()
    assert first["accepted"] == 1
    assert first["results"][0]["dropped"][0]["field"] == "extra"
    for answer in answers[1:]:
        assert answer.json()["accepted"] + answer.json()["duplicates"] == 20
    row = db.execute(
        "SELECT count(*), count(extra) FROM pings WHERE vehicle_id = %s", (poisoned_vid,)
    ).fetchone()
    assert row == (21, 0)  # the poisoned fix stored, without its extra
    total = db.execute("SELECT count(*) FROM pings").fetchone()[0]
    assert total == 6 * 20 + 1


def _fixes(vehicle_id: int, n: int, **kw: Any) -> list[Fix]:
    return [Fix(vehicle_id, 1, T0 + timedelta(seconds=s), T0, 7.4, 43.7, **kw) for s in range(n)]


async def test_the_writer_isolates_what_the_database_refuses(
    database_url: str, clean: None, db: Any
) -> None:
    """The validator bypassed: poison reaches the writer among other vehicles' fixes."""
    writer = GroupCommitWriter(
        database_url, h3_resolution=9, max_rows=10_000, shards=8, connections=1
    )
    await writer.start()
    try:
        good = [_fixes(v, 30) for v in range(1, 9)]
        mixed = _fixes(9, 10)
        mixed[3] = Fix(9, 1, mixed[3].fix_time, T0, 7.4, 43.7, extra={"bad": "\x00"})
        mixed[7] = Fix(9, 1, mixed[7].fix_time, T0, 7.4, 43.7, extra={"k\x00": "v"})
        results = await asyncio.gather(*(writer.write(f) for f in [*good, mixed]))
        # the writer lives on: the next write is stored as usual
        later = await writer.write(_fixes(10, 5))
    finally:
        await writer.stop()
    assert all(marks == [True] * 30 for marks in results[:-1])
    marks = results[-1]
    refused = {i: m for i, m in enumerate(marks) if isinstance(m, Refused)}
    assert sorted(refused) == [3, 7]
    assert all(m.field == "extra" for m in refused.values()), refused
    assert [m for i, m in enumerate(marks) if i not in refused] == [True] * 8
    assert later == [True] * 5
    assert writer.rows_refused == 2
    assert db.execute("SELECT count(*) FROM pings").fetchone()[0] == 8 * 30 + 8 + 5
    assert db.execute("SELECT count(*) FROM pings WHERE vehicle_id = 9").fetchone()[0] == 8


async def test_a_refused_fix_beside_a_duplicate(database_url: str, clean: None, db: Any) -> None:
    """Isolation goes through the duplicate path too (staging table, ON CONFLICT)."""
    first = GroupCommitWriter(
        database_url, h3_resolution=9, max_rows=10_000, shards=8, connections=1
    )
    await first.start()
    try:
        assert await first.write(_fixes(1, 4)) == [True] * 4
    finally:
        await first.stop()
    writer = GroupCommitWriter(
        database_url, h3_resolution=9, max_rows=10_000, shards=8, connections=1
    )
    await writer.start()  # a new process: only the database knows the first four
    try:
        again = _fixes(1, 8)
        again[6] = Fix(1, 1, again[6].fix_time, T0, 7.4, 43.7, extra={"x": "\x00"})
        marks = await writer.write(again)
    finally:
        await writer.stop()
    assert marks[:4] == [False] * 4 and marks[4] is True and marks[5] is True
    assert isinstance(marks[6], Refused) and marks[7] is True
    assert db.execute("SELECT count(*) FROM pings").fetchone()[0] == 7

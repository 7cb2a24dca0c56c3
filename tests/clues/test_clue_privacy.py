"""The clue-privacy round: a public reporter's address is forgotten 30 days after the report, its
contact 180 days after the clue was settled; staff reports and fresh or open clues keep theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from httpx import AsyncClient

from tracker.clues.service import forget_personal_data
from tracker.settings import ClueSettings, Settings

DAY = timedelta(days=1)


def body(text: str) -> dict[str, Any]:
    seen = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {"kind": "spilling", "text": text, "lon": 108.366, "lat": 22.817,
            "observed_at": seen, "contact": "13800000000"}  # fmt: skip


async def test_reporters_are_forgotten_after_their_keeping_periods(
    clue_client: AsyncClient,
    vehicle_code: tuple[int, str],
    db: psycopg.Connection[Any],
    settings: Settings,
) -> None:
    _, code = vehicle_code
    for text in ("old and settled", "old and open", "fresh"):
        resp = await clue_client.post(f"/api/v1/public/vehicles/{code}/clues", json=body(text))
        assert resp.status_code == 201, resp.text
    now = datetime.now(UTC)
    ids = dict(db.execute("SELECT description, id FROM clues").fetchall())
    db.execute(
        "UPDATE clues SET created_at = %s, updated_at = %s WHERE id = ANY(%s)",
        (now - 200 * DAY, now - 200 * DAY, [ids["old and settled"], ids["old and open"]]),
    )
    db.execute(
        "UPDATE clues SET status = 'closed', close_reason = '已核实处理', updated_at = %s"
        " WHERE id = %s",
        (now - 181 * DAY, ids["old and settled"]),
    )
    db.commit()
    limits = ClueSettings()
    async with await psycopg.AsyncConnection.connect(
        settings.database_url, autocommit=True
    ) as conn:
        touched = await forget_personal_data(conn, now, limits)
        again = await forget_personal_data(conn, now, limits)
    assert touched == {
        "source_addr": sorted([ids["old and settled"], ids["old and open"]]),
        "contact": [ids["old and settled"]],
    }
    assert again == {"source_addr": [], "contact": []}  # nothing twice, no audit row either
    rows = dict(
        (r[0], (r[1], r[2]))
        for r in db.execute("SELECT description, source_addr, contact FROM clues").fetchall()
    )
    assert rows["old and settled"] == (None, None)
    assert rows["old and open"] == (None, "13800000000")  # still needed to follow it up
    assert rows["fresh"] == ("203.0.113.7", "13800000000")
    audit = db.execute(
        "SELECT actor, after FROM audit_log WHERE action = 'clue.forget_personal_data'"
    ).fetchall()
    assert audit == [("system", {"cleared": touched})]

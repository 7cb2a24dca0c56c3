"""``tracker bench outbox`` end to end on a small load (real producer processes, deliverers,
receivers and a SIGKILL), and its throughput figure: delivered ÷ first event to last delivery."""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tracker.bench import outbox as bench_outbox


def test_deliveries_per_s_spans_first_event_to_last_delivery() -> None:
    ports, subs = [1, 2, 3, 4, 5], [10, 20, 30, 40, 50]
    logs: dict[int, list[tuple[str, float, float]]] = {p: [] for p in ports}
    for p, s in zip(ports, subs, strict=True):
        for e, emitted in ((1, 100.0), (2, 101.0)):
            logs[p].append((f"muck-{e}-{s}", emitted, emitted + 0.5))
    logs[5].append(("muck-2-50", 101.0, 104.0))  # a repeat after the last delivery: not counted
    figures = bench_outbox._figures(logs, ports, subs, [1, 2], first_event_at=100.0)
    assert figures["delivered"] == 10 and figures["lost"] == 0 and figures["duplicates"] == 1
    assert figures["first_event_to_last_delivery_s"] == 1.5  # 100.0 → 101.5
    assert figures["deliveries_per_s"] == round(10 / 1.5, 1)
    assert figures["p99_event_to_delivery_ms"] == 500.0


def test_the_outbox_bench_prints_its_figures(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"tracker_bench_outbox_test_{os.getpid()}"
    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    args = ["--rate", "30", "--seconds", "4", "--producers", "2", "--tasks", "2",
            "--vehicles", "40", "--batch", "20", "--backlog", "40", "--settle-s", "90",
            "--database-name", name]  # fmt: skip
    try:
        assert bench_outbox.main(args) == 0
        figures: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert figures["events"] == figures["actions"] > 0
        assert figures["delivered"] == figures["events"] * 5 and figures["lost"] == 0
        assert figures["unexpected"] == 0 and figures["producers"] == 2
        assert 0 < figures["first_event_to_last_delivery_s"] <= figures["elapsed_s"]
        assert figures["deliveries_per_s"] > 0 and figures["drain_batched_per_s"] > 0
        assert figures["drain_5_subscriptions_while_producing_per_s"] > 0
        assert figures["actions_while_draining"] > 0
        assert figures["load_avg_1m_before"] >= 0
    finally:
        admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

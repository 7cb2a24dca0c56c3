"""``tracker bench cases`` runs end to end on a small load and prints its one JSON line."""

from __future__ import annotations

import json
import os
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tracker.bench import cases as bench_cases


def test_the_cases_bench_prints_its_figures(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"tracker_bench_cases_test_{os.getpid()}"
    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    try:
        code = bench_cases.main(["--cases", "600", "--queries", "40", "--database-name", name])
        assert code == 0
        figures: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert figures["cases"] == 600 and figures["units"] == 12 and figures["districts"] == 3
        assert figures["events"] >= 600 and figures["chains_ok"] is True
        for key in ("list_p95_ms", "detail_p95_ms", "offset_p95_ms", "noindex_p95_ms"):
            assert figures[key] > 0
        assert figures["pack_s"] > 0 and figures["pack_fixes"] == 1440
        assert figures["verify_ok"] is True and figures["tamper_detected"] is True
    finally:
        admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

"""``tracker simulate --protocol jt808`` against a real gateway (auto-registration by plate)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tracker.sim import cli as sim_cli
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf
from tracker.sim.jt808_terminal import phone_for, simulate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    folder = Path(os.environ.get("TRACKER_DATA_DIR", REPO / ".data"))
    try:
        return ensure_monaco_pbf(folder).parent
    except DataUnavailableError as exc:
        pytest.skip(f"Monaco extract unavailable: {exc}")


async def test_simulated_terminals_register_and_report(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any], data_dir: Path
) -> None:
    ids = [jt808_fleet.vehicle(f"SIM-{n}") for n in (1, 2)]  # no terminal yet: auto-registered
    gw = await start_gateway(auto_register=True)
    args = sim_cli.build_parser().parse_args(
        ["--protocol", "jt808", "--gateway", f"127.0.0.1:{gw.port}", "--mode", "replay",
         "--start", "2026-11-20T08:00:00Z", "--hours", "0.25", "--data-dir", str(data_dir)]
    )  # fmt: skip
    entries = [
        sim_cli.FleetEntry(v, f"SIM-{n}", "unused") for n, v in zip((1, 2), ids, strict=True)
    ]
    counters = await simulate(args, entries)
    assert counters.unauthorized == 0 and counters.rejected == 0 and counters.fixes_sent > 50
    again = await simulate(args, entries)  # a restarted simulator remembers its codes
    assert again.unauthorized == 0 and again.fixes_sent > 50
    terminals = db.execute(
        "SELECT identity, vehicle_id, model FROM terminals WHERE model = 'SIM-ZT' ORDER BY 1"
    ).fetchall()
    assert terminals == [(phone_for(v), v, "SIM-ZT") for v in ids]
    row = db.execute("SELECT count(*), bool_and(source = 2) FROM pings").fetchone()
    assert row is not None and 50 < row[0] <= counters.fixes_sent and row[1]
    assert gw.stats.fixes_stored == row[0]

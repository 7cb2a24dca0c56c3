from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tracker.sim import cli
from tracker.sim.sender import Counters, Poster


def _fake_api(seen: list[tuple[str, int]], fail_first: int = 0) -> httpx.MockTransport:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= fail_first:
            return httpx.Response(503)
        token = request.headers["Authorization"].removeprefix("Bearer ")
        if token == "bad":
            return httpx.Response(401, json={"detail": "unknown token"})
        fixes = json.loads(request.content)["fixes"]
        seen.append((token, len(fixes)))
        results = [{"index": i, "status": "stored", "errors": []} for i in range(len(fixes))]
        return httpx.Response(
            200, json={"accepted": len(fixes), "duplicates": 0, "rejected": 0, "results": results}
        )

    return httpx.MockTransport(handle)


async def test_replay_posts_every_truck(monaco_pbf: Path) -> None:
    replay = ["--mode", "replay", "--start", "2026-11-20T08:00:00Z", "--hours", "0.5"]
    args = cli.build_parser().parse_args([*replay, "--data-dir", str(monaco_pbf.parent)])
    entries = [cli.FleetEntry(1, "MC-001", "tok-1"), cli.FleetEntry(2, "MC-002", "tok-2")]
    seen: list[tuple[str, int]] = []
    counters = await cli.simulate(args, entries, transport=_fake_api(seen))
    assert {token for token, _ in seen} == {"tok-1", "tok-2"}
    assert counters.fixes_sent == sum(n for _, n in seen) == counters.accepted > 100
    assert counters.errors == 0


async def test_poster_retries_then_counts_refusals() -> None:
    seen: list[tuple[str, int]] = []
    counters = Counters()
    async with httpx.AsyncClient(base_url="http://api", transport=_fake_api(seen, 2)) as client:
        poster = Poster(client, counters, concurrency=2, max_backoff_s=0.0)
        await poster.post("good", [{"time": "2026-11-20T08:00:00.000Z"}])
        await poster.post("bad", [{"time": "2026-11-20T08:00:00.000Z"}] * 3)
    assert counters.retries == 2 and counters.accepted == 1
    assert counters.unauthorized == 1 and counters.rejected == 3
    assert counters.errors == 0 and counters.requests == 4


async def test_poster_gives_up_after_the_last_attempt() -> None:
    counters = Counters()
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    async with httpx.AsyncClient(base_url="http://api", transport=transport) as client:
        poster = Poster(client, counters, concurrency=1, max_attempts=3, max_backoff_s=0.0)
        await poster.post("t", [{"time": "x"}, {"time": "y"}])
    assert counters.errors == 1 and counters.dropped == 2 and counters.requests == 3


def test_missing_fleet_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--fleet", str(tmp_path / "none.json")]) == 1
    assert "tracker seed" in capsys.readouterr().err


def test_fleet_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([{"vehicle_id": 7, "plate": "MC 7", "token": "abc"}]))
    assert cli.load_fleet_file(path) == [cli.FleetEntry(7, "MC 7", "abc")]

"""``tracker import geojson`` and ``tracker import osm``.

Map data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tracker.registry import importer
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf

REPO = Path(__file__).resolve().parents[2]


def square(lon: float, lat: float) -> list[list[list[float]]]:
    d = 0.001
    return [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]


@pytest.fixture
def env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRACKER_REDIS_URL", settings.redis_url)


async def test_import_geojson(
    env: None, tmp_path: Path, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bowtie = [[[7.41, 43.73], [7.412, 43.732], [7.412, 43.73], [7.41, 43.732], [7.41, 43.73]]]
    features = [
        {
            "type": "Feature",
            "properties": {"name": "North yard", "capacity_m3": 2000},
            "geometry": {"type": "Polygon", "coordinates": square(7.41, 43.73)},
        },
        {
            "type": "Feature",
            "properties": {"accepted_materials": ["soil"]},
            "geometry": {"type": "Polygon", "coordinates": square(7.42, 43.73)},
        },
        {
            "type": "Feature",
            "properties": {"name": "Twisted"},
            "geometry": {"type": "Polygon", "coordinates": bowtie},
        },
        {
            "type": "Feature",
            "properties": {"capacity_m3": -5},
            "geometry": {"type": "Polygon", "coordinates": square(7.43, 43.73)},
        },
    ]
    path = tmp_path / "yards.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    args = ["geojson", str(path), "--kind", "yard", "--capacity-m3", "500"]
    assert await asyncio.to_thread(importer.main, args) == 1  # some were refused
    out = capsys.readouterr().out
    assert "yards: 2 created, 0 already there, 2 refused" in out
    assert "invalid polygon" in out and "capacity_m3" in out
    rows = db.execute("SELECT name, capacity_m3 FROM yards ORDER BY id").fetchall()
    assert [(n, float(c)) for n, c in rows] == [("North yard", 2000.0), ("yard 2", 500.0)]
    assert db.execute("SELECT count(*) FROM fences WHERE role = 'yard'").fetchone() == (2,)
    assert db.execute("SELECT DISTINCT actor FROM audit_log").fetchall() == [("cli",)]
    assert await asyncio.to_thread(importer.main, args) == 1  # again: nothing new
    assert "0 created, 2 already there" in capsys.readouterr().out


async def test_import_refuses_a_fence_over_the_vertex_cap(
    env: None,
    tmp_path: Path,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKER_LIMITS__FENCE_VERTICES", "100")
    ring = [[7.41 + 0.001 * math.cos(i / 20), 43.73 + 0.001 * math.sin(i / 20)] for i in range(125)]
    features = [
        {
            "type": "Feature",
            "properties": {"name": "Detailed"},
            "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        },
        {
            "type": "Feature",
            "properties": {"name": "Plain"},
            "geometry": {"type": "Polygon", "coordinates": square(7.42, 43.73)},
        },
    ]
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    assert await asyncio.to_thread(importer.main, ["geojson", str(path), "--kind", "site"]) == 1
    out = capsys.readouterr().out
    assert "sites: 1 created, 0 already there, 1 refused" in out, out
    assert "at most 100 per fence" in out
    assert db.execute("SELECT name FROM sites").fetchall() == [("Plain",)]


async def test_import_osm(
    env: None, tmp_path: Path, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        pbf = ensure_monaco_pbf(Path(os.environ.get("TRACKER_DATA_DIR", REPO / ".data")))
    except DataUnavailableError as exc:
        pytest.skip(f"Monaco extract unavailable: {exc}")
    args = ["osm", str(pbf), "--data-dir", str(tmp_path)]
    assert await asyncio.to_thread(importer.main, args) == 0
    out = capsys.readouterr().out
    assert "road network:" in out and (tmp_path / "roads.osm.pbf").is_file()
    sites = db.execute("SELECT count(*) FROM sites").fetchone()
    assert sites is not None and sites[0] > 0, out
    kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM sites").fetchall()}
    assert kinds <= {"construction", "quarry"}

"""The road network endpoint the map draws when no tile server is reachable."""

from __future__ import annotations

from pathlib import Path

from httpx import ASGITransport, AsyncClient

from tracker.app import create_app, lifespan
from tracker.settings import Settings
from tracker.sim.data import ensure_monaco_pbf


async def test_roads_of_the_demo_city(settings: Settings) -> None:
    data_dir = Path(settings.data_dir)
    ensure_monaco_pbf(data_dir)
    app = create_app(settings)
    async with (
        lifespan(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c,
    ):
        resp = await c.get("/api/v1/roads")
    assert resp.status_code == 200
    feature = resp.json()["features"][0]
    assert feature["geometry"]["type"] == "MultiLineString"
    assert feature["properties"]["segments"] > 10_000
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 7.3 < lon < 7.6 and 43.6 < lat < 43.8  # Monaco, lon first


async def test_no_road_network_is_a_404(settings: Settings, tmp_path: Path) -> None:
    app = create_app(settings.model_copy(update={"data_dir": str(tmp_path)}))
    async with (
        lifespan(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c,
    ):
        resp = await c.get("/api/v1/roads")
    assert resp.status_code == 404 and "tracker import osm" in resp.json()["message"]

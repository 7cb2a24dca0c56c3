"""The permit page in headless Chromium: approving a permit there, and a refusal shown there."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from live_world import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "permits"))

from permit_world import World, make_world

from tracker.settings import Settings
from tracker.sim.data import DataUnavailableError, ensure_monaco_pbf

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
STAFF = {"Authorization": "Bearer test-staff"}


@pytest.fixture
async def world(http: AsyncClient) -> World:
    return await make_world(http, STAFF)


async def open_permit(page: Any, live: LiveServer, permit_id: int) -> None:
    await page.goto(f"{live.base_url}/map/permits.html#token=test-staff")
    await page.click(f".permit-item[data-permit-id='{permit_id}']")
    await page.wait_for_selector(f"#permit[data-drawn='{permit_id}']", timeout=5000)


async def test_approving_a_permit_from_the_page(live: LiveServer, world: World, page: Any) -> None:
    permit_id = await world.submitted()
    await open_permit(page, live, permit_id)
    await page.wait_for_selector("#permit[data-state=submitted]")
    assert await page.locator("path.fence-corridor").count() == 1
    assert await page.locator("path.fence-site").count() == 1
    assert await page.locator("path.fence-yard").count() == 1
    await page.click("#approve")
    await page.wait_for_selector("#permit[data-state=approved]", timeout=5000)
    assert await page.locator("#permit-state").inner_text() == "已核准"
    item = page.locator(f".permit-item[data-permit-id='{permit_id}']")
    assert await item.get_attribute("data-state") == "approved"
    assert await page.locator("#approve").is_hidden()
    resp = await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)
    assert resp.json()["state"] == "approved"
    await page.screenshot(path=str(ARTIFACTS / "permit-approved.png"))


async def test_a_refused_approval_shows_its_reasons(
    live: LiveServer, world: World, page: Any
) -> None:
    await world.approved(quota_m3=100)
    permit_id = await world.submitted(quota_m3=100)  # the same truck on the same days
    await open_permit(page, live, permit_id)
    await page.click("#approve")
    reason = page.locator("#refusals li[data-code=vehicle_overlap]")
    await reason.wait_for(timeout=5000)
    assert "vehicle_ids" in await reason.inner_text()
    assert await page.locator("#message-text").inner_text() == "审批未通过："
    assert await page.locator("#permit-state").inner_text() == "待审批"
    resp = await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)
    assert resp.json()["state"] == "submitted"
    await page.screenshot(path=str(ARTIFACTS / "permit-refused.png"))


async def test_rejecting_with_a_reason(live: LiveServer, world: World, page: Any) -> None:
    permit_id = await world.submitted()
    await open_permit(page, live, permit_id)
    await page.fill("#reject-reason", "quota too large for this yard")
    await page.click("#reject")
    await page.wait_for_selector("#permit[data-state=rejected]", timeout=5000)
    assert "quota too large" in await page.locator("#permit-facts").inner_text()
    resp = await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)
    assert resp.json()["reason"] == "quota too large for this yard"


async def test_proposing_accepting_and_submitting_a_corridor(
    live: LiveServer, world: World, page: Any, settings: Settings
) -> None:
    try:
        ensure_monaco_pbf(Path(settings.data_dir))  # the road network proposals follow
    except DataUnavailableError as exc:
        pytest.skip(f"Monaco extract unavailable: {exc}")
    made = await world.post("/permits", world.permit())
    assert made.status_code == 201, made.text
    permit_id = made.json()["id"]
    await open_permit(page, live, permit_id)
    await page.wait_for_selector("#permit[data-state=draft]")
    await page.click("#propose")
    await page.wait_for_selector("path.fence-proposal", timeout=10000)
    assert "沿道路" in await page.locator("#proposal").inner_text()
    proposal = await page.evaluate("window.trackerPermits.state.proposal")
    await page.click("#accept-proposal")
    await page.wait_for_selector(".message-ok", timeout=5000)
    assert await page.locator("path.fence-proposal").count() == 0
    assert await page.locator("path.fence-corridor").count() == 1
    stored = (await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)).json()
    assert [c["geometry"] for c in stored["corridors"]] == [proposal["geometry"]]
    await page.click("#submit")
    await page.wait_for_selector("#permit[data-state=submitted]", timeout=5000)
    assert await page.locator("#approve").is_visible()


async def click_at(page: Any, lon: float, lat: float) -> None:
    """Click the permit map at a lon/lat (the page's own projection finds the pixel)."""
    x, y = await page.evaluate(
        "([lon, lat]) => { const p = window.trackerPermits.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lon, lat],
    )
    box = await page.locator("#map").bounding_box()
    await page.mouse.click(box["x"] + x, box["y"] + y)


async def test_drawing_a_corridor_by_hand_then_approving(
    live: LiveServer, world: World, page: Any
) -> None:
    made = await world.post("/permits", world.permit())
    assert made.status_code == 201, made.text
    permit_id = made.json()["id"]
    await open_permit(page, live, permit_id)
    await page.wait_for_selector("#permit[data-state=draft]")
    await page.click("#draw-start")
    assert await page.locator("#draw-save").is_disabled()
    drawn = [(7.411, 43.731), (7.421, 43.7318), (7.4255, 43.7305), (7.431, 43.731)]
    for lon, lat in drawn:
        await click_at(page, lon, lat)
    await click_at(page, 7.42, 43.735)  # a slip: undone
    assert await page.locator("#draw-count").inner_text() == "5 个点"
    await page.click("#draw-undo")
    assert await page.locator("#draw-count").inner_text() == "4 个点"
    assert await page.locator("path.fence-drawing").count() == 1
    assert await page.locator("path.fence-drawing-ribbon").count() == 1
    await page.fill("#draw-half-width", "40")
    await page.screenshot(path=str(ARTIFACTS / "permit-drawing.png"))
    await page.click("#draw-save")
    await page.wait_for_selector(".message-ok", timeout=5000)
    assert await page.locator("#draw").is_hidden()

    stored = (await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)).json()
    assert len(stored["corridors"]) == 1
    corridor = stored["corridors"][0]
    assert corridor["half_width_m"] == 40
    points = corridor["geometry"]["coordinates"]
    assert corridor["geometry"]["type"] == "LineString" and len(points) == len(drawn)
    for (lon, lat), (want_lon, want_lat) in zip(points, drawn, strict=True):
        assert abs(lon - want_lon) < 5e-5 and abs(lat - want_lat) < 5e-5  # a pixel or two

    await page.click("#submit")
    await page.wait_for_selector("#permit[data-state=submitted]", timeout=5000)
    await page.click("#approve")
    await page.wait_for_selector("#permit[data-state=approved]", timeout=5000)
    approved = (await world.client.get(f"/api/v1/permits/{permit_id}", headers=STAFF)).json()
    assert approved["state"] == "approved"
    assert approved["corridors"][0]["geometry"]["coordinates"] == points
    assert approved["corridors"][0]["fence_id"] is not None  # the engine's fence exists

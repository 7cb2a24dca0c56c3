"""The case list as a file (GET /api/v1/exports/cases): Chinese headers, the queue's filters and
exactly the queue's scope (a unit's officer its unit's cases, a company its own once told)."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
from case_world import IN_E, IN_W1, World


def _csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(body[3:].decode())))


async def _export(world: World, who: dict[str, str], **params: Any) -> list[dict[str, str]]:
    resp = await world.client.get("/api/v1/exports/cases", params=params, headers=who)
    assert resp.status_code == 200, resp.text
    return _csv(resp.content)


async def test_the_case_list_exports_in_its_scope(world: World) -> None:
    west = (await world.open(world.staff, IN_W1))["id"]
    east = (await world.open(world.staff, IN_E, company="other"))["id"]
    um_w = world.account("enforcement_officer", unit="um_w")
    city = world.account("enforcement_officer")

    rows = await _export(world, city)
    assert {int(r["案件编号"]) for r in rows} == {west, east}
    by_id = {int(r["案件编号"]): r for r in rows}
    assert by_id[west]["区县"] == "西区" and by_id[west]["承办单位"] == "西区城管执法局"
    assert by_id[east]["当事企业"] == "Other Co" and by_id[east]["车牌号"] == "桂A-other"
    assert by_id[west]["状态"] == "opened" and by_id[west]["案情"] == "倾倒建筑垃圾于河道旁"

    assert {int(r["案件编号"]) for r in await _export(world, um_w)} == {west}
    # a filter narrows, never widens: the west officer asking for the east unit gets nothing
    assert await _export(world, um_w, unit_id=world.units["um_e"]) == []
    east_unit = await _export(world, city, unit_id=world.units["um_e"])
    assert [int(r["案件编号"]) for r in east_unit] == [east]
    assert await _export(world, city, status="closed") == []

    # a company sees its cases only once it has been told (as in the queue): none yet
    party = world.account("company_user", company="haul")
    assert await _export(world, party) == []

    resp = await world.client.get(
        "/api/v1/exports/cases", params={"format": "xlsx", "headers": "en"}, headers=city
    )
    assert resp.status_code == 200, resp.text
    sheet = openpyxl.load_workbook(io.BytesIO(resp.content), read_only=True).active
    assert sheet is not None
    got = list(sheet.iter_rows(values_only=True))
    assert got[0][:3] == ("id", "subtype", "state") and len(got) == 3

    bad = await world.client.get(
        "/api/v1/exports/cases", params={"yard_id": 1}, headers=city
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["field"] == "yard_id"

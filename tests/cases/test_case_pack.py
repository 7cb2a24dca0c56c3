"""A case's evidence pack: its own chained events as stored, the track, the decision; checked
offline; a changed byte fails it; only those who see the case get it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

from case_world import World
from pypdf import PdfReader

from tracker.evidence.verify import verify_pack


async def test_a_decided_case_packs_its_chain_track_and_decision(world: World) -> None:
    proposer = world.account("enforcement_officer", unit="um_w")
    decider = world.account("enforcement_officer", unit="um_w")
    party = world.account("company_user", company="haul")
    vehicle = world.vehicles["haul"]
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    with world.db.cursor() as cur:  # a track around the opening
        cur.executemany(
            "INSERT INTO pings (vehicle_id, terminal_id, fix_time, received_at, lon, lat,"
            " speed_kmh, h3_cell, valid, source) VALUES (%s, 0, %s, %s, %s, %s, 20, 0, true, 1)",
            [(vehicle, t0 + timedelta(seconds=10 * i), t0 + timedelta(seconds=10 * i),
              108.30 + i * 1e-4, 22.80) for i in range(60)],
        )  # fmt: skip
    case = await world.open(proposer)
    cid = case["id"]
    for action, who, body in (
        ("review", proposer, {"note": "视频核实"}), ("dispatch", proposer, {}),
        ("notify", proposer, {"penalty_cny": 20000}), ("accept", party, {"signature": "张三"}),
        ("decide", decider, {}),
    ):  # fmt: skip
        resp = await world.act(cid, action, who, **body)
        assert resp.status_code == 200, (action, resp.text)

    got = await world.client.get(f"/api/v1/cases/{cid}/pack", headers=decider)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    pack = got.content
    check = verify_pack(pack)
    assert check.ok and check.events == 6, check.problem  # open … decide, as stored
    stored_head = world.db.execute("SELECT last_hash FROM cases WHERE id = %s", (cid,)).fetchone()
    assert stored_head is not None and check.head == stored_head[0]
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(zf.read("case.pdf"))).pages)
    assert "行政处罚决定书" in text and "随意倾倒建筑垃圾" in text
    assert len([n for n in zf.namelist() if n.endswith(".geojson")]) == 1

    # any changed byte of any file fails the offline check
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        names = zf.namelist()
        files = {n: zf.read(n) for n in names}
    for name in names:
        data = bytearray(files[name])
        data[len(data) // 2] ^= 0x01
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for n in names:
                zf.writestr(n, bytes(data) if n == name else files[n])
        assert not verify_pack(out.getvalue()).ok, name

    # the party sees its own case's pack; another company does not
    assert (await world.client.get(f"/api/v1/cases/{cid}/pack", headers=party)).status_code == 200
    other = world.account("company_user", company="other")
    denied = await world.client.get(f"/api/v1/cases/{cid}/pack", headers=other)
    assert denied.status_code == 404
    audited = world.db.execute(
        "SELECT count(*) FROM audit_log WHERE entity = 'case' AND action = 'pack'"
    ).fetchone()
    assert audited == (2,)

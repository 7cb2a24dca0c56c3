"""Registration (0x0100) cannot take a terminal over (issue 14, item 9): real frames over TCP to a
real gateway, terminals in TimescaleDB."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient
from test_gateway import PHONE, connected, report, rows, within

from tracker.ingest.jt808 import Heartbeat, PlatformResponse, RegistrationReply, Result
from tracker.registry import repo as registry_repo

PLATE = "粤B88888"


def device(db: psycopg.Connection[Any], phone: str = PHONE) -> tuple[str | None, str | None]:
    row = db.execute(
        "SELECT jt808_device_id, jt808_auth_code FROM terminals WHERE identity = %s", (phone,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_a_registered_terminal_never_hands_out_its_code(
    start_gateway: Any, jt808_fleet: Any
) -> None:
    jt808_fleet.add(PHONE, PLATE)  # registered: its code is stored
    gw = await start_gateway()
    thief = await connected(gw.port)
    reg = await within(thief.register(PLATE))  # the right phone and plate, another device
    assert reg == RegistrationReply(0, 3, None)  # terminal already registered, no code
    assert await within(thief.authenticate("guess")) == Result.FAILURE
    assert gw.stats.registrations_refused == {"terminal_registered": 1}
    await thief.close()


async def test_registration_must_match_device_and_plate(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, PLATE, registered=False)
    jt808_fleet.add("13800000002", "粤B00002")
    db.execute("UPDATE terminals SET jt808_device_id = 'DEV0001' WHERE identity = %s", (PHONE,))
    gw = await start_gateway()
    term = await connected(gw.port)
    assert (await within(term.register(PLATE, terminal_id="DEV9999"))).result == 4
    assert (await within(term.register("粤Z99999", terminal_id="DEV0001"))).result == 2
    assert (await within(term.register("粤B00002", terminal_id="DEV0001"))).result == 1
    reg = await within(term.register("粤b 88888", terminal_id="DEV0001"))  # as people write it
    assert reg.result == 0 and reg.auth_code
    assert device(db) == ("DEV0001", reg.auth_code)
    assert (await within(term.register(PLATE, terminal_id="DEV0001"))).result == 3  # once only
    assert gw.stats.registrations_refused == {
        "device_mismatch": 1, "vehicle_unknown": 1, "vehicle_registered": 1,
        "terminal_registered": 1,
    }  # fmt: skip
    await term.close()


async def test_first_registration_binds_the_device(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    jt808_fleet.add(PHONE, PLATE, registered=False)
    gw = await start_gateway(registration_binds_plate=False)
    term = await connected(gw.port)
    reg = await within(term.register("ANY PLATE", terminal_id="DEV0042"))  # plate not bound
    assert reg.result == 0
    assert device(db) == ("DEV0042", reg.auth_code)
    await term.close()


async def test_auto_register_attaches_one_phone_per_vehicle(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any]
) -> None:
    vehicle_id = jt808_fleet.vehicle("MC-7")
    registry_repo.ensure_terminal(db, "T-MC-7", vehicle_id)  # an HTTP terminal does not count
    gw = await start_gateway(auto_register=True)

    async def register(n: int) -> int:
        term = await connected(gw.port, phone=f"1370000{n:04d}")
        try:
            return (await within(term.register("MC-7"))).result
        finally:
            await term.close()

    results = await asyncio.gather(*(register(n) for n in range(78)))
    assert sorted(results) == [0] + [1] * 77  # one terminal; the vehicle is registered
    count = db.execute("SELECT count(*) FROM terminals WHERE vehicle_id = %s", (vehicle_id,))
    assert count.fetchone() == (2,)  # the HTTP terminal and one JT/T 808 terminal
    assert gw.stats.registrations_refused == {"vehicle_full": 77}


async def test_officer_reset_lets_the_terminal_register_again(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any], client: AsyncClient,
    staff: dict[str, str], accounts: Any,
) -> None:  # fmt: skip
    jt808_fleet.add(PHONE, PLATE)
    terminal_id = db.execute("SELECT id FROM terminals WHERE identity = %s", (PHONE,)).fetchone()
    assert terminal_id is not None
    path = f"/api/v1/terminals/{terminal_id[0]}/reset-registration"
    viewer = accounts.headers("viewer")
    assert (await client.post(path, headers=viewer)).status_code == 403
    missing = await client.post("/api/v1/terminals/999/reset-registration", headers=staff)
    assert missing.status_code == 404
    bad = await client.post(path, json={"device_id": ""}, headers=staff)
    assert bad.status_code in (400, 422) and "device_id" in bad.text
    done = await client.post(path, json={"device_id": "DEV0007"}, headers=staff)
    assert done.status_code == 200, done.text
    assert device(db) == ("DEV0007", None)
    audit = await client.get("/api/v1/audit", params={"entity": "terminal"}, headers=staff)
    assert "reset_registration" in audit.text and jt808_fleet.code not in audit.text
    gw = await start_gateway()
    term = await connected(gw.port)
    assert await within(term.authenticate(jt808_fleet.code)) == Result.FAILURE  # old code gone
    assert (await within(term.register(PLATE, terminal_id="DEV0008"))).result == 4
    reg = await within(term.register(PLATE, terminal_id="DEV0007"))
    assert reg.result == 0 and reg.auth_code and reg.auth_code != jt808_fleet.code
    assert await within(term.authenticate(reg.auth_code)) == Result.OK
    await term.close()


@pytest.mark.parametrize("require_auth", [False])
async def test_lenient_frame_does_not_evict_the_real_terminal(
    start_gateway: Any, jt808_fleet: Any, db: psycopg.Connection[Any], require_auth: bool
) -> None:
    vehicle_id = jt808_fleet.add(PHONE, PLATE)
    gw = await start_gateway(require_auth=require_auth)
    real = await connected(gw.port)
    assert await within(real.authenticate(jt808_fleet.code)) == Result.OK
    intruder = await connected(gw.port)
    serial = await intruder.send(report(30, lon=0.5, lat=0.5))
    assert await within(intruder.reply_to(serial)) == PlatformResponse(serial, 0x0200, 1)
    assert rows(db, vehicle_id) == 0
    serial = await real.send(Heartbeat())  # the real terminal's connection is still up
    assert await within(real.reply_to(serial)) == PlatformResponse(serial, 0x0002, 0)
    serial = await real.send(report(20))
    assert await within(real.reply_to(serial)) == PlatformResponse(serial, 0x0200, 0)
    assert rows(db, vehicle_id) == 1
    assert gw.stats.replaced_sessions == 0 and gw.stats.lenient_refused == 1
    await real.close()
    await intruder.close()

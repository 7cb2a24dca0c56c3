"""Nobody where they don't belong: officers scoped to a unit or an area see and act on its cases
only, department and grid accounts need a scope, companies see their own cases once told,
permit officers have no business with cases."""

from __future__ import annotations

from case_world import IN_E, IN_W1, World


async def _ids(world: World, who: dict[str, str], **params: str) -> set[int]:
    resp = await world.client.get("/api/v1/cases", headers=who, params=params)
    assert resp.status_code == 200, resp.text
    return {c["id"] for c in resp.json()["cases"]}


async def test_unit_and_area_scopes(world: World) -> None:
    west = (await world.open(world.staff, IN_W1))["id"]
    east = (await world.open(world.staff, IN_E))["id"]
    police = (await world.open(world.staff, IN_W1, "speeding"))["id"]
    um_w = world.account("enforcement_officer", unit="um_w")
    um_e = world.account("department", unit="um_e")
    area_w = world.account("grid_staff", area="W")
    area_w1 = world.account("viewer", area="W1")
    city = world.account("enforcement_officer")
    assert await _ids(world, um_w) == {west}
    assert await _ids(world, um_e) == {east}
    assert await _ids(world, area_w) == {west, police}
    assert await _ids(world, area_w1) == {west, police}
    assert await _ids(world, city) == {west, east, police}
    assert await _ids(world, world.account("department")) == set()  # no unit: nothing
    assert await _ids(world, world.account("grid_staff")) == set()
    # another unit's case is not found, for reading and for acting
    assert (await world.client.get(f"/api/v1/cases/{east}", headers=um_w)).status_code == 404
    assert (await world.act(east, "review", um_w)).status_code == 404
    assert (await world.act(west, "review", um_w)).status_code == 200
    # a unit filter cannot widen a scope
    assert await _ids(world, um_w, unit_id=str(world.units["um_e"])) == set()


async def test_roles_on_cases(world: World) -> None:
    cid = (await world.open(world.staff))["id"]
    permit_officer = world.account("permit_officer")
    assert (await world.client.get("/api/v1/cases", headers=permit_officer)).status_code == 403
    body = {"subtype": "dumping_at_will", "lon": 108.05, "lat": 22.8, "facts": "x"}
    for role, status in (("permit_officer", 403), ("viewer", 403), ("company_user", 403),
                         ("grid_staff", 201), ("department", 201)):  # fmt: skip
        who = world.account(role, company="haul" if role == "company_user" else None,
                            unit="um_w" if role == "department" else None)  # fmt: skip
        resp = await world.client.post("/api/v1/cases", json=body, headers=who)
        assert resp.status_code == status, (role, resp.text)
    grid = world.account("grid_staff", area="W")
    viewer = world.account("viewer")
    for who in (grid, viewer):
        resp = await world.act(cid, "review", who)
        assert resp.status_code == 403 and resp.json()["field"] == "authorization"
    detail = (await world.client.get(f"/api/v1/cases/{cid}", headers=grid)).json()
    assert detail["actions"] == []
    officer = world.account("enforcement_officer", unit="um_w")
    detail = (await world.client.get(f"/api/v1/cases/{cid}", headers=officer)).json()
    assert detail["actions"] == ["review", "dismiss"]


async def test_companies_see_and_answer_only_their_own_cases_once_told(world: World) -> None:
    officer = world.account("enforcement_officer")
    mine = world.account("company_user", company="haul")
    theirs = world.account("company_user", company="other")
    cid = (await world.open(officer))["id"]
    # before the notice the party does not see the unreviewed case (Art. 41, 44)
    assert await _ids(world, mine) == set()
    assert (await world.client.get(f"/api/v1/cases/{cid}", headers=mine)).status_code == 404
    for action in ("review", "dispatch"):
        await world.act(cid, action, officer)
    await world.act(cid, "notify", officer, penalty_cny=5000)
    assert await _ids(world, mine) == {cid}
    assert await _ids(world, theirs) == set()
    assert (await world.act(cid, "accept", theirs, signature="x")).status_code == 404
    assert (await world.act(cid, "decide", mine)).status_code == 403  # not the party's to decide
    notices = (await world.client.get("/api/v1/cases/notices", headers=theirs)).json()
    assert notices["notices"] == []
    staff_only = await world.client.get("/api/v1/cases/notices", headers=officer)
    assert staff_only.status_code == 403
    assert (await world.act(cid, "accept", mine, signature="王五")).status_code == 200


async def test_an_admin_scopes_accounts(world: World) -> None:
    user = world.db.execute(
        "INSERT INTO users (username, password_hash, role) VALUES ('officer-x', 'x', "
        "'enforcement_officer') RETURNING id"
    ).fetchone()
    assert user is not None
    path = f"/api/v1/users/{user[0]}/scope"
    resp = await world.client.put(path, json={"area_code": "E"}, headers=world.staff)
    assert resp.status_code == 200 and resp.json()["area_id"] == world.areas["E"]
    both = {"area_code": "E", "unit_id": world.units["um_w"]}
    assert (await world.client.put(path, json=both, headers=world.staff)).status_code == 400
    missing = await world.client.put(path, json={"area_code": "ZZ"}, headers=world.staff)
    assert missing.status_code == 404 and missing.json()["field"] == "area_code"
    officer = world.account("enforcement_officer")
    assert (await world.client.put(path, json={}, headers=officer)).status_code == 403
    audit = world.db.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'scope' AND entity_id = %s", (user[0],)
    ).fetchone()
    assert audit == (1,)


async def test_the_queue_is_filtered_and_keyset_paged(world: World) -> None:
    officer = world.account("enforcement_officer", unit="um_w")
    opened = [(await world.open(officer))["id"] for _ in range(5)]
    await world.act(opened[0], "review", officer)
    first = (await world.client.get("/api/v1/cases", headers=officer, params={"limit": 2})).json()
    assert [c["id"] for c in first["cases"]] == opened[:-3:-1]
    second = await world.client.get(
        "/api/v1/cases", headers=officer, params={"limit": 2, "after": first["next_after"]}
    )
    assert [c["id"] for c in second.json()["cases"]] == [opened[2], opened[1]]
    assert await _ids(world, officer, state="reviewed") == {opened[0]}
    bad = await world.client.get("/api/v1/cases", headers=officer, params={"after": "junk"})
    assert bad.status_code == 400 and bad.json()["field"] == "after"
    assert (await world.client.get("/api/v1/cases", headers=officer,
                                   params={"state": "nope"})).status_code == 422  # fmt: skip


async def test_the_overdue_filter(world: World) -> None:
    officer = world.account("enforcement_officer", unit="um_w")
    late = (await world.open(officer))["id"]
    await world.open(officer)
    world.db.execute("UPDATE cases SET due_at = now() - interval '1 hour' WHERE id = %s", (late,))
    assert await _ids(world, officer, overdue="true") == {late}

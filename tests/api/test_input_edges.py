"""Bad input at the edges gets a 4xx naming the field, never a 5xx (issue 14, item 7): instants
at the ends of the representable range, tracks whose window arithmetic would overflow, and JSON
nested deeper than the encoders take. The reported inputs each, then properties over generated
instants (the parser alone, and every endpoint that takes a time, through the app)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracker.times import INSTANT_MAX, INSTANT_MIN, parse_time

EDGE = "9999-12-31T23:59:59-23:59"  # its UTC conversion overflows
LOW = "0001-01-01T00:00:00Z"  # anything subtracted from it overflows


def _deep(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    node = doc
    for _ in range(levels - 1):
        node["a"] = {}
        node = node["a"]
    return doc


def _named(resp: Any, field: str) -> None:
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    body = resp.json()
    names = [body.get("field")] + [d.get("field") for d in body.get("details", [])]
    assert field in names, body


async def test_track_with_times_at_the_edges(
    client: AsyncClient, fleet: Any, staff: dict[str, str]
) -> None:
    vid, _ = fleet.truck("E-001")
    url = f"/api/v1/vehicles/{vid}/track"
    _named(await client.get(url, params={"end": LOW}, headers=staff), "end")
    _named(await client.get(url, params={"start": EDGE}, headers=staff), "start")
    _named(await client.get(url, params={"end": EDGE}, headers=staff), "end")
    _named(await client.get(url, params={"start": LOW, "end": LOW}, headers=staff), "end")
    _named(await client.get(url, params={"after": EDGE}, headers=staff), "after")
    _named(await client.get(url, params={"end": "1e400"}, headers=staff), "end")


async def test_fix_time_at_the_edge_is_refused_by_name(client: AsyncClient, fleet: Any) -> None:
    _, token = fleet.truck("E-002")
    fix = {"lon": 7.42, "lat": 43.73}
    resp = await client.post(
        "/api/v1/positions",
        json={"fixes": [{**fix, "time": EDGE}, {**fix, "time": 1e300}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.text
    for result in resp.json()["results"]:
        assert result["status"] == "rejected"
        assert result["errors"][0]["field"] == "time"


async def test_extra_nested_too_deep_is_dropped_and_the_fix_kept(
    client: AsyncClient, fleet: Any
) -> None:
    _, token = fleet.truck("E-003")
    now = datetime.now(UTC).isoformat()
    good_deep = {"a": _deep(20)}
    resp = await client.post(
        "/api/v1/positions",
        json={
            "fixes": [
                {"time": now, "lon": 7.42, "lat": 43.73, "extra": _deep(300)},
                {
                    "time": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
                    "lon": 7.42,
                    "lat": 43.73,
                    "extra": good_deep,
                },
            ]
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.text
    first, second = resp.json()["results"]
    assert first["status"] == "stored"
    assert first["dropped"][0]["field"] == "extra"
    assert second["status"] == "stored" and "dropped" not in second
    # a body nested past what the parser takes at all is a 400 naming the body
    resp = await client.post(
        "/api/v1/positions",
        content=b'{"fixes":' + b"[" * 2000 + b"]" * 2000 + b"}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    _named(resp, "body")


async def test_other_json_bodies_nested_too_deep_name_the_body(
    client: AsyncClient, staff: dict[str, str]
) -> None:
    deep = b"[" * 20_000 + b"]" * 20_000
    for path in ("/api/v1/companies", "/api/v1/sites", "/api/v1/auth/token"):
        body = b'{"name": "x", "geometry": ' + deep + b"}" if "sites" in path else deep
        if "token" in path:
            body = deep[:1000] + deep[-1000:]
        resp = await client.post(
            path, content=body, headers={**staff, "Content-Type": "application/json"}
        )
        assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text)
        assert resp.json().get("field") == "body", (path, resp.text)
    # a geometry with a deep foreign member is refused by name, before anything stores it
    nested: list[Any] = []
    for _ in range(400):
        nested = [nested]
    square = [[[7.40, 43.70], [7.41, 43.70], [7.41, 43.71], [7.40, 43.70]]]
    resp = await client.post(
        "/api/v1/sites",
        json={
            "name": "deep",
            "kind": "quarry",
            "geometry": {"type": "Polygon", "coordinates": square, "x": nested},
        },
        headers=staff,
    )
    _named(resp, "geometry.x")


async def test_times_in_queries_and_bodies_elsewhere(
    client: AsyncClient, fleet: Any, staff: dict[str, str]
) -> None:
    vid, _ = fleet.truck("E-004")
    _named(await client.get("/api/v1/incidents", params={"since": EDGE}, headers=staff), "since")
    _named(await client.get("/api/v1/incidents", params={"until": LOW}, headers=staff), "until")
    _named(
        await client.get("/api/v1/incidents", params={"since": "2026-01-01T00:00"}, headers=staff),
        "since",
    )
    _named(await client.get("/api/v1/kpi", params={"to": LOW}, headers=staff), "to")
    _named(await client.get("/api/v1/kpi", params={"from": EDGE}, headers=staff), "from")
    _named(await client.get("/api/v1/audit", params={"since": EDGE}, headers=staff), "since")
    resp = await client.post(
        "/api/v1/blacklist",
        json={"vehicle_id": vid, "reason": "edge", "expires_at": EDGE},
        headers=staff,
    )
    _named(resp, "expires_at")
    resp = await client.post(
        "/api/v1/yards/1/adjustments",
        json={"kind": "survey", "volume_m3": 1, "reason": "edge", "at": LOW},
        headers=staff,
    )
    _named(resp, "at")


async def test_ids_past_bigint_name_their_parameter(
    client: AsyncClient, staff: dict[str, str]
) -> None:
    big = str(2**63)
    for path, name in [
        ("/api/v1/kpi", "company_id"),
        ("/api/v1/blacklist", "vehicle_id"),
        ("/api/v1/permits", "company_id"),
        ("/api/v1/audit", "entity_id"),
    ]:
        _named(await client.get(path, params={name: big}, headers=staff), name)
    _named(await client.get(f"/api/v1/yards/{big}/capacity", headers=staff), "yard_id")


# -- properties ----------------------------------------------------------------------------

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m))
)
instants = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets)


@given(instants)
@example(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59))))
@example(datetime(1, 1, 1, tzinfo=UTC))
def test_parse_time_never_raises_and_keeps_its_range(dt: datetime) -> None:
    got = parse_time(dt.isoformat())
    if isinstance(got, str):
        assert "range" in got
        return
    assert got.tzinfo is UTC and INSTANT_MIN <= got <= INSTANT_MAX
    assert got == dt
    got - timedelta(days=366), got + timedelta(days=366)  # arithmetic after it cannot overflow


@given(st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=40)))
@example(-62135596800)  # 0001-01-01T00:00:00Z
def test_parse_time_takes_any_json_value(value: Any) -> None:
    got = parse_time(value)
    assert isinstance(got, str) or INSTANT_MIN <= got <= INSTANT_MAX


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_no_endpoint_that_takes_a_time_answers_5xx(
    client: AsyncClient, fleet: Any, staff: dict[str, str], data: st.DataObject
) -> None:
    text = data.draw(
        st.one_of(instants.map(datetime.isoformat), st.sampled_from([EDGE, LOW, "-1", "1e400"]))
    )
    fields = [
        ("/api/v1/vehicles/1/track", "start"),
        ("/api/v1/vehicles/1/track", "end"),
        ("/api/v1/incidents", "since"),
        ("/api/v1/incidents", "until"),
        ("/api/v1/kpi", "from"),
        ("/api/v1/kpi", "to"),
        ("/api/v1/audit", "until"),
    ]
    path, name = data.draw(st.sampled_from(fields))
    resp = await client.get(path, params={name: text}, headers=staff)
    assert resp.status_code < 500, (path, name, text, resp.text)
    if resp.status_code >= 400:
        assert resp.json().get("field"), resp.text  # a 4xx names a field (maybe the other bound)

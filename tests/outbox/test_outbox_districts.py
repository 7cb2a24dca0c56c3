"""Events carry their district, so a district-scoped subscriber hears its district only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from httpx import AsyncClient
from outbox_receivers import Receiver

from tracker.outbox.deliverer import Deliverer

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STAFF = {"Authorization": "Bearer test-staff"}


def _square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _area(
    db: psycopg.Connection[Any], code: str, name: str, level: str, parent: Any, box: Any
) -> int:
    row = db.execute(
        """INSERT INTO jurisdictions (code, name, level, parent_id, geometry,
                                      min_lon, min_lat, max_lon, max_lat)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (code, name, level, parent, orjson.dumps(_square(*box)).decode(), *box),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def districts(db: psycopg.Connection[Any], outbox_clean: None) -> None:
    """West (108.0-108.2) and east (108.2-108.4) districts; west has a hole (a lake)."""
    db.execute("TRUNCATE jurisdictions CASCADE")
    city = _area(db, "city", "南宁市", "city", None, (108.0, 22.6, 108.4, 23.0))
    west = _square(108.0, 22.6, 108.2, 23.0)
    west["coordinates"].append([[108.05, 22.65], [108.05, 22.7], [108.1, 22.7], [108.1, 22.65],
                                [108.05, 22.65]])  # fmt: skip
    db.execute(
        """INSERT INTO jurisdictions (code, name, level, parent_id, geometry,
                                      min_lon, min_lat, max_lon, max_lat)
           VALUES ('west', '西乡塘区', 'district', %s, %s, 108.0, 22.6, 108.2, 23.0)""",
        (city, orjson.dumps(west).decode()),
    )
    _area(db, "east", "青秀区", "district", city, (108.2, 22.6, 108.4, 23.0))


def _incident(db: psycopg.Connection[Any], iid: str, vehicle_id: int, lon: Any, lat: Any) -> None:
    db.execute(
        """INSERT INTO incidents (incident_id, type, vehicle_id, company_id, opened_at,
                                  detected_at, lon, lat)
           VALUES (%s, 'speeding', %s, (SELECT company_id FROM vehicles WHERE id = %s),
                   %s, %s, %s, %s)""",
        (iid, vehicle_id, vehicle_id, T0, T0, lon, lat),
    )


def _yard(db: psycopg.Connection[Any], name: str, box: Any) -> int:
    fence = db.execute(
        "INSERT INTO fences (kind, role, geometry) VALUES ('polygon', 'yard', %s) RETURNING id",
        (orjson.dumps(_square(*box)).decode(),),
    ).fetchone()
    assert fence is not None
    row = db.execute(
        "INSERT INTO yards (name, fence_id, capacity_m3) VALUES (%s, %s, 1000) RETURNING id",
        (name, fence[0]),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _districts_by_key(db: psycopg.Connection[Any]) -> dict[str, Any]:
    rows = db.execute("SELECT type, payload, district FROM outbox_events ORDER BY id").fetchall()
    out = {}
    for kind, payload, district in rows:
        key = payload.get("incident_id") or payload.get("yard") or payload.get("plate")
        out[f"{kind}:{key}"] = district
    return out


def test_events_get_the_district_of_their_place_yard_or_company(
    db: psycopg.Connection[Any], fleet: Any, districts: None
) -> None:
    east_truck, _ = fleet.truck("粤A00001", company="东城运输")
    other, _ = fleet.truck("粤A00002", company="无区县运输")
    db.execute("UPDATE companies SET district = 'east' WHERE name = '东城运输'")

    _incident(db, "in-west", east_truck, 108.15, 22.8)  # the place wins over the company
    _incident(db, "in-lake", east_truck, 108.07, 22.67)  # in the west's hole: no district
    _incident(db, "no-place", east_truck, None, None)  # falls back to the company's
    _incident(db, "outside", other, 109.5, 22.8)  # outside every district, company has none
    _yard(db, "西郊消纳场", (108.01, 22.9, 108.03, 22.92))
    db.execute("INSERT INTO yard_alerts (yard_id, level, fill_pct) SELECT id, 80, 81 FROM yards")
    db.execute(
        """INSERT INTO blacklist_listings (vehicle_id, source, reason, listed_by)
           VALUES (%s, 'manual', '测试', 'test')""",
        (east_truck,),
    )
    got = _districts_by_key(db)
    assert got == {
        "incident.opened:in-west": "west",
        "incident.opened:in-lake": "east",  # not in the west: its company's district
        "incident.opened:no-place": "east",
        "incident.opened:outside": None,
        "yard.fill:西郊消纳场": "west",
        "vehicle.listed:粤A00001": "east",
    }


def test_a_company_names_a_known_district_only(
    db: psycopg.Connection[Any], districts: None
) -> None:
    db.execute("INSERT INTO companies (name, district) VALUES ('甲', 'east')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as err:
        db.execute("INSERT INTO companies (name, district) VALUES ('乙', 'nowhere')")
    assert err.value.diag.column_name == "district"


async def test_company_district_through_the_registry(
    client: AsyncClient, districts: None, clean: None
) -> None:
    bad = await client.post("/api/v1/companies", json={"name": "丙", "district": "nowhere"},
                            headers=STAFF)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["field"] == "district"
    ok = await client.post("/api/v1/companies", json={"name": "丙", "district": "west"},
                           headers=STAFF)  # fmt: skip
    assert ok.status_code in (200, 201) and ok.json()["district"] == "west"


async def test_a_district_scoped_subscriber_hears_only_its_district(
    deliverer: Deliverer,
    db: psycopg.Connection[Any],
    fleet: Any,
    districts: None,
    receivers: list[Receiver],
    client: AsyncClient,
) -> None:
    west_rx, east_rx, all_rx = (Receiver().start() for _ in range(3))
    receivers.extend([west_rx, east_rx, all_rx])
    ids = {}
    for name, rx, scope in (("西区", west_rx, ["西乡塘区"]), ("东区", east_rx, ["east"]),
                            ("全市", all_rx, [])):  # fmt: skip
        resp = await client.post(
            "/api/v1/outbox/subscriptions",
            json={"name": name, "kind": "department", "channel": "webhook",
                  "target": rx.url, "scope_districts": scope},
            headers=STAFF,
        )  # fmt: skip
        assert resp.status_code == 201, resp.text
        ids[name] = resp.json()
    assert ids["西区"]["scope_districts"] == ["west"]  # a name is kept as its code
    unknown = await client.post(
        "/api/v1/outbox/subscriptions",
        json={"name": "x", "kind": "department", "channel": "webhook", "target": west_rx.url,
              "scope_districts": ["海城区"]},
        headers=STAFF,
    )  # fmt: skip
    assert unknown.status_code == 400 and unknown.json()["field"] == "scope_districts"

    truck, _ = fleet.truck("粤A00003", company="东城运输")
    db.execute("UPDATE companies SET district = 'east' WHERE name = '东城运输'")
    _incident(db, "w-1", truck, 108.1, 22.9)
    _incident(db, "e-1", truck, 108.3, 22.9)
    _incident(db, "c-1", truck, None, None)  # the company's: east
    await deliverer.round(T0)

    def heard(rx: Receiver) -> list[tuple[str, str]]:
        return [(m.json()["data"]["incident_id"], m.json()["subject"]["district"]) for m in rx.got]

    assert heard(west_rx) == [("w-1", "west")]
    assert heard(east_rx) == [("e-1", "east"), ("c-1", "east")]
    assert heard(all_rx) == [("w-1", "west"), ("e-1", "east"), ("c-1", "east")]

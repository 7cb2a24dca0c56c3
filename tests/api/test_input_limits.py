"""Every body and field is bounded (issue 14, item 8): request bodies per route, enforced while
they arrive (a real server on a real socket), string and list fields, fence vertices counted
before any geometry is built, and fence geometry work kept off the event loop."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx import AsyncClient

from tracker.bench.common import free_port, start_server, stop_server

STAFF = {"Authorization": "Bearer limits-staff"}
BIG_FENCE = 150_000  # vertices: allowed on the test server, which raises the caps


@pytest.fixture(scope="module")
def server(database_url: str, redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_STAFF_TOKEN": STAFF["Authorization"].split()[1],
        "TRACKER_ENV": "test",
        "TRACKER_MAINTENANCE_IN_API": "false",
        "TRACKER_LIMITS__FENCE_VERTICES": str(BIG_FENCE),
        "TRACKER_LIMITS__REQUEST_VERTICES": str(BIG_FENCE),
    }
    proc = start_server(port, env)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_server(proc)


def _answer(sock: socket.socket, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """The status and body of the response on ``sock`` (a timeout fails the test)."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed without an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(v for k, v in _headers(head) if k == "content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode().split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]


def _connect(server: str) -> socket.socket:
    host, port = server.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def test_login_with_a_huge_declared_body_is_refused_before_reading_it(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )  # and not a byte of the 50 MB
        status, body = _answer(sock)
    assert status == 413
    assert b'"field":"body"' in body


def test_chunked_positions_body_is_cut_at_the_limit(server: str, fleet: Any) -> None:
    _, token = fleet.truck("L-001")
    chunk = b"x" * 65536
    with _connect(server) as sock:
        sock.sendall(
            b"POST /api/v1/positions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:  # 4 MiB and one chunk more, and the body never ends (no last chunk)
            for _ in range(4 * 16 + 1):
                sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server may answer and close before everything is sent
        status, body = _answer(sock)
    assert status == 413
    assert b'"field":"body"' in body


def test_body_limits_per_route(server: str, fleet: Any) -> None:
    _, token = fleet.truck("L-002")
    with httpx.Client(base_url=f"http://{server}", timeout=30) as c:
        big_name = {"name": "x" * 100_000}  # 100 KB: over the 64 KiB of ordinary routes
        resp = c.post("/api/v1/companies", json=big_name, headers=STAFF)
        assert resp.status_code == 413 and resp.json()["field"] == "body"
        # fence writes take more: a 100 KB site is read, and judged on its fields
        resp = c.post("/api/v1/sites", json={**big_name, "kind": "quarry"}, headers=STAFF)
        assert resp.status_code == 422 and resp.json()["field"] in ("name", "geometry")
        # positions keep their 4 MiB
        fixes = [{"time": "2026-01-01T00:00:00Z", "lon": 7.4, "lat": 43.7, "x": "y" * 900}] * 100
        resp = c.post("/api/v1/positions", json={"fixes": fixes}, headers=_bearer(token))
        assert resp.status_code == 200, resp.text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ring(cx: float, n: int, r: float = 0.01) -> list[list[float]]:
    pts = [
        [cx + r * math.cos(2 * math.pi * i / n), 43.7 + 0.7 * r * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    return [*pts, pts[0]]


@pytest.mark.slow
def test_a_big_fence_does_not_stall_other_requests(server: str, clean: None) -> None:
    """While a large (allowed) site is validated and stored, /healthz keeps answering: its
    worst latency stays a small part of the save (it was about half of it with the geometry
    work on the event loop)."""
    geometry = {"type": "Polygon", "coordinates": [_ring(7.40, BIG_FENCE - 1)]}
    saved: dict[str, Any] = {}

    def save() -> None:
        started = time.perf_counter()
        with httpx.Client(base_url=f"http://{server}", timeout=120) as c:
            resp = c.post(
                "/api/v1/sites",
                json={"name": "big", "kind": "quarry", "geometry": geometry},
                headers=STAFF,
            )
        saved["status"], saved["s"] = resp.status_code, time.perf_counter() - started

    with httpx.Client(base_url=f"http://{server}", timeout=60) as c:

        def healthz_s() -> float:
            started = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            return time.perf_counter() - started

        baseline = max(healthz_s() for _ in range(20))
        writer = threading.Thread(target=save)
        writer.start()
        during = []
        while writer.is_alive():
            during.append(healthz_s())
        writer.join()
    assert saved["status"] == 201
    worst = max(during)
    assert worst < max(0.3 * saved["s"], 10 * baseline), (worst, saved, baseline)


# -- fields and vertex caps, through the app (default settings) ------------------------------


async def test_accepted_materials_and_other_fields_are_bounded(
    client: AsyncClient, staff: dict[str, str]
) -> None:
    square = {"type": "Polygon", "coordinates": [_ring(7.40, 8)]}
    yard = {"name": "Y", "capacity_m3": 1000, "geometry": square}
    # the report: 32 strings of 1 MB each; the body is past the fence routes' limit
    huge = {**yard, "accepted_materials": ["m" * 1_000_000] * 32}
    resp = await client.post("/api/v1/yards", json=huge, headers=staff)
    assert resp.status_code == 413 and resp.json()["field"] == "body"
    long = {**yard, "accepted_materials": ["m" * 1000] * 32}  # within the body limit
    resp = await client.post("/api/v1/yards", json=long, headers=staff)
    assert resp.status_code == 422 and resp.json()["field"] == "accepted_materials.0"
    points = {"points": {f"type{i}": 1 for i in range(100)}}
    resp = await client.put("/api/v1/blacklist/policy", json=points, headers=staff)
    assert resp.status_code == 422 and resp.json()["field"] == "points"
    request = {"site_id": 1, "yard_id": 1, "windows": [{"start": "06:00", "end": "07:00"}] * 9}
    resp = await client.post("/api/v1/permits/propose-corridor", json=request, headers=staff)
    assert resp.status_code == 422 and resp.json()["field"] == "windows"


async def test_vertices_are_capped_per_fence_and_per_request(
    client: AsyncClient, staff: dict[str, str]
) -> None:
    over = {"type": "Polygon", "coordinates": [_ring(7.40, 20_001)]}  # 20,002 positions
    resp = await client.post(
        "/api/v1/sites", json={"name": "S", "kind": "quarry", "geometry": over}, headers=staff
    )
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["field"] == "geometry.coordinates"
    assert "at most 20000" in resp.json()["message"]
    line = [[7.40 + i * 1e-5, 43.70] for i in range(19_000)]
    corridor = {"geometry": {"type": "LineString", "coordinates": line}, "half_width_m": 50}
    permit = {
        "company_id": 1,
        "vehicle_ids": [1],
        "site_ids": [1],
        "yard_ids": [1],
        "corridors": [corridor] * 6,  # 114,000 positions: past the 100,000 of one request
        "valid_from": "2026-01-01",
        "valid_to": "2026-01-31",
        "windows": [{"start": "06:00", "end": "22:00"}],
        "quota_m3": 100,
    }
    resp = await client.post("/api/v1/permits", json=permit, headers=staff)
    assert resp.status_code == 400, resp.text[:300]
    assert resp.json()["field"] == "corridors.5.geometry.coordinates"

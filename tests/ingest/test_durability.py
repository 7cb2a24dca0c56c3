"""Acknowledged means stored: SIGKILL the server mid-stream, restart it, lose nothing acked."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tracker.bench.common import free_port, start_server

pytestmark = pytest.mark.slow


def _start_server(port: int, database_url: str, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_ENV": "test",
    }
    return start_server(port, env)


class Sender(threading.Thread):
    """Posts batches of 200 fixes and remembers exactly which fixes were acknowledged."""

    def __init__(self, url: str, token: str, seq0: int) -> None:  # seq0: first fix second
        super().__init__(daemon=True)
        self.url, self.token, self.seq = url, token, seq0
        self.t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
        self.acked: dict[str, dict[str, Any]] = {}
        self.failures = 0
        self.stop = threading.Event()

    def batch(self) -> list[dict[str, Any]]:
        out = []
        for _ in range(200):
            self.seq += 1
            t = (self.t0 + timedelta(seconds=self.seq)).isoformat().replace("+00:00", "Z")
            out.append(
                {
                    "time": t,
                    "lon": 7.4 + (self.seq % 1000) * 1e-5,
                    "lat": 43.7,
                    "speed_kmh": float(self.seq % 90),
                    "heading_deg": float(self.seq % 360),
                }
            )
        return out

    def run(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                fixes = self.batch()
                try:
                    resp = http.post(
                        self.url,
                        json={"fixes": fixes},
                        headers={"Authorization": f"Bearer {self.token}"},
                    )
                except httpx.HTTPError:
                    self.failures += 1
                    time.sleep(0.05)
                    continue
                if resp.status_code != 200:
                    self.failures += 1
                    continue
                for fix, res in zip(fixes, resp.json()["results"], strict=True):
                    if res["status"] in ("stored", "duplicate"):
                        self.acked[fix["time"]] = fix


def test_acknowledged_fixes_survive_sigkill(
    fleet: Any, db: Any, database_url: str, redis_url: str
) -> None:
    trucks = [fleet.truck(f"K-{n}") for n in range(3)]
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/positions"
    server = _start_server(port, database_url, redis_url)
    senders = [Sender(url, token, 0) for n, (_, token) in enumerate(trucks)]
    try:
        for s in senders:
            s.start()
        time.sleep(2.0)
        os.kill(server.pid, signal.SIGKILL)  # the process that writes, mid-stream
        server.wait(10)
        acked_before_kill = sum(len(s.acked) for s in senders)
        time.sleep(0.5)
        server = _start_server(port, database_url, redis_url)
        time.sleep(1.5)
    finally:
        for s in senders:
            s.stop.set()
        for s in senders:
            s.join(10)
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    assert acked_before_kill > 0
    assert sum(s.failures for s in senders) > 0, "the kill should have interrupted some requests"
    for (vid, _), sender in zip(trucks, senders, strict=True):
        rows = db.execute(
            "SELECT fix_time, lon, lat, speed_kmh, heading_deg FROM pings WHERE vehicle_id = %s",
            (vid,),
        ).fetchall()
        stored = {r[0].isoformat().replace("+00:00", "Z"): r[1:] for r in rows}
        for t, fix in sender.acked.items():
            assert t in stored, f"acknowledged fix {t} of vehicle {vid} is missing"
            assert stored[t] == (fix["lon"], fix["lat"], fix["speed_kmh"], fix["heading_deg"])

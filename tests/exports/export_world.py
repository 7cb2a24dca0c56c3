"""The exports tests' world: two companies, a truck each, tracks written by COPY."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg


@dataclass
class World:
    db: psycopg.Connection[Any]
    company_a: int
    company_b: int
    truck_a: int
    truck_b: int
    terminal_a: int
    terminal_b: int

    def track(
        self,
        vehicle_id: int,
        start: datetime,
        n: int,
        step_s: float,
        flagged: set[int] = frozenset(),
    ) -> None:
        """n fixes from start every step_s seconds, moving east; indexes in flagged get flags=2."""
        terminal = self.terminal_a if vehicle_id == self.truck_a else self.terminal_b
        with self.db.cursor().copy(
            "COPY pings (vehicle_id, fix_time, received_at, terminal_id, lon, lat, h3_cell,"
            " speed_kmh, heading_deg, valid, loaded, flags, source) FROM STDIN"
        ) as copy:
            for i in range(n):
                at = start + timedelta(seconds=i * step_s)
                copy.write_row(
                    (vehicle_id, at, at, terminal, 108.3 + i * 1e-5, 22.8 + (i % 97) * 1e-5,
                     0, float(i % 60), 90.0, True, i % 2 == 0, 2 if i in flagged else 0, 1)
                )  # fmt: skip

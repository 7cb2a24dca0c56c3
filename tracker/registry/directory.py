"""An in-process directory of vehicles (plate, company), refreshed from the database.

Read endpoints decorate positions with plate and company without a query per request.
"""

from __future__ import annotations

import time

from psycopg_pool import AsyncConnectionPool

from tracker.registry import repo


class VehicleDirectory:
    def __init__(self, pool: AsyncConnectionPool, ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._by_id: dict[int, repo.VehicleRow] = {}
        self._loaded_at = -1e9

    async def refresh(self) -> None:
        async with self._pool.connection() as conn:
            rows = await repo.all_vehicles(conn)
        self._by_id = {row.id: row for row in rows}
        self._loaded_at = time.monotonic()

    async def get_all(self) -> dict[int, repo.VehicleRow]:
        if time.monotonic() - self._loaded_at > self._ttl_s:
            await self.refresh()
        return self._by_id

    async def get(self, vehicle_id: int) -> repo.VehicleRow | None:
        found = (await self.get_all()).get(vehicle_id)
        if found is None:  # registered since the last refresh?
            await self.refresh()
            found = self._by_id.get(vehicle_id)
        return found

"""The fences a caller may see on the map.

Staff see every active fence. A company user sees its own company's sites, the corridors of its
own company's permits, and the city's public places: disposal yards and no-go zones. Nothing
else (other companies' sites, their corridors, or fences imported under other roles).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from tracker.accounts.models import Principal, Role
from tracker.geofence.store import FenceRow, load_rows

_COLUMNS = "f.id, f.kind, f.role, f.name, f.geometry, f.radius_m, f.half_width_m, f.version"
_COMPANY_FENCES = f"""
SELECT {_COLUMNS} FROM fences f
 WHERE f.active AND f.id IN (
       SELECT fence_id FROM sites WHERE company_id = %(company)s
 UNION SELECT c.fence_id FROM permit_corridors c JOIN permits p ON p.id = c.permit_id
        WHERE p.company_id = %(company)s AND c.fence_id IS NOT NULL
 UNION SELECT fence_id FROM yards
 UNION SELECT fence_id FROM zones)
 ORDER BY f.id"""


async def visible_fences(conn: AsyncConnection[Any], who: Principal) -> list[FenceRow]:
    if who.role != Role.company_user:
        return await load_rows(conn)
    async with conn.cursor(row_factory=class_row(FenceRow)) as cur:
        await cur.execute(_COMPANY_FENCES, {"company": who.company_id})
        return await cur.fetchall()

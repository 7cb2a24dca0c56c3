"""What the public page says about a vehicle, and the SQL behind it.

green: a valid (approved) permit today and not listed, points below the amber mark;
amber: no permit today, or the permit is suspended, or points at/above the amber mark;
red:   blacklisted (an active listing). A listing voids a permit that is otherwise valid today:
the page then says so (``permit_void``) rather than "valid" next to "blacklisted".

The reason is a code (``valid``, ``near_blacklist``, ``no_permit``, ``suspended``,
``blacklisted``) that the page puts in words in the reader's language (tracker/public/words.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

AConn = psycopg.AsyncConnection[Any]

_FACTS = """
SELECT v.plate, c.name AS company,
       EXISTS (SELECT 1 FROM blacklisted_vehicles b WHERE b.vehicle_id = v.id) AS listed,
       (SELECT max(p.valid_to) FROM permits p JOIN permit_vehicles pv ON pv.permit_id = p.id
         WHERE pv.vehicle_id = v.id AND p.state = 'approved'
           AND p.valid_from <= %(today)s AND p.valid_to >= %(today)s) AS valid_to,
       EXISTS (SELECT 1 FROM permits p JOIN permit_vehicles pv ON pv.permit_id = p.id
                WHERE pv.vehicle_id = v.id AND p.state = 'suspended'
                  AND p.valid_from <= %(today)s AND p.valid_to >= %(today)s) AS suspended,
       (SELECT COALESCE(sum(vp.points), 0) FROM vehicle_points vp
         WHERE vp.vehicle_id = v.id AND vp.voided_at IS NULL
           AND vp.at > now() - make_interval(days => s.window_days)) AS points,
       s.amber_points
  FROM vehicle_codes k
  JOIN vehicles v ON v.id = k.vehicle_id
  JOIN companies c ON c.id = v.company_id
  CROSS JOIN credit_settings s
 WHERE k.code = %(code)s AND v.active
"""


@dataclass(frozen=True, slots=True)
class PublicStatus:
    plate: str
    company: str
    valid_to: date | None  # the approved permit's last day, when one is valid today
    colour: str  # green | amber | red
    reason: str  # valid | near_blacklist | no_permit | suspended | blacklisted

    @property
    def permit_void(self) -> bool:
        """An approved permit dated for today that the blacklist voids."""
        return self.valid_to is not None and self.reason == "blacklisted"


def judge(row: dict[str, Any]) -> PublicStatus:
    valid_to: date | None = row["valid_to"]
    if row["listed"]:
        colour, reason = "red", "blacklisted"
    elif valid_to is None:
        colour, reason = "amber", "suspended" if row["suspended"] else "no_permit"
    elif row["points"] >= row["amber_points"]:
        colour, reason = "amber", "near_blacklist"
    else:
        colour, reason = "green", "valid"
    return PublicStatus(row["plate"], row["company"], valid_to, colour, reason)


async def by_code(conn: AConn, code: str, today: date) -> PublicStatus | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_FACTS, {"code": code, "today": today})
        row = await cur.fetchone()
    return None if row is None else judge(row)


async def code_of(conn: AConn, vehicle_id: int) -> tuple[str, int] | None:
    """The vehicle's code (issued now if it has none) and its company."""
    cur = await conn.execute(
        """WITH issued AS (INSERT INTO vehicle_codes (vehicle_id)
                           SELECT id FROM vehicles WHERE id = %(v)s
                           ON CONFLICT (vehicle_id) DO NOTHING RETURNING vehicle_id, code)
           SELECT COALESCE((SELECT code FROM issued),
                           (SELECT code FROM vehicle_codes WHERE vehicle_id = %(v)s)),
                  v.company_id
             FROM vehicles v WHERE v.id = %(v)s""",
        {"v": vehicle_id},
    )
    row = await cur.fetchone()
    return None if row is None or row[0] is None else (str(row[0]), int(row[1]))

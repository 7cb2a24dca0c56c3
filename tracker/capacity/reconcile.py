"""``tracker capacity reconcile [--fix]``: recompute every yard's fill from the trips and the
adjustments, and report where the stored fill differs.

Expected fill = the volume of every completed trip into the yard, as the ledger trigger books
it (``trip_ledger_m3``: the trip's own volume, else the truck's rated volume) + the yard's
manual adjustments.
Stored fill = the running counter + the ledger rows not folded into it yet. ``--fix`` repairs the
ledger's trip rows (missing, stale or of another volume or yard) and resets the counter to the
sum of the folded rows, in one transaction, audited; without it the command only reports and
exits 1 when a yard differs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tracker.capacity.repo import CAPACITY_LOCK
from tracker.settings import Settings

Conn = psycopg.Connection[Any]

# completed trips into an existing yard, with the volume the ledger books for them
_EXPECTED_TRIPS = """
SELECT t.trip_id, y.id AS yard_id,
       trip_ledger_m3(t.volume_m3, v.rated_volume_m3) AS volume_m3,
       trip_ledger_source(t.volume_m3, t.volume_source) AS volume_source,
       t.completed_at
  FROM trips t
  JOIN yards y ON t.yard_id ~ '^[0-9]{1,18}$' AND y.id = t.yard_id::bigint
  LEFT JOIN vehicles v ON v.id = t.vehicle_id
 WHERE t.outcome = 'yard' AND t.completed_at IS NOT NULL
   AND trip_ledger_m3(t.volume_m3, v.rated_volume_m3) IS NOT NULL
"""

_REPORT = f"""
WITH expected AS ({_EXPECTED_TRIPS}),
booked AS (SELECT trip_id, yard_id, volume_m3 FROM yard_ledger WHERE kind = 'trip'),
pairs AS (
    SELECT e.yard_id AS e_yard, e.volume_m3 AS e_m3, b.yard_id AS b_yard, b.volume_m3 AS b_m3
      FROM expected e FULL JOIN booked b ON b.trip_id = e.trip_id
),
per_yard AS (
    SELECT yard_id, sum(expected_m3) AS expected_m3, sum(missing) AS missing,
           sum(stale) AS stale
      FROM (SELECT e_yard AS yard_id, e_m3 AS expected_m3,
                   ((e_yard, e_m3) IS DISTINCT FROM (b_yard, b_m3))::int AS missing, 0 AS stale
              FROM pairs WHERE e_yard IS NOT NULL
            UNION ALL
            SELECT b_yard, 0, 0, ((e_yard, e_m3) IS DISTINCT FROM (b_yard, b_m3))::int
              FROM pairs WHERE b_yard IS NOT NULL) x
     GROUP BY yard_id
),
adjusted AS (
    SELECT yard_id, sum(volume_m3) AS m3 FROM yard_ledger WHERE kind <> 'trip' GROUP BY yard_id
)
SELECT y.id, y.name, yard_fill_m3(y.id) AS stored,
       COALESCE(p.expected_m3, 0) + COALESCE(a.m3, 0) AS expected,
       COALESCE(p.missing, 0) AS missing, COALESCE(p.stale, 0) AS stale
  FROM yards y
  LEFT JOIN per_yard p ON p.yard_id = y.id
  LEFT JOIN adjusted a ON a.yard_id = y.id
 ORDER BY y.id
"""


@dataclass(frozen=True, slots=True)
class YardDifference:
    yard_id: int
    name: str
    stored_m3: Decimal
    expected_m3: Decimal
    missing_trips: int  # trips the ledger lacks (or books with another volume or yard)
    stale_rows: int  # ledger trip rows no completed trip stands behind (as booked)

    @property
    def difference_m3(self) -> Decimal:
        return self.stored_m3 - self.expected_m3

    @property
    def ok(self) -> bool:
        return self.difference_m3 == 0 and self.missing_trips == 0 and self.stale_rows == 0


def report(conn: Conn) -> list[YardDifference]:
    return [YardDifference(*row) for row in conn.execute(_REPORT).fetchall()]


def repair(conn: Conn) -> list[YardDifference]:
    """Make the ledger match the trips and the counter match the ledger; returns the report
    from before the repair."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CAPACITY_LOCK,))
        before = report(conn)
        conn.execute(
            f"""DELETE FROM yard_ledger l WHERE l.kind = 'trip' AND NOT EXISTS (
                    SELECT 1 FROM ({_EXPECTED_TRIPS}) e WHERE e.trip_id = l.trip_id)"""
        )
        conn.execute(
            f"""INSERT INTO yard_ledger (yard_id, kind, trip_id, volume_m3, volume_source, at,
                                         actor)
                SELECT yard_id, 'trip', trip_id, volume_m3, volume_source, completed_at,
                       'reconcile'
                  FROM ({_EXPECTED_TRIPS}) e
                ON CONFLICT (trip_id) DO UPDATE
                   SET yard_id = EXCLUDED.yard_id, volume_m3 = EXCLUDED.volume_m3,
                       volume_source = EXCLUDED.volume_source, at = EXCLUDED.at,
                       actor = 'reconcile'
                 WHERE (yard_ledger.yard_id, yard_ledger.volume_m3)
                       IS DISTINCT FROM (EXCLUDED.yard_id, EXCLUDED.volume_m3)"""
        )
        conn.execute("SELECT yard_fill_fold()")
        conn.execute("INSERT INTO yard_fill (yard_id) SELECT id FROM yards ON CONFLICT DO NOTHING")
        # rows inserted by transactions still open are unfolded: they are not in the counter
        conn.execute(
            """UPDATE yard_fill f SET fill_m3 = COALESCE((SELECT sum(volume_m3) FROM yard_ledger l
                                                          WHERE l.yard_id = f.yard_id
                                                            AND l.folded), 0),
                                      updated_at = now()"""
        )
        for d in before:
            if not d.ok:
                conn.execute(
                    "INSERT INTO audit_log (actor, action, entity, entity_id, before, after) "
                    "VALUES ('cli', 'reconcile', 'yard_capacity', %s, %s, %s)",
                    (
                        d.yard_id,
                        Jsonb({"fill_m3": str(d.stored_m3)}),
                        Jsonb({"fill_m3": str(d.expected_m3)}),
                    ),
                )
    return before


def render(rows: list[YardDifference]) -> str:
    head = ("yard_id", "name", "stored_m3", "expected_m3", "difference_m3", "missing", "stale", "")
    body = [
        (
            str(d.yard_id),
            d.name,
            f"{d.stored_m3:.3f}",
            f"{d.expected_m3:.3f}",
            f"{d.difference_m3:+.3f}",
            str(d.missing_trips),
            str(d.stale_rows),
            "ok" if d.ok else "DIFFERS",
        )
        for d in rows
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *body]
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker capacity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconcile", help="recompute every yard's fill and report differences")
    rec.add_argument("--fix", action="store_true", help="repair the ledger and the fill")
    rec.add_argument("--database-url", help="defaults to TRACKER_DATABASE_URL")
    args = parser.parse_args(argv)
    url = args.database_url or Settings.load().database_url
    with psycopg.connect(url, autocommit=True) as conn:
        rows = repair(conn) if args.fix else report(conn)
    print(render(rows))
    bad = [d for d in rows if not d.ok]
    if not bad:
        print("every yard's fill matches its trips and adjustments")
        return 0
    if args.fix:
        print(f"repaired {len(bad)} yard(s)")
        return 0
    print(f"{len(bad)} yard(s) differ; run with --fix to repair")
    return 1

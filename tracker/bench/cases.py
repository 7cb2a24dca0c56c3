"""``tracker bench cases``: a unit's case queue and a case's detail over 100,000 cases.

Loads the default taxonomy, a city with 3 districts (3 streets each) and 12 units (4 kinds per
district), then ``--cases`` cases spread over the units with their hash-chained events (each
case walked to a random state along the lifecycle) by COPY. Then times, with the API's own
queries (tracker.cases.repo, scoped to a unit's officer):

- ``list_p95_ms``: a unit's queue filtered by state, a page of 50 at a random depth, keyset;
- ``detail_p95_ms``: one case with its timeline, notices and subtype (as ``GET /cases/{id}``);
- baselines measured in the same run: the same pages by OFFSET (``offset_p95_ms``), and the
  keyset pages with the queue indexes dropped inside a rolled-back transaction
  (``noindex_p95_ms``); ratios against them.

``pack_s``, ``verify_ok`` and ``tamper_detected`` come from the evidence packs' bench
(tracker.bench.packs: one pack of a 2-hour track at 5 s, checked offline, then tampered every
way); this bench checks the chains of a sample of stored cases itself (``chains_ok``).
Progress goes to stderr; one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tracker.accounts.models import BOOTSTRAP, Principal, Role
from tracker.bench.common import scratch_database
from tracker.bench.packs import measure_pack, sample_dossier
from tracker.cases import jurisdictions, repo, taxonomy
from tracker.cases.machine import Deadlines, State, due_at
from tracker.evidence.chain import GENESIS, link, verify
from tracker.settings import Settings

DB_NAME = "tracker_bench_cases"
KINDS = ("urban_management", "traffic_police", "environment", "street_office")
SUBTYPE_OF = {"urban_management": "dumping_at_will", "traffic_police": "speeding",
              "environment": "site_dust", "street_office": "route_deviation"}  # fmt: skip
WALK = [
    ("open", State.opened), ("review", State.reviewed), ("dispatch", State.dispatched),
    ("notify", State.notified), ("accept", State.accepted), ("decide", State.decided),
    ("deliver", State.delivered), ("execute", State.executed), ("close", State.closed),
]  # fmt: skip
PAGE = 50


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _areas() -> list[dict[str, Any]]:
    def feat(code: str, level: str, parent: str | None, geom: dict[str, Any]) -> dict[str, Any]:
        props = {"code": code, "name": code, "level": level, "parent": parent}
        return {"type": "Feature", "properties": props, "geometry": geom}

    out = [feat("city", "city", None, _box(108.0, 22.6, 108.6, 23.0))]
    for d in range(3):
        x0 = 108.0 + 0.2 * d
        out.append(feat(f"d{d}", "district", "city", _box(x0, 22.6, x0 + 0.2, 23.0)))
        for s in range(3):
            y0 = 22.6 + s * 0.4 / 3
            out.append(feat(f"d{d}s{s}", "street", f"d{d}", _box(x0, y0, x0 + 0.2, y0 + 0.13)))
    return out


async def setup(url: str) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Taxonomy, areas, units, companies; the (unit, district, street) triples and companies."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await taxonomy.load_taxonomy(conn, taxonomy.default_taxonomy(), BOOTSTRAP)
        areas = {
            a["code"]: a["id"] for a in await jurisdictions.import_areas(conn, _areas(), BOOTSTRAP)
        }
        units = []
        for d in range(3):
            for kind in KINDS:
                unit = await jurisdictions.create_unit(
                    conn, f"{kind}-{d}", f"{kind} {d}", kind, f"d{d}", BOOTSTRAP
                )
                units.append((int(unit["id"]), areas[f"d{d}"], areas[f"d{d}s{d % 3}"]))
        companies = []
        for c in range(60):
            cur = await conn.execute(
                "INSERT INTO companies (name) VALUES (%s) RETURNING id", (f"bench co {c}",)
            )
            row = await cur.fetchone()
            assert row is not None
            companies.append(int(row[0]))
    return units, companies


def _case_rows(
    n: int, units: list[tuple[int, int, int]], companies: list[int], now: datetime
) -> tuple[io.StringIO, io.StringIO, int]:
    """COPY text of the cases and of their events (chained)."""
    rng = random.Random(15)
    d = Deadlines()
    cases, events = io.StringIO(), io.StringIO()
    total_events = 0
    kinds = {u[0]: KINDS[i % 4] for i, u in enumerate(units)}
    for case_id in range(1, n + 1):
        unit, district, street = units[case_id % len(units)]
        opened = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        steps = WALK[: rng.randint(1, len(WALK))]
        prev, at = GENESIS, opened
        for seq, (action, state) in enumerate(steps, start=1):
            event = {"action": action, "at": repo.iso(at), "case_id": case_id, "seq": seq,
                     "actor": {"username": "bench", "user_id": None, "role": "admin"},
                     "from": None if seq == 1 else steps[seq - 2][1].value, "to": state.value,
                     "note": "", "detail": {}}  # fmt: skip
            prev = link(prev, event)
            events.write(f"{case_id}\t{seq}\t{at.isoformat()}\t{action}\t"
                         f"{json.dumps(event, ensure_ascii=False)}\t{prev}\n")  # fmt: skip
            state_at = at
            at = at + timedelta(seconds=rng.uniform(600, 3 * 86400))
        total_events += len(steps)
        state = steps[-1][1]
        due = due_at(state, opened_at=opened, state_at=state_at, d=d)
        cases.write("\t".join(str(v) for v in (
            case_id, SUBTYPE_OF[kinds[unit]], state.value, "hand",
            companies[case_id % len(companies)], 108.1, 22.7, district, street, unit,
            f"bench case {case_id}", opened.isoformat(), state_at.isoformat(),
            "\\N" if due is None else due.isoformat(), prev, len(steps),
        )) + "\n")  # fmt: skip
    cases.seek(0)
    events.seek(0)
    return cases, events, total_events


def load(url: str, cases: io.StringIO, events: io.StringIO) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        cols = ("id, subtype, state, source, company_id, lon, lat, district_id, area_id, unit_id,"
                " facts, opened_at, state_at, due_at, last_hash, events")  # fmt: skip
        with conn.cursor() as cur:
            with cur.copy(f"COPY cases ({cols}) FROM STDIN") as copy:
                copy.write(cases.read())
            with cur.copy(
                "COPY case_events (case_id, seq, at, action, event, hash) FROM STDIN"
            ) as copy:
                copy.write(events.read())
        conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), max(id)) FROM cases")
        conn.execute("ANALYZE cases")
        conn.execute("ANALYZE case_events")


def p95(times: list[float]) -> float:
    return round(statistics.quantiles(times, n=20)[-1], 2)


async def _pages(
    conn: psycopg.AsyncConnection[Any], units: list[tuple[int, int, int]], n: int
) -> list[tuple[Principal, str, tuple[datetime, int] | None, int]]:
    """Random (unit officer, state, keyset cursor, offset) pages, prepared untimed."""
    rng = random.Random(7)
    out = []
    states = ["opened", "reviewed", "dispatched", "notified", "closed"]
    for _ in range(n):
        unit = rng.choice(units)[0]
        state = rng.choice(states)
        offset = PAGE * rng.randint(0, 20)
        cur = await conn.execute(
            "SELECT opened_at, id FROM cases WHERE unit_id = %s AND state = %s "
            "ORDER BY opened_at DESC, id DESC OFFSET %s LIMIT 1",
            (unit, state, max(offset - 1, 0)),
        )
        row = await cur.fetchone()
        cursor = None if offset == 0 or row is None else (row[0], int(row[1]))
        who = Principal("bench", Role.enforcement_officer, None, None, unit)
        out.append((who, state, cursor, offset))
    return out


async def measure(
    url: str, units: list[tuple[int, int, int]], n_cases: int, n: int
) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        pages = await _pages(conn, units, n)
        keyset, offset = [], []
        for who, state, cursor, off in pages:
            t = time.perf_counter()
            await repo.queue(conn, who, unit_id=None, state=state, subtype=None, overdue_at=None,
                             after=cursor, limit=PAGE)  # fmt: skip
            keyset.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await conn.execute(
                "SELECT c.id FROM cases c WHERE c.unit_id = %s AND c.state = %s "
                "ORDER BY c.opened_at DESC, c.id DESC OFFSET %s LIMIT %s",
                (who.unit_id, state, off, PAGE),
            )
            offset.append((time.perf_counter() - t) * 1000)
        log(f"keyset p95 {p95(keyset)} ms, offset p95 {p95(offset)} ms")
        rng = random.Random(9)
        detail = []
        for _ in range(n):
            case_id = rng.randint(1, n_cases)
            unit = units[case_id % len(units)][0]
            who = Principal("bench", Role.enforcement_officer, None, None, unit)
            t = time.perf_counter()
            row = await repo.load(conn, case_id, who)  # what GET /cases/{id} reads
            assert row is not None
            await repo.events(conn, case_id)
            await repo.notices(conn, case_id=case_id)
            await repo.subtype(conn, row["subtype"])
            detail.append((time.perf_counter() - t) * 1000)
        log(f"detail p95 {p95(detail)} ms")
        noindex = await _without_indexes(conn, pages)
        log(f"keyset without the queue indexes p95 {p95(noindex)} ms")
        sample = [rng.randint(1, n_cases) for _ in range(100)]
        chains_ok = True
        for case_id in sample:
            evs = await repo.events(conn, case_id)
            chains_ok &= verify((e["event"], e["hash"]) for e in evs).ok
    return {"keyset": keyset, "offset": offset, "detail": detail, "noindex": noindex,
            "chains_ok": chains_ok}  # fmt: skip


async def _without_indexes(conn: psycopg.AsyncConnection[Any], pages: list[Any]) -> list[float]:
    times = []
    async with conn.transaction(force_rollback=True):
        await conn.execute("DROP INDEX cases_unit_queue, cases_unit_opened")
        for who, state, cursor, _ in pages[: max(20, len(pages) // 5)]:
            t = time.perf_counter()
            await repo.queue(conn, who, unit_id=None, state=state, subtype=None, overdue_at=None,
                             after=cursor, limit=PAGE)  # fmt: skip
            times.append((time.perf_counter() - t) * 1000)
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench cases", description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database-name", default=DB_NAME, help="the scratch database")
    args = parser.parse_args(argv)
    settings = Settings.load()
    url = scratch_database(settings, args.database_name)
    units, companies = asyncio.run(setup(url))
    log(f"{len(units)} units over 3 districts, {len(companies)} companies")
    t = time.perf_counter()
    cases, events, n_events = _case_rows(args.cases, units, companies, datetime.now(UTC))
    load(url, cases, events)
    load_s = time.perf_counter() - t
    log(f"loaded {args.cases} cases and {n_events} chained events in {load_s:.1f} s")
    m = asyncio.run(measure(url, units, args.cases, args.queries))
    list_p95, offset_p95 = p95(m["keyset"]), p95(m["offset"])
    figures = {
        "cases": args.cases, "events": n_events, "units": len(units), "districts": 3,
        "load_s": round(load_s, 1), "page": PAGE,
        "list_p95_ms": list_p95, "detail_p95_ms": p95(m["detail"]),
        "offset_p95_ms": offset_p95, "noindex_p95_ms": p95(m["noindex"]),
        "offset_ratio": round(offset_p95 / list_p95, 1),
        "noindex_ratio": round(p95(m["noindex"]) / list_p95, 1),
        "chains_ok": m["chains_ok"],
    }  # fmt: skip
    print("building one evidence pack with a 2-hour track (tracker.bench.packs)", file=sys.stderr)
    pack = measure_pack(sample_dossier(hours=2.0, interval_s=5.0))
    figures |= {
        "pack_s": pack["pack_s"], "pack_fixes": pack["fixes"],
        "verify_ok": pack["verify_ok"], "tamper_detected": pack["tamper_detected"],
    }  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

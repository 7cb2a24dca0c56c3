"""``tracker seed``: register a demo fleet and write its terminal tokens to a file.

Safe to run twice: companies, vehicles and terminals are upserted by name, plate and identity;
tokens are issued anew each run (the old ones stop working) and the file is rewritten.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import orjson
import psycopg

from tracker.db import migrate
from tracker.registry import repo
from tracker.settings import Settings

DEMO_COMPANY = "Demo Haulage Co."


def seed_fleet(conninfo: str, trucks: int, prefix: str = "DEMO") -> list[dict[str, object]]:
    fleet: list[dict[str, object]] = []
    with psycopg.connect(conninfo) as conn, conn.transaction():
        company_id = repo.ensure_company(conn, DEMO_COMPANY)
        for n in range(1, trucks + 1):
            plate = f"{prefix}-{n:05d}"
            volume_m3 = (12.0, 16.0, 20.0)[n % 3]
            vehicle_id = repo.ensure_vehicle(conn, plate, company_id, volume_m3)
            terminal_id = repo.ensure_terminal(conn, f"{prefix}-T{n:05d}", vehicle_id, "generic")
            token = repo.issue_token(conn, terminal_id)
            fleet.append(
                {
                    "vehicle_id": vehicle_id,
                    "plate": plate,
                    "terminal_id": terminal_id,
                    "company_id": company_id,
                    "token": token,
                }
            )
    return fleet


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker seed", description=__doc__)
    parser.add_argument("--trucks", type=int, default=50)
    parser.add_argument("--prefix", default="DEMO")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("TRACKER_DATA_DIR", ".data")) / "demo-fleet.json",
    )
    args = parser.parse_args(argv)
    settings = Settings.load()
    migrate(settings.database_url)
    fleet = seed_fleet(settings.database_url, args.trucks, args.prefix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(fleet, option=orjson.OPT_INDENT_2))
    os.chmod(tmp, 0o600)  # the file holds secrets
    tmp.replace(args.out)
    print(f"seeded {len(fleet)} trucks of {DEMO_COMPANY!r}; tokens in {args.out}")
    return 0

"""``tracker cases taxonomy [FILE]`` (the default when no file) and ``tracker cases areas FILE``
(a GeoJSON FeatureCollection of city, district, street and grid polygons: properties ``code``,
``name``, ``level``, ``parent``). Both add or update by code, audited as actor ``cli``."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
from pydantic import ValidationError

from tracker.accounts.models import CLI_ACTOR
from tracker.cases import jurisdictions, taxonomy
from tracker.cases.models import TaxonomyIn
from tracker.errors import TrackerError
from tracker.settings import Settings


async def _run(conninfo: str, what: str, data: Any) -> str:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        if what == "taxonomy":
            counts = await taxonomy.load_taxonomy(conn, data, CLI_ACTOR)
            return f"{counts['categories']} categories, {counts['subtypes']} subtypes loaded"
        areas = await jurisdictions.import_areas(conn, data, CLI_ACTOR)
        return f"{len(areas)} areas imported"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker cases", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    tax = sub.add_parser("taxonomy", help="load a taxonomy JSON (default: the shipped one)")
    tax.add_argument("file", nargs="?")
    areas = sub.add_parser("areas", help="import jurisdiction polygons (GeoJSON)")
    areas.add_argument("file")
    for each in (tax, areas):
        each.add_argument("--database-url", help="defaults to TRACKER_DATABASE_URL")
    args = parser.parse_args(argv)
    try:
        if args.what == "taxonomy":
            data: Any = (
                TaxonomyIn.model_validate_json(Path(args.file).read_bytes())
                if args.file
                else taxonomy.default_taxonomy()
            )
        else:
            collection = json.loads(Path(args.file).read_bytes())
            if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
                parser.exit(2, "tracker cases areas: a GeoJSON FeatureCollection is expected\n")
            data = collection.get("features") or []
        conninfo = args.database_url or Settings.load().database_url
        print(asyncio.run(_run(conninfo, args.what, data)))
    except (OSError, ValueError, ValidationError) as exc:
        parser.exit(2, f"tracker cases {args.what}: {exc}\n")
    except TrackerError as exc:
        parser.exit(2, f"tracker cases {args.what}: {exc.field}: {exc.message}\n")
    return 0

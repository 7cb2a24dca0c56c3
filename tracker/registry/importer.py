"""``tracker import geojson FILE --kind site|yard|zone`` and ``tracker import osm FILE.pbf``.

GeoJSON features become sites, yards or zones (properties fill the fields: ``name``, ``kind``,
``capacity_m3``, ``opening_hours``, ``accepted_materials``, ``schedule``, ``speed_limit_kmh``);
each is written like an API call, audited as ``cli``, and announced to the engine. An OSM extract
becomes the road network for corridor proposals (copied into the data folder), and its
landuse=construction / quarry polygons candidate sites, landuse=landfill candidate yards.

Map data © OpenStreetMap contributors (ODbL 1.0) when importing OpenStreetMap files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import Progress

from tracker.accounts.models import Principal, Role
from tracker.errors import TrackerError
from tracker.registry import api, models, places, service
from tracker.roads import ROADS_PBF
from tracker.settings import LimitSettings, Settings

CLI = Principal("cli", Role.admin)
KINDS: dict[str, tuple[service.Entity, type[BaseModel]]] = {
    "site": (api.SITE, models.SiteIn),
    "yard": (api.YARD, models.YardIn),
    "zone": (api.ZONE, models.ZoneIn),
}


@dataclass
class Outcome:
    created: list[int] = field(default_factory=list)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def body_for(kind: str, feature: dict[str, Any], n: int, defaults: dict[str, Any]) -> BaseModel:
    props = dict(feature.get("properties") or {})
    values = {**defaults, **{k: v for k, v in props.items() if v is not None}}
    values.setdefault("name", f"{kind} {n}")
    values["geometry"] = feature.get("geometry")
    return KINDS[kind][1].model_validate(values)


async def import_bodies(
    conninfo: str,
    redis_url: str,
    kind: str,
    bodies: Iterable[tuple[str, BaseModel | str]],
    total: int,
    limits: LimitSettings | None = None,
) -> Outcome:
    """Write each body in its own transaction (one bad feature spoils nothing else); with
    ``limits``, a feature over the API's vertex cap is refused as the API would."""
    entity = KINDS[kind][0]
    outcome = Outcome()
    redis = aioredis.Redis.from_url(redis_url)
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    async with conn:
        existing = {
            r[0]
            for r in await (
                await conn.execute(
                    psycopg.sql.SQL("SELECT name FROM {}").format(
                        psycopg.sql.Identifier(entity.table)
                    )
                )
            ).fetchall()
        }
        with Progress(console=Console(stderr=True)) as progress:
            task = progress.add_task(f"importing {kind}s", total=total)
            for label, body in bodies:
                progress.advance(task)
                if isinstance(body, str):
                    outcome.errors.append(f"{label}: {body}")
                    continue
                if getattr(body, "name", None) in existing:
                    outcome.skipped += 1
                    continue
                try:
                    if limits is not None:
                        places.check_sizes([("geometry", getattr(body, "geometry", None))], limits)
                    written = await service.create(conn, entity, body, CLI)
                except (TrackerError, psycopg.Error) as exc:
                    outcome.errors.append(f"{label}: {getattr(exc, 'message', exc)}")
                    continue
                outcome.created.append(int(written.row["id"]))
                await _announce(redis, written.changes, outcome)
    await redis.aclose()
    return outcome


async def _announce(redis: aioredis.Redis, changes: list[Any], outcome: Outcome) -> None:
    try:
        await places.publish(redis, changes)
    except (OSError, aioredis.RedisError) as exc:  # workers resync on their own later
        outcome.errors.append(f"engine not told (it will resync): {exc}")


def geojson_bodies(
    path: Path, kind: str, defaults: dict[str, Any]
) -> list[tuple[str, BaseModel | str]]:
    data = json.loads(path.read_text("utf-8"))
    features = data.get("features", []) if data.get("type") == "FeatureCollection" else [data]
    out: list[tuple[str, BaseModel | str]] = []
    for n, feature in enumerate(features, start=1):
        label = f"feature {n}"
        try:
            out.append((label, body_for(kind, feature, n, defaults)))
        except ValidationError as exc:
            first = exc.errors()[0]
            out.append((label, f"{'.'.join(map(str, first['loc']))}: {first['msg']}"))
    return out


def osm_bodies(pbf: Path, capacity_m3: float) -> dict[str, list[tuple[str, BaseModel | str]]]:
    from tracker.roads.landuse import load_landuse

    found: dict[str, list[tuple[str, BaseModel | str]]] = {"site": [], "yard": []}
    for area in load_landuse(pbf):
        geometry = json.loads(json.dumps(area.polygon.__geo_interface__))
        name = f"{area.name or area.kind} (osm {area.osm_id})"
        label = f"osm {area.osm_id}"
        if area.kind == "landfill":
            values: dict[str, Any] = {"name": name, "geometry": geometry}
            found["yard"].append((label, models.YardIn(**values, capacity_m3=capacity_m3)))
        else:
            site = {"name": name, "geometry": geometry, "kind": area.kind}
            found["site"].append((label, models.SiteIn.model_validate(site)))
    return found


def _report(kind: str, outcome: Outcome) -> int:
    print(
        f"{kind}s: {len(outcome.created)} created, {outcome.skipped} already there, "
        f"{len(outcome.errors)} refused"
    )
    for line in outcome.errors[:20]:
        print(f"  {line}")
    return 1 if outcome.errors else 0  # something was refused: say so to scripts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker import", description=__doc__)
    sub = parser.add_subparsers(dest="source", required=True)
    gj = sub.add_parser("geojson", help="sites, yards or zones from a GeoJSON file")
    gj.add_argument("file", type=Path)
    gj.add_argument("--kind", required=True, choices=sorted(KINDS))
    gj.add_argument(
        "--site-kind", default="construction", choices=["construction", "quarry", "mixing"]
    )
    gj.add_argument("--capacity-m3", type=float, default=100_000.0, help="yards without one")
    osm = sub.add_parser("osm", help="road network and candidate sites and yards from OSM")
    osm.add_argument("file", type=Path)
    osm.add_argument("--capacity-m3", type=float, default=100_000.0)
    osm.add_argument("--data-dir", type=Path, help="defaults to TRACKER_DATA_DIR")
    args = parser.parse_args(argv)
    settings = Settings.load()
    if not args.file.is_file():
        parser.error(f"no such file: {args.file}")
    if args.source == "geojson":
        defaults = {
            "site": {"kind": args.site_kind},
            "yard": {"capacity_m3": args.capacity_m3},
            "zone": {},
        }[args.kind]
        bodies = geojson_bodies(args.file, args.kind, defaults)
        outcome = asyncio.run(
            import_bodies(
                settings.database_url,
                settings.redis_url,
                args.kind,
                bodies,
                len(bodies),
                settings.limits,
            )
        )
        return _report(args.kind, outcome)
    return import_osm(
        args.file, args.data_dir or Path(settings.data_dir), args.capacity_m3, settings
    )


def import_osm(pbf: Path, data_dir: Path, capacity_m3: float, settings: Settings) -> int:
    from tracker.roads.network import RoadNetwork

    console = Console(stderr=True)
    with console.status("reading the road network"):
        network = RoadNetwork.from_pbf(pbf)
    print(
        f"road network: {len(network)} nodes, {network.edge_count} edges, "
        f"{network.total_length_km():.0f} km"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / ROADS_PBF
    if pbf.resolve() != target.resolve():
        shutil.copyfile(pbf, target)
    print(f"saved for corridor proposals as {target}")
    with console.status("reading landuse polygons"):
        found = osm_bodies(pbf, capacity_m3)
    status = 0
    for kind, bodies in found.items():
        outcome = asyncio.run(
            import_bodies(
                settings.database_url,
                settings.redis_url,
                kind,
                bodies,
                len(bodies),
                settings.limits,
            )
        )
        status |= _report(kind, outcome)
    return status

"""Evidence packs: ``build_pack(dossier)`` makes a ZIP that a court or the party can check
offline (``tracker evidence verify PACK``, tracker.evidence.verify).

Files of a pack:
- ``case.pdf``: the case file in Chinese (tracker.evidence.pdf);
- ``evidence.geojson``: the track (LineString and its fixes as Points), the fences and the
  incident's evidence points, all ``lon, lat``;
- ``events.json``: the file's events in order, each with its chain hash (tracker.evidence.chain);
- ``photos/<name>``: the photos as they were received (metadata stripped on arrival);
- ``manifest.json``: the SHA-256 and size of every other file, the chain's length and head, and
  ``manifest_sha256``, the SHA-256 of the manifest's own canonical JSON without that field. The
  manifest is written as canonical JSON, so any changed byte in it shows.

A changed byte in any file, or a changed, reordered or removed event, fails verification. The
hashes prove a pack unchanged since it was made; to prove it is the platform's own, compare the
chain head with the one the platform holds (``--head``). Pure: no I/O (bytes in, bytes out).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from typing import Any

import orjson

from tracker.evidence import pdf
from tracker.evidence.chain import GENESIS, canonical
from tracker.evidence.dossier import Dossier

FORMAT = "muck-tracker-evidence-pack/1"
MANIFEST = "manifest.json"
EVENTS = "events.json"
# The ZIP's entries carry a fixed time, so the same dossier makes the same bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def geojson(d: Dossier) -> dict[str, Any]:
    """The evidence as one FeatureCollection (lon, lat; times ISO 8601 UTC)."""
    features: list[dict[str, Any]] = []
    if d.fixes:
        line = [[f.lon, f.lat] for f in d.fixes]
        features.append(
            {
                "type": "Feature",
                "properties": {"kind": "track", "fixes": len(line)},
                "geometry": {"type": "LineString", "coordinates": line},
            }
        )
    for f in d.fixes:
        props = {
            "kind": "fix",
            "time": _z(f.at),
            "speed_kmh": f.speed_kmh,
            "loaded": f.loaded,
            "body_lifted": f.body_lifted,
            "cover_closed": f.cover_closed,
        }
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
            }
        )
    for fence in d.fences:
        rings = [[list(p) for p in ring] for ring in fence.rings]
        geometry = (
            {"type": "LineString", "coordinates": rings[0]}
            if fence.line
            else {"type": "Polygon", "coordinates": rings}
        )
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {"kind": "fence", "role": fence.role, "name": fence.name},
            }
        )
    for feature in d.evidence.get("features", []):
        features.append(
            {**feature, "properties": {**feature.get("properties", {}), "kind": "evidence"}}
        )
    return {"type": "FeatureCollection", "features": features}


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The manifest's self-hash: SHA-256 of its canonical JSON without ``manifest_sha256``."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(canonical(body)).hexdigest()


def build_pack(d: Dossier, *, with_map: bool = True) -> bytes:
    """The pack's ZIP bytes (``with_map=False``: the case file without the map, for the
    benchmark's baseline)."""
    created = d.created_at or datetime.now(UTC)
    files: list[tuple[str, bytes]] = [
        ("case.pdf", pdf.render(d, with_map=with_map)),
        ("evidence.geojson", orjson.dumps(geojson(d), option=orjson.OPT_INDENT_2)),
        (
            EVENTS,
            orjson.dumps(
                [{"event": e.event, "hash": e.hash} for e in d.events], option=orjson.OPT_INDENT_2
            ),
        ),
    ]
    files += [(f"photos/{p.name}", p.data) for p in d.photos]
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "ref": d.ref,
        "party": {"company": d.party.company, "plate": d.party.plate},
        "created_at": _z(created),
        "files": [
            {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files
        ],
        "chain": {"events": len(d.events), "head": d.events[-1].hash if d.events else GENESIS},
    }
    manifest["manifest_sha256"] = manifest_digest(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(MANIFEST, canonical(manifest)), *files]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = (
                zipfile.ZIP_STORED if name.endswith(".pdf") else zipfile.ZIP_DEFLATED
            )
            zf.writestr(info, data)
    return out.getvalue()

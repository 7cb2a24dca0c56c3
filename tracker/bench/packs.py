"""Evidence pack benchmark: one pack for a 2-hour track, built, verified and tampered with.

``measure_pack(dossier)`` is the figure any benchmark with a dossier can take (the cases
benchmark reuses it): ``pack_s`` (median of ``repeat`` builds of the whole ZIP: the PDF with
the map, the GeoJSON, the events, the manifest), ``baseline_s`` (the same pack without the map
render) and their ``ratio``, ``verify_ok`` (the untouched pack verifies) and ``tamper_detected``
(true only when every variant fails verification: one changed byte in each file, rezipped with
valid ZIP checksums; each event changed, with events.json's hash and the manifest recomputed as
a forger would; an event removed; a flipped byte of the raw ZIP).

``tracker bench packs`` runs it on a synthetic dossier (``sample_dossier``: a truck at
``--interval-s`` (5 s) for ``--hours`` (2) with load, lift and cover sensors, a site, a yard, a
zone and a corridor, 12 chained events and 2 photos) and prints one JSON line; ``pack_10s_s``
is the same pack at 10 s. Needs no database: a pack is made from a dossier.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import statistics
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from PIL import Image

from tracker.evidence.chain import GENESIS, canonical, link
from tracker.evidence.dossier import (
    ChainedEvent,
    Dossier,
    FenceShape,
    Party,
    PhotoFile,
    TrackFix,
)
from tracker.evidence.pack import EVENTS, MANIFEST, build_pack, manifest_digest
from tracker.evidence.verify import verify_pack

LON0, LAT0 = 108.366, 22.817  # Nanning


def _box(lon: float, lat: float, size: float) -> tuple[tuple[float, float], ...]:
    return ((lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat))


def sample_events(n: int, start: datetime) -> tuple[ChainedEvent, ...]:
    out: list[ChainedEvent] = []
    prev = GENESIS
    for i in range(n):
        event = {
            "at": (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "type": "note" if i else "opened",
            "actor": f"officer{i % 3}",
            "note": f"第{i}条记录",
        }
        prev = link(prev, event)
        out.append(ChainedEvent(event, prev))
    return tuple(out)


def _photo(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (40 * seed % 255, 120, 200)).save(out, "JPEG", quality=80)
    return out.getvalue()


def sample_dossier(hours: float = 2.0, interval_s: float = 5.0) -> Dossier:
    """A truck hauling for ``hours``: out of a site, along a corridor, a stop (lifted) outside
    the yard, on to the yard."""
    start = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    n = int(hours * 3600 / interval_s)
    fixes = []
    for i in range(n):
        u = i / max(n - 1, 1)
        stop = 0.55 < u < 0.6
        fixes.append(
            TrackFix(
                at=start + timedelta(seconds=i * interval_s),
                lon=LON0 + 0.08 * u + 0.002 * math.sin(u * 40),
                lat=LAT0 + 0.05 * u + 0.003 * math.cos(u * 25),
                speed_kmh=0.0 if stop else 35 + 10 * math.sin(u * 60),
                loaded=u < 0.58,
                body_lifted=stop,
                cover_closed=not (0.3 < u < 0.35),
            )
        )
    fences = (
        FenceShape("华强工地", "site", (_box(LON0 - 0.003, LAT0 - 0.003, 0.006),)),
        FenceShape("东郊消纳场", "yard", (_box(LON0 + 0.077, LAT0 + 0.047, 0.008),)),
        FenceShape("学校禁区", "zone", (_box(LON0 + 0.03, LAT0 + 0.03, 0.01),)),
        FenceShape("核准路线", "corridor", (((LON0, LAT0), (LON0 + 0.08, LAT0 + 0.05)),), True),
    )
    stop_at = fixes[int(n * 0.57)]
    return Dossier(
        ref="incident:bench-0001",
        title="疑似偷倒 / 乱倾乱倒",
        kind="dumping",
        party=Party("南宁市某某渣土运输有限公司", "桂A-B1234", "91450100MA5K000000", 1),
        opened_at=stop_at.at,
        place=(stop_at.lon, stop_at.lat),
        facts="车辆在核准消纳场以外停留并举升车厢，疑似偷倒建筑垃圾。",
        status="confirmed",
        events=sample_events(12, start),
        fixes=tuple(fixes),
        fences=fences,
        photos=(
            PhotoFile("clue-1-0.jpg", "image/jpeg", _photo(1), "群众举报照片"),
            PhotoFile("clue-1-1.jpg", "image/jpeg", _photo(2), "网格员现场照片"),
        ),
        decision=None,
        created_at=start + timedelta(hours=3),
    )


def rezip(pack: bytes, replace: dict[str, bytes | None]) -> bytes:
    """The pack with some members replaced (None: removed), written with valid ZIP checksums."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(pack)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = replace.get(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info, data)
    return out.getvalue()


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _forged_events(pack: bytes, events: list[dict[str, Any]]) -> bytes:
    """events.json replaced and the manifest recomputed to match it, as a forger would."""
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        manifest = orjson.loads(zf.read(MANIFEST))
    raw = orjson.dumps(events, option=orjson.OPT_INDENT_2)
    for entry in manifest["files"]:
        if entry["name"] == EVENTS:
            entry["sha256"], entry["bytes"] = hashlib.sha256(raw).hexdigest(), len(raw)
    manifest["manifest_sha256"] = manifest_digest(manifest)
    return rezip(pack, {EVENTS: raw, MANIFEST: canonical(manifest)})


def tampered(pack: bytes) -> Iterator[tuple[str, bytes]]:
    """(what was changed, the changed pack) for every variant ``measure_pack`` tries."""
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    for name, data in members.items():
        for at in sorted({0, len(data) // 2, len(data) - 1}):
            yield f"{name}: byte {at}", rezip(pack, {name: flip(data, at)})
    events = orjson.loads(members[EVENTS])
    for i in range(len(events)):
        changed = [dict(e) for e in events]
        changed[i] = {**changed[i], "event": {**changed[i]["event"], "note": "改过"}}
        yield f"event {i} changed", _forged_events(pack, changed)
        yield f"event {i} removed", _forged_events(pack, events[:i] + events[i + 1 :])
    yield "zip byte", flip(pack, len(pack) // 2)


def measure_pack(dossier: Dossier, repeat: int = 3) -> dict[str, Any]:
    def timed(with_map: bool) -> tuple[float, bytes]:
        times, pack = [], b""
        for _ in range(repeat):
            t0 = time.perf_counter()
            pack = build_pack(dossier, with_map=with_map)
            times.append(time.perf_counter() - t0)
        return statistics.median(times), pack

    baseline_s, _ = timed(False)
    pack_s, pack = timed(True)
    check = verify_pack(pack)
    missed = [what for what, bad in tampered(pack) if verify_pack(bad).ok]
    for what in missed:
        print(f"tamper not detected: {what}", file=sys.stderr)
    return {
        "fixes": len(dossier.fixes),
        "events": len(dossier.events),
        "pack_bytes": len(pack),
        "pack_s": round(pack_s, 3),
        "baseline_s": round(baseline_s, 3),
        "ratio": round(pack_s / baseline_s, 2) if baseline_s else None,
        "verify_ok": check.ok,
        "tamper_detected": not missed,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracker bench packs", description=__doc__)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--interval-s", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"pack: {args.hours} h at {args.interval_s} s", file=sys.stderr)
    figures = measure_pack(sample_dossier(args.hours, args.interval_s), args.repeat)
    print(f"pack: {args.hours} h at 10 s", file=sys.stderr)
    figures["pack_10s_s"] = measure_pack(sample_dossier(args.hours, 10.0), args.repeat)["pack_s"]
    figures["target_pack_s"] = 3.0
    print(json.dumps(figures))
    return 0 if figures["verify_ok"] and figures["tamper_detected"] else 1

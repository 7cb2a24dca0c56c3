"""Checkpoint sightings for the hard profile of ``tracker bench detect``.

A few checkpoints stand on the road network (the middle of each site's route to the yard,
deduplicated), each with a plate camera. When a truck's ground-truth track passes within
``PASS_RADIUS_M`` of one, the camera reads its plate unless it misses (``CAMERA_MISS``); a read
is wrong with ``MISREAD``: one character of the plate read as another (which may be another
fleet plate), with a lower confidence. A few unregistered trucks (no terminal, no permit;
random plates) are seen at checkpoints too.

The sightings are judged the way the sighting service does (tracker.sightings): the plate rule
at once, the terminal after the grace period (``SightingSettings.grace_s`` past the end of the
sighting's window) on the fixes that had *arrived* by then, through the same pure rules
(tracker.trips.core.sighting). The review round runs every ``REVIEW_EVERY_S``.

Labels come from the ground truth, not from the rules: ``terminal_tampering`` (kind
``sighting_silent``) for a correct read of a truck whose terminal recorded no fix within
``window_s`` of it (late fixes count as recorded), detectable ``window_s`` after the sighting
(the moment the silence around it is complete); ``unregistered_vehicle`` for every read of an
unregistered truck. No terminal is swapped in the generator yet, so no ``far`` labels exist:
a ``far`` or ``silent`` finding on a misread attributed to another truck is a false alarm.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tracker.geo import EARTH_RADIUS_M
from tracker.settings import SightingSettings
from tracker.sim.motion import Piece
from tracker.sim.scenario import Label, World
from tracker.trips.core.sighting import (
    Seen,
    SightingRules,
    TerminalFix,
    one_apart,
    plate_findings,
    terminal_findings,
)

PASS_RADIUS_M = 25.0
MERGE_S = 180.0  # one passage per checkpoint within this
CHECKPOINT_SPACING_M = 300.0
MAX_CHECKPOINTS = 4
CAMERA_MISS = 0.08
MISREAD = 0.03
PLATE_CHARS = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
READ_CONFIDENCE = (0.93, 0.04)  # gauss, capped at 0.99
MISREAD_CONFIDENCE = (0.5, 0.9)  # uniform
REVIEW_EVERY_S = 30.0
GHOST_SHARE = 0.1  # unregistered trucks per registered one
GHOST_ID = 100_000  # their vehicle ids start here; misread plates nobody has at 200,000
UNKNOWN_ID = 200_000

Passage = tuple[float, int]  # time s, checkpoint index
Found = tuple[str, int, float, float, str]  # type, vehicle id, start s, detected s, id


def checkpoints(world: World) -> list[tuple[float, float]]:
    """The middle node of each site's route, not inside a place, ``CHECKPOINT_SPACING_M``
    apart; at most ``MAX_CHECKPOINTS`` (lon, lat)."""
    out: list[tuple[float, float]] = []
    for name in sorted(world.routes):
        route = world.routes[name]
        lon, lat = world.network.coord(route[len(route) // 2])
        if world.in_place(lon, lat):
            continue
        if all(_metres(lon, lat, a, b) >= CHECKPOINT_SPACING_M for a, b in out):
            out.append((float(lon), float(lat)))
    return out[:MAX_CHECKPOINTS]


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dx = math.radians(lon2 - lon1) * math.cos(math.radians(lat1)) * EARTH_RADIUS_M
    return math.hypot(dx, math.radians(lat2 - lat1) * EARTH_RADIUS_M)


def passages(log: list[Piece], points: list[tuple[float, float]]) -> list[Passage]:
    """When the truth track passes each checkpoint (closest approach within the radius)."""
    out: list[Passage] = []
    last: dict[int, float] = {}
    for piece in log:
        if piece.t1_s <= piece.t0_s:
            continue
        for k, (lon, lat) in enumerate(points):
            scale = math.cos(math.radians(lat)) * EARTH_RADIUS_M
            x0 = math.radians(piece.lon0 - lon) * scale
            y0 = math.radians(piece.lat0 - lat) * EARTH_RADIUS_M
            dx = math.radians(piece.lon1 - piece.lon0) * scale
            dy = math.radians(piece.lat1 - piece.lat0) * EARTH_RADIUS_M
            d2 = dx * dx + dy * dy
            f = 0.0 if d2 == 0 else min(1.0, max(0.0, -(x0 * dx + y0 * dy) / d2))
            if math.hypot(x0 + f * dx, y0 + f * dy) > PASS_RADIUS_M:
                continue
            t_s = piece.t0_s + f * (piece.t1_s - piece.t0_s)
            if t_s - last.get(k, -math.inf) >= MERGE_S:
                out.append((t_s, k))
            last[k] = t_s
    return sorted(out)


@dataclass(slots=True)
class _Terminal:
    """What a truck's terminal recorded: fix times (s), arrival times, positions."""

    times_s: list[float]
    arrivals_s: list[float]
    lon_lat: list[tuple[float, float]]


@dataclass(slots=True)
class SightingWatch:
    """Collects each truck's passages and recorded fixes during a run, then judges the
    sightings and writes their labels (:meth:`finish`)."""

    points: list[tuple[float, float]]
    seed: int
    hours: float
    settings: SightingSettings = field(default_factory=SightingSettings)
    camera_miss: float = CAMERA_MISS
    misread: float = MISREAD
    trucks: dict[int, tuple[list[Passage], _Terminal]] = field(default_factory=dict)

    def add(
        self, vehicle_id: int, seen: list[Passage], rows: list[tuple[float, float, float, float]]
    ) -> None:
        """A truck's passages and its recorded fixes: (fix time s, arrival s, lon, lat)."""
        rows = sorted(rows)
        times = [r[0] for r in rows]
        terminal = _Terminal(times, [r[1] for r in rows], [(r[2], r[3]) for r in rows])
        self.trucks[vehicle_id] = (seen, terminal)

    def finish(self) -> tuple[list[Label], list[Found], int]:
        """Labels, detections, and the number of camera reads."""
        rng = random.Random(self.seed)
        s = self.settings
        rules = SightingRules(s.min_confidence, s.window_s, s.base_distance_m, s.max_speed_kmh)
        fleet = {_plate(vid): vid for vid in sorted(self.trucks)}
        labels: list[Label] = []
        found: list[Found] = []
        reads = 0
        end_s = self.hours * 3600.0
        for vid in sorted(self.trucks):
            seen, terminal = self.trucks[vid]
            for t_s, k in seen:
                if t_s + rules.window_s >= end_s - 60.0:
                    continue  # the terminal's window must lie in the day (its fixes end there)
                if rng.random() < self.camera_miss:
                    continue
                reads += 1
                plate, confidence = _plate(vid), min(0.99, rng.gauss(*READ_CONFIDENCE))
                if rng.random() < self.misread:
                    plate, confidence = _misread(plate, rng), rng.uniform(*MISREAD_CONFIDENCE)
                elif _silent(terminal, t_s, rules.window_s):
                    labels.append(
                        Label("terminal_tampering", vid, t_s, t_s, t_s + rules.window_s,
                              "sighting_silent")
                    )  # fmt: skip
                plate_of = fleet.get(plate, UNKNOWN_ID + reads)
                found += self._judge(plate, plate_of, fleet, t_s, k, confidence, rules, rng)
        ghosts = max(1, len(fleet) // round(1 / GHOST_SHARE))
        for g in range(ghosts):
            plate = "桂" + rng.choice(PLATE_CHARS[10:]) + "".join(rng.choices(PLATE_CHARS, k=5))
            for _ in range(rng.randint(1, 3)):
                t_s, k = rng.uniform(0.0, end_s - 120.0), rng.randrange(len(self.points))
                reads += 1
                labels.append(Label("unregistered_vehicle", GHOST_ID + g, t_s, t_s, t_s, "ghost"))
                confidence = min(0.99, rng.gauss(*READ_CONFIDENCE))
                found += self._judge(plate, GHOST_ID + g, fleet, t_s, k, confidence, rules, rng)
        return labels, found, reads

    def _judge(
        self,
        plate: str,
        plate_of: int,
        fleet: dict[str, int],
        t_s: float,
        k: int,
        confidence: float,
        rules: SightingRules,
        rng: random.Random,
    ) -> list[Found]:
        """What the sighting service raises for this read, and when."""
        lon, lat = self.points[k]
        seen = Seen(_at(t_s), lon, lat, confidence, None, True)
        registered = plate in fleet
        near = not registered and any(one_apart(plate, p) for p in fleet)
        tag = f"sighting-{plate_of}-{t_s:.0f}"
        out: list[Found] = []
        for finding in plate_findings(seen, registered, True, rules, near):
            out.append((finding.type, plate_of, t_s, t_s + 1.0, tag))
        if not registered:
            return out
        review_s = t_s + rules.window_s + self.settings.grace_s + rng.uniform(0, REVIEW_EVERY_S)
        terminal = self.trucks[plate_of][1]
        lo = bisect.bisect_left(terminal.times_s, t_s - rules.window_s)
        hi = bisect.bisect_right(terminal.times_s, t_s + rules.window_s)
        fixes = [
            TerminalFix(_at(terminal.times_s[i]), *terminal.lon_lat[i])
            for i in range(lo, hi)
            if terminal.arrivals_s[i] <= review_s
        ]
        for finding in terminal_findings(seen, fixes, rules):
            out.append((finding.type, plate_of, t_s, review_s, tag))
        return out


def _plate(vehicle_id: int) -> str:
    return f"桂A{vehicle_id:05d}"


def _misread(plate: str, rng: random.Random) -> str:
    """One character of the plate's tail read as another (the usual camera misread)."""
    i = rng.randrange(2, len(plate))
    wrong = rng.choice([c for c in PLATE_CHARS if c != plate[i]])
    return plate[:i] + wrong + plate[i + 1 :]


def _silent(terminal: _Terminal, t_s: float, window_s: float) -> bool:
    """Truth: the terminal recorded no fix within ``window_s`` of ``t_s`` (late ones too)."""
    i = bisect.bisect_left(terminal.times_s, t_s - window_s)
    return i >= len(terminal.times_s) or terminal.times_s[i] > t_s + window_s


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _at(t_s: float) -> datetime:
    """Seconds as an aware instant (the rules only subtract instants)."""
    return _EPOCH + timedelta(seconds=t_s)

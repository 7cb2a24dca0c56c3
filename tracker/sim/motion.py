"""Where a simulated truck truly is: a timeline of straight pieces, planned leg by leg.

Pure: times are float seconds since the fleet's start, randomness comes from the ``Random`` passed
in. The terminal (``terminal.py``) samples this ground truth and adds the noise.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from itertools import pairwise

from shapely.geometry import Point

from tracker.roads.network import RoadNetwork, bearing_deg, haversine_m
from tracker.sim.places import Place


@dataclass(frozen=True, slots=True)
class DrivingConfig:
    load_min_s: float = 120.0
    load_max_s: float = 360.0
    unload_min_s: float = 120.0
    unload_max_s: float = 300.0
    lift_min_s: float = 45.0  # body raised while tipping
    lift_max_s: float = 75.0
    signal_stop_prob: float = 0.5  # chance of a red light at a mapped traffic signal
    junction_stop_prob: float = 0.02  # unmapped lights, give-way, traffic at other junctions
    stop_min_s: float = 10.0
    stop_max_s: float = 90.0
    turn_deg: float = 60.0  # a sharper change of direction is a turn
    turn_speed_kmh: float = 20.0
    site_speed_kmh: float = 10.0  # between the gate and the loading or tipping point
    start_spread_s: float = 600.0  # trucks start idle for up to this long, to spread them out


@dataclass(frozen=True, slots=True)
class Piece:
    """Constant-speed straight motion (or standing still) between two instants."""

    t0_s: float
    t1_s: float
    lon0: float
    lat0: float
    lon1: float
    lat1: float
    heading_deg: float
    tunnel: bool
    loaded: bool
    body_lifted: bool

    @property
    def length_m(self) -> float:
        return haversine_m(self.lon0, self.lat0, self.lon1, self.lat1)

    @property
    def speed_kmh(self) -> float:
        duration_s = self.t1_s - self.t0_s
        return self.length_m / duration_s * 3.6 if duration_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class TruthState:
    """The noise-free state of a truck at one instant."""

    lon: float
    lat: float
    speed_kmh: float
    heading_deg: float
    tunnel: bool
    loaded: bool
    body_lifted: bool

    @property
    def cover_closed(self) -> bool:
        # The cover is shut whenever there is a load, except while tipping it out.
        return self.loaded and not self.body_lifted


@dataclass(frozen=True, slots=True)
class Leg:
    """Per-edge profile of the fastest path between two nodes; entry ``i`` is edge ``i``."""

    lons: tuple[float, ...]  # where the edge ends
    lats: tuple[float, ...]
    length_m: tuple[float, ...]
    speed_kmh: tuple[float, ...]
    heading_deg: tuple[float, ...]
    turn_deg: tuple[float, ...]  # change of heading from the previous edge
    tunnel: tuple[bool, ...]
    signal: tuple[bool, ...]  # traffic lights where the edge starts
    junction: tuple[bool, ...]  # three or more ways out where the edge starts


@lru_cache(maxsize=1024)
def leg_between(network: RoadNetwork, source: int, target: int) -> Leg:
    path = network.shortest_path(source, target)
    edges = network.path_edges(path)
    headings = [bearing_deg(*network.coord(a), *network.coord(b)) for a, b in pairwise(path)]
    turns = [0.0] + [abs((b - a + 180.0) % 360.0 - 180.0) for a, b in pairwise(headings)]
    return Leg(
        lons=tuple(network.lons[n] for n in path[1:]),
        lats=tuple(network.lats[n] for n in path[1:]),
        length_m=tuple(e.length_m for e in edges),
        speed_kmh=tuple(e.speed_kmh for e in edges),
        heading_deg=tuple(headings),
        turn_deg=tuple(turns),
        tunnel=tuple(e.tunnel for e in edges),
        signal=tuple(n in network.signals for n in path[:-1]),
        junction=tuple(len(network.adjacency[n]) >= 3 for n in path[:-1]),
    )


# Scripted violators (the demo, `tracker simulate --violators`): they load at their site as soon
# as the live run starts, then break a rule within minutes of it. ``outside_hours`` hauls as any
# truck does: its permit's window is elsewhere in the day (demo_city.off_hours_window).
VIOLATIONS = ("dump", "deviation", "cut_terminal", "outside_hours")
SCRIPT_LOAD_S = 150.0  # seen loading at the site a little longer than place_dwell_s (120 s)
DUMP_AFTER_M = 350.0  # along the road from the site, outside every place
DUMP_STAND_S = (30.0, 90.0, 90.0)  # stopped, body raised, standing empty
DETOUR_FROM_SITE_M = (400.0, 1200.0)  # where the deviating truck turns off to
DETOUR_CLEAR_M = 250.0  # away from every corridor's road nodes
RESUME_DWELL_S = 45.0  # a resumed truck stands a little longer than a report interval first
AT_PLACE_M = 40.0  # a resumed truck this near a site's loading point is at the site


def _at_place(place: Place, lon: float, lat: float) -> bool:
    near_m = haversine_m(lon, lat, place.dwell_lon, place.dwell_lat) <= AT_PLACE_M
    return near_m or bool(place.polygon.covers(Point(lon, lat)))


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a truck was last seen (its newest stored fix): a restarted simulator carries on
    from there instead of starting its cycle afresh, so the platform sees no jump."""

    lon: float
    lat: float
    loaded: bool


def _leg_nodes(network: RoadNetwork, source: int, target: int) -> tuple[tuple[float, ...], ...]:
    leg = leg_between(network, source, target)
    return leg.lons, leg.lats


def detour_node(network: RoadNetwork, sites: list[Place], site: Place, yard: Place) -> int:
    """Where the deviating violator turns off to: the road node nearest to ``site`` (between
    ``DETOUR_FROM_SITE_M``) that is clear of every site's road to the yard by
    ``DETOUR_CLEAR_M``. The demo's no-go zone lies around it (demo_city)."""
    on_routes = [
        (lon, lat)
        for s in sites
        for lon, lat in zip(*_leg_nodes(network, s.node, yard.node), strict=True)
    ]
    s_lon, s_lat = network.coord(site.node)
    low, high = DETOUR_FROM_SITE_M
    best: tuple[float, int] | None = None
    for node in range(len(network.lons)):
        lon, lat = network.lons[node], network.lats[node]
        away_m = haversine_m(s_lon, s_lat, lon, lat)
        if not low <= away_m <= high or (best is not None and away_m >= best[0]):
            continue
        if all(haversine_m(lon, lat, x, y) > DETOUR_CLEAR_M for x, y in on_routes):
            best = (away_m, node)
    if best is None:
        raise ValueError("no road node clear of the corridors near the site")
    return best[1]


class Phase(Enum):
    LOADING = "loading"
    TO_YARD = "to_yard"
    UNLOADING = "unloading"
    TO_SITE = "to_site"


class TruckMotion:
    """Plans a truck's cycle site → yard → site … and answers where it is at any later time."""

    def __init__(
        self,
        network: RoadNetwork,
        sites: list[Place],
        yard: Place,
        rng: random.Random,
        config: DrivingConfig,
        start_at_yard: bool,
        resume: Resume | None = None,
        script: str | None = None,
        script_at_s: float = 0.0,
    ) -> None:
        self.network, self.sites, self.yard = network, sites, yard
        self.rng, self.config = rng, config
        self.site = rng.choice(sites)
        self.trips = 0  # completed deliveries
        self._pieces: deque[Piece] = deque()
        self._heading_deg = rng.uniform(0.0, 360.0)
        self._loaded = False
        if resume is not None:
            self._resume(resume)
            return
        if script is not None:
            self._script(script, script_at_s)
            return
        here = yard if start_at_yard else self.site
        self.phase = Phase.UNLOADING if start_at_yard else Phase.TO_SITE
        self._dwell(rng.uniform(0.0, config.start_spread_s), here)

    def _script(self, kind: str, at_s: float) -> None:
        """A scripted violator: idle at its site until ``at_s``, load, then ``kind``: tip the
        load by the road (dump), haul off every corridor (deviation), or haul normally while
        its terminal is cut (the terminal's part, see Fleet) or outside its permit's hours
        (the permit's part, see demo_city)."""
        if kind not in VIOLATIONS:
            raise ValueError(f"unknown violation {kind!r}; one of {', '.join(VIOLATIONS)}")
        self.site = self.sites[0]  # the demo's no-go zone is on this site's detour
        site, yard = self.site, self.yard
        self.phase = Phase.TO_YARD
        self._dwell(max(at_s, 0.0), site)
        self._dwell(SCRIPT_LOAD_S, site)
        self._loaded = True
        if kind == "dump":
            self._site_move(*self.network.coord(site.node))
            leg = leg_between(self.network, site.node, yard.node)
            stop = self._dump_edge(leg)
            self._follow(leg, 0, stop)
            stopped_s, lifted_s, empty_s = DUMP_STAND_S
            self._stand(stopped_s)
            self._stand(lifted_s, lifted=True)
            self._loaded = False
            self._stand(empty_s)
            self._follow(leg, stop, len(leg.length_m))
            self._site_move(yard.dwell_lon, yard.dwell_lat)
        elif kind == "deviation":
            try:
                detour = self._detour_node()
            except ValueError:  # no road clear of the corridors: an ordinary haul
                self._drive(site, yard)
                return
            self._site_move(*self.network.coord(site.node))
            self._follow(leg_between(self.network, site.node, detour))
            self._drive_from(detour, yard)
        else:
            self._drive(site, yard)

    def _dump_edge(self, leg: Leg) -> int:
        """The first edge end at least ``DUMP_AFTER_M`` along ``leg`` and outside every place."""
        places = [*(s.polygon for s in self.sites), self.yard.polygon]
        along_m = 0.0
        for i, length_m in enumerate(leg.length_m):
            along_m += length_m
            here = Point(leg.lons[i], leg.lats[i])
            if along_m >= DUMP_AFTER_M and not any(p.covers(here) for p in places):
                return i + 1
        return max(len(leg.length_m) // 2, 1)

    def _detour_node(self) -> int:
        return detour_node(self.network, self.sites, self.site, self.yard)

    def _stand(self, duration_s: float, lifted: bool = False) -> None:
        lon, lat = self._position()
        t0_s = self._end_s
        self._pieces.append(
            Piece(
                t0_s,
                t0_s + duration_s,
                lon,
                lat,
                lon,
                lat,
                self._heading_deg,
                False,
                self._loaded,
                lifted,
            )
        )

    def _resume(self, resume: Resume) -> None:
        """Stand briefly where the truck was last seen, then carry on from what it was doing
        there, as the engine saw it: a truck stopped empty at a site loads at that site
        (the engine saw it dwell there and takes a truck leaving a site for a loaded one: one
        that drove off empty, cover open, to another site raised ``uncovered`` and
        ``route_deviation``); otherwise a loaded truck drives to the yard and an empty one to
        a site, by the road from the nearest node."""
        self._loaded = resume.loaded
        start_s = 0.0
        self._pieces.append(
            Piece(
                start_s,
                start_s + RESUME_DWELL_S,
                resume.lon,
                resume.lat,
                resume.lon,
                resume.lat,
                self._heading_deg,
                False,
                resume.loaded,
                False,
            )
        )
        site = next((s for s in self.sites if _at_place(s, resume.lon, resume.lat)), None)
        if not resume.loaded and site is not None:
            self.site, self.phase = site, Phase.LOADING
            self._site_move(site.dwell_lon, site.dwell_lat)
            self._load(site)
        else:
            node = self.network.nearest_node(resume.lon, resume.lat)
            self.phase = Phase.TO_YARD if resume.loaded else Phase.TO_SITE
            self._drive_from(node, self.yard if resume.loaded else self.site)

    @property
    def _end_s(self) -> float:
        return self._pieces[-1].t1_s

    def state_at(self, t_s: float) -> TruthState:
        """The true state at ``t_s``; times must not go backwards between calls."""
        while self._end_s < t_s:
            self._plan_next()
        while self._pieces[0].t1_s < t_s:
            self._pieces.popleft()
        piece = self._pieces[0]
        duration_s = piece.t1_s - piece.t0_s
        f = (t_s - piece.t0_s) / duration_s if duration_s > 0 else 1.0
        f = min(max(f, 0.0), 1.0)
        return TruthState(
            lon=piece.lon0 + (piece.lon1 - piece.lon0) * f,
            lat=piece.lat0 + (piece.lat1 - piece.lat0) * f,
            speed_kmh=piece.speed_kmh,
            heading_deg=piece.heading_deg,
            tunnel=piece.tunnel,
            loaded=piece.loaded,
            body_lifted=piece.body_lifted,
        )

    def _plan_next(self) -> None:
        """Append the pieces of the phase that follows the current one."""
        if self.phase is Phase.TO_SITE:
            self.phase = Phase.LOADING
            self._load(self.site)
        elif self.phase is Phase.LOADING:
            self.phase = Phase.TO_YARD
            self._drive(self.site, self.yard)
        elif self.phase is Phase.TO_YARD:
            self.phase = Phase.UNLOADING
            self._unload(self.yard)
            self.trips += 1
        else:
            self.phase = Phase.TO_SITE
            self.site = self.rng.choice(self.sites)
            self._drive(self.yard, self.site)

    def _append(
        self,
        duration_s: float,
        lon1: float,
        lat1: float,
        tunnel: bool = False,
        heading_deg: float | None = None,
    ) -> None:
        lon0, lat0 = self._position()
        if heading_deg is not None:
            self._heading_deg = heading_deg
        elif (lon0, lat0) != (lon1, lat1):
            self._heading_deg = bearing_deg(lon0, lat0, lon1, lat1)
        t0_s = self._end_s if self._pieces else 0.0
        self._pieces.append(
            Piece(
                t0_s,
                t0_s + max(duration_s, 0.0),
                lon0,
                lat0,
                lon1,
                lat1,
                self._heading_deg,
                tunnel,
                self._loaded,
                False,
            )
        )

    def _position(self) -> tuple[float, float]:
        last = self._pieces[-1] if self._pieces else None
        return (last.lon1, last.lat1) if last else (math.nan, math.nan)

    def _dwell(self, duration_s: float, place: Place, lifted: bool = False) -> None:
        lon, lat = place.dwell_lon, place.dwell_lat
        start_s = self._end_s if self._pieces else 0.0
        piece = Piece(
            start_s,
            start_s + duration_s,
            lon,
            lat,
            lon,
            lat,
            self._heading_deg,
            False,
            self._loaded,
            lifted,
        )
        self._pieces.append(piece)

    def _load(self, place: Place) -> None:
        self._dwell(self.rng.uniform(self.config.load_min_s, self.config.load_max_s), place)
        self._loaded = True

    def _unload(self, place: Place) -> None:
        cfg = self.config
        total_s = self.rng.uniform(cfg.unload_min_s, cfg.unload_max_s)
        lift_s = self.rng.uniform(cfg.lift_min_s, cfg.lift_max_s)
        before_s = self.rng.uniform(0.2, 0.5) * max(total_s - lift_s, 0.0)
        self._dwell(before_s, place)
        self._dwell(lift_s, place, lifted=True)
        self._loaded = False
        self._dwell(max(total_s - lift_s - before_s, 0.0), place)

    def _site_move(self, lon: float, lat: float) -> None:
        distance_m = haversine_m(*self._position(), lon, lat)
        self._append(distance_m / (self.config.site_speed_kmh / 3.6), lon, lat)

    def _drive(self, origin: Place, destination: Place) -> None:
        self._drive_from(origin.node, destination)

    def _drive_from(self, node: int, destination: Place) -> None:
        self._site_move(*self.network.coord(node))
        self._follow(leg_between(self.network, node, destination.node))
        self._site_move(destination.dwell_lon, destination.dwell_lat)

    def _follow(self, leg: Leg, first: int = 0, end: int | None = None) -> None:
        """Drive the edges ``[first, end)`` of ``leg``, stopping at lights and junctions."""
        cfg = self.config
        pace = self.rng.uniform(0.85, 1.05)  # this driver, this trip
        for i in range(first, len(leg.length_m) if end is None else end):
            if i > first:
                self._maybe_stop(leg.signal[i], leg.junction[i])
            speed_kmh = leg.speed_kmh[i] * pace
            if leg.turn_deg[i] > cfg.turn_deg:
                speed_kmh = min(speed_kmh, cfg.turn_speed_kmh)
            duration_s = leg.length_m[i] / (speed_kmh / 3.6)
            self._append(duration_s, leg.lons[i], leg.lats[i], leg.tunnel[i], leg.heading_deg[i])

    def _maybe_stop(self, signal: bool, junction: bool) -> None:
        cfg = self.config
        prob = cfg.signal_stop_prob if signal else 0.0
        prob = max(prob, cfg.junction_stop_prob if junction else 0.0)
        if prob > 0 and self.rng.random() < prob:
            lon, lat = self._position()
            self._append(self.rng.uniform(cfg.stop_min_s, cfg.stop_max_s), lon, lat)

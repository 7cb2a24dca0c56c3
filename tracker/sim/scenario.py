"""A labelled haul-day generator on the real Monaco roads, for ``tracker bench detect``.

Reuses the simulator: ``TruckMotion`` (driving, loading, traffic-light stops) and ``Terminal``
(10–30 s intervals, 5–15 m correlated error, 3 % loss, tunnel and urban-canyon gaps,
duplicates, late batches). ``ScenarioMotion`` plans each haul (site → permit yard along the
shortest path, which is also the permit corridor) with at most one injected event, and writes
down a ``Label`` for every violation it injects. Route deviation labels come from the ground
truth geometry (loaded and beyond the corridor's half-width for ≥ 60 s in all, counting spells
less than a minute apart as one episode), so detours that stay near the corridor, come back in
under a minute, or only brush the edge now and then are not labels (they are counted as
``short_deviations``: the engine must not raise them). Times are float seconds since the day's
start (UTC); coordinates are lon, lat.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import numpy as np
import shapely

from tracker.geo import haversine_m
from tracker.geofence import CorridorFence, Fence, fence_from_geojson
from tracker.roads.network import RoadNetwork
from tracker.sim.motion import DrivingConfig, Phase, Piece, TruckMotion
from tracker.sim.places import Place, place_at_node

HALF_WIDTH_M = 50.0
PLACE_MARGIN_M = 40.0
DEVIATION_MIN_S = 60.0  # RuleConfig.deviation_min_s
DUMPING_DWELL_S = 180.0  # RuleConfig.dumping_dwell_s
PLACE_DWELL_S = 120.0  # RuleConfig.place_dwell_s
OFFLINE_GAP_S = 300.0  # RuleConfig.offline_gap_s
SAMPLE_S = 2.0  # ground-truth sampling step for deviation labels
# Per haul: which event is injected (weights); "clean" hauls inject nothing.
INJECTION_WEIGHTS = {
    "clean": 40,
    "dumping": 9,
    "lift_dumping": 6,  # only on trucks with a lift sensor, else clean
    "traffic_stop": 12,
    "deviation": 14,
    "wrong_yard": 5,
    "silence": 6,
}

# The hard profile (``tracker bench detect --profile hard``) adds the evasions and street
# conditions: terminals cut as the loaded truck leaves its site, dumps 60–150 m from the
# site's fence, stop-and-go jams; mid-route silences come more often.
HARD_WEIGHTS = {
    **INJECTION_WEIGHTS,
    "clean": 24,
    "silence": 8,
    "exit_cut": 7,
    "near_gate_dumping": 7,
    "jam": 10,
}
EXIT_CUT_DELAY_S = (0.0, 45.0)  # after loading ends: as the truck rolls out
EXIT_CUT_S = (600.0, 1500.0)
NEAR_GATE_M = (60.0, 150.0)


@dataclass(frozen=True, slots=True)
class Label:
    """An injected violation: ``detectable_s`` is when the rule's condition is first met."""

    type: str
    vehicle_id: int
    start_s: float
    end_s: float
    detectable_s: float
    kind: str = ""


@dataclass(slots=True)
class World:
    network: RoadNetwork
    sites: list[Place]
    yard: Place
    yard2: Place  # a second yard on nobody's permit
    routes: dict[str, list[int]]  # site name -> road nodes site -> yard
    corridors: dict[str, CorridorFence]  # site name -> corridor fence

    def fences(self) -> list[Fence]:
        out: list[Fence] = list(self.corridors.values())
        for i, site in enumerate(self.sites):
            out.append(_polygon_fence(f"site-{i}", site))
        out.append(_polygon_fence("yard-0", self.yard))
        out.append(_polygon_fence("yard-1", self.yard2))
        return out

    def in_place(self, lon: float, lat: float) -> bool:
        point = shapely.Point(lon, lat)
        places = [*self.sites, self.yard, self.yard2]
        return any(p.polygon.buffer(0.001).contains(point) for p in places)


def _polygon_fence(fence_id: str, place: Place) -> Fence:
    """The place's OSM polygon grown by ``PLACE_MARGIN_M``: registry fences are drawn with a
    margin (the OSM construction polygons here are as small as 30 m across)."""
    margin_deg = math.degrees(PLACE_MARGIN_M / 6_371_008.8)
    grown = place.polygon.buffer(margin_deg)
    return fence_from_geojson(fence_id, shapely.geometry.mapping(grown))


def build_world(network: RoadNetwork, sites: list[Place], yard: Place) -> World:
    """Corridors along each site's shortest path to the yard, and a second yard ≥ 400 m from
    every corridor (the node so placed nearest to the network's centre)."""
    routes = {s.name: list(network.shortest_path(s.node, yard.node)) for s in sites}
    corridors: dict[str, CorridorFence] = {}
    for i, site in enumerate(sites):
        line = [(site.dwell_lon, site.dwell_lat)]
        line += [*network.path_coords(routes[site.name]), (yard.dwell_lon, yard.dwell_lat)]
        geometry = {"type": "LineString", "coordinates": [list(p) for p in line]}
        fence = fence_from_geojson(f"corridor-{i}", geometry, half_width_m=HALF_WIDTH_M)
        assert isinstance(fence, CorridorFence)
        corridors[site.name] = fence
    lons, lats = np.asarray(network.lons), np.asarray(network.lats)
    far = np.ones(len(lons), dtype=bool)
    for route in routes.values():
        for node in route[:: max(1, len(route) // 60)]:
            far &= _distances_m(lons, lats, *network.coord(node)) > 400.0
    centre = (float(lons.mean()), float(lats.mean()))
    d_centre = _distances_m(lons, lats, *centre)
    d_centre[~far] = np.inf
    yard2 = place_at_node(network, int(np.argmin(d_centre)), "Second yard", "landfill")
    return World(network, sites, yard, yard2, routes, corridors)


def _distances_m(lons: np.ndarray, lats: np.ndarray, lon: float, lat: float) -> np.ndarray:
    k = math.radians(1.0) * 6_371_008.8
    dx = (lons - lon) * k * math.cos(math.radians(lat))
    return np.asarray(np.hypot(dx, (lats - lat) * k))


@dataclass(frozen=True, slots=True)
class TruckSpec:
    vehicle_id: int
    site: Place
    has_lift: bool
    cutoff_s: float | None  # permit window ends here (night-window violator), else None


@dataclass(slots=True)
class Injected:
    labels: list[Label] = field(default_factory=list)
    silences: list[tuple[float, float]] = field(default_factory=list)
    traffic_stops: int = 0
    off_route_spans: list[tuple[float, float]] = field(default_factory=list)


class ScenarioMotion(TruckMotion):
    """``TruckMotion`` with one fixed site and yard, and events injected into the hauls."""

    def __init__(
        self,
        world: World,
        spec: TruckSpec,
        rng: random.Random,
        config: DrivingConfig,
        weights: dict[str, int] | None = None,
    ) -> None:
        self.world, self.spec = world, spec
        self.weights = INJECTION_WEIGHTS if weights is None else weights
        self.inject_rng = random.Random(rng.getrandbits(64))
        self.injected = Injected()
        self.log: list[Piece] = []
        start_at_yard = spec.vehicle_id % 2 == 1
        super().__init__(world.network, [spec.site], world.yard, rng, config, start_at_yard)
        self.log.extend(self._pieces)

    def _plan_next(self) -> None:
        start = len(self._pieces)
        if self.phase is Phase.LOADING:
            self.phase = Phase.TO_YARD
            kinds = list(self.weights)
            kind = self.inject_rng.choices(kinds, [self.weights[k] for k in kinds])[0]
            self._haul(kind)
        else:
            super()._plan_next()
            if self.phase is Phase.TO_SITE:
                self.yard = self.world.yard
        self.log.extend(itertools.islice(self._pieces, start, None))

    def _route_place(self, low: float, high: float) -> tuple[int, Place]:
        route = self.world.routes[self.spec.site.name]
        for _ in range(50):
            i = int(self.inject_rng.uniform(low, high) * (len(route) - 1))
            lon, lat = self.world.network.coord(route[i])
            if not self.world.in_place(lon, lat):
                break
        return i, place_at_node(self.world.network, route[i], "en route", "stop")

    def _label(self, kind: str, start_s: float, end_s: float, detectable_s: float) -> None:
        vid = self.spec.vehicle_id
        type_ = "dumping" if kind.endswith("dumping") else kind
        self.injected.labels.append(Label(type_, vid, start_s, end_s, detectable_s, kind))

    def _haul(self, kind: str) -> None:
        site, rng = self.spec.site, self.inject_rng
        t0_s = self._end_s
        if kind == "lift_dumping" and not self.spec.has_lift:
            kind = "clean"
        if kind in ("dumping", "lift_dumping", "traffic_stop"):
            _, stop = self._route_place(0.2, 0.8)
            self._drive(site, stop)
            self._stop(kind, stop)
            self._drive(stop, self.yard)
        elif kind == "near_gate_dumping":
            near = self._near_gate()
            if near is None:
                self._drive(site, self.yard)
            else:
                self._drive(site, near)
                self._stop("dumping", near)
                self._drive(near, self.yard)
        elif kind == "jam":
            self._jam()
        elif kind == "deviation":
            self._detour()
        elif kind == "wrong_yard":
            self.yard = self.world.yard2
            self._drive(site, self.yard)
            arrive_s = self._end_s
            self._label("wrong_yard", arrive_s - 10.0, arrive_s + 300.0, arrive_s + PLACE_DWELL_S)
            self.injected.off_route_spans.append((t0_s, arrive_s))
        else:
            self._drive(site, self.yard)
        if kind == "exit_cut":  # the terminal cut as the loaded truck leaves (车机分离)
            begin_s = t0_s + rng.uniform(*EXIT_CUT_DELAY_S)
            end_s = begin_s + rng.uniform(*EXIT_CUT_S)
            self.injected.silences.append((begin_s, end_s))
            self._label("terminal_tampering", begin_s, end_s, begin_s + OFFLINE_GAP_S)
        if kind == "silence":
            begin_s = rng.uniform(t0_s + 60.0, max(t0_s + 61.0, (t0_s + self._end_s) / 2))
            end_s = begin_s + rng.uniform(360.0, 720.0)
            self.injected.silences.append((begin_s, end_s))
            self._label("terminal_offline", begin_s, end_s, begin_s + OFFLINE_GAP_S)

    def _stop(self, kind: str, stop: Place) -> None:
        rng, t_s = self.inject_rng, self._end_s
        if kind == "dumping":
            duration_s = rng.uniform(180.0, 1200.0)
            self._dwell(duration_s, stop)
            self._label(kind, t_s, t_s + duration_s, t_s + DUMPING_DWELL_S)
        elif kind == "lift_dumping":
            before_s, lift_s = rng.uniform(20.0, 50.0), rng.uniform(45.0, 75.0)
            self._dwell(before_s, stop)
            self._dwell(lift_s, stop, lifted=True)
            self._dwell(rng.uniform(10.0, 30.0), stop)
            lift_at_s = t_s + before_s
            self._label(kind, lift_at_s, lift_at_s + lift_s, lift_at_s)
        else:
            self._dwell(rng.uniform(10.0, 150.0), stop)
            self.injected.traffic_stops += 1

    def _near_gate(self) -> Place | None:
        """A route node 60–150 m outside the site's registry fence (the first such)."""
        site, net = self.spec.site, self.world.network
        lon0, lat0 = site.dwell_lon, site.dwell_lat
        k = math.radians(1.0) * 6_371_008.8
        kx = k * math.cos(math.radians(lat0))

        def local(lon: float, lat: float) -> tuple[float, float]:
            return (lon - lon0) * kx, (lat - lat0) * k

        ring = shapely.Polygon([local(x, y) for x, y in site.polygon.exterior.coords])
        fence = ring.buffer(PLACE_MARGIN_M)
        for node in self.world.routes[site.name]:
            d_m = fence.distance(shapely.Point(local(*net.coord(node))))
            if NEAR_GATE_M[0] <= d_m <= NEAR_GATE_M[1]:
                return place_at_node(net, node, "near the gate", "stop")
        return None

    def _jam(self) -> None:
        """Stop-and-go: 4–8 queues of 30–150 s, creeping 60–200 m along the route between
        them (a queue that moves less is a stop, whatever its cause)."""
        net, rng = self.world.network, self.inject_rng
        route = self.world.routes[self.spec.site.name]
        i, here = self._route_place(0.2, 0.6)
        self._drive(self.spec.site, here)
        for _ in range(rng.randint(4, 8)):
            self._dwell(rng.uniform(30.0, 150.0), here)
            self.injected.traffic_stops += 1
            creep_m = rng.uniform(60.0, 200.0)
            j = i + 1
            while (
                j < len(route) - 3
                and haversine_m(here.dwell_lon, here.dwell_lat, *net.coord(route[j])) < creep_m
            ):
                j += 1
            if j >= len(route) - 3:
                break
            nxt = place_at_node(net, route[j], "queue", "stop")
            self._drive(here, nxt)
            here, i = nxt, j
        self._drive(here, self.yard)

    def _detour(self) -> None:
        """Leave the route at one node for an off-route node 80–700 m away, rejoin further on."""
        net, rng = self.world.network, self.inject_rng
        route = self.world.routes[self.spec.site.name]
        i, leave = self._route_place(0.2, 0.6)
        lon, lat = net.coord(route[i])
        ring_m = rng.uniform(80.0, 700.0)
        d = _distances_m(np.asarray(net.lons), np.asarray(net.lats), lon, lat)
        candidates = np.flatnonzero(np.abs(d - ring_m) < 40.0)
        if len(candidates) == 0:
            self._drive(self.spec.site, self.yard)
            return
        off = place_at_node(net, int(rng.choice(candidates.tolist())), "detour", "stop")
        j = min(i + rng.randint(3, 20), len(route) - 3)
        rejoin = place_at_node(net, route[j], "rejoin", "stop")
        self._drive(self.spec.site, leave)
        t0_s = self._end_s
        self._drive(leave, off)
        self._drive(off, rejoin)
        self.injected.off_route_spans.append((t0_s, self._end_s))
        self._drive(rejoin, self.yard)

    def finish(self) -> tuple[list[Label], int]:
        """Derive the geometric labels (deviations, outside hours); returns the labels and
        the number of short (< 60 s) excursions beyond the corridor."""
        deviations, short = self._deviation_labels()
        return self.injected.labels + deviations + self._outside_hours_labels(), short

    def _deviation_labels(self) -> tuple[list[Label], int]:
        corridor = self.world.corridors[self.spec.site.name]
        labels: list[Label] = []
        short = 0
        for t0_s, t1_s in self.injected.off_route_spans:
            spans = _excursions(self.log, corridor, t0_s, t1_s)
            for a_s, b_s, reached_s in spans:
                if reached_s is not None:
                    label = Label("route_deviation", self.spec.vehicle_id, a_s, b_s, reached_s)
                    labels.append(label)
                else:
                    short += 1
        return labels, short

    def gap_labels(self, fix_times_s: list[float]) -> list[Label]:
        """``terminal_offline`` for every stretch of ≥ 5 min without a fix while loaded in
        the fixes the terminal delivered (``fix_times_s``, late ones included), that no
        injected silence explains: docs/DOMAIN.md §2 counts any such silence, whatever its
        cause (an urban-canyon gap plus a lost fix or two, a tunnel)."""
        labels: list[Label] = []
        times = sorted(set(fix_times_s))
        silences = self.injected.silences
        for a_s, b_s in itertools.pairwise(times):
            if b_s - a_s < OFFLINE_GAP_S or not (self._loaded_at(a_s) and self._loaded_at(b_s)):
                continue
            if any(a_s <= end_s and begin_s <= b_s for begin_s, end_s in silences):
                continue
            vid = self.spec.vehicle_id
            labels.append(Label("terminal_offline", vid, a_s, b_s, a_s + OFFLINE_GAP_S, "gap"))
        return labels

    def _loaded_at(self, t_s: float) -> bool:
        """Truth: whether the truck is loaded at ``t_s`` (the piece under way then)."""
        for piece in self.log:
            if piece.t0_s <= t_s <= piece.t1_s:
                return piece.loaded
        return False

    def _outside_hours_labels(self) -> list[Label]:
        cutoff_s = self.spec.cutoff_s
        if cutoff_s is None:
            return []
        labels: list[Label] = []
        for start_s, end_s in loaded_spans(self.log):
            if end_s > cutoff_s:
                begin_s = max(start_s, cutoff_s)
                labels.append(Label("outside_hours", self.spec.vehicle_id, begin_s, end_s, begin_s))
        return labels


def loaded_spans(log: list[Piece]) -> list[tuple[float, float]]:
    """From the first loaded moving piece to the end of the last loaded moving piece."""
    spans: list[tuple[float, float]] = []
    for loaded, group in itertools.groupby(log, key=lambda p: p.loaded):
        moving = [p for p in group if p.t1_s > p.t0_s and p.length_m > 0.5]
        if loaded and moving:
            spans.append((moving[0].t0_s, moving[-1].t1_s))
    return spans


def _excursions(
    log: list[Piece], corridor: CorridorFence, t0_s: float, t1_s: float
) -> list[tuple[float, float, float | None]]:
    """Truth excursions in ``[t0_s, t1_s]``: ``(start, end, reached_s)``. Spells beyond the
    half-width less than 60 s apart make one episode; ``reached_s`` is when the time spent
    beyond the half-width in it added up to 60 s (``None`` if it never did: brushes of a few
    seconds each are not a deviation by the rule of docs/DOMAIN.md §2, however long the
    episode spans)."""
    spells: list[tuple[float, float]] = []  # continuous, at the sampling step
    last_t_s, was_out = -math.inf, False
    for piece in (p for p in log if p.t1_s >= t0_s and p.t0_s <= t1_s and p.loaded):
        steps = max(1, math.ceil((piece.t1_s - piece.t0_s) / SAMPLE_S))
        for k in range(steps + 1):
            f = k / steps
            lon = piece.lon0 + (piece.lon1 - piece.lon0) * f
            lat = piece.lat0 + (piece.lat1 - piece.lat0) * f
            t_s = piece.t0_s + (piece.t1_s - piece.t0_s) * f
            out = corridor.distance_m(lon, lat) > HALF_WIDTH_M
            if out and was_out and t_s - last_t_s <= SAMPLE_S * 1.01:
                spells[-1] = (spells[-1][0], t_s)
            elif out:
                spells.append((t_s, t_s))
            last_t_s, was_out = t_s, out
    # One episode per run of spells less than 60 s apart; labelled once the time spent beyond
    # the half-width adds up to 60 s (when that happened is the detectable moment).
    merged: list[tuple[float, float, float | None]] = []
    out_s = 0.0
    for a_s, b_s in spells:
        if merged and a_s - merged[-1][1] < DEVIATION_MIN_S:
            start_s, _, reached_s = merged[-1]
        else:
            start_s, reached_s, out_s = a_s, None, 0.0
            merged.append((a_s, b_s, None))
        if reached_s is None and out_s + (b_s - a_s) >= DEVIATION_MIN_S:
            reached_s = a_s + (DEVIATION_MIN_S - out_s)
        out_s += b_s - a_s
        merged[-1] = (start_s, b_s, reached_s)
    return merged


def truck_specs(world: World, n_trucks: int, hours: float, rng: random.Random) -> list[TruckSpec]:
    """A quarter of the trucks have a lift sensor; about one in seven has a permit whose
    window ends during the day (the night-window violators)."""
    specs = []
    for index in range(n_trucks):
        cutoff_s = None
        if rng.random() < 0.15:
            cutoff_s = 60.0 * round(rng.uniform(0.3, 0.8) * hours * 60.0)
        site = world.sites[index % len(world.sites)]
        specs.append(TruckSpec(index + 1, site, index % 4 == 3, cutoff_s))
    return specs

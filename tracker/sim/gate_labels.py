"""Silences at the site gate are tampering, by the definition, whatever the generator meant.

docs/DOMAIN.md §2 defines ``terminal_tampering`` (车机分离) by what happened, not by intent: a
loaded truck leaving its site (loading done, not yet ``tamper_exit_s`` past the gate) whose
terminal then falls silent for ``offline_gap_s``. A silence the generator injected as a
plain "terminal off" that begins before the truck is ``tamper_exit_s`` past its true exit
from the site's registry fence is, in truth, that event; it is labelled so. The exit is
taken from the ground truth (the motion log against the fence the registry draws), never
from what the terminal reported or what the engine saw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import shapely

from tracker.sim.motion import Piece
from tracker.sim.places import Place
from tracker.sim.scenario import PLACE_MARGIN_M, Label

TAMPER_EXIT_S = 60.0  # RuleConfig.tamper_exit_s
STEP_S = 1.0


def site_fence(site: Place) -> shapely.Geometry:
    """The site's registry fence as ``tracker.sim.scenario`` draws it (the OSM polygon grown
    by ``PLACE_MARGIN_M``)."""
    return site.polygon.buffer(math.degrees(PLACE_MARGIN_M / 6_371_008.8))


def relabel(labels: list[Label], gate: set[tuple[float, float]]) -> list[Label]:
    """Injected "terminal off" silences in ``gate`` become ``terminal_tampering``."""
    out: list[Label] = []
    for lb in labels:
        injected = lb.type == "terminal_offline" and lb.kind == "terminal_offline"
        if injected and (lb.start_s, lb.end_s) in gate:
            lb = Label(
                "terminal_tampering",
                lb.vehicle_id,
                lb.start_s,
                lb.end_s,
                lb.detectable_s,
                "gate_silence",
            )
        out.append(lb)
    return out


def true_exit_s(log: list[Piece], fence: shapely.Geometry, after_s: float) -> float | None:
    """The first instant at or after ``after_s`` when the truck is outside ``fence`` (lon/lat),
    sampled every ``STEP_S`` along the motion log; None if it never is."""
    for piece in log:
        if piece.t1_s < after_s:
            continue
        t_s = max(after_s, piece.t0_s)
        while t_s <= piece.t1_s:
            span = piece.t1_s - piece.t0_s
            f = (t_s - piece.t0_s) / span if span > 0 else 0.0
            lon = piece.lon0 + (piece.lon1 - piece.lon0) * f
            lat = piece.lat0 + (piece.lat1 - piece.lat0) * f
            if not fence.contains(shapely.Point(lon, lat)):
                return t_s
            t_s += STEP_S
    return None


def gate_silences(
    silences: Iterable[tuple[float, float]],
    log: list[Piece],
    fence: shapely.Geometry,
    loaded_starts_s: list[float],
) -> set[tuple[float, float]]:
    """The silences that begin on a loaded departure: after a loaded leg starts (the end of
    loading, ``loaded_starts_s``) and before the truck is ``TAMPER_EXIT_S`` past its true
    exit from the site fence."""
    out: set[tuple[float, float]] = set()
    for begin_s, end_s in silences:
        starts = [s for s in loaded_starts_s if s <= begin_s]
        if not starts:
            continue
        exit_s = true_exit_s(log, fence, starts[-1])
        if exit_s is None or begin_s < exit_s + TAMPER_EXIT_S:
            out.add((begin_s, end_s))
    return out

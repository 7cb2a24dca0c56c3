"""The benchmark's model of what a JT/T 808 session says (``tracker.sim.session``) and the
labels of silences at the site gate (``tracker.sim.gate_labels``)."""

from __future__ import annotations

import itertools
import math

import shapely

from tracker.sim.gate_labels import TAMPER_EXIT_S, gate_silences, relabel
from tracker.sim.motion import Piece
from tracker.sim.scenario import Label
from tracker.sim.session import HEARTBEAT_S, heard_at, heartbeat_times


def every(start_s: float, end_s: float, step_s: float) -> list[float]:
    return [start_s + k * step_s for k in range(int((end_s - start_s) / step_s) + 1)]


def test_a_terminal_uploading_never_heartbeats() -> None:
    recorded = every(0, 1800, 20)
    assert heartbeat_times(every(10, 1800, 30), recorded, 1800) == []


def test_a_held_back_run_heartbeats_a_cut_terminal_does_not() -> None:
    recorded = every(0, 1800, 20)
    uploads = [t for t in every(10, 1800, 30) if not 600 <= t <= 1200]  # held 600-1200
    beats = heartbeat_times([*uploads, 1500.0], recorded, 1800)
    assert beats and all(600 < b < 1200 for b in beats)
    assert all(b - a >= HEARTBEAT_S for a, b in itertools.pairwise(beats))
    assert heard_at(beats, 1199) == beats[-1] and heard_at(beats, 100) is None
    cut = [t for t in recorded if not 600 <= t <= 1200]  # nothing recorded or sent: cut
    assert heartbeat_times(uploads, cut, 1800) == []
    assert heartbeat_times(uploads, recorded, 1800, silent=[(590.0, 1210.0)]) == []


def _square(lon: float, lat: float, half_m: float) -> shapely.Polygon:
    d_lat = math.degrees(half_m / 6_371_008.8)
    d_lon = d_lat / math.cos(math.radians(lat))
    return shapely.box(lon - d_lon, lat - d_lat, lon + d_lon, lat + d_lat)


def test_a_silence_that_begins_at_the_gate_is_tampering() -> None:
    lon, lat = 7.42, 43.73
    fence = _square(lon, lat, 100.0)
    east = lon + math.degrees(2000.0 / 6_371_008.8) / math.cos(math.radians(lat))
    # Loaded from 0 s, 2 km east at 10 m/s: out of the 100 m fence at 10 s.
    log = [Piece(0.0, 200.0, lon, lat, east, lat, 90.0, False, True, False)]
    early = (10.0 + TAMPER_EXIT_S - 5, 700.0)
    late = (10.0 + TAMPER_EXIT_S + 5, 700.0)
    assert gate_silences([early, late], log, fence, [0.0]) == {early}
    labels = [
        Label("terminal_offline", 1, *s, s[0] + 300, "terminal_offline") for s in (early, late)
    ]
    labels.append(Label("terminal_offline", 1, *early, early[0] + 300, "gap"))
    out = relabel(labels, {early})
    assert [(lb.type, lb.kind) for lb in out] == [
        ("terminal_tampering", "gate_silence"),
        ("terminal_offline", "terminal_offline"),
        ("terminal_offline", "gap"),  # only injected silences are relabelled
    ]

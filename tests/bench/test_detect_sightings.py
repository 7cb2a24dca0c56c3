"""The hard profile's checkpoint sightings (tracker.bench.detect_sightings): passages from the
truth track, labels from the truth, detections as the sighting service would raise them."""

from __future__ import annotations

import pytest

from tracker.bench import detect_sightings as ds
from tracker.geo import offset
from tracker.sim.motion import Piece

CP = (7.42, 43.74)


def piece(t0_s: float, t1_s: float, east0_m: float, east1_m: float) -> Piece:
    lon0, lat0 = offset(*CP, east0_m, 10.0)
    lon1, lat1 = offset(*CP, east1_m, 10.0)
    return Piece(t0_s, t1_s, lon0, lat0, lon1, lat1, 90.0, False, True, False)


def test_a_pass_by_the_checkpoint_is_one_passage_at_the_closest_approach() -> None:
    log = [piece(100, 200, -500, 500), piece(200, 260, 500, 500), piece(260, 300, 500, 2000)]
    assert ds.passages(log, [CP]) == [(pytest.approx(150.0), 0)]
    assert ds.passages([piece(0, 100, -500, 500)], [offset(*CP, 0, 200)]) == []


def fixes(times_s: list[float], arrival_delay_s: float) -> list[tuple[float, float, float, float]]:
    return [(t, t + arrival_delay_s, *offset(*CP, 30.0, 0.0)) for t in times_s]


@pytest.mark.parametrize(
    ("case", "recorded", "labelled", "raised"),
    [
        ("terminal reporting", fixes([980, 1010, 1040], 1), False, False),
        ("terminal cut", fixes([100, 2500], 1), True, True),
        ("held back, in within the grace period", fixes([980, 1010, 1290], 800), False, False),
        ("held back past the review", fixes([980, 1010, 1040], 1000), False, True),
    ],
)
def test_sightings_are_labelled_from_the_truth_and_judged_on_what_had_arrived(
    case: str, recorded: list[tuple[float, float, float, float]], labelled: bool, raised: bool
) -> None:
    watch = ds.SightingWatch([CP], seed=3, hours=2.0, camera_miss=0.0, misread=0.0)
    watch.add(1, [(1000.0, 0)], recorded)
    labels, found, reads = watch.finish()
    tampering = [lb for lb in labels if lb.type == "terminal_tampering"]
    assert bool(tampering) is labelled, case
    assert any(f[0] == "terminal_tampering" and f[1] == 1 for f in found) is raised, case
    ghosts = [lb for lb in labels if lb.type == "unregistered_vehicle"]
    assert ghosts and reads == 1 + len(ghosts)
    assert sorted(f[2] for f in found if f[0] == "unregistered_vehicle") == sorted(
        lb.start_s for lb in ghosts
    )

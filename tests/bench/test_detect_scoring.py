"""``tracker bench detect``'s scoring: matching, unscored labels and retracted detections."""

from __future__ import annotations

from tracker.bench.detect import Detection, Results, score
from tracker.sim.scenario import Label


def test_scoring_matches_once_ignores_unscored_and_reports_retractions() -> None:
    labels = [
        Label("dumping", 1, 100.0, 400.0, 280.0),
        Label("dumping", 2, 1000.0, 1300.0, 1180.0),  # missed
        Label("terminal_offline", 1, 2000.0, 2400.0, 2300.0),
    ]
    unscored = [Label("dumping", 1, 28_700.0, 28_790.0, 28_760.0)]  # the day's last minute
    engine = [
        Detection("dumping", 1, 110.0, 300.0, "d1"),
        Detection("dumping", 1, 120.0, 320.0, "d2"),  # a second detection: a false alarm
        Detection("dumping", 1, 28_710.0, 28_770.0, "d3"),  # of the unscored label: ignored
        Detection("terminal_offline", 1, 2000.0, 2310.0, "o1"),
        Detection("terminal_offline", 3, 5000.0, 5300.0, "o2"),  # false, then retracted
    ]
    results = Results(labels=labels, unscored=unscored, engine=engine, retracted={"o2"})
    figures = score(results)
    dumping = figures["dumping"]
    assert (dumping["labels"], dumping["detections"]) == (2, 2)
    assert (dumping["precision"], dumping["recall"]) == (0.5, 0.5)
    assert dumping["median_detect_s"] == 20.0
    assert "retracted" not in dumping
    offline = figures["terminal_offline"]
    assert (offline["precision"], offline["recall"]) == (0.5, 1.0)
    assert offline["retracted"] == 1
    assert offline["after_retraction"] == {"precision": 1.0, "recall": 1.0}


def test_seeds_summarize_to_mean_and_worst() -> None:
    from tracker.bench.detect import summarize

    def fig(p: float, r: float, med: float, p95: float) -> dict[str, float | int]:
        return {
            "precision": p,
            "recall": r,
            "median_detect_s": med,
            "p95_detect_s": p95,
            "labels": 2,
            "detections": 2,
        }

    seeds = [
        {"dumping": {**fig(1.0, 1.0, 40.0, 60.0), "baseline": fig(0.5, 1.0, 30.0, 50.0)}},
        {"dumping": {**fig(0.8, 0.9, 60.0, 120.0), "baseline": fig(0.7, 0.5, 30.0, 70.0)}},
    ]
    dumping = summarize(seeds)["dumping"]  # type: ignore[arg-type]
    assert dumping["precision"] == 0.9 and dumping["precision_worst"] == 0.8
    assert dumping["recall"] == 0.95 and dumping["recall_worst"] == 0.9
    assert dumping["median_detect_s"] == 50.0 and dumping["p95_detect_s"] == 120.0
    assert dumping["labels"] == 4 and dumping["seeds"] == 2
    assert dumping["baseline"]["recall_worst"] == 0.5

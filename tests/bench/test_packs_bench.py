"""`tracker bench packs` prints one JSON line with pack_s, its baseline and ratio, verify_ok and
tamper_detected (every tampered variant refused: tests/evidence/test_pack.py tries them)."""

from __future__ import annotations

import json

import pytest

from tracker.cli import main as tracker


def test_the_bench_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert tracker(["bench", "packs", "--hours", "0.2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    figures = json.loads(out[0])
    assert figures["fixes"] == 144 and figures["verify_ok"] is True
    assert figures["tamper_detected"] is True
    assert figures["pack_s"] > 0 and figures["baseline_s"] > 0 and figures["ratio"] > 0
    assert figures["target_pack_s"] == 3.0 and "pack_10s_s" in figures

"""Evidence packs: an untouched pack verifies; a changed byte in any file, or a changed or
removed event (even with the manifest recomputed), fails; the PDF opens and reads in Chinese;
``tracker evidence verify`` exits non-zero naming the first mismatch."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import orjson
import pytest
from pypdf import PdfReader

from tracker.bench.packs import flip, rezip, sample_dossier, tampered
from tracker.cli import main as tracker
from tracker.evidence.pack import build_pack
from tracker.evidence.verify import verify_pack


@pytest.fixture(scope="module")
def pack() -> bytes:
    return build_pack(sample_dossier(hours=0.5, interval_s=10.0))


def members(pack: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pack)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_an_untouched_pack_verifies_and_holds_every_file(pack: bytes) -> None:
    check = verify_pack(pack)
    assert check.ok, check.problem
    files = members(pack)
    assert set(files) == {
        "manifest.json", "case.pdf", "evidence.geojson", "events.json",
        "photos/clue-1-0.jpg", "photos/clue-1-1.jpg",
    }  # fmt: skip
    manifest = orjson.loads(files["manifest.json"])
    assert {f["name"] for f in manifest["files"]} == set(files) - {"manifest.json"}
    assert manifest["chain"]["events"] == 12 == check.events
    assert build_pack(sample_dossier(hours=0.5, interval_s=10.0)) == pack  # reproducible


def test_the_geojson_is_lon_lat(pack: bytes) -> None:
    d = sample_dossier(hours=0.5, interval_s=10.0)
    geo = orjson.loads(members(pack)["evidence.geojson"])
    track = next(f for f in geo["features"] if f["properties"]["kind"] == "track")
    assert track["geometry"]["coordinates"][0] == [d.fixes[0].lon, d.fixes[0].lat]
    fences = [f for f in geo["features"] if f["properties"]["kind"] == "fence"]
    assert {f["properties"]["role"] for f in fences} == {"site", "yard", "zone", "corridor"}


def test_the_pdf_opens_and_reads_in_chinese(pack: bytes) -> None:
    reader = PdfReader(io.BytesIO(members(pack)["case.pdf"]))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "渣土车运输违规证据卷" in text and "桂A-B1234" in text
    assert "南宁市某某渣土运输有限公司" in text and "疑似偷倒" in text
    assert "比例尺" in text and "北 N" in text  # the map's scale bar and north arrow
    assert "传感器时间线" in text and "定位数据表" in text and "尚无处罚决定" in text
    assert len(reader.pages) >= 5


def test_every_tampering_fails_verification(pack: bytes) -> None:
    variants = list(tampered(pack))
    assert len(variants) > 30
    for what, bad in variants:
        check = verify_pack(bad)
        assert not check.ok, what
        assert check.problem


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("case.pdf", "case.pdf: SHA-256"),
        ("evidence.geojson", "evidence.geojson: SHA-256"),
        ("photos/clue-1-1.jpg", "photos/clue-1-1.jpg: SHA-256"),
        ("manifest.json", "manifest.json"),
        ("events.json", "events.json"),
    ],
)
def test_the_first_mismatch_is_named(pack: bytes, name: str, expected: str) -> None:
    data = members(pack)[name]
    check = verify_pack(rezip(pack, {name: flip(data, len(data) // 2)}))
    assert not check.ok and check.problem.startswith(expected), check.problem


def test_missing_and_extra_files_fail(pack: bytes) -> None:
    gone = verify_pack(rezip(pack, {"photos/clue-1-0.jpg": None}))
    assert not gone.ok and "photos/clue-1-0.jpg: missing" in gone.problem
    out = io.BytesIO(pack)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("extra.txt", b"hello")
    extra = verify_pack(out.getvalue())
    assert not extra.ok and "extra.txt" in extra.problem
    assert not verify_pack(b"not a zip").ok


def test_the_command_exits_non_zero_naming_the_mismatch(
    pack: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(pack)
    data = members(pack)["evidence.geojson"]
    bad.write_bytes(rezip(pack, {"evidence.geojson": flip(data, 10)}))
    assert tracker(["evidence", "verify", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    assert tracker(["evidence", "verify", str(bad)]) == 1
    assert "evidence.geojson" in capsys.readouterr().out
    head = orjson.loads(members(pack)["manifest.json"])["chain"]["head"]
    assert tracker(["evidence", "verify", str(good), "--head", head]) == 0
    assert tracker(["evidence", "verify", str(good), "--head", "0" * 64]) == 1
    assert tracker(["evidence", "verify", str(tmp_path / "none.zip")]) == 2


def test_a_pack_without_track_place_or_decodable_photo_still_builds_and_verifies() -> None:
    import dataclasses

    from tracker.evidence.dossier import PhotoFile

    struct = b"\x89PNG\r\n\x1a\n"  # a PNG signature and nothing a decoder can use
    d = dataclasses.replace(
        sample_dossier(hours=0.1, interval_s=10.0), fixes=(), place=None, fences=(),
        photos=(PhotoFile("broken.png", "image/png", struct),), decision="罚款人民币伍仟元整。",
    )  # fmt: skip
    pack = build_pack(d)
    assert verify_pack(pack).ok
    reader = PdfReader(io.BytesIO(members(pack)["case.pdf"]))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "罚款人民币伍仟元整" in text and "无法显示" in text and "轨迹点不足" in text

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tracker.sim import data


def _sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def test_extracts_only_the_member(tmp_path: Path) -> None:
    archive = _sdist(
        tmp_path / "osrm_bindings-26.10.0.tar.gz",
        {"osrm_bindings-26.10.0/setup.py": b"x", data.MEMBER_PATH: b"pbf bytes"},
    )
    target = tmp_path / "out" / data.PBF_NAME
    target.parent.mkdir()
    data._extract_member(archive, data.MEMBER_PATH, target)
    assert target.read_bytes() == b"pbf bytes"
    assert sorted(p.name for p in target.parent.iterdir()) == [data.PBF_NAME]


def test_missing_member_leaves_nothing(tmp_path: Path) -> None:
    archive = _sdist(tmp_path / "a.tar.gz", {"other/file": b"x"})
    target = tmp_path / data.PBF_NAME
    with pytest.raises(data.DataUnavailableError):
        data._extract_member(archive, data.MEMBER_PATH, target)
    assert list(tmp_path.iterdir()) == [archive]


def test_present_file_is_not_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / data.PBF_NAME).write_bytes(b"already here")

    def refuse(dest: Path) -> Path:
        raise AssertionError("must not download")

    monkeypatch.setattr(data, "_download_sdist", refuse)
    assert data.ensure_monaco_pbf(tmp_path) == tmp_path / data.PBF_NAME


def test_credit_names_openstreetmap() -> None:
    assert "© OpenStreetMap contributors" in data.OSM_CREDIT

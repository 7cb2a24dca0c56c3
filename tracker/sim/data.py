"""Obtain the Monaco OpenStreetMap extract the simulator drives on.

The extract ships inside the source distribution of ``osrm-bindings`` (a test fixture), so it can be
had from the package index with the ordinary ``pip download``; nothing else is fetched.

Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL 1.0).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from tracker.roads import DEMO_PBF

OSM_CREDIT = "Map data © OpenStreetMap contributors (ODbL 1.0)"

SDIST_NAME = "osrm-bindings"
SDIST_VERSION = "26.10.0"
MEMBER_PATH = f"osrm_bindings-{SDIST_VERSION}/test/data/monaco.osm.pbf"
PBF_NAME = DEMO_PBF


class DataUnavailableError(RuntimeError):
    """The extract is not present and could not be obtained."""


def default_data_dir() -> Path:
    return Path(os.environ.get("TRACKER_DATA_DIR", ".data"))


def ensure_monaco_pbf(data_dir: Path) -> Path:
    """Return ``data_dir/monaco.osm.pbf``, downloading and extracting it once if absent."""
    target = data_dir / PBF_NAME
    if target.is_file():
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tracker-osm-") as tmp:
        sdist = _download_sdist(Path(tmp))
        _extract_member(sdist, MEMBER_PATH, target)
    return target


def _download_sdist(dest: Path) -> Path:
    # Only this one package is built from source; ``:all:`` would try to build cmake and hang.
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        SDIST_NAME,
        f"{SDIST_NAME}=={SDIST_VERSION}",
        "-d",
        str(dest),
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise DataUnavailableError(f"pip download of {SDIST_NAME} failed: {detail}") from exc
    found = sorted(dest.glob("osrm_bindings-*.tar.gz")) + sorted(
        dest.glob("osrm-bindings-*.tar.gz")
    )
    if not found:
        raise DataUnavailableError(f"pip download left no {SDIST_NAME} sdist in {dest}")
    return found[0]


def _extract_member(archive: Path, member_path: str, target: Path) -> None:
    """Stream one member out of a .tar.gz into ``target``, atomically."""
    with tarfile.open(archive, mode="r|gz") as tar:
        for member in tar:
            if member.name != member_path:
                continue
            source = tar.extractfile(member)
            if source is None:
                break
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "wb") as out, source:
                    shutil.copyfileobj(source, out)
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            return
    raise DataUnavailableError(f"{member_path} not found in {archive.name}")

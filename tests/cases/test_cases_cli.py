"""``tracker cases taxonomy`` and ``tracker cases areas`` load data by code, and refuse bad
files with the field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from case_world import AREAS

from tracker.cli import main


def test_the_cli_loads_the_default_taxonomy_and_areas(
    database_url: str, db: psycopg.Connection[Any], tmp_path: Path, clean: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    db.execute("TRUNCATE case_subtypes, case_categories, jurisdictions CASCADE")
    assert main(["cases", "taxonomy", "--database-url", database_url]) == 0
    assert "6 categories, 12 subtypes loaded" in capsys.readouterr().out
    row = db.execute(
        "SELECT penalty_min_cny, penalty_max_cny, legal_basis FROM case_subtypes "
        "WHERE code = 'dumping_at_will'"
    ).fetchone()
    assert row is not None and (float(row[0]), float(row[1])) == (5000.0, 50000.0)
    assert "第二十六条" in row[2]
    areas = tmp_path / "areas.geojson"
    areas.write_text(json.dumps(AREAS), encoding="utf-8")
    assert main(["cases", "areas", str(areas), "--database-url", database_url]) == 0
    assert db.execute("SELECT count(*) FROM jurisdictions").fetchone() == (4,)
    bad = dict(AREAS, features=[dict(AREAS["features"][0], geometry=None)])
    areas.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["cases", "areas", str(areas), "--database-url", database_url])
    assert exited.value.code == 2
    assert "features[0].geometry" in capsys.readouterr().err
    city = tmp_path / "city.json"
    city.write_text(json.dumps({"categories": [], "subtypes": []}), encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["cases", "taxonomy", str(city), "--database-url", database_url])

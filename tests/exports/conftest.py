"""Fixtures for exports and feeds: a fleet of two companies with tracks written by COPY, and
the export/feed tables emptied between tests (the shared ``clean`` does not know them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from export_world import World
from httpx import AsyncClient

from tracker.registry import repo


@pytest.fixture
def world(db: psycopg.Connection[Any], clean: None) -> World:
    db.execute("TRUNCATE export_jobs, share_grants, feed_stamps")
    a = repo.ensure_company(db, "南宁渣土运输有限公司")
    b = repo.ensure_company(db, "Other Haulage")
    va = repo.ensure_vehicle(db, "桂A12345", a, 16.0)
    vb = repo.ensure_vehicle(db, "桂B99999", b, 16.0)
    ta = repo.ensure_terminal(db, "T-A", va)
    tb = repo.ensure_terminal(db, "T-B", vb)
    return World(db, a, b, va, vb, ta, tb)


@pytest.fixture
def export_dir(client: AsyncClient, tmp_path: Any) -> Iterator[Any]:
    platform = client.app.state.platform  # type: ignore[attr-defined]
    platform.settings.exports.dir = str(tmp_path)
    yield tmp_path

"""Schemathesis against the OpenAPI schema of a running server: no 5xx, no response that
breaks the schema. Bounded: a few generated cases per operation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tracker.bench.common import free_port, start_server, stop_server

STAFF_TOKEN = "fuzz-staff"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(database_url: str, redis_url: str) -> Iterator[schemathesis.BaseSchema]:
    port = free_port()
    env = {
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_STAFF_TOKEN": STAFF_TOKEN,
        "TRACKER_ENV": "test",
    }
    server = start_server(port, env)
    try:
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    finally:
        stop_server(server)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {STAFF_TOKEN}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )

"""schemathesis against a real `mpac-pgw serve` and its own /openapi.json, with a short, derandomized budget.

Signed with a partner key, with a device key, and unsigned; schema-valid and schema-violating inputs; then
stateful chains over OpenAPI links (create → retrieve/confirm/cancel/capture/sync). No answer may be a 5xx,
and every answer must have a documented status, content type and body. The long run:
bench/schemathesis_cloud.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from tests.support.cloud_fuzz import (
    Cloud,
    Report,
    fuzz_operations,
    fuzz_stateful,
    load_schema,
    running_cloud,
    server_log_tail,
)

pytestmark = pytest.mark.slow
BUDGET_S = 40.0  # a bound per test, not an assertion: hypothesis stops sending once it passed


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-cloud")


@pytest.fixture(scope="module")
def cloud(workdir: Path) -> Iterator[Cloud]:
    with running_cloud(workdir) as running:
        yield running


@pytest.fixture(scope="module")
def schema(cloud: Cloud) -> schemathesis.BaseSchema:
    return load_schema(cloud)


@pytest.fixture(scope="module")
def chain_schema(cloud: Cloud) -> schemathesis.BaseSchema:
    return load_schema(cloud, always_plausible=True)


def _verdict(report: Report, workdir: Path) -> str:
    return report.render() + "\n--- server log (tail) ---\n" + server_log_tail(workdir)


@pytest.mark.parametrize(("mode", "examples"), [("partner", 15), ("device", 10), ("none", 6)])
def test_every_operation_answers_as_documented(cloud: Cloud, schema: schemathesis.BaseSchema, workdir: Path,
                                               mode: str, examples: int) -> None:
    """Every operation, fuzzed with valid and invalid inputs under this auth mode: no 5xx, documented status,
    content type and body schema in every answer."""
    report = Report()
    fuzz_operations(schema, cloud.auth(mode), report, examples=examples, deadline=time.monotonic() + BUDGET_S)
    assert report.total >= 11 * examples, _verdict(report, workdir)  # each operation got its cases
    assert not report.network_errors, _verdict(report, workdir)
    assert not report.failures, _verdict(report, workdir)


def test_linked_calls_answer_as_documented(cloud: Cloud, chain_schema: schemathesis.BaseSchema,
                                           workdir: Path) -> None:
    """Stateful chains follow the links from a created intent into its retrieve/confirm/cancel/capture/sync,
    and every answer along them is documented; at least one chain really reached an intent it created."""
    report = Report()
    fuzz_stateful(chain_schema, cloud.auth("partner"), report, scenarios=20, steps=6,
                  deadline=time.monotonic() + BUDGET_S)
    # a 200 or 409 on /v1/payment_intents/{id}/… exists only for an intent that a chain created
    followed = sum(n for (route, status), n in report.statuses.items()
                   if "{id}" in route and status in (200, 409))
    assert followed > 0, _verdict(report, workdir)
    assert not report.network_errors, _verdict(report, workdir)
    assert not report.failures, _verdict(report, workdir)

"""The gateway's own counters, recorded by the routes (docs/observability.md); no-ops with telemetry off."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import metrics

from sync import telemetry

_meter = metrics.get_meter("mpac.pgw")
_intents_created = _meter.create_counter(
    "mpac.pgw.intents.created", unit="{intent}",
    description="create requests by processing_mode and outcome (created, or the error code)")
_ingest_items = _meter.create_counter(
    "mpac.pgw.sync.items", unit="{item}",
    description="offline sales received in sync batches, by status: accepted, duplicate, rejected")


def record_items(statuses: Mapping[str, int]) -> None:
    """Count the items of one ingested batch by status."""
    if telemetry.enabled():
        for status, n in statuses.items():
            _ingest_items.add(n, {"status": status})


def record_create(processing_mode: str | None, outcome: str) -> None:
    """Count one create request: its processing mode (as asked, or `default`) and how it ended."""
    if telemetry.enabled():
        _intents_created.add(1, {"processing_mode": processing_mode or "default", "outcome": outcome})

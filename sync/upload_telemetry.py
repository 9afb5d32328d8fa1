"""The uploader's span and metrics (docs/observability.md): one span per batch, linked to its sales.

A batch carries many sales, each taken in a trace of its own: the batch span starts a trace of its own too
and links to every sale's stored traceparent, so support can walk from a sale to the batch that carried it
and on into the cloud (the HTTP client span under the batch span sends the traceparent).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

from opentelemetry import metrics
from opentelemetry.trace import SpanKind

from sync import telemetry
from sync.batch import OutboxItem
from sync.results import ItemOutcome

_meter = metrics.get_meter("mpac.sync")
_batch_size = _meter.create_histogram("mpac.sync.batch.size", unit="{item}",
                                      description="sales per batch posted to the cloud")
_batch_duration = _meter.create_histogram("mpac.sync.batch.duration", unit="s",
                                          description="time from posting a batch to its answer (or failure)")
_items = _meter.create_counter("mpac.sync.items", unit="{item}",
                               description="batch items by the cloud's verdict: acked, rejected, requeued")


@contextlib.contextmanager
def batch_span(items: Sequence[OutboxItem], device_id: str, body_bytes: int) -> Iterator[None]:
    """The span and the size/latency metrics of one batch upload."""
    if not telemetry.enabled():
        yield
        return
    links = [link for it in items if (link := telemetry.link_to(it.trace_context)) is not None]
    attributes: dict[str, str | int] = {"mpac.device.id": device_id, "mpac.sync.batch.items": len(items),
                  "mpac.sync.batch.bytes": body_bytes}
    started = time.monotonic()
    outcome = "ok"
    try:
        with telemetry.span("sync.batch.upload", attributes, links=links, kind=SpanKind.INTERNAL):
            yield
    except BaseException as err:
        outcome = type(err).__name__
        raise
    finally:
        _batch_size.record(len(items), {"outcome": outcome})
        _batch_duration.record(time.monotonic() - started, {"outcome": outcome})


def count_outcomes(outcomes: Sequence[ItemOutcome], requeued: int) -> None:
    """Count the verdicts of one answered batch."""
    if not telemetry.enabled():
        return
    for state in ("acked", "rejected"):
        n = sum(1 for o in outcomes if o.state == state)
        if n:
            _items.add(n, {"outcome": state})
    if requeued:
        _items.add(requeued, {"outcome": "requeued"})


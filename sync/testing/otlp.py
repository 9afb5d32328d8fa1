"""A loopback OTLP/HTTP receiver for tests and benchmarks (docs/observability.md).

`OtlpReceiver` is a small aiohttp app that decodes the real protobuf export requests of the three signals
(`opentelemetry-proto`, a dependency of the OTLP exporter) and keeps them for assertions. `HangingCollector`
accepts connections and never answers: what a stuck collector looks like to an exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def value_of(value: AnyValue) -> Any:
    """The Python value of an OTLP AnyValue (scalars; arrays as lists)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP key/value pairs as a dict."""
    out: dict[str, Any] = {}
    for kv in pairs:
        assert isinstance(kv, KeyValue)
        out[kv.key] = value_of(kv.value)
    return out


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as exported, with its resource's attributes."""

    resource: dict[str, Any]
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    links: list[tuple[str, str]]  # (trace_id, span_id)


@dataclass(frozen=True, slots=True)
class ReceivedPoint:
    """One data point of a metric, with its resource's attributes."""

    resource: dict[str, Any]
    name: str
    attributes: dict[str, Any]
    value: float  # gauge/sum value, or a histogram's count


@dataclass(frozen=True, slots=True)
class ReceivedLog:
    """One log record as exported, with its resource's attributes."""

    resource: dict[str, Any]
    body: Any
    severity: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass
class OtlpReceiver:
    """Collects spans, metric points and log records sent to /v1/traces, /v1/metrics, /v1/logs."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    points: list[ReceivedPoint] = field(default_factory=list)
    logs: list[ReceivedLog] = field(default_factory=list)
    requests: int = 0

    def app(self) -> web.Application:
        """The receiver as an aiohttp application."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        app.router.add_post("/v1/logs", self._logs)
        return app

    async def _decode(self, request: web.Request, message: Any, path: tuple[str, str, str]) -> Iterator[Any]:
        """Parse one export request; (resource attributes, item) for each span, metric or log record in it,
        `path` naming the three nested fields (resource_spans, scope_spans, spans and the like)."""
        self.requests += 1
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message.ParseFromString(body)
        outer, scopes, items = path
        return ((attributes(r.resource.attributes), item) for r in getattr(message, outer)
                for scope in getattr(r, scopes) for item in getattr(scope, items))

    @staticmethod
    def _answer(response: Any) -> web.Response:
        return web.Response(body=response.SerializeToString(), content_type="application/x-protobuf")

    async def _traces(self, request: web.Request) -> web.Response:
        for resource, s in await self._decode(request, ExportTraceServiceRequest(),
                                              ("resource_spans", "scope_spans", "spans")):
            self.spans.append(ReceivedSpan(
                resource, s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                attributes(s.attributes), [(ln.trace_id.hex(), ln.span_id.hex()) for ln in s.links]))
        return self._answer(ExportTraceServiceResponse())

    async def _metrics(self, request: web.Request) -> web.Response:
        for resource, metric in await self._decode(request, ExportMetricsServiceRequest(),
                                                   ("resource_metrics", "scope_metrics", "metrics")):
            self.points.extend(_points(resource, metric))
        return self._answer(ExportMetricsServiceResponse())

    async def _logs(self, request: web.Request) -> web.Response:
        for resource, rec in await self._decode(request, ExportLogsServiceRequest(),
                                                ("resource_logs", "scope_logs", "log_records")):
            self.logs.append(ReceivedLog(resource, value_of(rec.body), rec.severity_text, rec.trace_id.hex(),
                                         rec.span_id.hex(), attributes(rec.attributes)))
        return self._answer(ExportLogsServiceResponse())

    def texts(self) -> Iterator[tuple[str, str]]:
        """(where, text) for every decoded value a secret must never be in: each resource, span, metric
        point and log attribute (keys and values) and each log body (tests/e2e/test_no_leaks.py)."""
        for s in self.spans:
            yield from _texts(f"span {s.name}", s.resource, s.attributes)
            yield f"span {s.name} name", s.name
        for p in self.points:
            yield from _texts(f"metric {p.name}", p.resource, p.attributes)
        for rec in self.logs:
            yield from _texts("log", rec.resource, rec.attributes)
            yield "log body", str(rec.body)

    def services(self) -> set[str]:
        """service.name of every resource that sent a span."""
        return {str(s.resource.get("service.name")) for s in self.spans}

    def named(self, name: str, service: str | None = None) -> list[ReceivedSpan]:
        """Spans of that name (of that service)."""
        return [s for s in self.spans
                if s.name == name and (service is None or s.resource.get("service.name") == service)]

    def metric(self, name: str, service: str | None = None) -> list[ReceivedPoint]:
        """Data points of that metric (of that service)."""
        return [p for p in self.points
                if p.name == name and (service is None or p.resource.get("service.name") == service)]


def _texts(where: str, resource: dict[str, Any], attrs: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for kind, pairs in (("resource", resource), ("attribute", attrs)):
        for key, value in pairs.items():
            yield f"{where} {kind} {key}", f"{key}={value}"


def _points(resource: dict[str, Any], metric: Any) -> Iterator[ReceivedPoint]:
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        for dp in getattr(metric, kind).data_points:
            value = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
            yield ReceivedPoint(resource, metric.name, attributes(dp.attributes), float(value))
    elif kind == "histogram":
        for dp in metric.histogram.data_points:
            yield ReceivedPoint(resource, metric.name, attributes(dp.attributes), float(dp.count))


@contextlib.asynccontextmanager
async def running_receiver(receiver: OtlpReceiver) -> Any:
    """Serve the receiver on 127.0.0.1 (a free port); yields its base URL."""
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def hanging_collector() -> Any:
    """A loopback port that accepts connections, reads nothing and never answers; yields its base URL."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep the connection open until the collector closes

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def _serve_until_stdin_closes() -> None:
    """`python -m sync.testing.otlp`: a live receiver in a process of its own (the bench's load generator
    must not share its event loop); prints its URL, counts what it got, stops when stdin closes."""
    import sys  # noqa: PLC0415 -- only the command needs it

    receiver = OtlpReceiver()
    async with running_receiver(receiver) as url:
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(f"{len(receiver.spans)} spans, {len(receiver.points)} metric points, {len(receiver.logs)} logs",
          flush=True)


if __name__ == "__main__":
    asyncio.run(_serve_until_stdin_closes())

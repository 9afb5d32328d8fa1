"""OpenTelemetry for both programs (docs/observability.md): resource, bounded exporters, log correlation.

`setup_telemetry` is called once per process by its command line, before the app is built. With no
`OTEL_EXPORTER_OTLP_ENDPOINT` (nor a per-signal endpoint) it does nothing at all: the API's no-op tracer and
meter stay in place and nothing is exported. Otherwise each signal with an endpoint (its own or the general
one) whose `OTEL_<SIGNAL>_EXPORTER` names `otlp` (the default) goes over OTLP/HTTP; the span and log queues
are bounded and every export has a timeout, all on the SDK's worker threads, so a dead or hanging collector
costs a bounded amount of memory and never blocks a sale.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sync.pan import mask_pans
from sync.wire import MAX_BATCH_ITEMS

ENDPOINT_VAR = "OTEL_EXPORTER_OTLP_ENDPOINT"
SIGNALS = ("traces", "metrics", "logs")
DEFAULT_EXPORT_TIMEOUT_S = 5.0
DEFAULT_QUEUE_SIZE = 2048
SHUTDOWN_BOUND_S = 3.0
# The namespace the semantic conventions name for a UUIDv5 service.instance.id (docs/observability.md): the
# id of a serial (or a worker name) under it is stable across restarts and computable by anyone.
INSTANCE_NAMESPACE = uuid.UUID("4d63009a-8d0f-11ee-aad7-4c796ed8e320")
_propagator = TraceContextTextMapPropagator()
_state = {"enabled": False, "metrics": False}
_tracer = trace.get_tracer("mpac-edge")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """What the environment asks of telemetry; read once by the command line (`from_environ`)."""

    endpoint: str | None = None  # the first endpoint named (general or per signal); None: nothing exported
    environment: str = "production"
    export_timeout_s: float = DEFAULT_EXPORT_TIMEOUT_S
    env_timeouts: frozenset[str] = frozenset()  # signals whose OTEL_EXPORTER_OTLP_[<SIGNAL>_]TIMEOUT decides
    metric_interval_ms: float | None = None  # None: OTEL_METRIC_EXPORT_INTERVAL or the SDK's 60 s
    traces: bool = True
    metrics: bool = True
    logs: bool = True
    max_queue_size: int = DEFAULT_QUEUE_SIZE

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TelemetryConfig:
        """The standard OTEL_* variables; `MPAC_ENVIRONMENT` names deployment.environment.name.

        A signal is exported when the general endpoint or its own (`OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`) is
        set and `OTEL_<SIGNAL>_EXPORTER` (a comma-separated list, default `otlp`) names `otlp`; `none` or only
        exporters we do not ship keep it local. `OTEL_SDK_DISABLED=true` turns everything off."""
        on = {signal: _signal_endpoint(environ, signal) for signal in SIGNALS}
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            on = dict.fromkeys(SIGNALS)
        endpoint = next((url for url in on.values() if url is not None), None)
        timed = frozenset(signal for signal in SIGNALS if any(
            environ.get(v, "").strip() for v in ("OTEL_EXPORTER_OTLP_TIMEOUT",
                                                 f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT")))
        queue = environ.get("OTEL_BSP_MAX_QUEUE_SIZE", "").strip()
        return cls(endpoint=endpoint, environment=environ.get("MPAC_ENVIRONMENT", "").strip() or "production",
                   env_timeouts=timed, traces=on["traces"] is not None,
                   metrics=on["metrics"] is not None, logs=on["logs"] is not None,
                   max_queue_size=int(queue) if queue.isdigit() and int(queue) > 0 else DEFAULT_QUEUE_SIZE)

    @property
    def enabled(self) -> bool:
        """Whether anything is exported at all."""
        return self.endpoint is not None

    def timeout_s(self, signal: str) -> float | None:
        """One export's bound for a signal: ours (5 s), or None when an OTEL_* timeout variable decides."""
        return None if signal in self.env_timeouts else self.export_timeout_s


def _signal_endpoint(environ: Mapping[str, str], signal: str) -> str | None:
    """Where one signal goes (its own endpoint, else the general one), or None when it is not exported."""
    exporters = environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() or "otlp"
    if "otlp" not in {name.strip() for name in exporters.split(",")}:
        return None
    for var in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", ENDPOINT_VAR):
        if environ.get(var, "").strip():
            return environ[var].strip()
    return None


@dataclass(slots=True)
class Telemetry:
    """The providers one process started; `shutdown()` flushes them within a bound."""

    shutdowns: list[object] = field(default_factory=list)

    def shutdown(self, bound_s: float = SHUTDOWN_BOUND_S) -> None:
        """Flush and stop every provider in parallel; a hanging collector costs at most `bound_s`."""
        threads = [threading.Thread(target=_quietly, args=(p,), daemon=True, name="otel-shutdown")
                   for p in self.shutdowns]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(bound_s)
        _state["enabled"] = _state["metrics"] = False


def _quietly(provider: object) -> None:
    try:
        provider.shutdown()  # type: ignore[attr-defined]
    except Exception as err:  # telemetry never fails the program, not even at exit
        logging.getLogger(__name__).debug("telemetry shutdown: %s", type(err).__name__)


def enabled() -> bool:
    """True once `setup_telemetry` installed the SDK in this process."""
    return _state["enabled"]


def metrics_enabled() -> bool:
    """True once `setup_telemetry` installed a metrics exporter (gauges worth sampling)."""
    return _state["metrics"]


def instance_id(name: str) -> str:
    """service.instance.id: UUIDv5 of a stable name (the device serial; a cloud worker's host:port/n)."""
    return str(uuid.uuid5(INSTANCE_NAMESPACE, name))


def setup_telemetry(config: TelemetryConfig, *, service_name: str, service_version: str,
                    instance: str, attributes: Mapping[str, str] | None = None) -> Telemetry | None:
    """Install the SDK providers, the aiohttp instrumentations and log correlation; None when disabled."""
    if not config.enabled:
        return None
    # The stable HTTP semantic conventions (http.server.request.duration, in seconds) unless the operator
    # chose otherwise; the instrumentations read this variable when they are installed.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    resource = _resource(config, service_name, service_version, instance, attributes or {})
    telemetry = Telemetry()
    if config.traces:
        telemetry.shutdowns.append(_tracing(config, resource))
    if config.metrics:
        telemetry.shutdowns.append(_metrics(config, resource))
    if config.logs:
        telemetry.shutdowns.append(_log_export(config, resource))
    _instrument(config)
    _state["enabled"], _state["metrics"] = True, config.metrics
    return telemetry


def _resource(config: TelemetryConfig, name: str, version: str, instance: str,
              extra: Mapping[str, str]) -> object:
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 -- the SDK loads only when enabled

    # OTEL_RESOURCE_ATTRIBUTES may name the environment; the service identity is always ours.
    base = Resource({"deployment.environment.name": config.environment, **extra})
    return base.merge(Resource.create({"service.name": name, "service.version": version,
                                       "service.instance.id": instance}))


def _tracing(config: TelemetryConfig, resource: object) -> object:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    # A batch span links to each of its up to 500 sales (sync/upload_telemetry.py); the SDK keeps 128.
    links = None if os.environ.get("OTEL_SPAN_LINK_COUNT_LIMIT") else MAX_BATCH_ITEMS
    provider = TracerProvider(resource=resource, shutdown_on_exit=False,  # type: ignore[arg-type]
                              span_limits=SpanLimits(max_links=links))
    provider.add_span_processor(_query_redactor())  # first: before any span can be queued for export
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(timeout=config.timeout_s("traces")),
                                                   max_queue_size=config.max_queue_size))
    trace.set_tracer_provider(provider)
    return provider


# The URL attributes of the HTTP instrumentations; a query string can carry a payment_token.
_URL_ATTRIBUTES = ("url.query", "url.full", "http.target", "http.url")


def redact_query(text: str) -> str:
    """Every query parameter's value replaced by REDACTED, the names kept (`a=REDACTED&b=REDACTED`)."""
    head, sep, query = text.partition("?") if "?" in text or "://" in text else ("", "", text)
    if not query:
        return text
    redacted = "&".join(f"{part.partition('=')[0]}=REDACTED" if part else part for part in query.split("&"))
    return f"{head}{sep}{redacted}"


def _query_redactor() -> Any:
    """A span processor that blanks query values in URL attributes when a span starts: a customer's
    payment_token rides in `?payment_token=…` and must never reach a collector (docs/observability.md)."""
    from opentelemetry.sdk.trace import SpanProcessor  # noqa: PLC0415 -- the SDK loads only when enabled

    class QueryRedactor(SpanProcessor):
        def on_start(self, span: Any, parent_context: Context | None = None) -> None:
            attributes = span.attributes or {}
            for key in _URL_ATTRIBUTES:
                value = attributes.get(key)
                if isinstance(value, str) and "=" in value:
                    span.set_attribute(key, redact_query(value))

    return QueryRedactor()


def _metrics(config: TelemetryConfig, resource: object) -> object:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader  # noqa: PLC0415

    timeout = config.timeout_s("metrics")
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(timeout=timeout),
                                           export_interval_millis=config.metric_interval_ms,
                                           export_timeout_millis=None if timeout is None else timeout * 1000)
    provider = MeterProvider(resource=resource, metric_readers=[reader],  # type: ignore[arg-type]
                             shutdown_on_exit=False)
    metrics.set_meter_provider(provider)
    return provider


def _log_export(config: TelemetryConfig, resource: object) -> object:
    from opentelemetry._logs import set_logger_provider  # noqa: PLC0415
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: PLC0415
    from opentelemetry.sdk._logs import LoggerProvider  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: PLC0415

    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)  # type: ignore[arg-type]
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(timeout=config.timeout_s("logs")),
                                                              max_queue_size=config.max_queue_size))
    set_logger_provider(provider)
    return provider


def _instrument(config: TelemetryConfig) -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.logging import LoggingInstrumentor  # noqa: PLC0415

    AioHttpServerInstrumentor().instrument()  # every web.Application built from now on gets its middleware
    AioHttpClientInstrumentor().instrument()  # every ClientSession: a client span and the traceparent header
    # Trace ids on records only when there are traces to point at (docs/observability.md#logs).
    LoggingInstrumentor().instrument(inject_trace_context=config.traces,
                                     enable_log_auto_instrumentation=config.logs)
    handler = getattr(LoggingInstrumentor, "_logging_handler", None)
    for h in logging.getLogger().handlers:
        if h is handler:
            h.addFilter(_export_filter)
        else:
            h.setFormatter(TraceFormatter(h.formatter))


def _export_filter(record: logging.LogRecord) -> bool:
    """The OTLP log handler: never the SDK's own records (a full queue would log about itself), no PAN."""
    if record.name.startswith("opentelemetry"):
        return False
    record.msg, record.args = mask_pans(record.getMessage()), None
    return True


class TraceFormatter(logging.Formatter):
    """Adds `trace_id=… span_id=…` to a log line written inside a span (docs/observability.md)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's line, plus the ids of the span it was logged in."""
        text = self._inner.format(record)
        trace_id = getattr(record, "otelTraceID", "0")
        if trace_id != "0":
            text += f" trace_id={trace_id} span_id={getattr(record, 'otelSpanID', '0')}"
        return text


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to store beside a record (None without a sampled span)."""
    if not _state["enabled"]:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def link_to(traceparent: str | None) -> Link | None:
    """A span link to the span a stored traceparent names (None if it is missing or malformed)."""
    if not traceparent:
        return None
    context: SpanContext = trace.get_current_span(
        _propagator.extract({"traceparent": traceparent}, context=Context())).get_span_context()
    return Link(context) if context.is_valid else None


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None,
         links: list[Link] | None = None, kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span | None]:
    """A span around a block, current inside it; with telemetry off, nothing at all (yields None)."""
    if not _state["enabled"]:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=attributes, links=links, kind=kind) as current:
        yield current


def traced(name: str) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate a coroutine function: each call runs in a span `name` (a plain call when telemetry is off)."""

    def wrap(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _state["enabled"]:
                return await fn(*args, **kwargs)
            with _tracer.start_as_current_span(name):
                return await fn(*args, **kwargs)

        return run

    return wrap


def annotate(attributes: Mapping[str, str | int | float | bool | None]) -> None:
    """Set attributes on the current span (no-op with telemetry off; None values are left out)."""
    if _state["enabled"]:
        trace.get_current_span().set_attributes({k: v for k, v in attributes.items() if v is not None})

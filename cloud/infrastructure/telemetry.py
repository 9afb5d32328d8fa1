"""The gateway's telemetry setup for `mpac-pgw serve` (docs/observability.md).

The SDK setup itself is shared with the agent (`sync.telemetry`); this module names the gateway's
instance. The counters the routes record into are in cloud/api/metrics.py.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator, Mapping

from cloud.settings import Settings
from sync import telemetry
from sync.version import package_version

log = logging.getLogger(__name__)


def worker_name(settings: Settings, worker: int = 0) -> str:
    """What names one gateway worker across restarts: host, port and worker number."""
    return f"mpac-pgw:{socket.gethostname()}:{settings.port}:{worker}"


@contextlib.contextmanager
def cloud_telemetry(settings: Settings, environ: Mapping[str, str], worker: int = 0) -> Iterator[None]:
    """Telemetry for one `mpac-pgw serve` process while the block runs (nothing without an endpoint)."""
    config = telemetry.TelemetryConfig.from_environ(environ)
    started = None
    if config.enabled:
        try:
            started = telemetry.setup_telemetry(
                config, service_name="mpac-pgw", service_version=package_version(),
                instance=telemetry.instance_id(worker_name(settings, worker)))
        except Exception as err:  # a bad OTEL_* value must not keep the gateway from serving
            log.warning("telemetry disabled: %s: %s", type(err).__name__, err)
    try:
        yield
    finally:
        if started is not None:
            started.shutdown()


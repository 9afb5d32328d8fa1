"""Which signals the standard OTEL_* variables turn on (docs/observability.md, "Pointing at a collector")."""

from __future__ import annotations

import pytest

from sync.telemetry import DEFAULT_EXPORT_TIMEOUT_S, TelemetryConfig

BASE = "http://127.0.0.1:4318"


def signals(env: dict[str, str]) -> tuple[bool, bool, bool, bool]:
    """(enabled, traces, metrics, logs) of the config read from `env`."""
    config = TelemetryConfig.from_environ(env)
    return config.enabled, config.traces, config.metrics, config.logs


class TestSignals:
    def test_nothing_set_exports_nothing(self) -> None:
        assert signals({}) == (False, False, False, False)

    def test_the_general_endpoint_turns_every_signal_on(self) -> None:
        assert signals({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE}) == (True, True, True, True)

    @pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
    def test_one_signal_endpoint_turns_only_that_signal_on(self, signal: str) -> None:
        env = {f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT": f"{BASE}/v1/{signal}"}
        enabled, *on = signals(env)
        assert enabled
        assert dict(zip(["traces", "metrics", "logs"], on, strict=True)) == {
            s: s == signal for s in ("traces", "metrics", "logs")}

    @pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
    def test_exporter_none_keeps_that_signal_local(self, signal: str) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, f"OTEL_{signal.upper()}_EXPORTER": " None "}
        enabled, *on = signals(env)
        assert enabled
        assert dict(zip(["traces", "metrics", "logs"], on, strict=True)) == {
            s: s != signal for s in ("traces", "metrics", "logs")}

    def test_every_exporter_none_is_off(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_TRACES_EXPORTER": "none",
               "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
        assert signals(env) == (False, False, False, False)

    def test_sdk_disabled_wins_over_endpoints(self) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": BASE,
               "OTEL_SDK_DISABLED": "TRUE"}
        assert signals(env) == (False, False, False, False)

    def test_a_blank_endpoint_is_not_an_endpoint(self) -> None:
        assert signals({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}) == (False, False, False, False)

    @pytest.mark.parametrize(("value", "on"), [
        ("otlp", True), ("console,otlp", True), (" OTLP ", True), ("console", False), ("", True),
    ])  # fmt: skip
    def test_an_exporter_list_exports_when_it_names_otlp(self, value: str, on: bool) -> None:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_TRACES_EXPORTER": value}
        assert signals(env)[1] is on


class TestTimeouts:
    def test_ours_bound_every_signal_by_default(self) -> None:
        config = TelemetryConfig.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE})
        assert [config.timeout_s(s) for s in ("traces", "metrics", "logs")] == [DEFAULT_EXPORT_TIMEOUT_S] * 3

    def test_a_general_timeout_variable_decides_for_every_signal(self) -> None:
        config = TelemetryConfig.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE,
                                               "OTEL_EXPORTER_OTLP_TIMEOUT": "2000"})
        assert [config.timeout_s(s) for s in ("traces", "metrics", "logs")] == [None] * 3

    @pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
    def test_a_signal_timeout_variable_decides_for_that_signal_only(self, signal: str) -> None:
        config = TelemetryConfig.from_environ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE,
                                               f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT": "2000"})
        assert {s: config.timeout_s(s) for s in ("traces", "metrics", "logs")} == {
            s: None if s == signal else DEFAULT_EXPORT_TIMEOUT_S for s in ("traces", "metrics", "logs")}

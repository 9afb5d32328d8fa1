"""OpenTelemetry end to end (docs/observability.md): a real agent and a real cloud export to a loopback OTLP
receiver; a dead or hanging collector never stops a sale."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.http import CloudSession, DeviceCredential, encode_json
from sync.testing.otlp import OtlpReceiver, ReceivedSpan, hanging_collector, running_receiver
from sync.testing.processes import CloudProcess, provision_real_device
from tests.e2e.agent.enroll import enroll_agent
from tests.e2e.agent.process import AgentProcess, closed_port
from tests.e2e.test_no_leaks import PAN_SENT, find_leaks
from tests.e2e.web.real_cloud import RealCloudProcess

SERIAL = "OTEL-1"
# service.instance.id per the semantic conventions: UUIDv5 of the serial in their namespace.
AGENT_INSTANCE = str(uuid.uuid5(uuid.UUID("4d63009a-8d0f-11ee-aad7-4c796ed8e320"), SERIAL))
WAIT_S = 60.0  # an upper bound on waiting for exports, not a measured duration


def cash_sale(agent: AgentProcess, ref: str) -> tuple[int, dict[str, object]]:
    """One cash sale through the agent's local API."""
    sale = {"amount": 1200, "currency": "JPY", "payment_method": "cash", "cash_received": 2000,
            "merchant_ref_id": ref}
    status, body = agent.call("POST", "/api/sales", sale)
    return status, body


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait for exports to arrive (polling); fail with `what` if they never do."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"never received: {what}")
        await asyncio.sleep(0.2)


def otel_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point every process started from here at `endpoint`, with short export intervals."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "500")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "200")
    monkeypatch.setenv("MPAC_ENVIRONMENT", "e2e")


class TestOneSaleOneTrace:
    async def test_sale_synced_to_cloud_is_traced_and_measured(self, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """A cash sale on a real agent, synced to a real cloud, arrives as linked spans of both services,
        with their resources, and with the agent's and the cloud's metrics."""
        receiver = OtlpReceiver()
        async with running_receiver(receiver) as endpoint:
            otel_env(monkeypatch, endpoint)
            cloud = CloudProcess("real", tmp_path)
            await cloud.start()
            try:
                cred = await provision_real_device(cloud, SERIAL)
                overrides = {"agent": {"serial": SERIAL},
                             "cloud": {"url": cloud.url, "device_id": cred.device_id, "api_key": cred.api_key,
                                       "secret_key": cred.secret_key}}
                agent = await asyncio.to_thread(AgentProcess.start, tmp_path / "agent", overrides)
                try:
                    status, sale = await asyncio.to_thread(cash_sale, agent, "otel-sale-1")
                    assert status == 201, sale
                    refused = await asyncio.to_thread(agent.call, "POST", "/api/sales", {
                        "amount": 1200, "currency": "JPY", "payment_method": "cash", "cash_received": 2000,
                        "metadata": {"note": PAN_SENT}})
                    assert refused[0] == 422, refused  # a card number in a sale: refused, never exported
                    secrets = await _secret_bearing_calls(cloud, cred)
                    await until(lambda: bool(receiver.named("pgw.sync.ingest", "mpac-pgw")), "ingest span")
                    await until(lambda: _acked(receiver), "the agent's acked-items metric")
                    await until(lambda: bool(receiver.metric("mpac.pgw.sync.items", "mpac-pgw")),
                                "the cloud's ingest-items metric")
                finally:
                    await asyncio.to_thread(agent.stop)
            finally:
                await cloud.stop()
        _check_trace(receiver, cred.device_id)
        _check_metrics(receiver)
        _check_logs(receiver, str(sale["local_id"]))
        # Nothing the collector got holds a secret the processes handled while it listened: the device's
        # and a partner's secret key, a payment_token, or the card number refused above
        # (tests/e2e/test_no_leaks.py scans the logs and answers).
        secrets = {"device secret key": cred.secret_key, "card number": PAN_SENT, **secrets}
        assert not find_leaks(receiver.texts(), secrets)

    async def test_no_endpoint_no_export(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without OTEL_EXPORTER_OTLP_ENDPOINT a sale works and no sale keeps a trace context."""
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
        agent = await asyncio.to_thread(AgentProcess.start, tmp_path / "agent", None)
        try:
            status, _sale = await asyncio.to_thread(cash_sale, agent, "plain-1")
        finally:
            await asyncio.to_thread(agent.stop)
        assert status == 201
        assert _stored_trace_contexts(tmp_path / "agent" / "state") == [None]


class TestAdminPasswordNotExported:
    async def test_admin_actions_export_no_password(self, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        """A terminal enrolled through `mpac-agent enroll` (so it has its one-time admin password), both
        processes exporting: admin actions with a wrong and with the right password, and a refund behind the
        same gate, are traced, and nothing the collector got holds the password."""
        receiver = OtlpReceiver()
        async with running_receiver(receiver) as endpoint:
            otel_env(monkeypatch, endpoint)
            cloud = await asyncio.to_thread(RealCloudProcess(tmp_path / "cloud").start)
            try:
                (tmp_path / "agent").mkdir()
                config, enrolled = await asyncio.to_thread(enroll_agent, tmp_path / "agent", cloud)
                password = str(enrolled["admin_password"])
                agent = await asyncio.to_thread(AgentProcess.start, tmp_path / "agent", None, config=config)
                try:
                    status, sale = await asyncio.to_thread(cash_sale, agent, "otel-admin-1")
                    assert status == 201, sale
                    for wrong in (password[:-1], f"{password}x"):
                        refused = await asyncio.to_thread(agent.call, "POST", "/api/web/admin/sync_now",
                                                          {"password": wrong})
                        assert refused[0] == 401, refused
                    done = await asyncio.to_thread(agent.call, "POST", "/api/web/admin/sync_now",
                                                   {"password": password})
                    assert done[0] == 200, done
                    refund = await asyncio.to_thread(
                        agent.call, "POST", f"/api/sales/{sale['local_id']}/refunds",
                        {"amount": 200, "password": password, "reason": "otel"})
                    assert refund[0] in (200, 201), refund
                    admin = "POST /api/web/admin/{action}"
                    await until(lambda: len(receiver.named(admin, "mpac-agent")) >= 3, "admin spans")
                    await until(lambda: bool(receiver.named("pgw.sync.ingest", "mpac-pgw")), "ingest span")
                finally:
                    await asyncio.to_thread(agent.stop)
            finally:
                await asyncio.to_thread(cloud.stop)
        assert not find_leaks(receiver.texts(), {"admin password": password})


async def _secret_bearing_calls(cloud: CloudProcess, cred: DeviceCredential) -> dict[str, str]:
    """While the collector listens: a partner's signed call, and a payment_token minted for the device and
    then used (in the query string, as a customer's browser would); the secrets those calls carried."""
    partner = await cloud.admin("partner", "create", "--name", "otel-partner")
    signer = DeviceCredential("", str(partner["api_key"]), str(partner["secret_key"]))
    async with CloudSession(cloud.url, signer, trust=cloud.trust()) as session:
        listed = await session.request("GET", "/v1/payment_intents?limit=1")
    assert listed.status == 200, listed.body
    body = {"amount": 500, "currency": "JPY", "payment_method_types": ["qr_mpm"],
            "merchant_ref_id": "otel-qr-1"}
    async with CloudSession(cloud.url, cred, trust=cloud.trust()) as session:
        created = await session.request("POST", "/v1/payment_intents", body=encode_json(body))
        assert created.status == 201, created.body
        intent = json.loads(created.body)
        token = str(intent["payment_token"])
        shown = await session.request("GET", f"/v1/payment_intents/{intent['id']}?payment_token={token}",
                                      signed=False)
    assert shown.status == 200, shown.body
    return {"partner secret key": str(partner["secret_key"]), "payment_token": token}


def _acked(receiver: OtlpReceiver) -> bool:
    return any(p.attributes.get("outcome") == "acked" and p.value >= 1
               for p in receiver.metric("mpac.sync.items", "mpac-agent"))


def _check_trace(receiver: OtlpReceiver, device_id: str) -> None:
    assert {"mpac-agent", "mpac-pgw"} <= receiver.services()
    server = receiver.named("POST /api/sales", "mpac-agent")
    commit = receiver.named("sale.commit", "mpac-agent")
    assert server and commit
    sale_trace = commit[0].trace_id
    assert sale_trace == server[0].trace_id  # the request and its durable commit: one trace
    assert receiver.named("sale.create", "mpac-agent")[0].trace_id == sale_trace
    batches = [s for s in receiver.named("sync.batch.upload", "mpac-agent") if s.links]
    assert batches, "no batch span links to a sale"
    batch = batches[0]
    assert sale_trace in {trace for trace, _span in batch.links}  # the batch links to the sale it carried
    assert batch.attributes["mpac.device.id"] == device_id
    ingest = receiver.named("pgw.sync.ingest", "mpac-pgw")[0]
    assert ingest.trace_id == batch.trace_id  # traceparent carried from agent to cloud
    cloud_trace = {s.name for s in receiver.spans if s.trace_id == batch.trace_id
                   and s.resource.get("service.name") == "mpac-pgw"}
    assert {"POST /v1/sync/batches", "pgw.auth", "pgw.sync.ingest", "db.write"} <= cloud_trace
    handlers = receiver.named("POST /v1/sync/batches", "mpac-pgw")
    handler = next(s for s in handlers if s.trace_id == batch.trace_id)
    assert handler.attributes["mpac.device.id"] == device_id  # the caller's tenant scope, by ids
    assert str(handler.attributes["mpac.store.id"]).strip() and handler.attributes["mpac.partner.id"]
    agent_res = commit[0].resource
    assert agent_res["service.instance.id"] == AGENT_INSTANCE
    assert agent_res["deployment.environment.name"] == "e2e"
    assert agent_res["service.version"] and agent_res["mpac.device.serial"] == SERIAL
    cloud_res = ingest.resource
    assert cloud_res["service.instance.id"] not in ("", None, agent_res["service.instance.id"])
    assert cloud_res["deployment.environment.name"] == "e2e"


def _check_metrics(receiver: OtlpReceiver) -> None:
    for service in ("mpac-agent", "mpac-pgw"):
        assert receiver.metric("http.server.request.duration", service), service
    assert receiver.metric("http.client.request.duration", "mpac-agent")
    depth = receiver.metric("mpac.agent.sync.queue.depth", "mpac-agent")
    assert depth and all(0 <= p.value <= 1 for p in depth)
    assert all(p.value >= 0 for p in receiver.metric("mpac.agent.sync.oldest_pending.age"))
    assert all(p.value == 1 for p in receiver.metric("mpac.sync.batch.size", "mpac-agent"))  # one histogram
    assert receiver.metric("mpac.sync.batch.duration", "mpac-agent")
    assert all(p.value == 0 for p in receiver.metric("mpac.agent.print.jobs.held"))
    offsets = receiver.metric("mpac.agent.clock.offset")
    assert all(abs(p.value) < 60 for p in offsets)  # same machine: the clocks agree
    items = receiver.metric("mpac.pgw.sync.items", "mpac-pgw")
    assert max(p.value for p in items if p.attributes["status"] == "accepted") == 1


def _check_logs(receiver: OtlpReceiver, local_id: str) -> None:
    """The agent's records arrive as OTLP logs (docs/observability.md#logs), with its resource and the
    correlation attributes; the SDK's own records stay local. The sale's own record is in the sale's trace,
    the cloud's record of the batch in the batch's trace."""
    agent = [rec for rec in receiver.logs if rec.resource.get("service.name") == "mpac-agent"]
    sale_trace = receiver.named("sale.create", "mpac-agent")[0].trace_id
    recorded = [rec for rec in agent if local_id in str(rec.body) and "recorded" in str(rec.body)]
    assert recorded and recorded[0].trace_id == sale_trace, agent
    assert recorded[0].span_id in {s.span_id for s in receiver.spans if s.trace_id == sale_trace}
    batch_traces = {s.trace_id for s in receiver.named("pgw.sync.ingest", "mpac-pgw")}
    cloud = [rec for rec in receiver.logs if rec.resource.get("service.name") == "mpac-pgw"
             and str(rec.body).startswith("sync batch ")]
    assert cloud and cloud[0].trace_id in batch_traces, cloud
    assert any(str(rec.body).startswith("ready on http://127.0.0.1:") for rec in agent), agent
    assert all(rec.resource["service.instance.id"] == AGENT_INSTANCE for rec in agent)
    assert all("otelTraceID" in rec.attributes for rec in agent)
    own = [rec for rec in receiver.logs if "opentelemetry" in str(rec.attributes.get("code.namespace", ""))]
    assert not own


class TestTelemetryLeakScan:
    def test_scan_flags_a_secret_planted_in_any_decoded_field(self) -> None:
        """The scan over the receiver's texts finds a value in a span, resource, metric or log field."""
        receiver = OtlpReceiver()
        secret = "sk_planted_9f8e7d6c"
        assert not find_leaks(receiver.texts(), {"planted": secret})
        receiver.spans.append(ReceivedSpan({"service.name": "mpac-agent"}, "sale.create", "t", "s", "",
                                           {"mpac.note": f"x{secret}y"}, []))
        assert find_leaks(receiver.texts(), {"planted": secret}) == [
            "planted in span sale.create attribute mpac.note"]
        receiver.spans.clear()
        receiver.spans.append(ReceivedSpan({"site": "4111-1111-1111-1111"}, "n", "t", "s", "", {}, []))
        assert find_leaks(receiver.texts(), {"pan": "4111111111111111"}) == ["pan in span n resource site"]


class TestOneSignal:
    async def test_metrics_only(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """OTEL_TRACES_EXPORTER=none and OTEL_LOGS_EXPORTER=none: the collector gets the agent's metrics and
        not one span or log record; sales keep no trace context."""
        receiver = OtlpReceiver()
        async with running_receiver(receiver) as endpoint:
            otel_env(monkeypatch, endpoint)
            monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
            monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
            agent = await asyncio.to_thread(AgentProcess.start, tmp_path / "agent", None)
            try:
                status, sale = await asyncio.to_thread(cash_sale, agent, "metrics-only-1")
                assert status == 201, sale
                await until(lambda: bool(receiver.metric("http.server.request.duration", "mpac-agent")),
                            "the agent's request metric")
            finally:
                await asyncio.to_thread(agent.stop)
        assert receiver.metric("mpac.agent.sync.queue.depth", "mpac-agent")
        assert not receiver.spans and not receiver.logs
        assert _stored_trace_contexts(tmp_path / "agent" / "state") == [None]


def _stored_trace_contexts(state: Path) -> list[str | None]:
    import sqlite3  # noqa: PLC0415 -- only this check reads the agent's database directly

    with sqlite3.connect(state / "agent.sqlite3") as conn:
        return [r[0] for r in conn.execute("SELECT trace_context FROM sales")]


class TestCollectorTrouble:
    @pytest.mark.parametrize("trouble", ["down", "hanging"])
    async def test_sales_go_on(self, trouble: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the collector's port closed, or accepting and never answering, every sale is recorded and
        the agent still stops cleanly."""
        async with hanging_collector() as hanging:
            endpoint = hanging if trouble == "hanging" else f"http://127.0.0.1:{closed_port()}"
            otel_env(monkeypatch, endpoint)
            agent = await asyncio.to_thread(AgentProcess.start, tmp_path / "agent", None)
            try:
                answers = [await asyncio.to_thread(cash_sale, agent, f"{trouble}-{n}") for n in range(30)]
            finally:
                await asyncio.to_thread(agent.stop)
        assert [status for status, _body in answers] == [201] * 30
        assert agent.proc.returncode == 0
        assert all(tp and tp.startswith("00-") for tp in _stored_trace_contexts(tmp_path / "agent" / "state"))

"""Secrets and card numbers never reach a log line, the support bundle or an error body (issue 10).

The real cloud app and the real agent app run on loopback ports (in this process, so every log record of
both sides, at DEBUG, is captured), with their access logs off as `mpac-pgw serve` and `mpac-agent run` have
them. One flow uses every secret: the partner's secret key (signed API calls, one forged), the provider
credentials of the store, an activation code (used, then reused), the device's secret key (QR sale, sync), a
payment_token (right and wrong), the admin password (right and wrong), a card reader's result holding a card
number, and card numbers sent in sales that are refused. Then none of those values may appear in any captured
log line, anything printed, the support bundle, or the body of any 4xx/5xx answer.

Telemetry (issue 15) is scanned with the same `find_leaks`: tests/e2e/telemetry/test_otel.py runs it over
every span, resource, metric and log attribute and log body its OTLP receiver decoded (docs/observability.md).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.adapters.secrets import SecretStore
from agent.bootstrap import build_app
from agent.deps import Devices
from agent.domain.ports import CardResult
from agent.entrypoints.enroll import enroll
from cloud.api.app import create_app
from cloud.bootstrap import build_deps
from cloud.domain import commands as c
from cloud.domain.devices import IssueActivationCode
from cloud.infrastructure.crypto import SecretBox
from cloud.service.devices import issue_activation_code
from cloud.service.tenants import set_provider_config
from cloud.settings import Settings as CloudSettings
from cloud.testing import PgwClient, seed_tenant
from sync.errors import EnrollmentError
from tests.integration.agent.conftest import FakeCardReader, make_settings

PARTNER_KEY, PARTNER_SECRET = "pk_leakscan_partner", "sk_leakscan_partner_S3cr3t_v4lue"
PROVIDER_SECRET = "prov_leakscan_api_secret_9f8e7d"
PAN_SENT = "4111111111111111"  # Luhn-valid test VISA number, sent in sales and refused
PAN_READER = "5555555555554444"  # Luhn-valid test Mastercard number, in the card reader's answer


@dataclass
class Seen:
    """Everything either side said that a secret must never be part of."""

    error_bodies: list[str] = field(default_factory=list)

    def answer(self, status: int, text: str) -> None:
        if status >= 400:
            self.error_bodies.append(f"{status} {text}")


@dataclass
class Cloud:
    """The real cloud on loopback, the seeded partner's client and store."""

    url: str
    deps: Any
    partner: PgwClient
    store_id: str


@pytest.fixture
async def real_cloud(tmp_path: Path) -> AsyncIterator[Cloud]:
    """The real cloud app on 127.0.0.1 (access log off, as `mpac-pgw serve` runs it), a partner and store."""
    settings = CloudSettings(db_url=f"sqlite:///{tmp_path / 'pgw.sqlite3'}",
                             encryption_key=SecretBox.generate_key(), expiry_sweep_seconds=3600)
    deps = build_deps(settings)
    server = TestServer(create_app(settings, deps), host="127.0.0.1", port=0)
    await server.start_server(access_log=None)
    try:
        async with aiohttp.ClientSession() as session:
            tenant = await seed_tenant(deps, api_key=PARTNER_KEY, secret_key=PARTNER_SECRET)
            url = str(server.make_url("")).rstrip("/")
            yield Cloud(url, deps, PgwClient(session, url, PARTNER_KEY, PARTNER_SECRET), tenant.store_id)
    finally:
        await server.close()


def find_leaks(haystacks: Iterable[tuple[str, str]], secrets: Mapping[str, str]) -> list[str]:
    """`<secret name> in <where>` for every secret found in a text, also with spaces and dashes removed."""
    return [f"{name} in {where}" for where, text in haystacks for name, value in secrets.items()
            if value and (value in text or value in re.sub(r"[\s-]", "", text))]


def _log_text(records: list[logging.LogRecord]) -> str:
    """Every record as a handler would write it, tracebacks and stack included."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


async def _partner_calls(cloud: Cloud, seen: Seen) -> str:
    """Signed partner calls (one forged, one malformed), a payment_token used right and wrong; the token."""
    body = {"amount": 1000, "currency": "JPY", "payment_method_types": ["qr_mpm"],
            "merchant_ref_id": "leak-1"}
    created = await cloud.partner.post("/v1/payment_intents", body)
    assert created.status == 201, created.body
    token, intent_id = created.body["payment_token"], created.body["id"]
    forged = PgwClient(cloud.partner.session, cloud.url, PARTNER_KEY, PARTNER_SECRET[::-1])
    path = f"/v1/payment_intents/{intent_id}"
    for resp in (await forged.post("/v1/payment_intents", body),
                 await cloud.partner.post("/v1/payment_intents", {**body, "amount": "x", "note": PAN_SENT}),
                 await cloud.partner.get(f"{path}?payment_token={token}x"),
                 await cloud.partner.get(f"{path}?payment_token={token}", signed=False),
                 await cloud.partner.get(f"/v1/payment_intents/pi_nope?payment_token={token}", signed=False),
                 await cloud.partner.post(f"{path}/confirm", {"payment_token": token, "bogus": token},
                                          signed=False)):
        seen.answer(resp.status, json.dumps(resp.body))
    return str(token)


async def _enroll(cloud: Cloud, state: Path, seen: Seen) -> tuple[str, str, str]:
    """Activation code → enrollment; the code reused (refused). (code, device secret, admin password)."""
    issued = await issue_activation_code(IssueActivationCode(cloud.store_id), devices=cloud.deps.devices,
                                         tenants=cloud.deps.tenants, clock=cloud.deps.clock)
    result = await enroll(SecretStore(state), cloud.url, issued.code, "LEAK-1", "A920")
    with pytest.raises(EnrollmentError) as refused:
        await enroll(SecretStore(state / "again"), cloud.url, issued.code, "LEAK-2", "A920")
    seen.error_bodies.append(str(refused.value))
    loaded = SecretStore(state).load()
    assert loaded is not None
    return issued.code, loaded.secret_key, result.admin_password


async def _agent_calls(client: TestClient[Any, Any], password: str, seen: Seen) -> dict[str, Any]:
    """Sales (cash, card through the reader, QR), refused card numbers, sync, admin actions; the bundle."""

    async def post(path: str, payload: Any) -> tuple[int, Any]:
        resp = await client.post(path, json=payload)
        text = await resp.text()
        seen.answer(resp.status, text)
        return resp.status, json.loads(text)

    cash = {"amount": 1200, "payment_method": "cash", "cash_received": 2000}
    assert (await post("/api/sales", cash))[0] == 201
    status, card = await post("/api/sales", {"amount": 3300, "payment_method": "card"})
    assert status == 201, card
    for refused in ({**cash, "metadata": {"note": PAN_SENT}}, {**cash, "merchant_ref_id": PAN_SENT},
                    {**cash, "lines": [{"name": f"card {PAN_SENT}", "quantity": 1, "amount": 1200}]},
                    {**cash, "metadata": {PAN_SENT: "x"}}):
        status, answer = await post("/api/sales", refused)
        assert status == 422 and answer["error"]["code"] == "card_number_refused", answer
    status, qr = await post("/api/sales", {"amount": 500, "payment_method": "qr_mpm"})
    assert status == 201, qr
    status, synced = await post("/api/sync", {})
    assert status == 200 and synced["pending"] == 0, synced  # the sales were kicked up already, or now
    for wrong in ("", "wrong-password", password[:-1]):
        assert (await post("/api/web/admin/support_bundle", {"password": wrong}))[0] in (401, 422)
    assert (await post("/api/web/admin/sync_now", {"password": password}))[0] == 200
    status, bundle = await post("/api/web/admin/support_bundle", {"password": password})
    assert status == 200 and isinstance(bundle, dict), bundle
    return bundle


class TestNoLeaks:
    async def test_no_secret_or_card_number_in_logs_bundle_or_error_bodies(
            self, tmp_path: Path, real_cloud: Cloud, caplog: pytest.LogCaptureFixture,
            capsys: pytest.CaptureFixture[str]) -> None:
        """After a flow that used every secret, none appears in logs, output, the bundle or an error body."""
        caplog.set_level(logging.DEBUG)
        seen = Seen()
        await set_provider_config(
            c.SetProviderConfig(real_cloud.store_id, "simulator", {"api_secret": PROVIDER_SECRET}),
            tenants=real_cloud.deps.tenants, providers=real_cloud.deps.providers, clock=real_cloud.deps.clock)
        token = await _partner_calls(real_cloud, seen)
        state = tmp_path / "state"
        code, device_secret, password = await _enroll(real_cloud, state, seen)
        reader = FakeCardReader(CardResult("approved", "004211", f"VISA {PAN_READER}", "4444", "contactless"))
        app = await build_app(make_settings(state, {"cloud": {"url": real_cloud.url}}),
                              devices=Devices(card_reader=reader), sync=True)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server(access_log=None)  # as `mpac-agent run` serves it
        async with TestClient(server) as client:
            bundle = await _agent_calls(client, password, seen)
        out = capsys.readouterr()
        haystacks = {"logs": _log_text(caplog.records),
                     "support bundle": json.dumps(bundle, ensure_ascii=False),
                     "error bodies": "\n".join(seen.error_bodies),
                     "output": out.out + out.err}
        secrets = {"partner secret key": PARTNER_SECRET, "provider secret": PROVIDER_SECRET,
                   "payment_token": token, "activation code": code, "device secret key": device_secret,
                   "admin password": password, "card number sent": PAN_SENT, "card number read": PAN_READER}
        assert len(seen.error_bodies) >= 10 and caplog.records  # the scan had something to look at
        leaks = find_leaks(haystacks.items(), secrets)
        assert not leaks, leaks

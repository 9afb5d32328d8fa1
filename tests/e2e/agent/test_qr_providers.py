"""The agent's QR MPM and CPM flows end to end, once per QR provider: the agent process, enrolled with
`mpac-agent enroll`, sells through the real cloud process (`mpac-pgw serve`), whose store is configured for
`simulator` or for `paypay` — the latter pointing at the PayPay-API simulator as a process of its own
(docs/providers.md#the-simulator), which also sends its webhooks to the cloud.

One cloud and one PayPay simulator serve the module; each provider gets its own store and terminal.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloud.domain.webhooks import new_secret
from tests.e2e.agent.enroll import enrolled_config
from tests.e2e.agent.process import REPO, AgentProcess
from tests.e2e.web.real_cloud import RealCloudProcess

PP_KEY, PP_SECRET, PP_MERCHANT = "pp_e2e_key", "pp_e2e_secret_0123456789", "mer_pp_e2e"
READY_S = 30.0


@dataclass(frozen=True)
class Provider:
    """How the customer's side looks with one provider: codes, QR host, and the phone paying a code."""

    name: str
    qr_prefix: str
    good_code: str
    declined_code: str

    def pay_url(self, cloud: RealCloudProcess, paypay_url: str, intent_id: str) -> str:
        """The hook that plays the customer's phone paying the MPM code of `intent_id`."""
        if self.name == "paypay":
            return f"{paypay_url}/_sim/payments/{intent_id}/complete"
        return f"{cloud.url}/_simulator/payment_intents/{intent_id}/pay"


PROVIDERS = {
    "simulator": Provider("simulator", "https://qr.simulator.invalid/", "PAYCODE-1", "SIMFAIL-7"),
    "paypay": Provider(
        "paypay", "https://qr.paypay-sim.invalid/", "123456789012345678", "912345678901234567"
    ),
}


@dataclass
class Terminal:
    """An enrolled agent process whose store uses `provider`."""

    provider: Provider
    agent: AgentProcess
    cloud: RealCloudProcess
    paypay_url: str

    def sale(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/sales, expecting 201; the sale."""
        status, sale = self.agent.call("POST", "/api/sales", {"currency": "JPY", **body}, timeout=15)
        assert status == 201, sale
        return dict(sale)

    def customer_pays(self, intent_id: str) -> None:
        """The customer's phone pays the code (the provider's own hook)."""
        url = self.provider.pay_url(self.cloud, self.paypay_url, intent_id)
        req = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 -- loopback URL we built
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 -- loopback URL we built
            assert resp.status == 200

    def cloud_status(self, intent_id: str, want: str, timeout_s: float = 10.0) -> str:
        """The intent's status in the cloud's database (read-only, no API call), once `want` or time is up."""
        path = self.cloud.db.removeprefix("sqlite:///")
        deadline = time.monotonic() + timeout_s
        while True:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                (status,) = conn.execute(
                    "SELECT status FROM payment_intents WHERE id=?", (intent_id,)
                ).fetchone()
            if status == want or time.monotonic() > deadline:
                return str(status)
            time.sleep(0.1)

    def final(self, local_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
        """Poll GET /api/sales/{local_id} (each poll asks the cloud) until the sale is final."""
        deadline = time.monotonic() + timeout_s
        while True:
            status, sale = self.agent.call("GET", f"/api/sales/{local_id}")
            assert status == 200, sale
            if sale["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
                return dict(sale)
            time.sleep(0.2)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCloudProcess]:
    """The real cloud, with the simulator provider's control routes (the simulator's customer pays there)."""
    proc = RealCloudProcess(tmp_path_factory.mktemp("cloud"), simulator_routes=True).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def paypay_url(cloud: RealCloudProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m cloud.infrastructure.providers.paypay_sim` on a free port, notifying the cloud's webhook."""
    log = tmp_path_factory.mktemp("paypay") / "paypay.log"
    args = ["--port", "0", "--api-key", PP_KEY, "--api-secret", PP_SECRET, "--merchant-id", PP_MERCHANT,
            "--webhook-url", f"{cloud.url}/v1/webhooks/paypay"]  # fmt: skip
    with log.open("wb") as err:
        proc = subprocess.Popen(  # our own module, fixed arguments
            [sys.executable, "-m", "cloud.infrastructure.providers.paypay_sim", *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # one line when ready: "paypay simulator on http://…"
        assert line.startswith("paypay simulator on http://127.0.0.1:"), log.read_text(errors="replace")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=READY_S)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def terminal(
    request: pytest.FixtureRequest,
    cloud: RealCloudProcess,
    paypay_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Terminal]:
    """An agent enrolled with a store configured for this provider (paypay: the simulator's base_url)."""
    provider = PROVIDERS[request.param]
    credentials = {"webhook_secret": new_secret()}  # the simulator's callbacks to the cloud are signed
    if provider.name == "paypay":
        credentials = {"api_key": PP_KEY, "api_secret": PP_SECRET, "base_url": paypay_url,
                       "merchant_id": PP_MERCHANT}  # fmt: skip
    folder: Path = tmp_path_factory.mktemp(f"agent-{provider.name}")
    config = enrolled_config(folder, cloud, (provider.name, credentials))
    agent = AgentProcess.start(folder, config=config)
    try:
        yield Terminal(provider, agent, cloud, paypay_url)
    finally:
        agent.stop()


class TestMpm:
    def test_code_paid_by_the_customer_reaches_succeeded(self, terminal: Terminal) -> None:
        """qr_mpm: 201 requires_action with the provider's QR; the customer pays; the provider's webhook
        moves the cloud intent to succeeded, and the agent's poll shows the sale paid."""
        sale = terminal.sale({"amount": 2980, "payment_method": "qr_mpm", "merchant_ref_id": "mpm-paid"})
        assert sale["status"] == "requires_action"
        assert sale["qr_content"].startswith(terminal.provider.qr_prefix)
        terminal.customer_pays(sale["cloud_intent_id"])
        # Nobody asks the cloud here: only the provider's webhook can tell it that the customer paid.
        assert terminal.cloud_status(sale["cloud_intent_id"], "succeeded") == "succeeded"
        done = terminal.final(sale["local_id"])
        assert (done["status"], done["amount"], done["failure_code"]) == ("succeeded", 2980, None)

    def test_stop_waiting_cancels_the_code(self, terminal: Terminal) -> None:
        """Cancel before the customer pays: the provider withdraws the code, the sale is cancelled, and a
        payment attempt afterwards does not make it paid."""
        sale = terminal.sale({"amount": 1500, "payment_method": "qr_mpm", "merchant_ref_id": "mpm-stop"})
        status, cancelled = terminal.agent.call("POST", f"/api/sales/{sale['local_id']}/cancel", timeout=15)
        assert (status, cancelled["status"]) == (200, "cancelled"), cancelled
        if terminal.provider.name == "paypay":  # PayPay's code is gone: the phone's payment has no effect
            terminal.customer_pays(sale["cloud_intent_id"])
        assert terminal.final(sale["local_id"])["status"] == "cancelled"


class TestCpm:
    def test_valid_code_pays_at_once(self, terminal: Terminal) -> None:
        """qr_cpm with a good customer code: 201 and succeeded."""
        sale = terminal.sale({"amount": 700, "payment_method": "qr_cpm", "merchant_ref_id": "cpm-good",
                              "customer_code": terminal.provider.good_code})  # fmt: skip
        assert terminal.final(sale["local_id"])["status"] == "succeeded"

    def test_declined_code_fails_with_the_reason(self, terminal: Terminal) -> None:
        """qr_cpm with a code the provider declines: the sale is failed with provider_declined."""
        sale = terminal.sale({"amount": 800, "payment_method": "qr_cpm", "merchant_ref_id": "cpm-bad",
                              "customer_code": terminal.provider.declined_code})  # fmt: skip
        done = terminal.final(sale["local_id"])
        assert (done["status"], done["failure_code"]) == ("failed", "provider_declined")

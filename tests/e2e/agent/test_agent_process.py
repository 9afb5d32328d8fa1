"""The agent as a real process: durability across SIGKILL, cold start offline, clean SIGTERM, bad config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sync.wire import GENESIS_HASH, item_hash
from tests.e2e.agent.conftest import StartAgent
from tests.e2e.agent.process import REPO, agent_config, write_config

CASH = {"amount": 1200, "currency": "JPY", "payment_method": "cash", "cash_received": 2000}
CARD = {
    "amount": 3300,
    "payment_method": "card",
    "card_result": {
        "status": "approved",
        "approval_code": "A12345",
        "card_brand": "visa",
        "card_last_4": "4242",
        "entry_method": "contactless",
    },
}
ENROLLED = {"device_id": "dev_e2e", "api_key": "pk_e2e_device", "secret_key": "sk_e2e_device_secret"}


class TestDurability:
    def test_sale_answered_201_survives_sigkill(self, agent_process: StartAgent) -> None:
        """Sales answered 201, SIGKILL at once: after restart each has the same local_id, seq and hash."""
        agent = agent_process()
        answered = []
        for i in range(5):
            status, body = agent.call("POST", "/api/sales", {**CASH, "merchant_ref_id": f"kill-{i}"})
            assert status == 201, body
            answered.append(body)
        agent.kill()  # straight after the last 201: no shutdown, no checkpoint
        again = agent_process(folder=agent.config.parent)
        for sale in answered:
            status, found = again.call("GET", f"/api/sales/{sale['local_id']}")
            assert status == 200
            assert (found["local_id"], found["seq"], found["hash"]) == (
                sale["local_id"],
                sale["seq"],
                sale["hash"],
            )
        status, page = again.call("GET", "/api/sales?limit=100")
        chain = sorted(page["data"], key=lambda s: s["seq"])
        assert [s["seq"] for s in chain] == list(range(1, 6))
        prev = GENESIS_HASH
        for sale in chain:
            item = {
                "local_id": sale["local_id"],
                "seq": sale["seq"],
                "created_at": sale["created_at"],
                "prev_hash": prev,
                "intent": {
                    "amount": sale["amount"],
                    "currency": sale["currency"],
                    "processing_mode": sale["processing_mode"],
                    "payment_method_type": sale["payment_method_type"],
                    "merchant_ref_id": sale["merchant_ref_id"],
                    "status": sale["status"],
                    "result": sale["result"],
                    "metadata": sale["metadata"],
                },
            }
            assert sale["prev_hash"] == prev and sale["hash"] == item_hash(prev, item)
            prev = sale["hash"]
        status, body = again.call("POST", "/api/sales", {**CASH, "merchant_ref_id": "after-restart"})
        assert status == 201 and body["seq"] == 6 and body["prev_hash"] == chain[-1]["hash"]

    def test_sigterm_shuts_down_cleanly(self, agent_process: StartAgent) -> None:
        """SIGTERM ends the agent with exit code 0 after closing the store."""
        agent = agent_process()
        assert agent.call("POST", "/api/sales", CASH)[0] == 201
        assert agent.stop() == 0
        assert "Traceback" not in agent.log_text()


class TestColdStartOffline:
    def test_first_requests_are_sales_with_no_cloud_at_all(self, agent_process: StartAgent) -> None:
        """Enrolled, cloud URL a closed port: the first requests after start are cash and card 201s."""
        agent = agent_process({"cloud": ENROLLED})
        cash_status, cash = agent.call("POST", "/api/sales", CASH)
        card_status, card = agent.call("POST", "/api/sales", CARD)
        assert (cash_status, card_status) == (201, 201)
        assert cash["result"] == {"cash_received": 2000, "change": 800} and cash["sync_state"] == "queued"
        assert card["status"] == "succeeded" and card["result"]["card_last_4"] == "4242"
        status, body = agent.call("POST", "/api/sales", {"amount": 500, "payment_method": "qr_mpm"})
        assert status == 503 and body["error"]["code"] == "cloud_unreachable"
        status, info = agent.call("GET", "/api/status")
        assert info["queue"]["depth"] == 2 and info["queue"]["pending_amount"] == {"JPY": 4500}
        assert info["device"]["enrolled"] is True


class TestConfiguration:
    def test_bad_value_exits_2_with_the_key_named(self, tmp_path: Path) -> None:
        """A negative cap in the config file stops `run` with exit 2 and names offline.max_sale_amount."""
        table = agent_config(tmp_path, {"offline": {"max_sale_amount": -1}})
        config = write_config(tmp_path / "bad.toml", table)
        done = subprocess.run(
            [sys.executable, "-m", "agent.entrypoints.cli", "run", "--config", str(config)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 2
        assert "offline.max_sale_amount" in done.stderr and "greater than 0" in done.stderr

    def test_help_lists_run(self) -> None:
        """`mpac-agent --help` lists the run subcommand."""
        done = subprocess.run(
            [sys.executable, "-m", "agent.entrypoints.cli", "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"PYTHONPATH": str(REPO)},
        )
        assert "run" in done.stdout and "COMMAND" in done.stdout

    def test_status_is_json(self, agent_process: StartAgent) -> None:
        """GET /api/status of a fresh agent: empty queue, caps with their limits."""
        agent = agent_process({"offline": {"max_count": 7}})
        status, info = agent.call("GET", "/api/status")
        assert status == 200
        assert info["queue"]["depth"] == 0 and info["caps"]["count"] == {"used": 0, "limit": 7}
        assert json.dumps(info)  # plain JSON all the way down


# Root writes any file whatever its mode; without these two capabilities it obeys the mode bits like anyone.
DROP_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


class TestReadOnlyDatabase:
    def test_sales_refused_503_reads_still_work(self, agent_process: StartAgent, tmp_path: Path) -> None:
        """A database file the agent may only read: new sales get 503 store_unavailable; reads still work."""
        folder = tmp_path / "ro"
        first = agent_process(folder=folder)
        status, sale = first.call("POST", "/api/sales", CASH)
        assert status == 201
        assert first.stop() == 0
        (folder / "state" / "agent.sqlite3").chmod(0o444)
        wrapper = DROP_DAC if os.geteuid() == 0 else ()
        agent = agent_process(folder=folder, wrapper=wrapper)
        status, body = agent.call("POST", "/api/sales", {**CASH, "merchant_ref_id": "ro-1"})
        assert status == 503
        assert (
            body["error"]["code"] == "store_unavailable"
            and "no sale was recorded" in body["error"]["message"]
        )
        assert agent.call("GET", f"/api/sales/{sale['local_id']}")[0] == 200
        status, info = agent.call("GET", "/api/status")
        assert info["store"]["writable"] is False and info["queue"]["depth"] == 1

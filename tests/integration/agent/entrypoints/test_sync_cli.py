"""`mpac-agent sync` without --now, as a process over a real agent database: human units, JSON unchanged."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from tests.integration.agent.conftest import MakeClient


async def _sync_cli(config: Path, *extra: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "sync", "--config", str(config), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


class TestSyncStatus:
    async def test_times_are_local_and_amounts_carry_their_currency(
            self, make_client: MakeClient, tmp_path: Path) -> None:
        """Pending sales print as ¥1,200 and $2.50 with a local date; no raw epoch milliseconds."""
        state = tmp_path / "state"
        client = await make_client(folder=state)
        for amount, currency in ((1200, "JPY"), (250, "USD")):
            body = {"amount": amount, "currency": currency, "payment_method": "cash", "cash_received": amount}
            assert (await client.post("/api/sales", json=body)).status == 201
        await client.close()
        config = tmp_path / "agent.toml"
        config.write_text(f'[agent]\nstate_dir = {json.dumps(str(state))}\n[web]\nport = 0\n')

        text = await _sync_cli(config)
        assert "pending        : 2 sales, ¥1,200, $2.50" in text
        assert re.search(r"oldest pending : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*\(\d+ s ago\)", text)
        assert not re.search(r"\d{12,}", text), text  # no epoch milliseconds anywhere

        machine = json.loads(await _sync_cli(config, "--json"))
        assert machine["pending_amount"] == {"JPY": 1200, "USD": 250}
        assert isinstance(machine["oldest_pending_at"], int) and machine["oldest_pending_at"] > 10**12

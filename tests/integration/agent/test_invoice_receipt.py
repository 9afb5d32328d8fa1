"""A mixed-rate sale on the real agent app with the printer simulator on a pty: the qualified invoice receipt
is byte-exact (expected bytes written out here by hand, tax per rate computed here), the simulator's text
of it reads back line by line, a reprint is marked 再発行, and bad items are refused with nothing written."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.bootstrap import build_app
from agent.entrypoints.api.keys import DEPS
from agent.settings import SettingsError
from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.conftest import make_settings
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT, enroll

NOW = 1764034200000  # 2025-11-25 10:30 in Asia/Tokyo (01:30 UTC)
REG = "T7000012050002"  # the National Tax Agency's own corporate number, with T: a valid check digit
STORE = {"name": "テスト商店", "currencies": ["JPY"], "timezone": "Asia/Tokyo", "registration_number": REG,
         "issuer_name": "株式会社テスト商事"}
# (name, tax-inclusive unit price, quantity, rate)
ITEMS = [("おにぎり 鮭", 150, 2, 8), ("お茶", 160, 1, 8), ("電池", 398, 1, 10), ("ビール", 288, 3, 10),
         ("切手", 84, 1, 0)]
W = 42


def width(text: str) -> int:
    """Printed columns: ASCII and ¥ one, everything else here (kana, kanji, ※) two."""
    return sum(1 if ord(ch) < 0x80 or ch == "¥" else 2 for ch in text)


def lr(left: str, right: str) -> str:
    """Left and right text on one 42-column line."""
    return left + " " * (W - width(left) - width(right)) + right


def yen(n: int) -> str:
    return f"¥{n:,}"


def jp(text: str) -> bytes:
    """The printer's encoding (docs/devices.md): ASCII as is, ¥ as 0x5C (Japan set), other runs in FS & … FS .
    as Shift_JIS."""
    out = b""
    for run in re.findall(r"[\x00-\x7f¥]+|[^\x00-\x7f¥]+", text):
        if run[0] < "\x80" or run[0] == "¥":
            out += run.replace("¥", "\\").encode("ascii")
        else:
            out += b"\x1c&" + run.encode("cp932") + b"\x1c."
    return out


def gs_k(fn: int, data: bytes) -> bytes:
    """GS ( k pL pH 31 fn data."""
    n = len(data) + 2
    return b"\x1d(k" + bytes((n & 0xFF, n >> 8, 0x31, fn)) + data


def expected_text(local_id: str) -> tuple[list[str], list[str], list[str]]:
    """(body lines, total line, rest lines) of the receipt, from ITEMS with the tax computed here."""
    gross = {10: 0, 8: 0, 0: 0}
    items: list[str] = []
    for name, price, qty, rate in ITEMS:
        gross[rate] += price * qty
        shown = ("※" if rate == 8 else "") + name
        if qty == 1:
            items.append(lr(shown, yen(price)))
        else:
            items += [shown, lr(f"  @{yen(price)} x{qty}", yen(price * qty))]
    tax10, tax8 = gross[10] * 10 // 110, gross[8] * 8 // 108  # floor, once per rate on the receipt
    assert (gross[10], tax10, gross[8], tax8, gross[0]) == (1262, 114, 460, 34, 84)  # by hand, too
    total = sum(gross.values())
    body = ["株式会社テスト商事", lr("登録番号", REG), lr("2025-11-25 10:30", "No.000001"), "-" * W, *items,
            "-" * W]
    rest = [lr("10%対象", yen(gross[10])), lr("  内消費税等", yen(tax10)), lr("8%対象 ※", yen(gross[8])),
            lr("  内消費税等", yen(tax8)), lr("非課税", yen(gross[0])), "※は軽減税率対象",
            lr("お支払方法", "現金"), lr("お預り", yen(2000)), lr("お釣り", yen(2000 - total)), "-" * W]
    return body, [lr("合計", yen(total))], rest


def expected_bytes(local_id: str) -> bytes:
    """The whole receipt, command by command (docs/devices.md, "ESC/POS commands")."""
    body, total, rest = expected_text(local_id)
    qr = (gs_k(65, b"\x32\x00") + gs_k(67, b"\x04") + gs_k(69, b"\x31") + gs_k(80, b"0" + local_id.encode())
          + gs_k(81, b"0"))
    return b"".join([
        b"\x1b@", b"\x1bR\x08\x1bt\x01\x1cC\x01", b"\x1ba\x01", b"\x1bE\x01", b"\x1d!\x11",
        jp("テスト商店\n"),
        b"\x1d!\x00", jp("領収書\n"), b"\x1bE\x00", b"\x1ba\x00", jp("\n".join(body) + "\n"),
        b"\x1bE\x01", b"\x1d!\x01", jp(total[0] + "\n"), b"\x1d!\x00", b"\x1bE\x00",
        jp("\n".join(rest) + "\n"), b"\x1ba\x01", qr, b"\x1bd\x01", jp(local_id + "\n"), b"\x1ba\x00",
        b"\x1bd\x04\x1dV\x01", b"\x1bp\x00\x32\x32",  # cut after 4 lines; drawer kick pin 2, 100 ms
    ])


SALE: dict[str, Any] = {"amount": 1806, "payment_method": "cash", "cash_received": 2000,
        "items": [{"name": n, "unit_price": p, "quantity": q, "tax_rate": r} for n, p, q, r in ITEMS]}


class StoreClock:
    """The agent's wall clock in unix ms: NOW until a test moves it (e.g. a refund on a later day)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def store_clock() -> StoreClock:
    return StoreClock()


@pytest.fixture
async def agent(tmp_path: Path, rig: SimulatorRig,
                store_clock: StoreClock) -> AsyncIterator[TestClient[Any, Any]]:
    state = tmp_path / "state"
    state.mkdir()
    enroll(state)
    devices = {"printer": {"transport": "serial", "path": rig.printer.path}, "reopen_max_s": 0.5}
    settings = make_settings(state, {"store": STORE, "devices": devices})
    app = await build_app(settings, sync=False, clock_ms=store_clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def _jobs(client: TestClient[Any, Any]) -> list[tuple[str, str, bytes]]:
    path = client.app[DEPS].settings.agent.db_path
    with sqlite3.connect(path) as conn:
        return [(r[0], r[1], bytes(r[2])) for r in
                conn.execute("SELECT job_id, kind, payload FROM print_jobs ORDER BY created_at, job_id")]


class TestInvoiceReceipt:
    async def test_mixed_rate_receipt_bytes_and_paper(self, agent: TestClient[Any, Any],
                                                      rig: SimulatorRig) -> None:
        """The printed bytes equal the hand-written receipt, and the paper reads back line by line."""
        resp = await agent.post("/api/sales", json=SALE)
        sale = await resp.json()
        assert resp.status == 201, sale
        local_id = sale["local_id"]
        (paper,) = await rig.printer.wait_receipts(1)
        (_job_id, kind, payload), = _jobs(agent)
        assert kind == "receipt" and payload == expected_bytes(local_id)
        body, total, rest = expected_text(local_id)
        lines = [line.rstrip() for line in paper.splitlines()]
        feed = ["", "", ""]  # ESC d 4 before the cut: blank paper
        head = ["テスト商店", "領収書"]
        assert lines == [*head, *body, *total, *rest, f"[QR {local_id}]", "", local_id, *feed]
        assert rig.printer.paper_roll.drawer_kicks == 1

    async def test_items_travel_in_the_sync_metadata(self, agent: TestClient[Any, Any]) -> None:
        """The hashed sync item carries every item and the per-rate totals."""
        sale = await (await agent.post("/api/sales", json=SALE)).json()
        meta = sale["metadata"]
        assert meta["line_items"] == SALE["items"]
        assert meta["tax_summary"] == [{"rate": 10, "kind": "standard", "gross": 1262, "tax": 114},
                                       {"rate": 8, "kind": "reduced", "gross": 460, "tax": 34},
                                       {"rate": 0, "kind": "exempt", "gross": 84, "tax": 0}]

    async def test_reprint_is_marked_as_a_copy(self, agent: TestClient[Any, Any], rig: SimulatorRig) -> None:
        """A reprint of the printed receipt says 再発行 on top, keeps the receipt number, kicks no drawer."""
        await agent.post("/api/sales", json=SALE)
        (original,) = await rig.printer.wait_receipts(1)
        ((job_id, _k, _p),) = _jobs(agent)
        for _ in range(200):  # the worker marks the job printed right after the write
            if (await (await agent.get(f"/api/web/print_jobs/{job_id}")).json())["state"] == "printed":
                break
            await asyncio.sleep(0.02)
        resp = await agent.post("/api/web/admin/reprint", json={"password": RIGHT, "job_id": job_id})
        assert resp.status == 200, await resp.json()
        copy = (await rig.printer.wait_receipts(2))[1]
        assert copy.splitlines() == ["【再発行】", *original.splitlines()]
        assert rig.printer.paper_roll.drawer_kicks == 1


class TestRefusals:
    @pytest.mark.parametrize(("change", "code", "param"), [
        ({"items": [{**SALE["items"][0], "tax_rate": 5}]}, "unknown_tax_rate", "items[0].tax_rate"),
        ({"amount": 1805}, "items_total_mismatch", "amount"),
        ({"tax": 148}, "unexpected_field", "tax"),
    ])
    async def test_bad_items_write_nothing(self, agent: TestClient[Any, Any], change: dict[str, Any],
                                           code: str, param: str) -> None:
        """An unknown rate, a wrong sum, items with a hand-written tax: 422 naming the field; nothing kept."""
        body = {**SALE, **change}
        if "items" in change and len(change["items"]) == 1:
            body["amount"] = 300
        resp = await agent.post("/api/sales", json=body)
        error = (await resp.json())["error"]
        assert (resp.status, error["code"], error["param"]) == (422, code, param)
        with sqlite3.connect(agent.app[DEPS].settings.agent.db_path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM sales").fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM receipt_numbers").fetchone()[0] == 0

    @pytest.mark.parametrize("number", ["T7000012050003", "7000012050002", "T700001205000", "T70000120500O2"])
    def test_bad_registration_number_is_a_config_error(self, tmp_path: Path, number: str) -> None:
        """A wrong check digit, no T, too short or a letter: the configuration names the key."""
        with pytest.raises(SettingsError, match=r"store\.registration_number: .*registration number"):
            make_settings(tmp_path, {"store": {**STORE, "registration_number": number}})

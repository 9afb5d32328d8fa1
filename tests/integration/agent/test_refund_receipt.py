"""The refund receipt (返品) of a full refund of the mixed-rate invoice sale, byte-exact: the same items and
tax per rate as the sale (computed independently in test_invoice_receipt), the original receipt's number, the
refunded total; printed once through the print queue, and the preview is drawn from those same bytes."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT
from tests.integration.agent.test_invoice_receipt import (  # noqa: F401 -- agent is the fixture
    SALE,
    _jobs,
    agent,
    expected_text,
    gs_k,
    jp,
    lr,
)


def refund_bytes(refund_id: str) -> bytes:
    """The sale's receipt turned into its refund: title, original number, total label; no tender lines."""
    body, total, rest = expected_text(refund_id)
    when = body.index(lr("2025-11-25 10:30", "No.000001"))
    body = [*body[:when], lr("2025-11-25 10:30", "No.000002"), lr("元取引", "No.000001"), *body[when + 1:]]
    total = [total[0].replace("合計", "返金合計").replace(" " * 4, "", 1)]
    rest = [line for line in rest if not line.startswith(("お預り", "お釣り"))]
    qr = (gs_k(65, b"\x32\x00") + gs_k(67, b"\x04") + gs_k(69, b"\x31") + gs_k(80, b"0" + refund_id.encode())
          + gs_k(81, b"0"))
    return b"".join([
        b"\x1b@", b"\x1bR\x08\x1bt\x01\x1cC\x01", b"\x1ba\x01", b"\x1bE\x01", b"\x1d!\x11",
        jp("テスト商店\n"),
        b"\x1d!\x00", jp("返品\n"), b"\x1bE\x00", b"\x1ba\x00", jp("\n".join(body) + "\n"),
        b"\x1bE\x01", b"\x1d!\x01", jp(total[0] + "\n"), b"\x1d!\x00", b"\x1bE\x00",
        jp("\n".join(rest) + "\n"), b"\x1ba\x01", qr, b"\x1bd\x01", jp(refund_id + "\n"), b"\x1ba\x00",
        b"\x1bd\x04\x1dV\x01", b"\x1bp\x00\x32\x32",  # a cash refund opens the drawer too
    ])


class TestRefundReceipt:
    async def test_full_refund_receipt_bytes(self, agent: TestClient[Any, Any],  # noqa: F811
                                             rig: SimulatorRig) -> None:
        """Bytes equal the hand-built refund receipt; one job per refund; the preview shows that job."""
        sale = await (await agent.post("/api/sales", json=SALE)).json()
        await rig.printer.wait_receipts(1)
        resp = await agent.post(f"/api/sales/{sale['local_id']}/refunds",
                                json={"amount": SALE["amount"], "password": RIGHT})
        refund = await resp.json()
        assert resp.status == 201, refund
        paper = (await rig.printer.wait_receipts(2))[1]
        jobs = _jobs(agent)
        assert len(jobs) == 2 and jobs[1][2] == refund_bytes(refund["local_id"])
        assert paper.splitlines()[1] == "返品"
        preview = await agent.get("/api/web/receipt.png")
        assert preview.status == 200 and preview.headers["X-Receipt-Job"] == jobs[1][0]

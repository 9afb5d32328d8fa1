"""The refund receipt (返品) of a full refund of the mixed-rate invoice sale, byte-exact: the same items and
tax per rate as the sale (computed independently in test_invoice_receipt), the original receipt's number, the
refunded total; printed once through the print queue, and the preview is drawn from those same bytes."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from drivers.simulators.rig import SimulatorRig
from tests.integration.agent.entrypoints.web.test_admin_lockout import RIGHT
from tests.integration.agent.test_invoice_receipt import (  # noqa: F401 -- agent, store_clock: fixtures
    SALE,
    _jobs,
    agent,
    expected_bytes,
    expected_text,
    jp,
    lr,
    store_clock,
)


def refund_bytes(refund_id: str) -> bytes:
    """The hand-built bytes of the sale's receipt, turned into its refund: the title, the original number
    under the date, the total's label, no tendered cash or change; everything else (items, tax per rate,
    drawer kick, cut) as the sale's."""
    body, total, rest = expected_text(refund_id)
    when = body.index(lr("2025-11-25 10:30", "No.000001"))
    dated = [lr("2025-11-25 10:30", "No.000002"), lr("元取引", "No.000001"), lr("元取引日", "2025-11-25")]
    new_body = [*body[:when], *dated, *body[when + 1:]]
    new_total = [lr("返金合計", total[0].split()[-1])]
    new_rest = [line for line in rest if not line.startswith(("お預り", "お釣り"))]
    out = expected_bytes(refund_id).replace(jp("領収書\n"), jp("返品\n"), 1)
    for old, new in ((body, new_body), (total, new_total), (rest, new_rest)):
        out = out.replace(jp("\n".join(old) + "\n"), jp("\n".join(new) + "\n"), 1)
    return out


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

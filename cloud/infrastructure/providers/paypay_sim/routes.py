"""The simulator's routes: PayPay's `/v2` calls, and the `/_sim` hooks for a demo on loopback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from cloud.infrastructure.providers.paypay_sim.state import Fault, Merchant, Payment, Refund, cpm_outcome

if TYPE_CHECKING:
    from cloud.infrastructure.providers.paypay_sim.app import PayPaySimulator


MERCHANT = web.RequestKey("merchant", Merchant)  # the caller, once its OPA-Auth header checked out
JSON = web.RequestKey("json", object)  # the decoded body


def answer(status: int, code: str, data: dict[str, Any] | None = None, message: str = "") -> web.Response:
    """PayPay's envelope: `{"resultInfo": {"code", "message", "codeId"}, "data"}`."""
    info = {"code": code, "message": message or code.replace("_", " ").capitalize(), "codeId": f"SIM{status}"}
    return web.json_response({"resultInfo": info, "data": data}, status=status)


def body(request: web.Request) -> dict[str, Any]:
    """The JSON object the auth middleware decoded ({} for none)."""
    doc = request.get(JSON)
    return doc if isinstance(doc, dict) else {}


def money(doc: dict[str, Any]) -> tuple[int, str] | None:
    """(amount, currency) of a `{"amount": {"amount", "currency"}}` body, or None if malformed."""
    amount = doc.get("amount")
    if not isinstance(amount, dict):
        return None
    value, currency = amount.get("amount"), amount.get("currency")
    if type(value) is not int or value <= 0 or not isinstance(currency, str):
        return None
    return value, currency


def payment_id_of(doc: dict[str, Any]) -> str | None:
    """The merchantPaymentId if it is a string of 1-64 characters."""
    mpid = doc.get("merchantPaymentId")
    return mpid if isinstance(mpid, str) and 0 < len(mpid) <= 64 else None


class Routes:
    """The handlers, over one simulator's state."""

    def __init__(self, sim: PayPaySimulator) -> None:
        self.sim = sim

    def mount(self, app: web.Application) -> None:
        """Add every route to `app`."""
        app.router.add_post("/v2/codes", self.create_code)
        app.router.add_get("/v2/codes/payments/{mpid}", self.code_payment)
        app.router.add_delete("/v2/codes/{code_id}", self.delete_code)
        app.router.add_post("/v2/payments", self.create_payment)
        app.router.add_get("/v2/payments/{mpid}", self.get_payment)
        app.router.add_delete("/v2/payments/{mpid}", self.cancel_payment)
        app.router.add_post("/v2/refunds", self.create_refund)
        app.router.add_get("/v2/refunds/{refund_id}", self.get_refund)
        app.router.add_post("/_sim/payments/{mpid}/{what:complete|fail|expire}", self.hook_settle)
        app.router.add_post("/_sim/faults", self.hook_fault)
        app.router.add_post("/_sim/latency", self.hook_latency)

    def owned(self, request: web.Request, mpid: str, kind: str) -> Payment | None:
        """The caller's payment of that kind (expired when due), or None."""
        payment = self.sim.payments.get(mpid)
        if payment is None or payment.kind != kind or payment.api_key != request[MERCHANT].api_key:
            return None
        return self.sim.expire_due(payment)

    async def create_code(self, request: web.Request) -> web.Response:
        doc = body(request)
        mpid, amount = payment_id_of(doc), money(doc)
        if mpid is None or amount is None or doc.get("codeType") != "ORDER_QR":
            return answer(400, "INVALID_PARAMS", message="merchantPaymentId, amount and codeType ORDER_QR")
        existing = self.sim.payments.get(mpid)
        if existing is not None:  # the same request again is answered alike; another one is a duplicate
            if existing.kind == "mpm" and (existing.amount, existing.currency) == amount:
                return answer(201, "SUCCESS", existing.code_data())
            return answer(400, "DUPLICATE_DYNAMIC_QR_REQUEST")
        expiry = doc.get("expiryDate")
        expires = expiry if type(expiry) is int else None
        payment = Payment(mpid, "mpm", request[MERCHANT].api_key, *amount, int(self.sim.clock()),
                          code_id=self.sim.new_code_id(), expires_at=expires)  # fmt: skip
        assert payment.code_id is not None
        self.sim.payments[mpid], self.sim.codes[payment.code_id] = payment, mpid
        return answer(201, "SUCCESS", payment.code_data())

    async def code_payment(self, request: web.Request) -> web.Response:
        payment = self.owned(request, request.match_info["mpid"], "mpm")
        if payment is None:
            return answer(404, "DYNAMIC_QR_NOT_FOUND")
        return answer(200, "SUCCESS", payment.details())

    async def delete_code(self, request: web.Request) -> web.Response:
        mpid = self.sim.codes.get(request.match_info["code_id"], "")
        payment = self.owned(request, mpid, "mpm")
        if payment is None:
            return answer(404, "DYNAMIC_QR_NOT_FOUND")
        if payment.status == "COMPLETED":
            return answer(400, "DYNAMIC_QR_ALREADY_PAID")
        self.sim.settle(mpid, "CANCELED")
        return answer(200, "SUCCESS")

    async def create_payment(self, request: web.Request) -> web.Response:
        doc = body(request)
        mpid, amount, code = payment_id_of(doc), money(doc), doc.get("userAuthorizationId")
        if mpid is None or amount is None or not isinstance(code, str):
            return answer(400, "INVALID_PARAMS", message="merchantPaymentId, userAuthorizationId and amount")
        if mpid in self.sim.payments:
            return answer(400, "DUPLICATE_DYNAMIC_QR_REQUEST")
        status, result, recorded = cpm_outcome(code)
        if recorded is None:
            return answer(status, result)
        payment = Payment(
            mpid, "cpm", request[MERCHANT].api_key, *amount, int(self.sim.clock()), status=recorded
        )
        payment.accepted_at = payment.requested_at if recorded == "COMPLETED" else None
        self.sim.payments[mpid] = payment
        if recorded == "COMPLETED":
            self.sim.webhooks.send(payment, request[MERCHANT])
        return answer(status, result, payment.details())

    async def get_payment(self, request: web.Request) -> web.Response:
        payment = self.owned(request, request.match_info["mpid"], "cpm")
        if payment is None:
            return answer(404, "NO_SUCH_PAYMENT")
        return answer(200, "SUCCESS", payment.details())

    async def cancel_payment(self, request: web.Request) -> web.Response:
        payment = self.owned(request, request.match_info["mpid"], "cpm")
        if payment is None:
            return answer(404, "NO_SUCH_PAYMENT")
        if payment.status in ("CREATED", "COMPLETED"):  # the money goes back to the customer
            payment.status = "CANCELED"
            self.sim.webhooks.send(payment, request[MERCHANT])
        return answer(200, "SUCCESS")

    async def create_refund(self, request: web.Request) -> web.Response:
        doc, merchant = body(request), request[MERCHANT]
        refund_id, paypay_id, amount = doc.get("merchantRefundId"), doc.get("paymentId"), money(doc)
        if (
            not isinstance(refund_id, str)
            or not refund_id
            or not isinstance(paypay_id, str)
            or amount is None
        ):
            return answer(400, "INVALID_PARAMS", message="merchantRefundId, paymentId and amount")
        if refund_id in self.sim.refunds:  # merchantRefundId makes a repeat harmless
            return answer(201, "SUCCESS", self.sim.refunds[refund_id].data())
        payment = next((p for p in self.sim.payments.values()
                        if p.payment_id == paypay_id and p.api_key == merchant.api_key), None)  # fmt: skip
        if payment is None:
            return answer(400, "NO_SUCH_PAYMENT")
        if payment.status not in ("COMPLETED", "REFUNDED") or payment.refunded + amount[0] > payment.amount:
            return answer(
                400, "INVALID_REFUND_AMOUNT" if payment.status == "COMPLETED" else "ORDER_NOT_REFUNDABLE"
            )
        refund = Refund(refund_id, paypay_id, *amount, int(self.sim.clock()))
        self.sim.refunds[refund_id] = refund
        payment.refunded += amount[0]
        if payment.refunded == payment.amount:
            payment.status = "REFUNDED"
        return answer(201, "SUCCESS", refund.data())

    async def get_refund(self, request: web.Request) -> web.Response:
        refund = self.sim.refunds.get(request.match_info["refund_id"])
        if refund is None:
            return answer(404, "NO_SUCH_REFUND_ORDER")
        return answer(200, "SUCCESS", refund.data())

    async def hook_settle(self, request: web.Request) -> web.Response:
        status = {"complete": "COMPLETED", "fail": "FAILED", "expire": "EXPIRED"}[request.match_info["what"]]
        try:
            payment = self.sim.settle(request.match_info["mpid"], status)
        except KeyError:
            return web.json_response({"error": "unknown merchantPaymentId"}, status=404)
        return web.json_response({"merchantPaymentId": payment.merchant_payment_id, "status": payment.status})

    async def hook_fault(self, request: web.Request) -> web.Response:
        doc = await request.json()
        times = int(doc.pop("times", 1))
        self.sim.inject(Fault(**doc), times)
        return web.json_response({"queued": len(self.sim.faults.queue)})

    async def hook_latency(self, request: web.Request) -> web.Response:
        self.sim.latency_s = float((await request.json()).get("seconds", 0))
        return web.json_response({"latency_s": self.sim.latency_s})

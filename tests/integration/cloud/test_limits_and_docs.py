"""Rate limiting, /health and /openapi.json."""

from __future__ import annotations

from pydantic import TypeAdapter

from cloud.api.models import PaymentIntentOut
from cloud.domain.webhooks import EventType
from cloud.settings import Settings
from cloud.testing import PgwClient, SettableClock, seed_tenant

from .conftest import API_KEY, SECRET_KEY, Pgw, PgwFactory
from .helpers import create

PATH = "/v1/payment_intents"


class TestRateLimit:
    async def test_over_the_limit_is_429_with_retry_after(
        self, pgw_factory: PgwFactory, pgw_settings: Settings, clock: SettableClock
    ) -> None:
        """With a limit of 5/min the 6th request is 429 with Retry-After; a minute later it passes again."""
        server = await pgw_factory(pgw_settings.with_changes(rate_limit_per_minute=5))
        tenant = await seed_tenant(server.deps, api_key=API_KEY, secret_key=SECRET_KEY)
        client = server.client(tenant)
        statuses = [(await client.get(f"{PATH}?limit={n}")).status for n in range(1, 6)]
        limited = await client.get(f"{PATH}?limit=6")
        assert statuses == [200] * 5
        assert (limited.status, limited.body["error"]["code"]) == (429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        clock.advance(121)
        assert (await client.get(PATH)).status == 200

    async def test_limit_is_per_merchant(
        self, pgw_factory: PgwFactory, pgw_settings: Settings, clock: SettableClock
    ) -> None:
        """One partner hitting its limit does not limit another."""
        server = await pgw_factory(pgw_settings.with_changes(rate_limit_per_minute=2))
        a = server.client(await seed_tenant(server.deps))
        b = server.client(await seed_tenant(server.deps))
        for n in range(1, 4):
            await a.get(f"{PATH}?limit={n}")
        assert (await a.get(f"{PATH}?limit=9")).status == 429
        assert (await b.get(PATH)).status == 200


class TestDocs:
    async def test_health(self, pgw: Pgw) -> None:
        """/health needs no auth."""
        async with pgw.session.get(f"{pgw.url}/health") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})

    async def test_openapi_describes_every_endpoint(self, pgw: Pgw) -> None:
        """/openapi.json is OpenAPI 3.1 with every path of docs/cloud-api.md, schemas from the models."""
        async with pgw.session.get(f"{pgw.url}/openapi.json") as resp:
            doc = await resp.json()
        assert doc["openapi"].startswith("3.1")
        pi = "/v1/payment_intents/{id}"
        assert set(doc["paths"]) >= {
            "/health",
            PATH,
            pi,
            f"{pi}/confirm",
            f"{pi}/cancel",
            f"{pi}/capture",
            f"{pi}/sync",
        }
        create_schema = doc["components"]["schemas"]["CreatePaymentIntentRequest"]
        assert create_schema["properties"]["amount"]["type"] == "integer"
        assert create_schema["properties"]["amount"]["exclusiveMinimum"] == 0
        assert create_schema["additionalProperties"] is False
        ref = doc["paths"][PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/CreatePaymentIntentRequest"

    async def test_responses_match_the_documented_schema(self, pgw: Pgw, client: PgwClient) -> None:
        """A real create response validates against PaymentIntentOut with no extra keys."""
        body = await create(client)
        PaymentIntentOut.model_validate(body)
        assert set(body) == set(PaymentIntentOut.model_fields)
        listed = (await client.get(PATH)).body["data"]
        TypeAdapter(list[PaymentIntentOut]).validate_python(listed)

    async def test_openapi_documents_key_limits_413_and_429(self, pgw: Pgw) -> None:
        """Every operation with a body lists the Idempotency-Key limits (where the route takes one) and a 413
        naming its byte limit; every /v1 operation lists 429 with Retry-After."""
        async with pgw.session.get(f"{pgw.url}/openapi.json") as resp:
            doc = await resp.json()
        with_body = {(p, m): op for p, ops in doc["paths"].items() for m, op in ops.items()
                     if "requestBody" in op}  # fmt: skip
        # create, confirm, cancel, capture, sync, activate, rotate-secret, sync batches, webhooks, refunds,
        # settlements
        assert len(with_body) == 11
        limits = {"/v1/devices/activate": 4096, "/v1/sync/batches": 1024 * 1024,
                  "/v1/devices/{id}/rotate-secret": 256}  # fmt: skip
        for (path, _), op in with_body.items():
            assert f"over {limits.get(path, 64 * 1024)} bytes" in op["responses"]["413"]["description"], path
            keys = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
            # activation takes no key (the code is single use), nor does a provider's callback, nor a secret
            # rotation (idempotent by itself: docs/cloud-api.md#rotating-a-device-secret)
            keyless = ("/v1/devices/activate", "/v1/webhooks/{provider}", "/v1/devices/{id}/rotate-secret")
            if path not in keyless:
                assert keys[0]["schema"] == {"type": "string", "minLength": 1, "maxLength": 255,
                                             "pattern": "^[\\x20-\\x7e]{1,255}$"}, path  # fmt: skip
        limited = [op for p, ops in doc["paths"].items()
                   if p.startswith("/v1/") and not p.startswith("/v1/webhooks/") for op in ops.values()]
        assert all(op["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"} for op in limited)
        assert "Retry-After" in doc["components"]["responses"]["RateLimited"]["headers"]

    async def test_openapi_webhooks_cover_every_event_type(self, pgw: Pgw) -> None:
        """The OpenAPI 3.1 `webhooks` section has one POST per EventType the gateway emits, with the three
        Standard Webhooks headers and the {id, type, created, data:{object}} body; the inbound provider route
        is in paths; every $ref in the document resolves."""
        async with pgw.session.get(f"{pgw.url}/openapi.json") as resp:
            doc = await resp.json()
        assert set(doc["webhooks"]) == {e.value for e in EventType}
        for name, item in doc["webhooks"].items():
            op = item["post"]
            headers = {p["name"] for p in op["parameters"] if p["in"] == "header" and p["required"]}
            assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}, name
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body["required"] == ["id", "type", "created", "data"], name
            assert body["properties"]["type"] == {"const": name}
            assert body["properties"]["data"]["required"] == ["object"]
        pi_obj = doc["webhooks"]["payment_intent.succeeded"]["post"]["requestBody"]["content"][
            "application/json"]["schema"]["properties"]["data"]["properties"]["object"]
        assert pi_obj == {"$ref": "#/components/schemas/PaymentIntentOut"}
        for refund_event in ("refund.succeeded", "refund.failed"):
            post = doc["webhooks"][refund_event]["post"]
            data = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
            assert data["properties"]["object"] == {"$ref": "#/components/schemas/RefundOut"}
        inbound = doc["paths"]["/v1/webhooks/{provider}"]["post"]
        assert {"200", "401", "413"} <= set(inbound["responses"])
        refs: list[str] = []

        def walk(node: object) -> None:
            if isinstance(node, dict):
                refs.extend([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(doc)
        for ref in refs:
            target: object = doc
            for part in ref.removeprefix("#/").split("/"):
                assert isinstance(target, dict) and part in target, ref
                target = target[part]

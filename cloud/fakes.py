"""In-memory implementations of the domain ports, for fast unit tests of the service layer.

They keep the same contracts as the SQLite adapters (Conflict on a reused merchant_ref_id or a stale version,
newest-first lists, hashed tokens only); the integration tests check the real adapters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cloud.domain.commands import ListPaymentIntents
from cloud.domain.errors import Conflict, NotFound
from cloud.domain.intent import PaymentIntent, Status, Transaction
from cloud.domain.ports import IntentScope, Page
from cloud.domain.tenants import ClientPartner, Credential, Merchant, Store, StoreProviderConfig


class InMemoryIntents:
    """PaymentIntentRepository in dicts."""

    def __init__(self) -> None:
        self.intents: dict[str, PaymentIntent] = {}
        self.txns: list[Transaction] = []
        self.tokens: dict[str, tuple[str, float]] = {}

    async def add(
        self, intent: PaymentIntent, txn: Transaction, token_hash: str, token_expires: float
    ) -> None:
        """Insert; Conflict on (merchant, merchant_ref_id)."""
        if any((i.merchant_id, i.merchant_ref_id) == (intent.merchant_id, intent.merchant_ref_id)
               for i in self.intents.values()):  # fmt: skip
            raise Conflict(
                "merchant_ref_id reused", code="duplicate_merchant_ref_id", param="merchant_ref_id"
            )
        self.intents[intent.id] = intent
        self.txns.append(txn)
        self.tokens[token_hash] = (intent.id, token_expires)

    async def get(self, intent_id: str) -> PaymentIntent | None:
        """The intent, or None."""
        return self.intents.get(intent_id)

    async def save(self, intent: PaymentIntent, txns: Sequence[Transaction], expected_version: int) -> None:
        """Version-guarded replace."""
        current = self.intents.get(intent.id)
        if current is None or current.version != expected_version:
            raise Conflict("stale", code="concurrent_update")
        self.intents[intent.id] = dataclasses.replace(intent, version=expected_version + 1)
        self.txns.extend(txns)

    async def list(self, scope: IntentScope, query: ListPaymentIntents) -> Page:
        """Newest first within the scope (only the scope and cursor filters)."""
        found = sorted(
            (i for i in self.intents.values() if i.partner_id == scope.partner_id
             and scope.store_id in (None, i.store_id) and scope.merchant_id in (None, i.merchant_id)
             and (query.starting_after is None or i.id < query.starting_after)),
            key=lambda i: i.id, reverse=True,
        )  # fmt: skip
        return Page(found[: query.limit], len(found) > query.limit)

    async def transactions(self, intent_id: str) -> Sequence[Transaction]:
        """Every Transaction of an intent, in order."""
        return [t for t in self.txns if t.intent_id == intent_id]

    async def expired(self, now: float, limit: int) -> Sequence[PaymentIntent]:
        """Untouched intents past expiry."""
        due = [
            i
            for i in self.intents.values()
            if i.status is Status.REQUIRES_PAYMENT_METHOD and i.expires_at <= now
        ]
        return due[:limit]

    async def add_token(self, token_hash: str, intent_id: str, expires_at: float) -> None:
        """Store a token hash."""
        self.tokens[token_hash] = (intent_id, expires_at)

    async def token_intent(self, token_hash: str, now: float) -> tuple[str, str] | None:
        """(intent, merchant) of a live token."""
        found = self.tokens.get(token_hash)
        if found is None or found[1] <= now:
            return None
        return found[0], self.intents[found[0]].merchant_id


class InMemoryTenants:
    """TenantRepository in dicts (credentials kept in plain memory: a fake has nothing at rest)."""

    def __init__(self) -> None:
        self.partners: dict[str, ClientPartner] = {}
        self.credentials: dict[str, Credential] = {}
        self.merchants: dict[str, Merchant] = {}
        self.stores: dict[str, Store] = {}
        self.configs: dict[tuple[str, str], StoreProviderConfig] = {}

    async def add_partner(self, partner: ClientPartner, credential: Credential) -> None:
        """Insert; Conflict on a used api_key."""
        if credential.api_key in self.credentials:
            raise Conflict("api_key in use", param="api_key")
        self.partners[partner.id] = partner
        self.credentials[credential.api_key] = credential

    async def add_merchant(self, merchant: Merchant) -> None:
        """Insert under a known partner."""
        if merchant.partner_id not in self.partners:
            raise NotFound("no partner", param="partner")
        self.merchants[merchant.id] = merchant

    async def add_store(self, store: Store) -> None:
        """Insert; Conflict on a code used in the merchant."""
        if any((s.merchant_id, s.code) == (store.merchant_id, store.code) for s in self.stores.values()):
            raise Conflict("code in use", param="code")
        self.stores[store.id] = store

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant, or None."""
        return self.merchants.get(merchant_id)

    async def get_store(self, store_id: str) -> Store | None:
        """The store, or None."""
        return self.stores.get(store_id)

    async def find_stores(
        self, partner_id: str, code: str | None, merchant_id: str | None
    ) -> Sequence[Store]:
        """Stores of a partner by optional code and merchant (at most 2, like the adapter)."""
        return [s for s in self.stores.values() if s.partner_id == partner_id and code in (None, s.code)
                and merchant_id in (None, s.merchant_id)][:2]  # fmt: skip

    async def set_provider_config(self, config: StoreProviderConfig) -> None:
        """Upsert."""
        self.configs[(config.store_id, config.provider)] = config

    async def get_provider_config(self, store_id: str, provider: str) -> StoreProviderConfig | None:
        """The config, or None."""
        return self.configs.get((store_id, provider))

    async def resolve(self, api_key: str) -> Credential | None:
        """CredentialResolver too."""
        return self.credentials.get(api_key)

"""In-memory implementations of the domain ports, for fast unit tests of the service layer.

They keep the same contracts as the SQLite adapters (Conflict on a reused merchant_ref_id or a stale version,
newest-first lists, hashed tokens only); the integration tests check the real adapters.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Self

from cloud.domain.commands import ListPaymentIntents
from cloud.domain.errors import Conflict, NotFound
from cloud.domain.intent import PaymentIntent, Status, Transaction
from cloud.domain.ports import (
    RATE_WINDOW,
    AcceptedSignature,
    IdempotencyStore,
    IntentScope,
    Page,
    PaymentIntentRepository,
    ProviderConfigInfo,
    ReplayRecords,
    StoredResponse,
)
from cloud.domain.refunds import RefundRepository
from cloud.domain.settlements import SettlementRepository
from cloud.domain.sync import AcceptedSale, SyncRepository, offline_intent
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

    async def add_many(self, accepted: Sequence[AcceptedSale], store: Store, device_id: str) -> None:
        """Insert the intents of accepted offline sales (built through the domain, as a fake may be slow)."""
        for a in accepted:
            intent, txns = offline_intent(a.sale, store, intent_id=a.intent_id, device_id=device_id,
                                          txn_ids=[edge[0] for edge in a.record.edges])  # fmt: skip
            self.intents[intent.id] = intent
            self.txns.extend(txns)

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

    async def get_partner(self, partner_id: str) -> ClientPartner | None:
        """The partner, or None."""
        return self.partners.get(partner_id)

    async def list_partners(self) -> Sequence[ClientPartner]:
        """Oldest first."""
        return sorted(self.partners.values(), key=lambda p: (p.created_at, p.id))

    async def list_merchants(self, partner_id: str | None) -> Sequence[Merchant]:
        """Of one partner when given, oldest first."""
        return sorted((m for m in self.merchants.values() if partner_id in (None, m.partner_id)),
                      key=lambda m: (m.created_at, m.id))  # fmt: skip

    async def list_stores(self, merchant_id: str | None) -> Sequence[Store]:
        """Of one merchant when given, oldest first."""
        return sorted((s for s in self.stores.values() if merchant_id in (None, s.merchant_id)),
                      key=lambda s: (s.created_at, s.id))  # fmt: skip

    async def list_provider_configs(self, store_id: str | None) -> Sequence[ProviderConfigInfo]:
        """Without credentials, of one store when given."""
        return [ProviderConfigInfo(c.id, c.store_id, c.provider, c.updated_at)
                for c in self.configs.values() if store_id in (None, c.store_id)]  # fmt: skip

    async def resolve(self, api_key: str) -> Credential | None:
        """CredentialResolver too."""
        return self.credentials.get(api_key)


class InMemoryIdempotency:
    """IdempotencyStore in a dict."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], StoredResponse] = {}

    async def get(self, scope: str, key: str, newer_than: float) -> StoredResponse | None:
        """The record if newer than `newer_than`."""
        found = self.records.get((scope, key))
        return found if found is not None and found.created_at > newer_than else None

    async def add(self, scope: str, key: str, stored: StoredResponse, expired_before: float) -> None:
        """Record; Conflict if a live record exists."""
        old = self.records.get((scope, key))
        if old is not None and old.created_at > expired_before:
            raise Conflict("recorded meanwhile", code="idempotency_in_flight")
        self.records[(scope, key)] = stored

    async def purge(self, older_than: float) -> None:
        """Drop old records."""
        self.records = {k: v for k, v in self.records.items() if v.created_at > older_than}


class InMemoryReplays:
    """ReplayRecords in a dict (applied at once: a fake has no commit to fail at)."""

    def __init__(self) -> None:
        self.records: dict[str, AcceptedSignature] = {}

    async def add(self, accepted: AcceptedSignature, now: float) -> None:
        """Record; Conflict replayed_request if a live record of the signature exists."""
        if await self.get(accepted.signature_hash, now) is not None:
            raise Conflict("this signature was already accepted", code="replayed_request")
        self.records[accepted.signature_hash] = accepted

    async def get(self, signature_hash: str, now: float) -> AcceptedSignature | None:
        """The live record, or None."""
        found = self.records.get(signature_hash)
        return found if found is not None and found.expires_at > now else None

    async def purge(self, now: float) -> None:
        """Drop expired records."""
        self.records = {k: v for k, v in self.records.items() if v.expires_at > now}


class InMemoryUnitOfWork:
    """UnitOfWork over in-memory repositories. Writes apply at once (a fake has no transaction to roll back);
    `commits` counts the outermost commits, so a test can check that a handler committed once."""

    def __init__(self, intents: PaymentIntentRepository | None = None, sync: SyncRepository | None = None,
                 idempotency: IdempotencyStore | None = None, replays: ReplayRecords | None = None,
                 ) -> None:  # fmt: skip
        self.intents: PaymentIntentRepository = intents or InMemoryIntents()
        self.idempotency: IdempotencyStore = idempotency or InMemoryIdempotency()
        self.replays: ReplayRecords = replays or InMemoryReplays()
        self.sync: SyncRepository = sync  # type: ignore[assignment]  # only the intake's tests need one
        # Refunds and settlements are tested on the real databases only (tests/integration/cloud/refunds).
        self.refunds: RefundRepository = None  # type: ignore[assignment]
        self.settlements: SettlementRepository = None  # type: ignore[assignment]
        self.commits = 0
        self._depth = 0

    async def __aenter__(self) -> Self:
        """Open a block."""
        self._depth += 1
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close a block."""
        self._depth -= 1

    async def commit(self) -> None:
        """Count an outermost commit."""
        if self._depth <= 1:
            self.commits += 1

    async def rollback(self) -> None:
        """Nothing to undo in memory."""


class InMemoryRateCounters:
    """RateCounters in a dict: the same fixed-window arithmetic as the SQL adapters, for one process."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def _used(self, key: str, window: int, weight: float) -> float:
        return self.counts.get((key, window - RATE_WINDOW), 0) * weight + self.counts.get((key, window), 0)

    async def take(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """Count one event if under the limit."""
        if self._used(key, window, previous_weight) >= limit:
            return False
        await self.add(key, window)
        return True

    async def over(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """At or past the limit?"""
        return self._used(key, window, previous_weight) >= limit

    async def add(self, key: str, window: int) -> None:
        """Count one event."""
        self.counts[(key, window)] = self.counts.get((key, window), 0) + 1

    async def purge(self, before: int) -> None:
        """Drop old windows."""
        self.counts = {k: v for k, v in self.counts.items() if k[1] >= before}


class InMemoryLeadership:
    """Leadership in one process: a task is led by one block at a time."""

    def __init__(self) -> None:
        self.leading: set[str] = set()

    @contextlib.asynccontextmanager
    async def lead(self, task: str) -> AsyncIterator[bool]:
        """True unless another block leads `task` right now."""
        if task in self.leading:
            yield False
            return
        self.leading.add(task)
        try:
            yield True
        finally:
            self.leading.discard(task)

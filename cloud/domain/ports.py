"""Ports: what the service layer needs from storage and the clock (typing.Protocol only); the QR providers'
ports are in cloud/domain/provider_ports.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from cloud.domain.commands import ListPaymentIntents
from cloud.domain.intent import PaymentIntent, Transaction
from cloud.domain.refunds import RefundRepository
from cloud.domain.settlements import SettlementRepository
from cloud.domain.sync import AcceptedSale, SyncRepository
from cloud.domain.tenants import ClientPartner, Credential, Merchant, Store, StoreProviderConfig
from cloud.domain.webhooks import DueDelivery, Event, Outcome, SendResult, WebhookEndpoint


class Clock(Protocol):
    """Wall-clock time in Unix seconds."""

    def __call__(self) -> float: ...


@dataclass(frozen=True, slots=True)
class IntentScope:
    """Which intents a list may return: one partner, optionally narrowed to a merchant or a store."""

    partner_id: str
    merchant_id: str | None = None
    store_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list."""

    items: Sequence[PaymentIntent]
    has_more: bool


class PaymentIntentRepository(Protocol):
    """Durable intents, their Transactions and their payment tokens (writes belong to a unit of work)."""

    async def add(
        self, intent: PaymentIntent, txn: Transaction, token_hash: str, token_expires: float
    ) -> None:
        """Add a new intent with its creation Transaction and first token; Conflict on merchant_ref_id."""

    async def add_many(self, accepted: Sequence[AcceptedSale], store: Store, device_id: str) -> None:
        """Add the intents and Transactions of a batch's accepted offline sales in bulk (SyncRace if a
        concurrent batch took one of their keys first)."""

    async def get(self, intent_id: str) -> PaymentIntent | None:
        """The intent, or None."""

    async def save(self, intent: PaymentIntent, txns: Sequence[Transaction], expected_version: int) -> None:
        """Store the moved intent and its Transactions; Conflict if someone moved it first."""

    async def list(self, scope: IntentScope, query: ListPaymentIntents) -> Page:
        """Newest first, cursor after `starting_after`."""

    async def transactions(self, intent_id: str) -> Sequence[Transaction]:
        """Every Transaction of an intent, oldest first."""

    async def expired(self, now: float, limit: int) -> Sequence[PaymentIntent]:
        """Untouched intents whose expires_at has passed."""

    async def add_token(self, token_hash: str, intent_id: str, expires_at: float) -> None:
        """Store another token (hash only) for an intent."""

    async def token_intent(self, token_hash: str, now: float) -> tuple[str, str] | None:
        """(intent id, merchant id) a live token is bound to, or None."""


@dataclass(frozen=True, slots=True)
class ProviderConfigInfo:
    """What may be shown of a store's provider config: never its credentials (they stay sealed)."""

    id: str
    store_id: str
    provider: str
    updated_at: float


class TenantRepository(Protocol):
    """Partners, merchants, stores and provider configs."""

    async def add_partner(self, partner: ClientPartner, credential: Credential) -> None:
        """Insert a partner and its first HMAC credential; Conflict if the api_key exists."""

    async def add_merchant(self, merchant: Merchant) -> None:
        """Insert a merchant; NotFound if its partner is unknown."""

    async def add_store(self, store: Store) -> None:
        """Insert a store; Conflict if the code exists in the merchant."""

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant, or None."""

    async def get_store(self, store_id: str) -> Store | None:
        """The store, or None."""

    async def find_stores(
        self, partner_id: str, code: str | None, merchant_id: str | None
    ) -> Sequence[Store]:
        """Stores of a partner, optionally by code and merchant."""

    async def set_provider_config(self, config: StoreProviderConfig) -> None:
        """Insert or replace the config of (store, provider)."""

    async def get_provider_config(self, store_id: str, provider: str) -> StoreProviderConfig | None:
        """The decrypted config, or None."""

    async def get_partner(self, partner_id: str) -> ClientPartner | None:
        """The partner, or None."""

    async def list_partners(self) -> Sequence[ClientPartner]:
        """Every partner, oldest first (administration)."""

    async def list_merchants(self, partner_id: str | None) -> Sequence[Merchant]:
        """Merchants, of one partner when given, oldest first."""

    async def list_stores(self, merchant_id: str | None) -> Sequence[Store]:
        """Stores, of one merchant when given, oldest first."""

    async def list_provider_configs(self, store_id: str | None) -> Sequence[ProviderConfigInfo]:
        """Provider configs without their credentials, of one store when given."""


class CredentialResolver(Protocol):
    """api_key -> Credential. Partner keys today; device keys add rows of kind `device` to the same lookup."""

    async def resolve(self, api_key: str) -> Credential | None:
        """The credential (active or not), or None if unknown."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response kept for Idempotency-Key replay; token_intent set when a replay must mint a fresh token."""

    fingerprint: str
    status_code: int
    body: bytes
    token_intent: str | None
    created_at: float


class IdempotencyStore(Protocol):
    """Stored responses keyed by (credential scope, Idempotency-Key)."""

    async def get(self, scope: str, key: str, newer_than: float) -> StoredResponse | None:
        """The response recorded after `newer_than`, or None."""

    async def add(self, scope: str, key: str, stored: StoredResponse, expired_before: float) -> None:
        """Record a response in the unit of work (first in it: if the key was recorded meanwhile, the whole
        unit fails with Conflict idempotency_in_flight); a record older than `expired_before` gives way."""

    async def purge(self, older_than: float) -> None:
        """Forget records older than the retention."""


@dataclass(frozen=True, slots=True)
class AcceptedSignature:
    """A signed POST that was accepted: hex SHA-256 of its signature and of its Idempotency-Key (or None)."""

    signature_hash: str
    key_hash: str | None
    expires_at: float


class ReplayRecords(Protocol):
    """Accepted signatures, shared by every worker and kept across restarts (docs/cloud-api.md#replays)."""

    async def add(self, accepted: AcceptedSignature, now: float) -> None:
        """Record a first acceptance in the unit of work; a live record of the same signature makes the
        commit fail with Conflict replayed_request (the database decides who was first)."""

    async def get(self, signature_hash: str, now: float) -> AcceptedSignature | None:
        """The live (unexpired) record of a signature, or None."""

    async def purge(self, now: float) -> None:
        """Forget the records that have expired."""


RATE_WINDOW = 60  # seconds of one rate-limit window


class RateCounters(Protocol):
    """Fixed-window event counters kept in the database, so every worker counts together
    (docs/cloud-api.md#rate-limits). `window` is the window's start in whole Unix seconds; the previous
    window (`window - RATE_WINDOW`) weighs in as `previous_weight` of its count (a sliding estimate)."""

    async def take(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """Count one event if previous × previous_weight + current < limit, atomically; True if counted."""

    async def over(self, key: str, window: int, previous_weight: float, limit: int) -> bool:
        """Whether the key is at or past its limit now (counts nothing)."""

    async def add(self, key: str, window: int) -> None:
        """Count one event unconditionally."""

    async def purge(self, before: int) -> None:
        """Forget the windows that started before `before`."""


class Leadership(Protocol):
    """At most one worker at a time runs a named background task (docs/operations.md#workers)."""

    def lead(self, task: str) -> AbstractAsyncContextManager[bool]:
        """Try to lead `task` for one tick: the block gets True if this worker leads it, else False."""


class Outbox(Protocol):
    """Events to partners, staged in the unit of work of the change they announce (docs/cloud-api.md)."""

    async def add(self, event: Event) -> None:
        """Stage the event and one delivery per enabled endpoint of its partner that subscribes to it."""


class WebhookRepository(Protocol):
    """Webhook endpoints, deliveries and their log, outside request units (administration, dispatcher)."""

    async def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Insert an endpoint (its secret sealed); NotFound if the partner is unknown."""

    async def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        """The endpoint with its secret opened, or None."""

    async def list_endpoints(self, partner_id: str | None) -> Sequence[WebhookEndpoint]:
        """Endpoints (of one partner when given), oldest first, secrets left sealed (shown as '')."""

    async def set_status(self, endpoint_id: str, enabled: bool, reason: str | None, now: float) -> None:
        """Enable (clears the failure run; its waiting deliveries are due now) or disable an endpoint."""

    async def delete_endpoint(self, endpoint_id: str) -> None:
        """Remove an endpoint with its deliveries and their log."""

    async def claim_due(self, now: float, limit: int, lease_s: float) -> Sequence[DueDelivery]:
        """Up to `limit` deliveries due at `now` on enabled endpoints, pushed `lease_s` ahead while sent."""

    async def record(self, outcome: Outcome) -> None:
        """Write an attempt's outcome, its log row and the endpoint's failure run in one unit."""

    async def redeliver(self, event_id: str, now: float) -> int:
        """Queue an event again for every enabled endpoint of its partner that subscribes to it; how many."""

    async def attempts(self, event_id: str) -> Sequence[dict[str, object]]:
        """The delivery log of one event, oldest first."""

    async def purge(self, older_than: float, limit: int) -> None:
        """Forget up to `limit` events older than `older_than` with no pending delivery, with their log."""


class WebhookSender(Protocol):
    """One HTTP POST of a webhook, with the SSRF guard and timeouts (never raises for the receiver's sake)."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """What the receiver answered, or why there was no answer."""


class UnitOfWork(Protocol):
    """One atomic change (cosmicpython's unit of work): `async with uow: ...; await uow.commit()`.

    The repositories are attributes; their writes become durable together at commit(), or not at all:
    leaving the block without commit() (or by an exception) discards them. A unit may be entered again while
    open (the HTTP endpoint opens it around a handler that opens it too, then adds its idempotency record):
    only the outermost block's commit() writes. Write errors (Conflict, StaleWrite) may surface at commit().
    """

    intents: PaymentIntentRepository
    idempotency: IdempotencyStore
    sync: SyncRepository
    replays: ReplayRecords
    outbox: Outbox
    refunds: RefundRepository
    settlements: SettlementRepository

    async def __aenter__(self) -> Self:
        """Open the block (a fresh unit when it is the outermost one)."""

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the block; an exception, or the outermost block ending uncommitted, discards the writes."""

    async def commit(self) -> None:
        """Make the unit's writes durable (inside an enclosing block: left to that block's commit)."""

    async def rollback(self) -> None:
        """Discard the writes staged so far."""


class Storage(Protocol):
    """A database with a lifecycle, opened and closed inside the event loop."""

    async def open(self) -> None:
        """Connect and migrate."""

    async def close(self) -> None:
        """Flush and disconnect."""

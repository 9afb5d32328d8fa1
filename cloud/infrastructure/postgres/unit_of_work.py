"""The UnitOfWork port on PostgreSQL: repositories stage Ops, commit() runs them in one transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from cloud.domain.ports import IdempotencyStore, Outbox, PaymentIntentRepository, ReplayRecords
from cloud.domain.sync import SyncRepository
from cloud.infrastructure.postgres.db import Pending, PgDatabase
from cloud.infrastructure.postgres.idempotency import PgIdempotencyStore
from cloud.infrastructure.postgres.intents import PgIntentRepository
from cloud.infrastructure.postgres.replays import PgReplayRecords
from cloud.infrastructure.postgres.sync_batches import PgSyncRepository
from cloud.infrastructure.postgres.webhooks import PgOutbox


class PgUnitOfWork:
    """`async with uow: ...; await uow.commit()`: the staged writes commit in ONE transaction, or none.

    The same contract as the SQLite unit (cloud/infrastructure/sqlite/unit_of_work.py): reads inside the
    unit see committed data only; write errors surface at commit(); only the outermost commit() writes.
    The transaction lives only as long as commit() runs, so no pooled connection is held while a handler
    waits on a provider.
    """

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._pending = Pending()
        self._depth = 0
        self.intents: PaymentIntentRepository = PgIntentRepository(db, self._pending)
        self.idempotency: IdempotencyStore = PgIdempotencyStore(db, self._pending)
        self.sync: SyncRepository = PgSyncRepository(db, self._pending)
        self.replays: ReplayRecords = PgReplayRecords(db, self._pending)
        self.outbox: Outbox = PgOutbox(self._pending)  # webhook events, in the change's unit

    async def __aenter__(self) -> Self:
        """Open a block; the outermost one starts with nothing staged."""
        if self._depth == 0:
            self._pending.ops.clear()
        self._depth += 1
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """An exception discards the staged writes, as does the outermost block ending uncommitted."""
        self._depth -= 1
        if kind is not None or self._depth == 0:
            self._pending.ops.clear()

    async def commit(self) -> None:
        """Write everything staged in one transaction (inside an enclosing block, that block commits)."""
        if self._depth > 1:
            return
        ops, self._pending.ops = self._pending.ops, []
        if ops:
            await self._db.write(ops)

    async def rollback(self) -> None:
        """Discard what is staged so far."""
        self._pending.ops.clear()

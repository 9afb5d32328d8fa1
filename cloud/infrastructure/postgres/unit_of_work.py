"""The UnitOfWork port on PostgreSQL: repositories stage Ops, commit() runs them in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from cloud.domain.ports import IdempotencyStore, Outbox, PaymentIntentRepository, ReplayRecords
from cloud.domain.refunds import RefundRepository
from cloud.domain.settlements import SettlementRepository
from cloud.domain.sync import SyncRepository
from cloud.infrastructure.dialect import Dialect, Write, numbered
from cloud.infrastructure.postgres.db import Op, Pending, PgDatabase
from cloud.infrastructure.postgres.idempotency import PgIdempotencyStore
from cloud.infrastructure.postgres.intents import PgIntentRepository
from cloud.infrastructure.postgres.replays import PgReplayRecords
from cloud.infrastructure.postgres.sync_batches import PgSyncRepository
from cloud.infrastructure.postgres.webhooks import PgOutbox
from cloud.infrastructure.refunds import SqlRefundRepository
from cloud.infrastructure.settlements import SqlSettlementRepository
from cloud.infrastructure.staged_unit import StagedUnitOfWork


def pg_dialect(db: PgDatabase, pending: Pending) -> Dialect:
    """The backend-neutral repositories' view of this database and unit (cloud/infrastructure/dialect.py)."""

    def stage(writes: Sequence[Write]) -> None:
        pending.add([Op(numbered(w.sql), w.params, expect_one=w.expect_one, on_integrity=w.on_integrity,
                        on_stale=w.on_stale) for w in writes])  # fmt: skip

    return Dialect(db.fetch_all, stage, postgres=True)


class PgUnitOfWork(StagedUnitOfWork[Op]):
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
        dialect = pg_dialect(db, self._pending)
        self.refunds: RefundRepository = SqlRefundRepository(dialect)
        self.settlements: SettlementRepository = SqlSettlementRepository(dialect)

    def _staged(self) -> list[Op]:
        return self._pending.ops

    def _swap(self) -> list[Op]:
        staged, self._pending.ops = self._pending.ops, []
        return staged

    async def _write(self, staged: list[Op]) -> None:
        await self._db.write(staged)

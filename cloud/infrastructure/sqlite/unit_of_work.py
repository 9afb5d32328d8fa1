"""The UnitOfWork port on SQLite: repositories that stage statements, one Database.write at commit()."""

from __future__ import annotations

from collections.abc import Sequence

from cloud.domain.ports import IdempotencyStore, Outbox, PaymentIntentRepository, ReplayRecords
from cloud.domain.refunds import RefundRepository
from cloud.domain.settlements import SettlementRepository
from cloud.domain.sync import SyncRepository
from cloud.infrastructure.dialect import Dialect, Write
from cloud.infrastructure.refunds import SqlRefundRepository
from cloud.infrastructure.settlements import SqlSettlementRepository
from cloud.infrastructure.sqlite.db import Database, Pending, Stmt
from cloud.infrastructure.sqlite.idempotency import SqliteIdempotencyStore
from cloud.infrastructure.sqlite.intents import SqliteIntentRepository
from cloud.infrastructure.sqlite.replays import SqliteReplayRecords
from cloud.infrastructure.sqlite.sync_batches import SqliteSyncRepository
from cloud.infrastructure.sqlite.webhooks import SqliteOutbox
from cloud.infrastructure.staged_unit import StagedUnitOfWork


def sqlite_dialect(db: Database, pending: Pending) -> Dialect:
    """The backend-neutral repositories' view of this database and unit (cloud/infrastructure/dialect.py)."""

    def stage(writes: Sequence[Write]) -> None:
        pending.add([Stmt(w.sql, w.params, expect_one=w.expect_one, on_integrity=w.on_integrity,
                          on_stale=w.on_stale) for w in writes])  # fmt: skip

    return Dialect(db.fetch_all, stage, postgres=False)


class SqliteUnitOfWork(StagedUnitOfWork[Stmt]):
    """`async with uow: ...; await uow.commit()`: the repositories' writes commit as ONE group-commit unit.

    Writes are buffered statements, run (in one transaction, sharing its fsync with concurrent units) only
    at commit(); that is what lets concurrent requests share a COMMIT. Reads inside the unit still go to the
    reader connection and see committed data only, not this unit's own staged writes: a handler never reads
    back what it wrote in the same unit. Write errors (Conflict, StaleWrite, SyncRace, …) surface at commit().
    Entered again while open (the HTTP endpoint around a handler), only the outermost commit() writes.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending = Pending()
        self._depth = 0
        self.intents: PaymentIntentRepository = SqliteIntentRepository(db, self._pending)
        self.idempotency: IdempotencyStore = SqliteIdempotencyStore(db, self._pending)
        self.sync: SyncRepository = SqliteSyncRepository(db, self._pending)
        self.replays: ReplayRecords = SqliteReplayRecords(db, self._pending)
        self.outbox: Outbox = SqliteOutbox(self._pending)  # webhook events, in the change's unit
        dialect = sqlite_dialect(db, self._pending)
        self.refunds: RefundRepository = SqlRefundRepository(dialect)
        self.settlements: SettlementRepository = SqlSettlementRepository(dialect)

    def _staged(self) -> list[Stmt]:
        return self._pending.stmts

    def _swap(self) -> list[Stmt]:
        staged, self._pending.stmts = self._pending.stmts, []
        return staged

    async def _write(self, staged: list[Stmt]) -> None:
        await self._db.write(staged)

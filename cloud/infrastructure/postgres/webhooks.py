"""The Outbox and WebhookRepository ports on PostgreSQL: the SQLite statements (sqlite/webhooks.py), with
`$n` placeholders and strpos for instr, run through PgDatabase (docs/cloud-api.md#webhooks)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from cloud.domain.webhooks import Event
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.postgres.db import Op, Pending, PgDatabase
from cloud.infrastructure.sqlite.db import Stmt
from cloud.infrastructure.sqlite.webhooks import SqliteWebhookRepository, event_stmts

_PLACEHOLDER = re.compile(r"\?(\d*)")


@functools.lru_cache(maxsize=256)
def pg_sql(sql: str) -> str:
    """`?` -> `$1, $2, …` in order (`?N` -> `$N`), and SQLite's instr(a, b) -> strpos(a, b)."""
    counter = iter(range(1, 1000))

    def number(found: re.Match[str]) -> str:
        return f"${found.group(1) or next(counter)}"

    return _PLACEHOLDER.sub(number, sql).replace("instr(", "strpos(")


def to_op(stmt: Stmt) -> Op:
    """The same write step for asyncpg."""
    params = [tuple(row) for row in stmt.params] if stmt.many else tuple(stmt.params)
    # The mappings take the database's error whatever its engine: ours ignore it (sqlite/webhooks.py).
    on_integrity: Any = stmt.on_integrity
    return Op(pg_sql(stmt.sql), params, many=stmt.many, expect_one=stmt.expect_one, on_integrity=on_integrity,
              on_stale=stmt.on_stale)  # fmt: skip


class PgOutbox:
    """The Outbox port: stages into the PostgreSQL unit of work's Pending list."""

    def __init__(self, pending: Pending) -> None:
        self._pending = pending

    async def add(self, event: Event) -> None:
        """Stage the event and its deliveries."""
        self._pending.add([to_op(s) for s in event_stmts(event)])


class PgWebhookRepository(SqliteWebhookRepository):
    """The WebhookRepository port: the SQLite repository's logic over a PgDatabase."""

    def __init__(self, db: PgDatabase, box: SecretBox) -> None:
        self._pg, self._box = db, box

    async def _fetch_all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._pg.fetch_all(pg_sql(sql), params)

    async def _write(self, stmts: Sequence[Stmt]) -> None:
        await self._pg.write([to_op(s) for s in stmts])

"""CredentialSecrets on PostgreSQL: the SQLite statements (sqlite/credential_secrets.py) with `$n`
placeholders, run through PgDatabase (docs/cloud-api.md#rotating-a-secret)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.postgres.db import PgDatabase
from cloud.infrastructure.postgres.webhooks import pg_sql, to_op
from cloud.infrastructure.sqlite.credential_secrets import USE_WRITE_INTERVAL, SqliteCredentialSecrets
from cloud.infrastructure.sqlite.db import Stmt


class PgCredentialSecrets(SqliteCredentialSecrets):
    """The CredentialSecrets port: the SQLite class's logic over a PgDatabase."""

    def __init__(self, db: PgDatabase, box: SecretBox, use_interval: float = USE_WRITE_INTERVAL) -> None:
        self._pg, self._box, self._interval = db, box, use_interval
        self._written = {}

    async def _fetch_all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._pg.fetch_all(pg_sql(sql), params)

    async def _write(self, stmts: Sequence[Stmt]) -> None:
        await self._pg.write([to_op(s) for s in stmts])

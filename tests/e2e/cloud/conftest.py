"""The one database fixture of the cloud e2e tests: each module that asks for `backend` runs on a SQLite file
and on a fresh database of the session's throwaway PostgreSQL (tests/pgserver.py). Only the tests where the
engine changes the outcome use it (races, idempotency, replays, sync intake: docs/operations.md#tests), so
the suite is not doubled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgserver import fresh_database


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL: a SQLite file, or a fresh migrated database on the session's PostgreSQL."""
    sqlite_file = tmp_path_factory.mktemp("pgw") / "pgw.sqlite3"
    yield from fresh_database(request.param, sqlite_file, lambda: request.getfixturevalue("pg_server"))

"""The one database fixture of the cloud e2e tests: each module that asks for `backend` runs on a SQLite file
and on a fresh database of the session's throwaway PostgreSQL (tests/pgserver.py). Only the tests where the
engine changes the outcome use it (races, idempotency, replays, sync intake: docs/operations.md#tests), so
the suite is not doubled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL: a SQLite file, or a fresh migrated database on the session's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('pgw') / 'pgw.sqlite3'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.new_database()
    yield url
    server.drop_database(url)

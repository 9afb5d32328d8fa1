"""`mpac-pgw migrate` as a real process against the throwaway PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import asyncpg
import pytest

from cloud.infrastructure.postgres.migrate import migration_files
from tests.pgserver import PgServer, on_thread

pytestmark = pytest.mark.postgres


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)  # fmt: skip


async def _create(server: PgServer, name: str) -> str:
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return server.url(name)


class TestMigrateCommand:
    def test_applies_every_file_then_nothing(self, pg_server: PgServer) -> None:
        """A fresh database gets every file; a second run applies none and says so."""
        url = on_thread(_create(pg_server, "cli_migrate"))
        first = _cli("migrate", "--db", url)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["applied"] == [name for name, _ in migration_files()]
        again = _cli("migrate", "--db", url)
        assert again.returncode == 0 and json.loads(again.stdout)["applied"] == []
        pg_server.drop_database(url)

    def test_unreachable_server_is_exit_2_without_the_password(self) -> None:
        """Nothing listening: exit 2 with a JSON error that never shows the URL's password."""
        done = _cli("migrate", "--db", "postgresql://pgw:s3cret-pw@127.0.0.1:1/pgw")
        assert done.returncode == 2
        assert json.loads(done.stderr)["error"]["code"] == "storage_unavailable"
        assert "s3cret-pw" not in done.stderr + done.stdout

    def test_serve_on_postgresql_needs_the_encryption_key(self, pg_server: PgServer) -> None:
        """Workers on PostgreSQL share sealed credentials: serve without MPAC_PGW_ENCRYPTION_KEY is exit 2."""
        env = {k: v for k, v in os.environ.items() if k != "MPAC_PGW_ENCRYPTION_KEY"}
        done = _cli("serve", "--port", "0", "--db", pg_server.url(), env=env)
        assert done.returncode == 2 and "MPAC_PGW_ENCRYPTION_KEY" in done.stderr

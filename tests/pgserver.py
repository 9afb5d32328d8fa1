"""A throwaway PostgreSQL 15 server for tests: initdb in a temp dir, started on a free loopback port.

Tests only: fsync is off (a crash of the test machine loses nothing anyone needs). As root the server runs
as the `postgres` user (initdb and pg_ctl refuse root). `database()` hands out a fresh, migrated database
cloned from a template, in milliseconds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from cloud.infrastructure.postgres.migrate import apply_migrations

PGBIN = Path(os.environ.get("MPAC_TEST_PGBIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "pgw_template"
T = TypeVar("T")


def available() -> bool:
    """Whether the server binaries are installed (scripts/system-deps.sh installs them)."""
    return (PGBIN / "initdb").is_file() and (PGBIN / "pg_ctl").is_file()


def on_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh thread and event loop (callable from sync code anywhere)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PgServer:
    """One server process and its data directory; stop() and start() keep the data and the port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pgtest-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_pg(str(PGBIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        self.start()
        asyncio.run(self._make_template())

    def url(self, database: str = "postgres") -> str:
        """The connection URL of one database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_pg(self, *cmd: str) -> None:
        pre = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*pre, *cmd], check=True, cwd="/", stdout=subprocess.DEVNULL)

    def start(self) -> None:
        """Start (or restart after stop()) on the same port and data."""
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")  # fmt: skip
        self._as_pg(str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                    "-t", "30", "-o", opts, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: sessions are terminated, as at a real restart)."""
        self._as_pg(str(PGBIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    async def _make_template(self) -> None:
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.url(TEMPLATE))
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()

    async def database(self) -> str:
        """A fresh migrated database (cloned from the template); its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        finally:
            await admin.close()
        return self.url(name)

    async def drop(self, url: str) -> None:
        """Drop a database made by database() (its connections are ended)."""
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    def new_database(self) -> str:
        """database(), for synchronous fixtures (runs on a thread of its own, outside any event loop)."""
        return on_thread(self.database())

    def drop_database(self, url: str) -> None:
        """drop(), for synchronous fixtures."""
        on_thread(self.drop(url))

    def close(self) -> None:
        """Stop the server and remove its files."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def fresh_database(backend: str, sqlite_file: Path, server: Callable[[], PgServer]) -> Iterator[str]:
    """The body of a database fixture: the URL of `sqlite_file`, or of a new database on the session's
    PostgreSQL (`server()`, asked for only then), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    pg = server()
    url = pg.new_database()
    yield url
    pg.drop_database(url)

"""Connections to one SQLite file in WAL mode: the writer's pragmas and read-only aiosqlite readers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

BUSY_TIMEOUT_MS = 10_000
# FULL: every commit syncs the WAL, so a committed row survives a power cut, not only a process crash.
DURABLE_PRAGMAS: tuple[str, ...] = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
)


def connect_writer(path: Path, pragmas: Sequence[str]) -> sqlite3.Connection:
    """The writer's plain sqlite3 connection, autocommit mode (transactions are explicit); call it on the
    thread that will own it."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in pragmas:
        conn.execute(pragma)
    return conn


async def connect_reader(path: Path, *, row_factory: bool = True) -> aiosqlite.Connection:
    """A read-only aiosqlite connection (query_only): it sees committed data only and can never write."""
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    if row_factory:
        conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA query_only = 1")
    return conn

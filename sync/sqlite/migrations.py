"""The one migration runner: numbered `NNNN_name.sql` files, each applied atomically with its record.

`schema_migrations` keeps the name, the SHA-256 of the file as applied and the time, so `mpac-agent doctor`
can tell a database migrated by another build from this one.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Iterable
from importlib import resources

_NAME = re.compile(r"^\d{4}_[A-Za-z0-9_]+\.sql$")
_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations ("
          " name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL)")


class MigrationError(RuntimeError):
    """A migration file could not be applied; the database is left as it was before that file."""


def package_migrations(package: str, folder: str | None = None) -> list[tuple[str, str]]:
    """(file name, sql) of every `NNNN_name.sql` in a package (or its sub-folder), in lexical order."""
    root = resources.files(package)
    if folder is not None:
        root = root / folder
    found = [(entry.name, entry.read_text(encoding="utf-8"))
             for entry in root.iterdir() if _NAME.match(entry.name)]
    return sorted(found)


def apply_migrations(conn: sqlite3.Connection, files: Iterable[tuple[str, str]]) -> list[str]:
    """Apply the files not yet recorded, in order, each in its own transaction; return the applied names."""
    conn.execute(_TABLE)
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, sql in files:
        if name in done:
            continue
        if _NAME.match(name) is None:
            raise MigrationError(f"migration file name {name!r} must look like 0001_name.sql")
        digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        # executescript takes no parameters: the name matched _NAME and the digest is hex.
        record = (f"INSERT INTO schema_migrations (name, sha256, applied_at) "  # noqa: S608
                  f"VALUES ('{name}', '{digest}', {time.time_ns() // 1_000_000});")
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;\n{record}\nCOMMIT;")
        except sqlite3.Error as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationError(f"migration {name} failed: {err}") from err
        applied.append(name)
    return applied

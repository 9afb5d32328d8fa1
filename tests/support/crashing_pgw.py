"""`mpac-pgw` with a crash injected from the test side: `python -m tests.support.crashing_pgw serve …`.

With CRASH_AFTER_INSERT_INTO=<table> set, the process SIGKILLs itself right after the COMMIT of a write
group in which a unit that inserted into that table was committed, before any caller of that group is
answered (the database's commit hook runs between COMMIT and the replies). On PostgreSQL the same happens
right after the COMMIT of a unit's one transaction (PgDatabase.write), before it returns to the handler.
Without it, this is plain cloud.cli. Production code carries no such hook: this module wraps
cloud.infrastructure.sqlite.db's group handler and commit hook, and PgDatabase.write, before the app is built.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence

from cloud import cli
from cloud.infrastructure.postgres.db import Op, PgDatabase
from cloud.infrastructure.sqlite import db

ENV = "CRASH_AFTER_INSERT_INTO"


def arm(table: str) -> None:
    """Kill this process after the first COMMIT that made an INSERT INTO `table` durable."""
    marker = f"INSERT INTO {table} "
    inserted = threading.Event()  # set on the writer thread, read on the event loop after COMMIT
    run_units, committed = db.run_units, db.Database._committed

    def run(conn: sqlite3.Connection, units: list[Sequence[db.Stmt]]) -> list[BaseException | None]:
        errors = run_units(conn, units)
        if any(e is None and any(s.sql.startswith(marker) for s in unit)
               for unit, e in zip(units, errors, strict=True)):  # fmt: skip
            inserted.set()
        return errors

    def after_commit(self: db.Database, ok: bool) -> None:
        committed(self, ok)
        if ok and inserted.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    db.run_units = run
    db.Database._committed = after_commit  # type: ignore[method-assign]
    write = PgDatabase.write

    async def write_then_die(self: PgDatabase, ops: Sequence[Op]) -> None:
        await write(self, ops)  # returned: COMMIT went through
        if any(op.sql.startswith(marker) for op in ops):
            os.kill(os.getpid(), signal.SIGKILL)

    PgDatabase.write = write_then_die  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    """Arm the crash if the environment asks for it, then run the real command line."""
    table = os.environ.get(ENV)
    if table:
        arm(table)
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())

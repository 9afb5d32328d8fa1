"""The SQLite core shared by the agent and the cloud: connections with one set of pragmas, one group-commit
writer on the public sqlite3 API, one migration runner (docs/architecture.md, "One SQLite core")."""

from sync.sqlite.connect import DURABLE_PRAGMAS, connect_reader
from sync.sqlite.migrations import MigrationError, apply_migrations, package_migrations
from sync.sqlite.writer import BatchHandler, GroupCommitWriter, WriterStopped

__all__ = [
    "DURABLE_PRAGMAS",
    "BatchHandler",
    "GroupCommitWriter",
    "MigrationError",
    "WriterStopped",
    "apply_migrations",
    "connect_reader",
    "package_migrations",
]

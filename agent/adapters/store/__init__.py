"""The agent's SQLite store, the only place with the agent's SQL: one database (one writer, one reader),
the sales chain, the outbox, print jobs, the QR mirror, read-only views, migrations."""

from agent.adapters.store.chain import Recorded
from agent.adapters.store.database import AgentDatabase
from agent.adapters.store.store import SaleFilter, Store
from sync.clock import wall_clock_ms

__all__ = ["AgentDatabase", "Recorded", "SaleFilter", "Store", "wall_clock_ms"]

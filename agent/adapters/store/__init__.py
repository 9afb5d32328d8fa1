"""The agent's SQLite store: sales chain, QR mirror rows, migrations, the group-commit writer."""

from agent.adapters.store.chain import Recorded
from agent.adapters.store.store import SaleFilter, Store, wall_clock_ms

__all__ = ["Recorded", "SaleFilter", "Store", "wall_clock_ms"]

"""The agent's SQLite store: sales chain, QR mirror rows, migrations, the group-commit writer."""

from agent.store.chain import Recorded
from agent.store.store import SaleFilter, Store, wall_clock_ms

__all__ = ["Recorded", "SaleFilter", "Store", "wall_clock_ms"]

"""The agent's local web: cashier screen and status page (docs/local-web.md); see `setup_routes`."""

from agent.entrypoints.web.routes import setup_routes

__all__ = ["setup_routes"]

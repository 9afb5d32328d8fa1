"""The agent's local web: cashier screen and status page (DESIGN §8). The app factory calls `setup_routes`."""

from agent.entrypoints.web.routes import setup_routes

__all__ = ["setup_routes"]

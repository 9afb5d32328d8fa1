"""The agent's local HTTP API and pages (DESIGN §8)."""

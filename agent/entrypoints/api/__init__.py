"""The agent's local HTTP API and pages (docs/local-web.md)."""

"""The agent's few error classes, each mapped once to an HTTP answer of the docs/cloud-api.md shape."""

from __future__ import annotations

from typing import Any


class AgentError(Exception):
    """An error a cashier or client is told about: status, type, code, a readable message, maybe a param."""

    status = 400
    type = "invalid_request_error"

    def __init__(
        self, code: str, message: str, *, param: str | None = None, status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.retry_after = retry_after
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        """The JSON error object of docs/cloud-api.md."""
        error: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


class SaleRefused(AgentError):
    """A sale that is not taken: bad input (422), an offline cap (422/429) or a reused reference (409)."""

    status = 422


class StoreUnavailable(AgentError):
    """The sales database cannot be written (disk full, read-only, I/O error): nothing is recorded."""

    status = 503
    type = "api_error"

    def __init__(self, detail: str) -> None:
        super().__init__(
            "store_unavailable",
            "Sales cannot be saved on this terminal right now (storage full or read-only); "
            f"no sale was recorded. Call support. [{detail}]",
        )


class UpstreamUnavailable(AgentError):
    """A needed dependency (cloud, card reader) cannot be reached or failed; nothing is recorded."""

    status = 503
    type = "api_error"

"""The few semantic errors of the domain; the API maps each once to an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every domain error; `code` is the stable machine-readable reason."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class NotFound(DomainError):
    """The resource does not exist, or belongs to another tenant."""

    code = "resource_missing"


class InvalidState(DomainError):
    """The intent's current state does not allow the requested transition."""

    code = "invalid_state"


class Conflict(DomainError):
    """A uniqueness rule or a concurrent change refused the write."""

    code = "conflict"


class ValidationFailed(DomainError):
    """The request is well-formed but its values are not acceptable."""

    code = "validation_error"


class Forbidden(DomainError):
    """The caller is authenticated but may not do this."""

    code = "forbidden"


class ProviderUnavailable(DomainError):
    """The payment provider could not be reached or answered nonsense; the caller may retry."""

    code = "provider_unavailable"


class ProviderError(DomainError):
    """The payment provider answered, but not with anything usable (refused our credentials or request, or
    an answer of an unknown shape); retrying the same call will not help (docs/providers.md#errors)."""

    code = "provider_error"


class StorageUnavailable(DomainError):
    """The database could not serve the request (locked, full, I/O error); the caller may retry."""

    code = "storage_unavailable"

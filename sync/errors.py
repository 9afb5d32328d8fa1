"""The few semantic errors of the sync package (CONVENTIONS §6)."""

from __future__ import annotations


class SyncError(Exception):
    """Base of every sync failure."""


class TransientUploadError(SyncError):
    """The whole batch did not get through (network, 5xx, 429): retry the same items later with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class CloudUnreachable(TransientUploadError):
    """No HTTP answer at all (refused, reset, DNS, timeout); `status` is None. Raised by sync.http only."""


class BatchRejected(SyncError):
    """The cloud refused the whole batch with a 4xx (auth, forbidden, too large, malformed).

    The items are not at fault by themselves: they stay queued; the uploader shrinks the batch on 400/413/422
    (to isolate a poison item) and otherwise waits for the operator (re-enroll, clock fix, un-suspend).
    """

    def __init__(self, message: str, *, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class EnrollmentError(SyncError):
    """Activation with the cloud failed; the message is safe to show to a technician."""


class CloudNotTrusted(CloudUnreachable):
    """The cloud could not be verified, so nothing was sent (docs/sync-protocol.md, "Verifying the cloud").

    `reason` is one of REASONS; the message says what to fix. A subclass of CloudUnreachable: no HTTP answer,
    the items stay queued; it is never retried as plain HTTP or without verification.
    """

    REASONS = ("unknown_ca", "expired", "not_yet_valid", "wrong_host", "pin_mismatch", "untrusted",
               "ca_file", "plain_http")

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

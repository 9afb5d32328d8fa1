"""The per-device admin password (docs/local-web.md) guarding the status page's admin actions.

The password is generated at enrollment and only its scrypt hash is stored (adapters/secrets.py); there is no
default. A device that is not enrolled has no password, so every admin action is refused with a message.
Repeated wrong passwords lock the actions for a while, so the 16-character password cannot be guessed online.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.adapters.secrets import CREDENTIAL_FILE, verify_password
from agent.domain.errors import AgentError

MAX_FAILURES = 5
LOCK_S = 60
NOT_ENROLLED = ("Admin actions are disabled: this terminal is not enrolled, so it has no admin password. "
                "Enroll it with: mpac-agent enroll --cloud URL --code CODE")


class AdminRefused(AgentError):
    """An admin action refused: no password (401), a wrong one (401), not enrolled (403), locked (429)."""

    status = 401
    type = "authentication_error"


@dataclass(frozen=True, slots=True)
class AdminAvailability:
    """Whether admin actions can be used at all on this device, and why not."""

    enabled: bool
    message: str | None


class AdminGate:
    """Checks the admin password against the hash stored at enrollment, in constant time."""

    def __init__(self, state_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._record = state_dir / CREDENTIAL_FILE
        self._clock = clock
        self._failures = 0
        self._locked_until = 0.0

    def _stored_hash(self) -> str | None:
        """The stored hash, or None when not enrolled; OSError/ValueError when the record is damaged.

        Only the enrollment record's hash field is read: the encrypted device secret is not needed to check
        a password, so it is not decrypted here.
        """
        try:
            record = json.loads(self._record.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        stored = record.get("admin_password_hash") if isinstance(record, dict) else None
        return stored if isinstance(stored, str) and stored else None

    async def availability(self) -> AdminAvailability:
        """Enrolled with a password → enabled; otherwise the reason, in words for a store manager."""
        try:
            stored = await asyncio.to_thread(self._stored_hash)
        except (OSError, ValueError) as err:
            return AdminAvailability(False, "Admin actions are disabled: the enrollment record "
                                     f"{self._record} is unreadable ({type(err).__name__}); re-enroll.")
        return AdminAvailability(True, None) if stored else AdminAvailability(False, NOT_ENROLLED)

    async def check(self, password: str | None) -> None:
        """Return if `password` is the device's admin password; raise AdminRefused otherwise."""
        now = self._clock()
        if now < self._locked_until:
            wait = int(self._locked_until - now) + 1
            raise AdminRefused("admin_locked", f"Too many wrong admin passwords. Try again in {wait} s.",
                               status=429, retry_after=wait)
        available = await self.availability()
        if not available.enabled:
            raise AdminRefused("not_enrolled", available.message or NOT_ENROLLED, status=403)
        if not password:
            raise AdminRefused("admin_password_required", "Enter the admin password of this terminal.",
                               param="password")
        try:
            stored = await asyncio.to_thread(self._stored_hash)
        except (OSError, ValueError):
            stored = None
        # scrypt is deliberately slow: run it off the event loop; verify_password compares in constant time.
        ok = stored is not None and await asyncio.to_thread(verify_password, stored, password)
        if not ok:
            self._failures += 1
            if self._failures >= MAX_FAILURES:
                self._failures, self._locked_until = 0, now + LOCK_S
            raise AdminRefused("admin_password_wrong", "The admin password is wrong.", param="password")
        self._failures = 0

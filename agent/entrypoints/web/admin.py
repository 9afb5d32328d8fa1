"""The per-device admin password (docs/local-web.md) guarding the status page's admin actions.

The password is generated at enrollment and only its scrypt hash is stored (adapters/secrets.py); there is no
default. A device that is not enrolled has no password, so every admin action is refused with a message.
Repeated wrong passwords lock the actions for a while, so the 16-character password cannot be guessed online:
each attempt is counted in the agent's database before its password is checked, so parallel guesses cannot
outrun the count and a restart does not lift the lock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.adapters.secrets import CREDENTIAL_FILE, verify_password
from agent.adapters.store.admin_lockout import AdminAttempts
from agent.domain.errors import AgentError

MAX_FAILURES = 5
LOCK_S = 60
NOT_ENROLLED = ("管理操作は使えません: この端末は未登録のため管理パスワードがありません。"
                "Admin actions are disabled: this terminal is not enrolled, so it has no admin password. "
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

    def __init__(self, state_dir: Path, attempts: AdminAttempts, clock_ms: Callable[[], int]) -> None:
        self._record = state_dir / CREDENTIAL_FILE
        self._attempts = attempts
        self._clock_ms = clock_ms

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
            return AdminAvailability(False, "管理操作は使えません: 登録情報を読めません。再登録してください。"
                                     "Admin actions are disabled: the enrollment record "
                                     f"{self._record} is unreadable ({type(err).__name__}); re-enroll.")
        return AdminAvailability(True, None) if stored else AdminAvailability(False, NOT_ENROLLED)

    async def check(self, password: str | None) -> None:
        """Return if `password` is the device's admin password; raise AdminRefused otherwise."""
        available = await self.availability()
        if not available.enabled:
            raise AdminRefused("not_enrolled", available.message or NOT_ENROLLED, status=403)
        if not password:
            raise AdminRefused("admin_password_required", "管理パスワードを入力してください "
                               "Enter the admin password of this terminal.", param="password")
        locked_ms = await self._attempts.begin(self._clock_ms(), max_attempts=MAX_FAILURES,
                                               lock_ms=LOCK_S * 1000)
        if locked_ms:
            wait = -(-locked_ms // 1000)
            raise AdminRefused("admin_locked", f"パスワードの誤りが多すぎます。{wait} 秒後に再試行 "
                               f"Too many wrong admin passwords. Try again in {wait} s.",
                               status=429, retry_after=wait)
        try:
            stored = await asyncio.to_thread(self._stored_hash)
        except (OSError, ValueError):
            stored = None
        # scrypt is deliberately slow: run it off the event loop; verify_password compares in constant time.
        if stored is None or not await asyncio.to_thread(verify_password, stored, password):
            raise AdminRefused("admin_password_wrong",
                               "管理パスワードが違います The admin password is wrong.", param="password")
        await self._attempts.succeeded(self._clock_ms())

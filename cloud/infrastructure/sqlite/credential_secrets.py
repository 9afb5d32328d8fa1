"""CredentialSecrets on SQLite: two secrets per credential row, their last use, a device's sealed new secret
(docs/cloud-api.md#rotating-a-secret). The PostgreSQL class runs the same statements (postgres/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.domain.tenants import Credential, CredentialKind, Rotation, SecretInfo, SecretRotated, SecretSlot
from cloud.infrastructure.crypto import SecretBox
from cloud.infrastructure.sqlite.db import Database, StaleWrite, Stmt
from cloud.infrastructure.sqlite.intents import ms

USE_WRITE_INTERVAL = 60.0  # seconds: a secret's last use is written at most this often
_MAX_REMEMBERED = 10_000
_SECRET = "secret_key"  # noqa: S105 -- the field name in the sealed JSON object, not a secret


_USED = ("INSERT INTO credential_uses (api_key, key_hash, last_used_at) VALUES (?, ?, ?) "
         "ON CONFLICT (api_key, key_hash) DO UPDATE SET last_used_at=excluded.last_used_at")  # fmt: skip
_CONFIRM = "UPDATE credentials SET issued_secret_enc=NULL WHERE api_key=? AND secret_key_hash=?"
_DROP_PREVIOUS = ("UPDATE credentials SET previous_key_hash=NULL, previous_expires_at=NULL, "
                  "issued_secret_enc=NULL WHERE api_key=?")  # fmt: skip
# Uses of secrets that are no longer the credential's current or previous one.
_FORGET_USES = ("DELETE FROM credential_uses WHERE api_key=?1 AND key_hash NOT IN "
                "(SELECT secret_key_hash FROM credentials WHERE api_key=?1 UNION ALL "
                "SELECT previous_key_hash FROM credentials WHERE api_key=?1 "
                "AND previous_key_hash IS NOT NULL)")  # fmt: skip


def _s(value: int | None) -> float | None:
    return None if value is None else value / 1000


def _infos(r: Any, now: float) -> list[SecretInfo]:
    kind, device = CredentialKind(r["kind"]), r["device_id"]
    current = SecretInfo(r["api_key"], kind, SecretSlot.CURRENT, (r["rotated_at"] or r["created_at"]) / 1000,
                         None, _s(r["last_used_at"]), device)  # fmt: skip
    if r["previous_key_hash"] is None or r["previous_expires_at"] / 1000 <= now:
        return [current]
    previous = SecretInfo(r["api_key"], kind, SecretSlot.PREVIOUS, None, r["previous_expires_at"] / 1000,
                          _s(r["previous_last_used_at"]), device)  # fmt: skip
    return [current, previous]


class SqliteCredentialSecrets:
    """Rotation, revocation, last use and listing of credential secrets."""

    def __init__(self, db: Database, box: SecretBox, use_interval: float = USE_WRITE_INTERVAL) -> None:
        self._db, self._box, self._interval = db, box, use_interval
        self._written: dict[tuple[str, str], float] = {}  # (api_key, key hash) -> last write

    async def _fetch_all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return list(await self._db.fetch_all(sql, params))

    async def _write(self, stmts: Sequence[Stmt]) -> None:
        await self._db.write(stmts)

    async def rotate(self, rotation: Rotation) -> None:
        """Current -> previous (with its expiry and last use), the new hash current; guarded by the old."""
        r = rotation
        sealed = None if r.issued_secret is None else self._box.seal({_SECRET: r.issued_secret})
        # Every right-hand side reads the row as it was before this UPDATE (SQL semantics, both engines).
        await self._write([Stmt(
            "UPDATE credentials SET previous_key_hash=secret_key_hash, previous_expires_at=?, "
            "secret_key_hash=?, rotated_at=?, issued_secret_enc=? WHERE api_key=? AND secret_key_hash=?",
            (ms(r.previous_expires_at), r.new_hash, ms(r.at), sealed, r.api_key, r.expected_hash),
            expect_one=True, on_stale=lambda _err: SecretRotated("this secret was already replaced"),
        ), Stmt(_FORGET_USES, (r.api_key,))])  # fmt: skip

    async def issued_secret(self, api_key: str, previous_hash: str) -> tuple[str, float] | None:
        """The unconfirmed new secret that replaced `previous_hash`, and when that one expires, or None."""
        rows = await self._fetch_all(
            "SELECT issued_secret_enc, previous_expires_at FROM credentials WHERE api_key=? "
            "AND previous_key_hash=? AND issued_secret_enc IS NOT NULL",
            (api_key, previous_hash))  # fmt: skip
        if not rows:
            return None
        return self._box.open(bytes(rows[0][0]))[_SECRET], rows[0][1] / 1000

    async def revoke_previous(self, api_key: str) -> bool:
        """Drop the previous secret (and any sealed copy of the new one) now; False if there was none."""
        try:
            await self._write([Stmt(
                f"{_DROP_PREVIOUS} AND previous_key_hash IS NOT NULL", (api_key,), expect_one=True),
                Stmt(_FORGET_USES, (api_key,))])  # fmt: skip
        except StaleWrite:
            return False
        return True

    async def purge_expired(self, now: float, limit: int) -> None:
        """Previous secrets past their expiry no longer authenticate: drop their hash, their uses and the
        sealed copy of a rotation that was never confirmed (its device can only re-enroll now). A read first,
        so a sweep with nothing to do writes nothing."""
        rows = await self._fetch_all("SELECT api_key FROM credentials WHERE previous_expires_at < ? LIMIT ?",
                                     (ms(now), limit))  # fmt: skip
        if not rows:
            return
        keys = [(r[0], ms(now)) for r in rows]
        await self._write([
            Stmt(f"{_DROP_PREVIOUS} AND previous_expires_at < ?", keys, many=True),
            Stmt(_FORGET_USES, [(k,) for k, _ in keys], many=True),
        ])  # fmt: skip

    async def mark_used(self, credential: Credential, slot: SecretSlot, now: float) -> None:
        """Write the last-use time at most once per USE_WRITE_INTERVAL per secret in this process; the first
        use of an unconfirmed current secret is written at once and drops its sealed copy."""
        c = credential
        key_hash = (c.secret_key_hash if slot is SecretSlot.CURRENT else c.previous_key_hash) or ""
        key, confirm = (c.api_key, key_hash), slot is SecretSlot.CURRENT and c.unconfirmed
        last = self._written.get(key)
        if not confirm and last is not None and now - last < self._interval:
            return
        if len(self._written) >= _MAX_REMEMBERED:
            self._written.clear()
        self._written[key] = now
        stmts = [Stmt(_USED, (c.api_key, key_hash, ms(now)))]
        if confirm:
            stmts.append(Stmt(_CONFIRM, (c.api_key, c.secret_key_hash)))
        await self._write(stmts)

    async def list_secrets(self, partner_id: str, device_id: str | None, now: float) -> Sequence[SecretInfo]:
        """Every credential of the partner (of one device when given): its current secret and, while live,
        the previous one."""
        rows = await self._fetch_all(
            "SELECT c.api_key, c.kind, c.device_id, c.created_at, c.rotated_at, c.previous_key_hash, "
            "c.previous_expires_at, cu.last_used_at AS last_used_at, "
            "pu.last_used_at AS previous_last_used_at "
            "FROM credentials c LEFT JOIN credential_uses cu ON cu.api_key=c.api_key AND "
            "cu.key_hash=c.secret_key_hash LEFT JOIN credential_uses pu ON pu.api_key=c.api_key AND "
            "pu.key_hash=c.previous_key_hash WHERE c.partner_id=?1 "
            "AND (CAST(?2 AS TEXT) IS NULL OR c.device_id=?2) ORDER BY c.created_at, c.api_key",
            (partner_id, device_id))  # fmt: skip
        return [info for r in rows for info in _infos(r, now)]

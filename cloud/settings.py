"""The one frozen settings object of a pgw process, built once from CLI options and the environment."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_DB_URL = "sqlite:///./var/pgw.sqlite3"
ENV_DB = "MPAC_PGW_DB"
ENV_ENCRYPTION_KEY = "MPAC_PGW_ENCRYPTION_KEY"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a pgw process is configured with. Adapters receive this, never os.environ."""

    db_url: str = DEFAULT_DB_URL
    host: str = "127.0.0.1"
    port: int = 8080
    hmac_window_seconds: int = 300
    token_ttl_seconds: int = 300
    idempotency_ttl_seconds: int = 24 * 3600
    rate_limit_per_minute: int = 1000
    activation_limit_per_minute: int = 30  # per source address (docs/cloud-api.md#rate-limits)
    bad_signature_limit_per_minute: int = 30  # per source address, wrong signatures only
    max_body_bytes: int = 1024 * 1024
    max_intent_body_bytes: int = 64 * 1024
    expiry_sweep_seconds: float = 15.0
    default_provider: str = "simulator"
    simulator_routes: bool = False  # /_simulator/… (no auth, loopback only): demos and tests turn it on
    encryption_key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (self.db_url.startswith("sqlite:///") or self.db_url.startswith("postgresql://")):
            raise SettingsError(
                f"--db / {ENV_DB} must be sqlite:///path or postgresql://…, got {self.db_url!r}"
            )
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0–65535, got {self.port}")
        limits = (self.rate_limit_per_minute, self.token_ttl_seconds, self.activation_limit_per_minute,
                  self.bad_signature_limit_per_minute)  # fmt: skip
        if min(limits) < 1:
            raise SettingsError("rate limits and token_ttl_seconds must be positive")
        if self.encryption_key is not None:
            _check_key(self.encryption_key)

    @classmethod
    def load(cls, environ: Mapping[str, str], **options: Any) -> Settings:
        """Defaults < environment < explicit options (None options are ignored)."""
        values: dict[str, Any] = {}
        if environ.get(ENV_DB):
            values["db_url"] = environ[ENV_DB]
        if ENV_ENCRYPTION_KEY in environ:  # set but empty is refused, not taken as "use the key file"
            values["encryption_key"] = environ[ENV_ENCRYPTION_KEY].encode("utf-8")
        values.update({k: v for k, v in options.items() if v is not None})
        return cls(**values)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests use this)."""
        return replace(self, **changes)


def _check_key(key: bytes) -> None:
    if not key.strip():
        raise SettingsError(f"{ENV_ENCRYPTION_KEY} is set but empty: give a Fernet key "
                            "(Fernet.generate_key()), or unset it to use the key file beside the database")
    try:
        ok = len(base64.urlsafe_b64decode(key)) == 32
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise SettingsError(
            f"{ENV_ENCRYPTION_KEY} must be a url-safe base64 32-byte key (Fernet.generate_key())"
        )

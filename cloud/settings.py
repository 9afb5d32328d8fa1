"""The one frozen settings object of a pgw process, built once from CLI options and the environment."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_DB_URL = "sqlite:///./var/pgw.sqlite3"
ENV_DB = "MPAC_PGW_DB"
ENV_ENCRYPTION_KEY = "MPAC_PGW_ENCRYPTION_KEY"
# Outbound webhook targets and polling (docs/cloud-api.md#webhooks): "1" turns an allowance on.
ENV_WEBHOOK_LOOPBACK = "MPAC_PGW_WEBHOOK_ALLOW_LOOPBACK"
ENV_WEBHOOK_PRIVATE = "MPAC_PGW_WEBHOOK_ALLOW_PRIVATE"
ENV_WEBHOOK_POLL = "MPAC_PGW_WEBHOOK_POLL_SECONDS"
ENV_LOG_LEVEL = "MPAC_PGW_LOG_LEVEL"
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a pgw process is configured with. Adapters receive this, never os.environ."""

    db_url: str = DEFAULT_DB_URL
    db_pool_size: int = 10  # PostgreSQL: most connections one process opens (docs/operations.md)
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
    workers: int = 1  # serve --workers: processes on one port (docs/operations.md#workers)
    worker_id: int | None = None  # set in each worker process of serve --workers (1..workers)
    tls_cert: str | None = None  # PEM certificate chain of --tls-cert (docs/operations.md, HTTPS)
    tls_key: str | None = None  # PEM private key of --tls-key
    trusted_proxies: tuple[str, ...] = ()  # --trusted-proxy: peers whose X-Forwarded-For/-Proto are believed
    webhook_allow_loopback: bool = False  # webhook targets on loopback, http:// too (tests, demos)
    webhook_allow_private: bool = False  # webhook targets in private and link-local ranges
    webhook_poll_seconds: float = 1.0  # how often due webhook deliveries are looked for
    webhook_retention_seconds: float = 30 * 86400  # finished outbox events kept (docs/operations.md#webhooks)
    log_level: str = "info"  # serve --log-level / $MPAC_PGW_LOG_LEVEL (docs/observability.md#logs)
    encryption_key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (self.db_url.startswith("sqlite:///") or self.db_url.startswith("postgresql://")):
            raise SettingsError(
                f"--db / {ENV_DB} must be sqlite:///path or postgresql://…, got {self.db_url!r}"
            )
        if self.db_url.startswith("postgresql://") and not 1 <= self.db_pool_size <= 1000:
            raise SettingsError(f"--db-pool-size must be 1–1000, got {self.db_pool_size}")
        _check_workers(self.workers, self.db_url)
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0–65535, got {self.port}")
        limits = (self.rate_limit_per_minute, self.token_ttl_seconds, self.activation_limit_per_minute,
                  self.bad_signature_limit_per_minute)  # fmt: skip
        if min(limits) < 1:
            raise SettingsError("rate limits and token_ttl_seconds must be positive")
        if self.encryption_key is not None:
            _check_key(self.encryption_key)
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"--log-level / {ENV_LOG_LEVEL} must be one of {', '.join(LOG_LEVELS)}, "
                                f"got {self.log_level!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key go together: give both, or neither")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                raise SettingsError(f"--trusted-proxy takes an IP address or a network, got {proxy!r}") \
                    from None

    @classmethod
    def load(cls, environ: Mapping[str, str], **options: Any) -> Settings:
        """Defaults < environment < explicit options (None options are ignored)."""
        values: dict[str, Any] = {}
        if environ.get(ENV_DB):
            values["db_url"] = environ[ENV_DB]
        if ENV_ENCRYPTION_KEY in environ:  # set but empty is refused, not taken as "use the key file"
            values["encryption_key"] = environ[ENV_ENCRYPTION_KEY].encode("utf-8")
        values.update(_webhook_env(environ))
        if environ.get(ENV_LOG_LEVEL, "").strip():
            values["log_level"] = environ[ENV_LOG_LEVEL].strip().lower()
        values.update({k: v for k, v in options.items() if v is not None})
        return cls(**values)

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests use this)."""
        return replace(self, **changes)


def _webhook_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, key in ((ENV_WEBHOOK_LOOPBACK, "webhook_allow_loopback"),
                      (ENV_WEBHOOK_PRIVATE, "webhook_allow_private")):  # fmt: skip
        if name in environ:
            values[key] = environ[name] == "1"
    if environ.get(ENV_WEBHOOK_POLL):
        try:
            values["webhook_poll_seconds"] = float(environ[ENV_WEBHOOK_POLL])
        except ValueError:
            raise SettingsError(f"{ENV_WEBHOOK_POLL} must be a number of seconds") from None
    return values


def _check_workers(workers: int, db_url: str) -> None:
    if not 1 <= workers <= 64:
        raise SettingsError(f"--workers must be 1–64, got {workers}")
    if workers > 1 and db_url.startswith("sqlite:///") and (":memory:" in db_url or "mode=memory" in db_url):
        raise SettingsError("--workers > 1 needs a database every worker can open: an in-memory SQLite "
                            "database belongs to one process (use a file, or PostgreSQL)")


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

"""Settings: defaults, environment, explicit options, validation."""

from __future__ import annotations

import pytest

from cloud.infrastructure.crypto import SecretBox
from cloud.settings import DEFAULT_DB_URL, Settings, SettingsError


class TestSettings:
    def test_defaults(self) -> None:
        """docs/operations.md defaults."""
        s = Settings.load({})
        assert (s.db_url, s.host, s.port, s.token_ttl_seconds, s.rate_limit_per_minute) == (
            DEFAULT_DB_URL,
            "127.0.0.1",
            8080,
            300,
            1000,
        )

    def test_environment_then_options(self) -> None:
        """MPAC_PGW_DB is used unless --db is given; None options are ignored."""
        env = {"MPAC_PGW_DB": "sqlite:///env.db"}
        assert Settings.load(env, db_url=None).db_url == "sqlite:///env.db"
        assert Settings.load(env, db_url="sqlite:///cli.db").db_url == "sqlite:///cli.db"

    @pytest.mark.parametrize(
        "changes",
        [
            {"db_url": "mysql://x"},
            {"port": 70000},
            {"rate_limit_per_minute": 0},
            {"encryption_key": b"short"},
        ],
    )
    def test_invalid_values_are_refused_clearly(self, changes: dict[str, object]) -> None:
        """Bad settings raise SettingsError at start."""
        with pytest.raises(SettingsError):
            Settings(**changes)  # type: ignore[arg-type]

    def test_key_is_hidden_from_repr(self) -> None:
        """The encryption key never shows in repr (logs)."""
        key = SecretBox.generate_key()
        assert key.decode() not in repr(Settings(encryption_key=key))

    def test_frozen(self) -> None:
        """Settings cannot be changed after start."""
        s = Settings()
        with pytest.raises(AttributeError):
            s.port = 1  # type: ignore[misc]

    @pytest.mark.parametrize("value", ["", "   "])
    def test_an_empty_encryption_key_is_refused(self, value: str) -> None:
        """A set-but-empty MPAC_PGW_ENCRYPTION_KEY is an error, not "use the key file"."""
        with pytest.raises(SettingsError, match="empty"):
            Settings.load({"MPAC_PGW_ENCRYPTION_KEY": value})

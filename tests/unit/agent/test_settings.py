"""Settings: packaged defaults, one TOML file laid over them, clear messages on bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.settings import SettingsError, load_settings


class TestLoadSettings:
    def test_defaults_match_design(self) -> None:
        """With no file: 127.0.0.1:8700 and the docs/sync-protocol.md JPY caps."""
        s = load_settings()
        assert (s.web.host, s.web.port) == ("127.0.0.1", 8700)
        assert (s.offline.max_sale_amount, s.offline.max_total_amount, s.offline.max_count) == (
            50_000,
            500_000,
            1_000,
        )
        assert s.offline.max_age_ms == 24 * 3_600_000 and s.store.currencies == ("JPY",)

    def test_file_overrides_key_by_key(self, tmp_path: Path) -> None:
        """A file changes only the keys it names; [devices] passes through untouched."""
        path = tmp_path / "agent.toml"
        path.write_text(
            '[web]\nport = 9999\n[agent]\nstate_dir = "/srv/x"\n'
            '[devices.printer]\ntransport = "tcp"\nport = 9100\n',
            encoding="utf-8",
        )
        s = load_settings(path)
        assert (s.web.port, s.web.host, s.agent.db_path) == (9999, "127.0.0.1", Path("/srv/x/agent.sqlite3"))
        assert s.devices == {"printer": {"transport": "tcp", "port": 9100}}

    def test_bad_value_names_file_key_and_value(self, tmp_path: Path) -> None:
        """A bad cap is reported with the file, the dotted key and the value given."""
        path = tmp_path / "agent.toml"
        path.write_text("[offline]\nmax_count = 0\n", encoding="utf-8")
        with pytest.raises(SettingsError) as caught:
            load_settings(path)
        text = str(caught.value)
        assert str(path) in text and "offline.max_count" in text and "(got 0)" in text

    def test_unknown_key_is_refused(self) -> None:
        """A typo in a key is an error, not silently ignored."""
        with pytest.raises(SettingsError, match=r"web\.prot"):
            load_settings(overrides={"web": {"prot": 1}})

    def test_secret_never_echoed(self) -> None:
        """A bad secret_key value is named but never printed; repr hides a good one."""
        with pytest.raises(SettingsError) as caught:
            load_settings(overrides={"cloud": {"secret_key": ["sk_live_leak"]}})
        assert "cloud.secret_key" in str(caught.value) and "sk_live_leak" not in str(caught.value)
        s = load_settings(overrides={"cloud": {"secret_key": "sk_live_hidden"}})
        assert "sk_live_hidden" not in repr(s) and s.cloud.secret_key.get_secret_value() == "sk_live_hidden"

    def test_not_toml_and_missing_file(self, tmp_path: Path) -> None:
        """Invalid TOML and an unreadable path both give a SettingsError naming the file."""
        bad = tmp_path / "bad.toml"
        bad.write_text("[web\nport=", encoding="utf-8")
        with pytest.raises(SettingsError, match="not valid TOML"):
            load_settings(bad)
        with pytest.raises(SettingsError, match="cannot read"):
            load_settings(tmp_path / "missing.toml")

    def test_frozen(self) -> None:
        """The settings object cannot be changed after loading."""
        s = load_settings()
        with pytest.raises(ValidationError):
            s.web.port = 1

    @pytest.mark.parametrize("currencies", [["jpy"], [], ["JP"], ["JPYY"]])
    def test_currency_codes_checked(self, currencies: list[str]) -> None:
        """[store] currencies must be three capital letters (ISO 4217 form), at least one."""
        with pytest.raises(SettingsError, match=r"store\.currencies"):
            load_settings(overrides={"store": {"currencies": currencies}})

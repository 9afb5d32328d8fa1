"""The agent's [cloud] TLS settings and the plain-HTTP rule of the one client, without any network."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.settings import SettingsError, load_settings
from sync.errors import CloudNotTrusted
from sync.http import CloudSession
from tests.support.pki import Pki


class TestCloudSettings:
    def test_http_is_refused_for_a_non_loopback_cloud(self, tmp_path: Path) -> None:
        """url = http://pgw.example.com stops the agent at start; loopback http is allowed."""
        with pytest.raises(SettingsError, match="must be https"):
            load_settings(None, {"cloud": {"url": "http://pgw.example.com"}})
        assert load_settings(None, {"cloud": {"url": "http://[::1]:8080"}}).cloud.url == "http://[::1]:8080"

    def test_pins_need_two_well_formed_hashes(self, test_pki: Pki) -> None:
        """One pin, or a malformed one, is refused; two are accepted."""
        with pytest.raises(SettingsError, match="at least 2"):
            load_settings(None, {"cloud": {"pins": [test_pki.pins[0]]}})
        with pytest.raises(SettingsError, match="sha256/"):
            load_settings(None, {"cloud": {"pins": ["md5/abc", test_pki.pins[0]]}})
        assert load_settings(None, {"cloud": {"pins": list(test_pki.pins)}}).cloud.pins == test_pki.pins

    def test_ca_file_must_be_absolute(self) -> None:
        """A relative ca_file would depend on the working directory of the service."""
        with pytest.raises(SettingsError, match="absolute"):
            load_settings(None, {"cloud": {"ca_file": "ca.pem"}})


class TestPlainHttpRefusal:
    async def test_the_client_refuses_http_beyond_loopback_before_connecting(self) -> None:
        """CloudSession raises CloudNotTrusted(plain_http) for http:// to a non-loopback host."""
        async with CloudSession("http://192.0.2.1:8080") as session:
            with pytest.raises(CloudNotTrusted) as refused:
                await session.request("GET", "/health", signed=False)
        assert refused.value.reason == "plain_http" and session.trust.last.state == "failed"

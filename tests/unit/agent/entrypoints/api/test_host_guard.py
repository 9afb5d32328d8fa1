"""Host header parsing and the allowed set of the DNS-rebinding guard."""

from __future__ import annotations

from pathlib import Path

from agent.entrypoints.api.host_guard import allowed_hosts, host_name
from agent.settings import load_settings


class TestHostName:
    def test_forms(self) -> None:
        """Name with/without port, bracketed IPv6, case and trailing dot; malformed → None."""
        assert host_name("127.0.0.1:8700") == "127.0.0.1"
        assert host_name("LocalHost") == "localhost"
        assert host_name("pos-1.shop.local.:80") == "pos-1.shop.local"
        assert host_name("[::1]:8700") == "::1"
        for bad in (
            None,
            "",
            "[::1",
            "[nothost]:1",
            "a:b",
            "evil.example/x",
            "a b",
            "user@127.0.0.1",
            "x" * 300,
        ):
            assert host_name(bad) is None, bad


class TestAllowed:
    def test_wildcard_bind_allows_only_loopback_and_listed(self, tmp_path: Path) -> None:
        """Loopback, the bind literal and listed names only; a specific bind address, not its neighbours."""
        wild = load_settings(
            overrides={
                "agent": {"state_dir": str(tmp_path)},
                "web": {"host": "0.0.0.0", "allowed_hosts": ["POS-1.local"]},  # noqa: S104
            }
        )
        assert allowed_hosts(wild) == {"localhost", "127.0.0.1", "::1", "pos-1.local", "0.0.0.0"}  # noqa: S104
        lan = load_settings(
            overrides={"agent": {"state_dir": str(tmp_path)}, "web": {"host": "192.168.1.20"}}
        )
        assert "192.168.1.20" in allowed_hosts(lan) and "192.168.1.21" not in allowed_hosts(lan)

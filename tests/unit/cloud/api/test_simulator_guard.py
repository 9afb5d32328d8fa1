"""The loopback guard of the simulator routes (cloud/api/simulator.py)."""

from __future__ import annotations

import pytest

from cloud.api.simulator import loopback_peer


class TestLoopbackPeer:
    @pytest.mark.parametrize("remote", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
    def test_loopback_addresses_pass(self, remote: str) -> None:
        """IPv4 127/8, IPv6 ::1 and IPv4-mapped loopback are loopback."""
        assert loopback_peer(remote)

    @pytest.mark.parametrize("remote", ["10.0.0.5", "192.168.1.2", "203.0.113.7", "0.0.0.0", "::",  # noqa: S104 — a peer, not a bind
                                        "fe80::1%eth0", "::ffff:10.0.0.1", "", None, "localhost", "unix"])
    def test_everything_else_is_refused(self, remote: str | None) -> None:
        """Private, public, unspecified, link-local, mapped non-loopback, missing and non-IP peers fail."""
        assert not loopback_peer(remote)

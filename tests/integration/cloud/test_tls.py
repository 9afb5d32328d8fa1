"""The cloud's HTTPS pieces (cloud/tls.py) on real loopback servers: the server TLS context, the trusted-proxy
mode, the plain-HTTP warning and the settings that go with them."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cloud.settings import Settings, SettingsError
from cloud.tls import (
    client_address,
    forwarded_middleware,
    plain_http_warning,
    proxy_networks,
    server_ssl_context,
)
from tests.support.pki import Pki


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(db_url=f"sqlite:///{tmp_path / 'pgw.sqlite3'}").with_changes(**changes)


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"remote": request.remote, "scheme": request.scheme})


async def _serve(settings: Settings, ssl_context: ssl.SSLContext | None = None) -> TestServer:
    app = web.Application(middlewares=forwarded_middleware(settings))
    app.router.add_get("/", _echo)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(ssl=ssl_context)
    return server


class TestServerContext:
    async def test_serves_tls12_or_later_with_forward_secret_aead_and_http11(self, tmp_path: Path,
                                                                            test_pki: Pki) -> None:
        """A client capped at TLS 1.2 gets an ECDHE AEAD suite and ALPN http/1.1; the floor is TLS 1.2."""
        settings = _settings(tmp_path, tls_cert=str(test_pki.good.cert), tls_key=str(test_pki.good.key))
        context = server_ssl_context(settings)
        assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
        server = await _serve(settings, context)
        try:
            client = ssl.create_default_context(cafile=str(test_pki.ca))
            client.maximum_version = ssl.TLSVersion.TLSv1_2
            client.set_alpn_protocols(["h2", "http/1.1"])
            _, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client,
                                                      server_hostname="127.0.0.1")
            tls = writer.get_extra_info("ssl_object")
            cipher, version = tls.cipher()[0], tls.version()
            alpn = tls.selected_alpn_protocol()
            writer.close()
        finally:
            await server.close()
        assert version == "TLSv1.2" and cipher.startswith("ECDHE-")
        assert "GCM" in cipher or "CHACHA" in cipher
        assert alpn == "http/1.1"

    async def test_refuses_a_client_that_only_speaks_tls11(self, tmp_path: Path, test_pki: Pki) -> None:
        """A TLS 1.1-only client gets no connection."""
        settings = _settings(tmp_path, tls_cert=str(test_pki.good.cert), tls_key=str(test_pki.good.key))
        server = await _serve(settings, server_ssl_context(settings))
        try:
            client = ssl.create_default_context(cafile=str(test_pki.ca))
            client.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer 1.1 at all, so the server is tested
            with pytest.warns(DeprecationWarning):
                client.minimum_version = client.maximum_version = ssl.TLSVersion.TLSv1_1
            with pytest.raises(OSError):  # an alert (SSLError) or a reset, depending on where OpenSSL stops
                await asyncio.open_connection("127.0.0.1", server.port, ssl=client,
                                              server_hostname="127.0.0.1")
        finally:
            await server.close()

    def test_unusable_files_are_a_clear_settings_error(self, tmp_path: Path, test_pki: Pki) -> None:
        """A missing file, or a key that is not the certificate's, says which files."""
        missing = _settings(tmp_path, tls_cert=str(tmp_path / "nope.pem"), tls_key=str(test_pki.good.key))
        with pytest.raises(SettingsError, match="no such file"):
            server_ssl_context(missing)
        mismatched = _settings(tmp_path, tls_cert=str(test_pki.good.cert), tls_key=str(test_pki.expired.key))
        with pytest.raises(SettingsError, match="cannot load the certificate and key"):
            server_ssl_context(mismatched)

    def test_cert_and_key_go_together(self, tmp_path: Path, test_pki: Pki) -> None:
        """--tls-cert without --tls-key (or the reverse) is refused."""
        with pytest.raises(SettingsError, match="go together"):
            _settings(tmp_path, tls_cert=str(test_pki.good.cert))
        assert server_ssl_context(_settings(tmp_path)) is None


class TestTrustedProxy:
    async def test_forwarded_headers_are_believed_from_a_trusted_proxy(self, tmp_path: Path) -> None:
        """From a configured proxy, the client is the right-most untrusted X-Forwarded-For entry."""
        server = await _serve(_settings(tmp_path, trusted_proxies=("127.0.0.1",)))
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    server.make_url("/"), headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                                                   "X-Forwarded-Proto": "https"}) as resp:
                seen = await resp.json()
        finally:
            await server.close()
        assert seen == {"remote": "203.0.113.9", "scheme": "https"}

    @pytest.mark.parametrize("proxies", [(), ("10.0.0.0/8",)])
    async def test_forwarded_headers_are_ignored_from_anyone_else(self, tmp_path: Path,
                                                                  proxies: tuple[str, ...]) -> None:
        """With no proxy configured, or a peer that is not one, the TCP peer stays the client."""
        server = await _serve(_settings(tmp_path, trusted_proxies=proxies))
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    server.make_url("/"), headers={"X-Forwarded-For": "203.0.113.9",
                                                   "X-Forwarded-Proto": "https"}) as resp:
                seen = await resp.json()
        finally:
            await server.close()
        assert seen == {"remote": "127.0.0.1", "scheme": "http"}

    def test_client_address_walks_from_the_right(self) -> None:
        """Trusted hops are skipped; a malformed chain counts against the proxy itself."""
        nets = proxy_networks(["10.0.0.0/8", "127.0.0.1"])
        assert client_address("127.0.0.1", "1.2.3.4, 10.1.1.1", nets) == "1.2.3.4"
        assert client_address("127.0.0.1", "1.2.3.4, not-an-ip", nets) == "127.0.0.1"
        assert client_address("127.0.0.1", "", nets) == "127.0.0.1"
        assert client_address("192.0.2.5", "1.2.3.4", nets) == "192.0.2.5"

    def test_a_malformed_proxy_address_is_refused(self, tmp_path: Path) -> None:
        """--trusted-proxy takes addresses or networks only."""
        with pytest.raises(SettingsError, match="--trusted-proxy"):
            _settings(tmp_path, trusted_proxies=("proxy.example",))


class TestPlainHttpWarning:
    @pytest.mark.parametrize(("changes", "warns"), [
        ({"host": "127.0.0.1"}, False),
        ({"host": "::1"}, False),
        ({"host": "0.0.0.0"}, True),  # noqa: S104 -- a setting under test, nothing is bound
        ({"host": "0.0.0.0", "trusted_proxies": ("10.0.0.2",)}, False),  # noqa: S104
        ({"host": "192.0.2.10", "tls_cert": "c.pem", "tls_key": "k.pem"}, False),
    ])
    def test_warns_only_for_plain_http_off_loopback(self, tmp_path: Path, changes: dict[str, object],
                                                    warns: bool) -> None:
        """Plain HTTP bound beyond loopback with no proxy in front gets a warning naming the fix."""
        warning = plain_http_warning(_settings(tmp_path, **changes))
        assert (warning is not None) is warns
        if warning:
            assert "--tls-cert" in warning and "--trusted-proxy" in warning

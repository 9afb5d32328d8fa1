"""Network failures become complete sentences, never "network error: TimeoutError:" and nothing after."""

from __future__ import annotations

import aiohttp
from yarl import URL

from sync.http import network_error_text

URL_ = URL("http://127.0.0.1:9/v1/sync/batches")


class TestNetworkErrorText:
    """Each kind of failure says what happened and where."""

    def test_timeout_with_an_empty_message(self) -> None:
        """A bare TimeoutError names the cloud and the time limit."""
        text = network_error_text(TimeoutError(), URL_, 10.0)
        assert text == "the cloud at http://127.0.0.1:9 did not answer within 10 s (timeout)"

    def test_connection_refused(self) -> None:
        """A refused connection says so, with the OS reason."""
        os_err = ConnectionRefusedError(111, "Connection refused")
        err = aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey(
            "127.0.0.1", 9, False, True, None, None, None), os_err)
        assert network_error_text(err, URL_, 1.0) == \
            "cannot connect to the cloud at http://127.0.0.1:9: Connection refused"

    def test_an_unknown_error_without_text_still_reads(self) -> None:
        """Any other error gives its type and never ends on a dangling colon."""
        text = network_error_text(OSError(), URL_, None)
        assert text == "the request to http://127.0.0.1:9 failed: OSError"

"""Shared pytest configuration for all tiers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import pgserver
from tests.pgserver import PgServer
from tests.support.pki import Pki, build_pki


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last and mark them `browser`.

    pytest-playwright's sync fixtures keep an event loop running on the main thread for the rest of the
    session; pytest-asyncio tests that come after it fail with "Cannot run the event loop while another
    loop is running". Ordering them last keeps one `pytest` run working for every tier.
    """
    browser_mark = pytest.mark.browser
    browser, rest = [], []
    for item in items:
        uses_browser = "page" in getattr(item, "fixturenames", ()) or "/e2e/web/" in item.nodeid.replace(
            "\\", "/"
        )
        if uses_browser:
            item.add_marker(browser_mark)
            browser.append(item)
        else:
            rest.append(item)
    items[:] = rest + browser


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway PostgreSQL 15 for the whole session (tests/pgserver.py); skipped where not installed."""
    if not pgserver.available():
        pytest.skip("PostgreSQL 15 server binaries are not installed (run scripts/system-deps.sh)")
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """CA, server certificates (good, wrong CA, expired, wrong host) and pins, generated once per session."""
    return build_pki(tmp_path_factory.mktemp("pki"))

"""Fixtures for tests in a real browser: `live_server` (adsvc and a sandbox Meta served from another thread on this
session's PostgreSQL and Redis), `browser` (one headless Chromium for the session, a clean slate per test) and
`screenshot`. Without Chromium these tests skip, unless ADSVC_REQUIRE_BROWSER is set (CI sets it): then they fail.

A page test (sync: WebDriver calls block; from an async test wrap them in asyncio.to_thread):

    from browser.a11y import contrast_failures
    from browser.driver import PHONE

    def test_dashboard_shows_spend(browser, live_server, screenshot):
        caller = live_server.signed_in_user()                       # a user and a bearer token (JSON API)
        live_server.connect_account(caller, live_server.sandbox_account_ids()[0])
        live_server.run_worker()                                     # the syncs connecting queued
        browser.sign_in(caller.email, caller.password)               # the pages' /login form
        browser.use_viewport(PHONE)
        browser.open("/dashboard")
        assert "Spend" in browser.text("main")
        assert browser.horizontal_overflow() == 0 and contrast_failures(browser) == []
        screenshot("dashboard")                                      # artifacts/screenshots/dashboard-390px.png
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser.driver import Browser, skip_or_fail_without_browser, start_chromium
from browser.live import LiveServer
from factories import Stack

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator[dict[str, Any]]:
    """The session's Chromium (started on first use, restarted if it dies), as a holder the `browser` fixture reads."""
    skip_or_fail_without_browser()
    holder: dict[str, Any] = {"driver": start_chromium()}
    try:
        yield holder
    finally:
        holder["driver"].quit()


@pytest.fixture(scope="session")
def live_server(stack: Stack) -> Iterator[LiveServer]:
    """adsvc served over real HTTP for the whole session; `live_server.url("/status")` is a page's address."""
    server = LiveServer(stack).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser(chromium: dict[str, Any], live_server: LiveServer) -> Browser:
    """A Chromium pointed at the live server, with no cookies or storage left by an earlier test and the desktop
    viewport; `browser.use_viewport(PHONE)` for 390 px."""
    session = Browser(chromium["driver"], live_server.base_url)
    if not session.alive():
        with contextlib.suppress(Exception):  # already gone: starting a new one is all that matters
            session.driver.quit()
        chromium["driver"] = start_chromium()
        session = Browser(chromium["driver"], live_server.base_url)
    session.reset()
    return session


@pytest.fixture
def screenshot(browser: Browser) -> Callable[..., Path]:
    """`screenshot("status")` writes the whole page to artifacts/screenshots/status-<viewport>.png."""
    return browser.screenshot

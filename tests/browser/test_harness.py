"""The browser harness itself: a real Chromium reaches the live server, tests start signed out with the desktop
viewport, the phone viewport is 390 CSS px, screenshots are whole pages, API sign-in works, and a missing Chromium
skips only when CI does not require it."""

from __future__ import annotations

import asyncio
import struct

import pytest
from browser import driver as harness
from browser.driver import DESKTOP, PHONE


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_browser_loads_a_page_of_the_live_server(browser, live_server):
    browser.open("/status")
    assert browser.path == "/status"
    assert "Service status" in browser.text("h1")


def test_reset_forgets_cookies_and_viewport(browser, live_server):
    browser.open("/health")
    browser.js("document.cookie = 'left=over; path=/'")
    browser.use_viewport(PHONE)
    assert browser.driver.get_cookie("left") is not None
    browser.reset()
    browser.open("/health")
    assert browser.driver.get_cookies() == []
    assert browser.js("return window.innerWidth") == DESKTOP.width


def test_phone_viewport_is_390_css_pixels_wide(browser):
    browser.use_viewport(PHONE)
    browser.open("/status")
    assert browser.js("return window.innerWidth") == 390


def test_screenshot_is_the_whole_page_as_png(browser, screenshot):
    browser.use_viewport(PHONE)
    browser.open("/status")
    page_height = browser.js("return document.documentElement.scrollHeight")
    path = screenshot("harness-status")
    assert path.name == "harness-status-390px.png" and path.parent == harness.SCREENSHOTS
    width, height = _png_size(path.read_bytes())
    assert width == 390
    assert height == page_height > PHONE.height  # beyond the window: the whole page


def test_user_created_and_signed_in_through_the_api(live_server):
    caller = live_server.signed_in_user()
    me = live_server.api("GET", "/api/v1/auth/me", token=caller.token)
    assert me.status == 200 and me.body["email"] == caller.email
    assert live_server.api("GET", "/api/v1/auth/me").status == 401


async def test_async_test_drives_the_browser_through_a_thread(browser):
    await asyncio.to_thread(browser.open, "/status")
    assert "Service status" in await asyncio.to_thread(browser.text, "h1")


def test_missing_chromium_skips_unless_required(monkeypatch, tmp_path):
    monkeypatch.setattr(harness, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv(harness.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium is missing"):
        harness.skip_or_fail_without_browser()
    monkeypatch.setenv(harness.REQUIRE_ENV, "0")
    with pytest.raises(pytest.skip.Exception):
        harness.skip_or_fail_without_browser()
    monkeypatch.setenv(harness.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="ADSVC_REQUIRE_BROWSER is set"):
        harness.skip_or_fail_without_browser()


def test_present_chromium_neither_skips_nor_fails(monkeypatch, tmp_path):
    for name in ("CHROMIUM", "CHROMEDRIVER"):
        fake = tmp_path / name.lower()
        fake.write_text("")
        monkeypatch.setattr(harness, name, fake)
    monkeypatch.setenv(harness.REQUIRE_ENV, "1")
    harness.skip_or_fail_without_browser()


def test_connected_account_is_synced_by_the_worker_helper(live_server):
    caller = live_server.signed_in_user()
    account_id = live_server.sandbox_account_ids()[0]
    live_server.connect_account(caller, account_id)
    live_server.run_worker()
    campaigns = live_server.api("GET", f"/api/v1/campaigns?account_id=act_{account_id}&limit=100", token=caller.token)
    assert campaigns.status == 200, campaigns
    expected = {campaign.id for campaign in live_server.sandbox.data.by_account[account_id]["campaign"]}
    assert {row["id"] for row in campaigns.body["data"]} == expected


def test_horizontal_overflow_sees_what_an_emulated_phone_hides(browser):
    browser.use_viewport(PHONE)
    browser.open("/status")
    assert browser.horizontal_overflow() == 0
    browser.js("const wide = document.createElement('div'); wide.style.width = '480px'; wide.textContent = 'x';"
               "document.body.append(wide);")  # fmt: skip
    assert browser.horizontal_overflow() >= 480 - 390


def test_fill_and_submit_post_a_form_as_a_person_does(browser, live_server):
    form = (
        f"<form method=post action='{live_server.url('/api/v1/auth/login')}'><input name=email>"
        "<input name=password type=password><button type=submit>Sign in</button></form>"
    )
    browser.open("data:text/html," + form)
    browser.fill({"email": "someone@example.com", "password": "not json"})
    browser.submit()
    assert browser.path == "/api/v1/auth/login"
    assert "request body must be application/json" in browser.text()  # a form post, not a JSON client's

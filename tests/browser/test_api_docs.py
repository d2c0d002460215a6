"""/api/docs in a real browser: every operation is on the page and reachable from the contents, it fits a phone, and
Chromium reports no console error (a CSP violation would be one)."""

from __future__ import annotations

import pytest
from browser.driver import DESKTOP, PHONE


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=lambda v: v.label)
def test_api_docs_page_shows_every_operation_and_fits_the_screen(browser, live_server, screenshot, viewport):
    document = live_server.api("GET", "/api/openapi.json").body
    browser.use_viewport(viewport)
    browser.open("/api/docs")
    assert browser.text("h1") == "API reference"
    shown = {(op.find_element("css selector", ".method").text, op.find_element("css selector", "code.path").text)
             for op in browser.find_all("article.op")}  # fmt: skip
    assert shown == {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert browser.horizontal_overflow() == 0
    screenshot("api-docs-top", full_page=False)  # the whole page is about 100 000 px tall
    browser.open("/api/docs#op-create-automation-rule")
    screenshot("api-docs-rule", full_page=False)


def test_contents_link_scrolls_to_its_operation(browser):
    browser.open("/api/docs")
    browser.find('nav.toc a[href="#op-auth-login"]').click()
    assert browser.driver.current_url.endswith("#op-auth-login")
    top = browser.js("return document.getElementById('op-auth-login').getBoundingClientRect().top")
    assert 0 <= top < 50


def test_api_docs_page_logs_no_console_error(browser):
    browser.open("/api/docs")
    errors = [entry for entry in browser.driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []

"""/status for people: it fits a 390 px phone (wide tables scroll inside their own box), a keyboard reaches
everything with a visible focus, the skip link jumps to the content, text meets WCAG AA contrast, landmarks."""

from __future__ import annotations

import pytest
from browser.a11y import contrast_failures, focused, landmarks, tab_through, unlabelled_controls
from browser.driver import DESKTOP, PHONE
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=lambda v: v.label)


@VIEWPORTS
def test_public_status_page_fits_the_screen(browser, screenshot, viewport):
    browser.use_viewport(viewport)
    browser.open("/status")
    assert "Components" in browser.text("main")
    assert browser.horizontal_overflow() == 0
    screenshot("status")


@pytest.fixture
def admin_with_a_synced_account(live_server):
    """An administrator whose status page lists syncs (an account connected, its syncs run) and a breaker."""
    admin = live_server.signed_in_user(is_admin=True)
    live_server.connect_account(admin, live_server.sandbox_account_ids()[1])
    live_server.run_worker()
    return admin


@VIEWPORTS
def test_admin_status_page_fits_the_screen_and_its_wide_tables_scroll_alone(
    browser, screenshot, viewport, admin_with_a_synced_account
):
    browser.send_bearer_token(admin_with_a_synced_account.token)
    browser.use_viewport(viewport)
    browser.open("/status")
    assert "Last syncs" in browser.text("main")
    assert browser.horizontal_overflow() == 0
    syncs = browser.find('[aria-label="Last syncs table"]')
    scroll_width, client_width = browser.js("return [arguments[0].scrollWidth, arguments[0].clientWidth]", syncs)
    screenshot("status-admin")
    if viewport is PHONE:
        assert scroll_width > client_width  # the table is wider than the phone: it scrolls in its box
        browser.js("arguments[0].focus()", syncs)
        ActionChains(browser.driver).send_keys(Keys.ARROW_RIGHT * 3).perform()  # as a keyboard user scrolls it
        # (keyboard scrolling is animated: wait for it)
        WebDriverWait(browser.driver, 5).until(lambda _: browser.js("return arguments[0].scrollLeft", syncs) > 0)


def test_first_tab_shows_the_skip_link_and_it_moves_focus_to_the_content(browser, screenshot):
    browser.open("/status")
    skip = browser.find(".skip-link")
    assert browser.js("return arguments[0].getBoundingClientRect().bottom", skip) <= 0  # hidden until focused
    stops = tab_through(browser, limit=1)
    assert stops[0]["href"] == "#main" and stops[0]["text"] == "Skip to content"
    assert stops[0]["on_screen"] and stops[0]["outline"]
    screenshot("status-skip-link-focused", full_page=False)
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    assert browser.js("return document.activeElement.id") == "main"
    browser.press_tab()  # the next stop is inside the content, past the site's navigation
    assert browser.js("return document.querySelector('main').contains(document.activeElement)")
    assert focused(browser)["outline"]


@VIEWPORTS
def test_every_keyboard_stop_shows_a_visible_focus_indicator(browser, viewport):
    browser.use_viewport(viewport)
    browser.open("/status")
    stops = tab_through(browser)
    reachable = {stop["href"] for stop in stops}
    assert {"#main", "/status", "/api/docs", "/metrics", "/health", "/ready"} <= reachable
    hidden = [stop for stop in stops if not (stop["outline"] or stop["shadow"])]
    assert hidden == []
    weak = [stop for stop in stops if stop["contrast"] is not None and stop["contrast"] < 3]
    assert weak == []  # WCAG 1.4.11: the focus ring stands out 3:1 from what is around it


@pytest.mark.parametrize("path", ["/status", "/api/docs"])
def test_rendered_text_meets_wcag_aa_contrast(browser, path):
    browser.open(path)
    assert contrast_failures(browser) == []


def test_admin_status_page_text_meets_wcag_aa_contrast(browser, admin_with_a_synced_account):
    browser.send_bearer_token(admin_with_a_synced_account.token)
    browser.open("/status")
    assert "Last syncs" in browser.text("main")
    assert contrast_failures(browser) == []


@pytest.mark.parametrize("path", ["/status", "/api/docs"])
def test_pages_have_landmarks_a_heading_and_a_language(browser, path):
    browser.open(path)
    found = landmarks(browser)
    assert found["main"] == 1 and found["banner"] == 1 and found["contentinfo"] == 1
    assert "Main" in found["navigation"]
    assert all(found["regions"]), found["regions"]  # every section is named by its heading
    assert len(found["h1"]) == 1 and found["lang"] == "en"
    assert found["first_link"] == {"text": "Skip to content", "href": "#main"}
    assert unlabelled_controls(browser) == []


def test_contrast_check_catches_low_contrast_text(browser):
    browser.open("/status")
    browser.js("const p = document.createElement('p'); p.textContent = 'faint'; p.style.color = '#aaaaaa';"
               "document.querySelector('main section').append(p);")  # fmt: skip
    (failure,) = contrast_failures(browser)
    assert failure["text"] == "faint" and failure["ratio"] < 4.5


def test_focus_check_catches_a_removed_outline(browser):
    browser.open("/status")
    # (a <style> element would not do: the CSP refuses inline styles)
    browser.js("document.querySelectorAll('a').forEach(a => { a.style.outline = 'none'; })")
    stops = tab_through(browser, limit=3)
    assert not any(stop["outline"] for stop in stops)


def test_label_check_catches_an_unlabelled_input(browser):
    browser.open("/status")
    browser.js("document.querySelector('main').insertAdjacentHTML('beforeend',"
               "'<label for=named>Named</label><input id=named><input name=nameless>')")  # fmt: skip
    (unlabelled,) = unlabelled_controls(browser)
    assert 'name="nameless"' in unlabelled

"""Drilling down in a real Chromium: the campaigns list as the API lists it, sorted by a click on a column heading,
then an ad set of one of its campaigns, a click through to one of its ads, whose figures equal the API's; every page
at desktop width and at 390 px, with no sideways scrolling of the page and text contrast at WCAG AA."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from browser.a11y import contrast_failures
from browser.driver import DESKTOP, PAGE_LOAD_TIMEOUT_SECONDS, PHONE

FIGURES = ("spend", "impressions", "clicks", "conversions", "conversion_value", "ctr", "cpc", "cpm", "cpa", "roas")


def _click(browser: Any, css: str) -> None:
    """Click a link as a person does and wait for the next page."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find("html")
    browser.find(css).click()

    def gone(_: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        return False

    WebDriverWait(browser.driver, PAGE_LOAD_TIMEOUT_SECONDS).until(gone)


def _raw(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _both_widths(browser: Any, screenshot: Any, name: str) -> None:
    """The page at desktop width and at 390 px: nothing wider than the screen, readable contrast, a screenshot."""
    for viewport in (DESKTOP, PHONE):
        browser.use_viewport(viewport)
        browser.driver.refresh()
        screenshot(name)
        assert browser.horizontal_overflow() == 0, (name, viewport.label)
        assert contrast_failures(browser) == [], (name, viewport.label)
    browser.use_viewport(DESKTOP)


def test_drill_down_from_the_campaigns_list_to_an_ad_shows_the_apis_figures(browser, live_server, screenshot):
    caller = live_server.signed_in_user()
    live_server.connect_account(caller, live_server.sandbox_account_ids()[0])
    live_server.run_worker()
    browser.sign_in(caller.email, caller.password)

    browser.open("/campaigns")
    campaigns = live_server.api("GET", "/api/v1/campaigns", token=caller.token).body["data"]
    rows = browser.find_all("table.drill tbody tr[data-id]")
    assert [row.get_attribute("data-id") for row in rows] == [c["id"] for c in campaigns] and campaigns
    _both_widths(browser, screenshot, "drill-campaigns")

    # sort by CPA with a click on its heading: the API's order, the heading marked as sorted
    _click(browser, "table.drill th a[data-sort-key='cpa']")
    assert browser.find("table.drill th[aria-sort]").text.startswith("CPA")
    by_cpa = live_server.api("GET", "/api/v1/campaigns?sort=cpa&order=desc", token=caller.token).body["data"]
    rows = browser.find_all("table.drill tbody tr[data-id]")
    assert [row.get_attribute("data-id") for row in rows] == [c["id"] for c in by_cpa]

    # the campaign page is another branch's: go to an ad set of the list's first campaign
    campaign_id = rows[0].get_attribute("data-id")
    adsets = live_server.api("GET", f"/api/v1/adsets?campaign_id={campaign_id}", token=caller.token).body["data"]
    adset_id = adsets[0]["id"]
    browser.open(f"/adsets/{adset_id}")
    assert adsets[0]["name"] in browser.text("h1")
    ads = live_server.api("GET", f"/api/v1/ads?adset_id={adset_id}", token=caller.token).body["data"]
    rows = browser.find_all("table.drill tbody tr[data-id]")
    assert [row.get_attribute("data-id") for row in rows] == [ad["id"] for ad in ads] and ads
    _both_widths(browser, screenshot, "drill-adset")

    # click through to the first ad
    _click(browser, "table.drill tbody tr[data-id] td.name a")
    ad_id = ads[0]["id"]
    assert browser.path == f"/ads/{ad_id}"
    ad = live_server.api("GET", f"/api/v1/ads/{ad_id}", token=caller.token).body
    kpis = browser.find("div.kpis")
    for name in FIGURES:
        assert _raw(kpis.get_attribute("data-" + name.replace("_", "-"))) == _raw(ad["last_7d"][name]), name
    breadcrumb = [a.get_attribute("pathname") for a in browser.find_all("nav.breadcrumb a")]
    assert breadcrumb == ["/campaigns", f"/campaigns/{ad['campaign_id']}", f"/adsets/{adset_id}", f"/ads/{ad_id}"]
    assert ad["name"] in browser.text("h1")
    _both_widths(browser, screenshot, "drill-ad")


def test_the_campaigns_list_in_portuguese_shows_money_in_reais(browser, live_server, screenshot):
    from selenium.webdriver.support.ui import Select

    caller = live_server.signed_in_user()
    live_server.connect_account(caller, live_server.sandbox_account_ids()[0])  # a BRL account
    live_server.run_worker()
    browser.sign_in(caller.email, caller.password)
    browser.open("/campaigns")
    Select(browser.find("#locale")).select_by_value("pt_BR")
    browser.submit("form[action='/account/language']")
    assert browser.path == "/campaigns"
    assert browser.text("h1") == "Campanhas"
    assert "Investimento" in browser.text("table.drill thead") and "R$" in browser.text("table.drill tbody")
    _both_widths(browser, screenshot, "drill-campaigns-pt-BR")

"""The dashboards in a real Chromium: the figures a person reads are the JSON API's for the same period, the chart
has one point per day, and the page works at 390 px in both languages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from browser.a11y import contrast_failures
from browser.driver import PHONE

PERIODS = ("last_7d", "last_28d")


def _synced(live_server):
    caller = live_server.signed_in_user()
    account_id = live_server.sandbox_account_ids()[0]
    live_server.connect_account(caller, account_id)
    live_server.run_worker()
    return caller, account_id


def _same(shown: str, expected) -> bool:
    if expected is None:
        return shown == ""
    return Decimal(shown) == Decimal(str(expected))


def test_the_dashboards_figures_are_the_apis_and_the_chart_has_a_point_per_day(browser, live_server, screenshot):
    caller, account_id = _synced(live_server)
    browser.sign_in(caller.email, caller.password)
    for period in PERIODS:
        answer = live_server.api("GET", f"/api/v1/analytics/dashboard?account_id={account_id}&date_preset={period}",
                                 token=caller.token)  # fmt: skip
        assert answer.status == 200, answer
        [group] = answer.body["by_currency"]
        [scope] = answer.body["accounts"]
        days = (date.fromisoformat(scope["until"]) - date.fromisoformat(scope["since"])).days + 1
        browser.open(f"/dashboard/{account_id}?period={period}")
        assert browser.path == f"/dashboard/{account_id}?period={period}"
        cards = {card.get_attribute("data-metric"): card for card in browser.find_all(".kpi[data-metric]")}
        assert {"spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "cpa", "roas"} <= set(cards)
        for metric, card in cards.items():
            if metric in group["current"]:
                shown = card.find_element("css selector", ".value").get_attribute("data-value")
                assert _same(shown, group["current"][metric]), (period, metric, shown)
                assert card.find_element("css selector", ".value").text.strip()  # a person sees a figure
        # one point per day of the period, for this period and the previous one
        spend_chart = browser.find("svg[role='img'][id$='-spend'], figure.chart svg[role='img']")
        assert spend_chart.find_element("css selector", "title").get_attribute("textContent")
        current = spend_chart.find_elements("css selector", "circle.point-current")
        previous = spend_chart.find_elements("css selector", "circle.point-previous")
        assert len(current) == len(previous) == days, (period, len(current), len(previous), days)
        assert "Data as of" in browser.text("main")
    screenshot("dashboard-account")
    browser.open("/dashboard")
    assert browser.find_all(".kpi[data-metric]")
    screenshot("dashboard-all")


def test_the_dashboard_fits_a_phone_in_portuguese(browser, live_server, screenshot):
    caller, account_id = _synced(live_server)
    browser.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": "pt-BR"}})
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.sign_in(caller.email, caller.password)
    browser.use_viewport(PHONE)
    browser.open(f"/dashboard/{account_id}")
    assert browser.find("html").get_attribute("lang") == "pt-BR"
    assert "R$" in browser.text("main") and "Investimento" in browser.text("main")
    assert browser.horizontal_overflow() == 0
    assert contrast_failures(browser) == []
    screenshot("dashboard-account-pt-BR")

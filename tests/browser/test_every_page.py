"""Every page a signed-in person reaches, in a real Chromium at desktop size and at 390 px: it loads, nothing makes
the whole page scroll sideways, every form control is labelled, the text meets WCAG AA contrast, the keyboard can
reach the main content, and a screenshot of it is kept in artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import pytest
from browser.a11y import contrast_failures, focused, unlabelled_controls
from browser.driver import DESKTOP, PHONE

# path templates; {account}, {campaign}, {adset}, {ad} are filled from the synced sandbox account
PAGES = (
    "/dashboard",
    "/dashboard/{account}",
    "/dashboard/{account}?period=yesterday",
    "/campaigns",
    "/campaigns/{campaign}",
    "/adsets/{adset}",
    "/ads/{ad}",
    "/accounts",
    "/accounts/{account}/members",
    "/syncs",
    "/syncs/{account}",
    "/suggestions",
    "/actions",
    "/rules",
    "/rules/new",
    "/webhooks",
    "/webhooks/new",
    "/account/password",
    "/no/such/page",
)


@pytest.fixture(scope="module")
def synced_ids(live_server):
    caller = live_server.signed_in_user()
    account = live_server.sandbox_account_ids()[0]
    live_server.connect_account(caller, account)
    live_server.run_worker()
    campaign = live_server.api("GET", f"/api/v1/campaigns?account_id={account}&sort=spend&order=desc",
                               token=caller.token).body["data"][0]["id"]  # fmt: skip
    adset = live_server.api("GET", f"/api/v1/adsets?campaign_id={campaign}", token=caller.token).body["data"][0]["id"]
    ad = live_server.api("GET", f"/api/v1/ads?adset_id={adset}", token=caller.token).body["data"][0]["id"]
    return caller, {"account": account, "campaign": campaign, "adset": adset, "ad": ad}


def _name(path: str) -> str:
    return "page" + path.split("?")[0].replace("/", "-").replace("{", "").replace("}", "") + (
        "-" + path.split("?")[1].replace("=", "-") if "?" in path else "")  # fmt: skip


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "390px"])
@pytest.mark.parametrize("template", PAGES)
def test_every_page_works_for_people(browser, live_server, synced_ids, template, viewport):
    caller, ids = synced_ids
    browser.sign_in(caller.email, caller.password)
    browser.use_viewport(viewport)
    path = template.format(**ids)
    browser.open(path)
    assert browser.path == path, f"{path} went to {browser.path}"
    browser.screenshot(_name(template))
    status_text = browser.text("main")
    if template != "/no/such/page":
        assert "Something went wrong" not in status_text and "Page not found" not in status_text, status_text[:300]
    assert browser.horizontal_overflow() == 0
    assert unlabelled_controls(browser) == []
    assert contrast_failures(browser) == []
    # the first Tab reaches the skip link, which leads into the main content
    browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    first = browser.press_tab()
    assert first.get_attribute("class") == "skip"
    stop = focused(browser)
    assert stop is not None and (stop["outline"] or stop["shadow"]) and stop["on_screen"], stop

"""The dashboard and campaign pages over HTTP: their numbers are the JSON API's for the same period (read from the
data-* attributes holding the raw values), one chart point per day, comparisons coloured by polarity, pt-BR
formatting, tenancy, the too-little-data state and the period picker's 422."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from accounts.helpers import connect_ok, ensure_synced, new_caller, sandbox_accounts, settings, worker_env
from analytics.synthetic import Day, insert_campaign, insert_days, synthetic_account
from pages.helpers import page, sign_in

from adsvc.collection.plan import account_today

__all__ = ["ensure_synced", "settings", "worker_env"]

KPI_FIELDS = ("spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "cpa", "conversion_value", "roas")


class Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def classed(self, name: str, **attrs: str) -> list[dict[str, str]]:
        return [a for _, a in self.tags if name in a.get("class", "").split()
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]  # fmt: skip


def kpi_cards(html: str) -> dict[str, dict[str, dict[str, str]]]:
    """currency -> metric -> {value, previous, change_pct, delta, verdict, class}."""
    cards: dict[str, dict[str, dict[str, str]]] = {}
    currency = metric = None
    for _, attrs in Tags(html).tags:
        classes = attrs.get("class", "").split()
        if "kpis" in classes:
            currency = attrs["data-currency"]
            cards[currency] = {}
        elif "kpi" in classes and currency is not None:
            metric = attrs["data-metric"]
            cards[currency][metric] = {}
        elif "value" in classes and metric is not None and currency is not None:
            cards[currency][metric]["value"] = attrs["data-value"]
        elif "change" in classes and metric is not None and currency is not None:
            card = cards[currency][metric]
            card.update(previous=attrs["data-previous"], change_pct=attrs["data-change-pct"],
                        delta=attrs["data-delta"], verdict=attrs["data-verdict"])  # fmt: skip
            card["class"] = next(c for c in classes if c in ("good", "bad", "neutral"))
    return cards


def same(raw: str, api: Any) -> bool:
    if api is None:
        return raw == ""
    return raw != "" and Decimal(raw) == Decimal(str(api))


def chart_points(html: str, chart_id: str, which: str) -> list[Decimal]:
    """The values of one series' points (circles) of a chart, in day order."""
    inside = html.split(f'id="{chart_id}"', 1)[1].split("</svg>", 1)[0]
    return [Decimal(a["data-value"]) for a in Tags(inside).classed(f"point-{which}")]


async def api(client, caller, path: str, **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=caller.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


@pytest.fixture
async def synced(client, db, settings, graph_sandbox, ensure_synced) -> dict[str, Any]:
    """A member of the sandbox's first account (BRL), synced, signed in to the pages."""
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    await sign_in(client, caller.user.email)
    return {"caller": caller, "account": account}


@pytest.mark.parametrize("period", ["last_7d", "last_28d", "yesterday"])
async def test_account_kpis_are_the_json_dashboards_numbers(client, synced, period):
    account = synced["account"]
    body = await api(client, synced["caller"], "/api/v1/analytics/dashboard", account_id=account.account_id,
                     date_preset=period)  # fmt: skip
    [group] = body["by_currency"]
    status, html = await page(client, f"/dashboard/{account.account_id}?period={period}")
    assert status == 200, html
    cards = kpi_cards(html)[group["currency"]]
    for name in KPI_FIELDS:
        assert same(cards[name]["value"], group["current"][name]), name
        assert same(cards[name]["previous"], group["previous"][name]), name
        assert same(cards[name]["change_pct"], group["change_pct"][name]), name
        if group["current"][name] is not None and group["previous"][name] is not None:
            delta = Decimal(str(group["current"][name])) - Decimal(str(group["previous"][name]))
            assert Decimal(cards[name]["delta"]) == delta, name
    assert Decimal(cards["spend"]["value"]) > 0
    # reach and frequency only for one account on one day
    assert ("reach" in cards) == (period == "yesterday")
    assert "Data as of" in html


async def test_reach_of_one_day_is_the_account_rows_own(client, db, synced):
    account = synced["account"]
    yesterday = account_today(account.timezone_name) - timedelta(1)
    status, html = await page(client, f"/dashboard/{account.account_id}?period=yesterday")
    assert status == 200
    cards = kpi_cards(html)[account.currency]
    stored = {
        row["date"]: row
        for row in await db.fetch(
            "select date, reach, frequency from insights_daily where level = 'account' and object_id = $1 "
            "and date between $2 and $3", account.account_id, yesterday - timedelta(1), yesterday)
    }  # fmt: skip
    assert int(cards["reach"]["value"]) == stored[yesterday]["reach"] > 0
    assert int(cards["reach"]["previous"]) == stored[yesterday - timedelta(1)]["reach"]
    assert Decimal(cards["frequency"]["value"]) == stored[yesterday]["frequency"]


@pytest.mark.parametrize(("period", "days"), [("last_7d", 7), ("last_28d", 28), ("yesterday", 1), ("last_month", 0)])
async def test_the_chart_has_one_point_per_day_and_its_days_add_up_to_the_kpis(client, synced, period, days):
    account = synced["account"]
    body = await api(client, synced["caller"], "/api/v1/analytics/dashboard", account_id=account.account_id,
                     date_preset=period)  # fmt: skip
    [p] = body["accounts"]
    from datetime import date

    length = (date.fromisoformat(p["until"]) - date.fromisoformat(p["since"])).days + 1
    assert days in (0, length)
    [group] = body["by_currency"]
    status, html = await page(client, f"/dashboard/{account.account_id}?period={period}")
    assert status == 200
    chart_id = f"chart-{account.currency.lower()}"
    spend, previous_spend = chart_points(html, f"{chart_id}-spend", "current"), chart_points(
        html, f"{chart_id}-spend", "previous")  # fmt: skip
    assert len(spend) == len(previous_spend) == length
    # the custom period's form starts from the period shown
    assert f'name="since" value="{p["since"]}"' in html and f'name="until" value="{p["until"]}"' in html
    assert sum(spend) == Decimal(group["current"]["spend"])
    assert sum(previous_spend) == Decimal(group["previous"]["spend"])
    conversions = chart_points(html, f"{chart_id}-conversions", "current")
    assert len(conversions) == length and sum(conversions) == Decimal(group["current"]["conversions"])
    assert 'role="img"' in html and f'aria-labelledby="{chart_id}-spend-title {chart_id}-spend-desc"' in html
    # the numbers are in a table too: one row per day
    rows = Tags(html.split(f'data-chart="{chart_id}-spend"', 1)[1].split("</table>", 1)[0]).tags
    assert sum(1 for tag, attrs in rows if tag == "tr" and "data-index" in attrs) == length


async def test_the_page_is_in_portuguese_with_brazilian_money(client, db, synced):
    account = synced["account"]
    assert account.currency == "BRL"
    status, html = await page(client, f"/dashboard/{account.account_id}", headers={"Accept-Language": "pt-BR"})
    assert status == 200
    assert "Últimos 7 dias" in html and "Período anterior" in html
    # the texts of the imported macros too: the cards, the charts' tables, the period and the data's age
    for text in ("Investimento", "Período anterior: R$", "Os números deste gráfico", "comparado com", "Dados de"):
        assert text in html, text
    import re

    assert re.search(r"R\$\xa0[0-9]{1,3}(\.[0-9]{3})*,[0-9]{2}", html), "no R$ 1.234,56 amount"


async def synthetic_with_days(db, user_id: int, currency: str, days: list[Day]) -> str:
    account_id = await synthetic_account(db, user_id=user_id, currency=currency)
    campaign_id = f"{account_id}1"
    await insert_campaign(db, account_id=account_id, campaign_id=campaign_id)
    for level, object_id in (("account", account_id), ("campaign", campaign_id)):
        await insert_days(db, account_id=account_id, level=level, object_id=object_id, campaign_id=campaign_id,
                          days=days)  # fmt: skip
    return account_id


async def test_changes_are_coloured_by_polarity_and_said_in_words(client, db, settings):
    caller = await new_caller(client, db, settings)
    yesterday = account_today("UTC") - timedelta(1)
    before = yesterday - timedelta(1)
    # yesterday against the day before: more spend, fewer clicks on the same impressions, more conversions
    account_id = await synthetic_with_days(db, caller.user.id, "USD", [
        Day(before, Decimal("100"), 10000, 200, Decimal(2), Decimal("300")),
        Day(yesterday, Decimal("120"), 10000, 100, Decimal(6), Decimal("600")),
    ])  # fmt: skip
    await sign_in(client, caller.user.email)
    status, html = await page(client, f"/dashboard/{account_id}?period=yesterday")
    assert status == 200, html
    cards = kpi_cards(html)["USD"]
    expected = {"spend": "neutral", "impressions": "neutral", "clicks": "bad", "ctr": "bad", "cpc": "bad",
                "cpm": "bad", "conversions": "good", "cpa": "good", "conversion_value": "good",
                "roas": "good"}  # fmt: skip
    assert {name: cards[name]["class"] for name in expected} == expected
    assert cards["cpa"]["value"] == "20.0000" and cards["cpa"]["previous"] == "50.0000"
    assert cards["cpa"]["change_pct"] == "-60.00" and cards["spend"]["change_pct"] == "20.00"
    # not by colour alone: a word and an arrow
    cpa = html.split('data-metric="cpa"', 1)[1].split('class="previous', 1)[0]
    assert "▼" in cpa and "down" in cpa and "better" in cpa
    ctr = html.split('data-metric="ctr"', 1)[1].split('class="previous', 1)[0]
    assert "▼" in ctr and "worse" in ctr


async def test_an_account_with_no_or_too_little_data_says_so_instead_of_zeros(client, db, settings):
    caller = await new_caller(client, db, settings)
    yesterday = account_today("UTC") - timedelta(1)
    empty = await synthetic_account(db, user_id=caller.user.id, currency="USD")
    tiny = await synthetic_with_days(db, caller.user.id, "EUR", [Day(yesterday, Decimal("3.20"), 400, 4)])
    await sign_in(client, caller.user.email)
    status, html = await page(client, f"/dashboard/{empty}")
    assert status == 200
    assert 'data-state="none"' in html and "No insights for this period" in html and kpi_cards(html) == {}
    status, html = await page(client, f"/dashboard/{tiny}")
    assert status == 200
    assert 'data-state="little"' in html and "Too little data" in html and kpi_cards(html) == {}
    assert "€3.20" in html and "€50.00" in html  # the spend, and one target CPA (the default CPA benchmark)


async def test_another_users_account_and_campaign_are_404_pages(client, db, settings, synced):
    account = synced["account"]
    body = await api(client, synced["caller"], "/api/v1/campaigns", account_id=account.account_id, limit="1")
    campaign_id = body["data"][0]["id"]
    stranger = await new_caller(client, db, settings)
    client.session.cookie_jar.clear()
    await sign_in(client, stranger.user.email)
    for path in (f"/dashboard/{account.account_id}", f"/campaigns/{campaign_id}", "/dashboard/act_x",
                 "/campaigns/no%20such"):  # fmt: skip
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404, path
        assert response.content_type == "text/html"
        assert account.name not in await response.text()


async def test_all_accounts_shows_only_the_callers_accounts_per_currency(client, db, settings, synced):
    account, caller = synced["account"], synced["caller"]
    yesterday = account_today("UTC") - timedelta(1)
    usd = await synthetic_with_days(db, caller.user.id, "USD", [Day(yesterday, Decimal("80"), 5000, 50)])
    other = await new_caller(client, db, settings)
    foreign = await synthetic_with_days(db, other.user.id, "USD", [Day(yesterday, Decimal("999"), 9999, 99)])
    body = await api(client, caller, "/api/v1/analytics/dashboard")
    status, html = await page(client, "/dashboard")
    assert status == 200
    cards = kpi_cards(html)
    assert set(cards) == {account.currency, "USD"} == {g["currency"] for g in body["by_currency"]}
    for group in body["by_currency"]:
        for name in KPI_FIELDS:
            assert same(cards[group["currency"]][name]["value"], group["current"][name]), name
    assert Decimal(cards["USD"]["spend"]["value"]) == Decimal(80)
    assert f"/dashboard/{usd}" in html and f"/dashboard/{account.account_id}" in html
    assert foreign not in html and "never added together" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [("period=custom&since=2026-02-30&until=2026-03-02", "YYYY-MM-DD"),
     ("period=custom&since=yesterday&until=2026-03-02", "YYYY-MM-DD"),
     ("period=custom&since=2026-03-05&until=2026-03-01", "before the first day"),
     ("period=custom&since=2026-03-05", "both"),
     ("period=custom&since=0001-01-01&until=0001-01-03", "cannot be shown"),
     ("period=forever", "Unknown period")],
)  # fmt: skip
async def test_a_bad_period_is_a_422_page_with_a_message(client, db, settings, query, message):
    caller = await new_caller(client, db, settings)
    account_id = await synthetic_account(db, user_id=caller.user.id, currency="USD")
    await sign_in(client, caller.user.email)
    for path in ("/dashboard", f"/dashboard/{account_id}"):
        status, html = await page(client, f"{path}?{query}")
        assert status == 422, (path, html)
        assert message in html and 'role="alert"' in html and 'name="since"' in html


async def test_a_custom_period_matches_the_api(client, synced):
    account = synced["account"]
    today = account_today(account.timezone_name)
    since, until = (today - timedelta(12)).isoformat(), (today - timedelta(3)).isoformat()
    body = await api(client, synced["caller"], "/api/v1/analytics/dashboard", account_id=account.account_id,
                     since=since, until=until)  # fmt: skip
    status, html = await page(client, f"/dashboard/{account.account_id}?period=custom&since={since}&until={until}")
    assert status == 200
    [group] = body["by_currency"]
    cards = kpi_cards(html)[account.currency]
    assert all(same(cards[name]["value"], group["current"][name]) for name in KPI_FIELDS)
    assert len(chart_points(html, f"chart-{account.currency.lower()}-spend", "current")) == 10


async def test_top_and_bottom_campaigns_are_the_performance_ranking_above_one_target_cpa(client, db, settings):
    caller = await new_caller(client, db, settings)
    yesterday = account_today("UTC") - timedelta(1)
    account_id = await synthetic_account(db, user_id=caller.user.id, currency="USD")
    campaigns = {  # spend, impressions, clicks, conversions, value
        "a": Day(yesterday, Decimal(200), 10000, 300, Decimal(10), Decimal(400)),
        "b": Day(yesterday, Decimal(150), 10000, 50, Decimal(1), Decimal(40)),
        "c": Day(yesterday, Decimal(12), 1000, 60, Decimal(6), Decimal(300)),  # the best ratios, but tiny
        "d": Day(yesterday, Decimal(100), 10000, 150, Decimal(3), Decimal(200)),
    }
    for key, day in campaigns.items():
        await insert_campaign(db, account_id=account_id, campaign_id=f"{account_id}{key}")
        await insert_days(db, account_id=account_id, level="campaign", object_id=f"{account_id}{key}",
                          campaign_id=f"{account_id}{key}", days=[day])  # fmt: skip
    total = Day(yesterday, Decimal(462), 31000, 560, Decimal(20), Decimal(940))
    await insert_days(db, account_id=account_id, level="account", object_id=account_id, days=[total])
    body = await api(client, caller, "/api/v1/analytics/performance", account_id=account_id, date_preset="yesterday")
    ranked = [c["campaign_id"] for c in body["campaigns"]]
    assert len(ranked) == 4 and ranked[0] == f"{account_id}c"  # the API ranks the tiny one first
    await sign_in(client, caller.user.email)
    status, html = await page(client, f"/dashboard/{account_id}?period=yesterday")
    assert status == 200

    def listed(key: str) -> list[str]:
        table = html.split(f'data-list="{key}"', 1)[1].split("</table>", 1)[0]
        return [a["data-campaign"] for _, a in Tags(table).tags if "data-campaign" in a]

    eligible = [campaign_id for campaign_id in ranked if not campaign_id.endswith("c")]
    assert listed("top") == eligible[:2]
    assert listed("bottom") == eligible[2:]
    assert f"/campaigns/{account_id}a" in html and f"{account_id}c" not in html


async def test_campaign_page_shows_the_insights_apis_days_and_totals(client, synced):
    account = synced["account"]
    listing = await api(client, synced["caller"], "/api/v1/campaigns", account_id=account.account_id,
                        sort="spend_7d", order="desc", limit="1")  # fmt: skip
    campaign = listing["data"][0]
    insights = await api(client, synced["caller"], f"/api/v1/campaigns/{campaign['id']}/insights",
                         date_preset="last_14d")  # fmt: skip
    status, html = await page(client, f"/campaigns/{campaign['id']}?period=last_14d")
    assert status == 200, html
    rows = [a for _, a in Tags(html).tags if "data-date" in a]
    assert [r["data-date"] for r in rows] == [d["date"] for d in insights["days"]]
    for row, day in zip(rows, insights["days"], strict=True):
        assert Decimal(row["data-spend"]) == Decimal(day["spend"])
        assert int(row["data-impressions"]) == day["impressions"]
        assert Decimal(row["data-conversions"]) == Decimal(day["conversions"])
    cards = kpi_cards(html)[account.currency]
    for name in KPI_FIELDS:
        assert same(cards[name]["value"], insights["totals"][name]), name
    assert len(chart_points(html, "chart-spend", "current")) == 14
    assert campaign["effective_status"] in html and "Data as of" in html
    if campaign["daily_budget"]:
        budget = next(a for _, a in Tags(html).tags if "data-budget" in a)["data-budget"]
        assert Decimal(budget) == Decimal(campaign["daily_budget"]) / 100


async def test_campaign_page_with_a_bad_period_is_a_422_page(client, synced):
    account = synced["account"]
    listing = await api(client, synced["caller"], "/api/v1/campaigns", account_id=account.account_id, limit="1")
    status, html = await page(client, f"/campaigns/{listing['data'][0]['id']}?period=custom&since=x&until=y")
    assert status == 422 and "YYYY-MM-DD" in html


async def test_a_user_without_accounts_gets_a_dashboard_that_says_so(client, db, settings):
    caller = await new_caller(client, db, settings)
    await sign_in(client, caller.user.email)
    status, html = await page(client, "/dashboard")
    assert status == 200
    assert "You have no ad accounts yet" in html and kpi_cards(html) == {} and "Open suggestions" not in html


async def test_open_suggestions_are_counted_and_listed_for_the_callers_accounts_only(client, db, settings):
    caller, other = await new_caller(client, db, settings), await new_caller(client, db, settings)
    mine = await synthetic_account(db, user_id=caller.user.id, currency="USD")
    theirs = await synthetic_account(db, user_id=other.user.id, currency="USD")
    for account_id, count in ((mine, 3), (theirs, 2)):
        for n in range(count):
            await db.execute(
                """insert into suggestions (account_id, object_type, object_id, kind, status, rationale, evidence,
                       proposal, period_since, period_until)
                   values ($1, 'account', $1 || $2, 'pause_underperformer', $3, 'why', '{}', '{}', current_date - 7,
                           current_date - 1)""",
                account_id, str(n), "open" if n < count - 1 or account_id == theirs else "dismissed",
            )  # fmt: skip
    await sign_in(client, caller.user.email)
    for path in ("/dashboard", f"/dashboard/{mine}"):
        status, html = await page(client, path)
        assert status == 200
        assert 'data-open="2"' in html and html.count('href="/suggestions/') == 2


async def test_campaign_reach_of_one_day_is_the_insights_days_own(client, synced):
    account = synced["account"]
    listing = await api(client, synced["caller"], "/api/v1/campaigns", account_id=account.account_id,
                        sort="spend_7d", order="desc", limit="1")  # fmt: skip
    campaign_id = listing["data"][0]["id"]
    insights = await api(client, synced["caller"], f"/api/v1/campaigns/{campaign_id}/insights",
                         date_preset="yesterday")  # fmt: skip
    status, html = await page(client, f"/campaigns/{campaign_id}?period=yesterday")
    assert status == 200
    cards = kpi_cards(html)[account.currency]
    [day] = insights["days"]
    assert int(cards["reach"]["value"]) == day["reach"] and same(cards["frequency"]["value"], day["frequency"])
    status, html = await page(client, f"/campaigns/{campaign_id}?period=last_7d")
    assert "reach" not in kpi_cards(html)[account.currency]


async def test_the_pages_need_no_inline_style_or_script(client, synced):
    account = synced["account"]
    listing = await api(client, synced["caller"], "/api/v1/campaigns", account_id=account.account_id, limit="1")
    for path in ("/dashboard", f"/dashboard/{account.account_id}", f"/campaigns/{listing['data'][0]['id']}"):
        response = await client.get(path)
        html = await response.text()
        assert response.status == 200
        assert " style=" not in html and "<script" not in html and "<style" not in html, path
        assert 'href="/static/dashboard.css"' in html

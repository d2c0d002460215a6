"""The drill-down pages (/campaigns, /adsets/{id}, /ads/{id}) over HTTP on a sandbox account synced by the real
worker: the same rows, order and figures as the JSON API for the same filters and sort (read from the rows' data-*
attributes, which hold the raw values), every sort link and the next-page link, the links from list to ad set to ad,
tenancy (another user's ad set and ad are 404 pages; the list shows only shared accounts), bad filter values as 422
pages, the dash for a ratio with no value, pt-BR money, and the ad sets table a campaign's page includes."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from accounts import helpers as sandbox
from accounts.helpers import Caller, connect_ok, insert_account_with_objects, new_caller, sandbox_accounts
from pages.helpers import page, sign_in

from adsvc.app import create_app
from adsvc.pages.i18n import NO_VALUE

# fixtures: the app with the sandbox as Meta, and accounts synced by the real worker (as in tests/campaigns)
settings, worker_env, ensure_synced = sandbox.settings, sandbox.worker_env, sandbox.ensure_synced

FIGURES = ("spend", "impressions", "clicks", "conversions", "conversion_value", "ctr", "cpc", "cpm", "cpa", "roas")
SORT_KEYS = ("name", *FIGURES)


class Drill(HTMLParser):
    """What a drill-down page shows: its table rows (data-* attributes), sort headings, next-page link, KPIs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.headers: dict[str, dict[str, str | None]] = {}  # sort key -> href, aria-sort
        self.links: list[str] = []
        self.breadcrumb: list[str] = []
        self._in_breadcrumb = False
        self.next_href: str | None = None
        self.kpis: dict[str, str] | None = None
        self.kpi_text: dict[str, str] = {}
        self.table_wrapped = False
        self._th: dict[str, str | None] | None = None
        self._kpi: str | None = None
        self._in_value = False
        self._wrap_depth = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div" and "table-wrap" in (a.get("class") or ""):
            self._wrap_depth += 1
        if tag == "table" and "drill" in (a.get("class") or ""):
            self.table_wrapped = self._wrap_depth > 0
        if tag == "tr" and "data-id" in a:
            self.rows.append({k: v or "" for k, v in a.items()})
        if tag == "th":
            self._th = a
        if tag == "nav" and a.get("class") == "breadcrumb":
            self._in_breadcrumb = True
        if tag == "a":
            if a.get("href"):
                self.links.append(str(a["href"]))
                if self._in_breadcrumb:
                    self.breadcrumb.append(str(a["href"]))
            if self._th is not None and a.get("data-sort-key"):
                self.headers[str(a["data-sort-key"])] = {"href": a.get("href"), "aria_sort": self._th.get("aria-sort")}
            if a.get("rel") == "next":
                self.next_href = a.get("href")
        if tag == "div" and "kpis" in (a.get("class") or "").split():
            self.kpis = {k: v or "" for k, v in a.items()}
        if tag == "div" and a.get("data-metric"):
            self._kpi = a["data-metric"]
        if tag == "div" and a.get("class") == "value" and self._kpi:
            self._in_value = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_breadcrumb = False
        if tag == "th":
            self._th = None
        if tag == "div" and self._in_value:
            self._in_value, self._kpi = False, None

    def handle_data(self, data: str) -> None:
        if self._in_value and self._kpi:
            self.kpi_text[self._kpi] = self.kpi_text.get(self._kpi, "") + data.strip()

    @property
    def ids(self) -> list[str]:
        return [row["data-id"] for row in self.rows]


def _raw(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def assert_same_figures(shown: dict[str, str], metrics: dict[str, Any]) -> None:
    for name in FIGURES:
        assert _raw(shown["data-" + name.replace("_", "-")]) == _raw(metrics[name]), name


async def api(client, caller: Caller, path: str, **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=caller.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def drill_page(client, path: str, **kwargs: Any) -> Drill:
    status, html = await page(client, path, **kwargs)
    assert status == 200, (path, html[:2000])
    return Drill(html)


async def synced_caller(client, db, settings, graph_sandbox, ensure_synced) -> tuple[Caller, str]:
    """A user of the sandbox's first account (BRL), synced, signed in to the pages."""
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    await sign_in(client, caller.user.email)
    return caller, account.account_id


async def test_the_list_shows_the_apis_rows_in_order_with_the_same_figures_for_the_same_filters_and_sort(
    client, db, settings, graph_sandbox, ensure_synced
):
    caller, account_id = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    queries = [
        {},
        {"sort": "cpa", "order": "asc"},
        {"sort": "roas", "order": "desc", "status": "ACTIVE"},
        {"sort": "spend", "order": "desc", "account_id": account_id},
        {"effective_status": "PAUSED", "sort": "ctr", "order": "asc"},
        {"q": "a", "sort": "conversions", "order": "desc"},
    ]
    for query in queries:
        expected = await api(client, caller, "/api/v1/campaigns", **query)
        shown = await drill_page(client, "/campaigns?" + urlencode(query))
        assert shown.ids == [c["id"] for c in expected["data"]], query
        assert shown.table_wrapped
        for row, campaign in zip(shown.rows, expected["data"], strict=True):
            assert_same_figures(row, campaign["last_7d"])
            assert f"/campaigns/{campaign['id']}" in shown.links
        # the sort links keep the filters
        filters = [urlencode({k: v}) for k, v in query.items() if k not in ("sort", "order")]
        for header in shown.headers.values():
            assert all(f in str(header["href"]) for f in filters), (query, header)
    everything = await api(client, caller, "/api/v1/campaigns")
    assert len(everything["data"]) >= 2  # the comparisons above are not of empty lists


async def test_every_sort_link_sorts_as_the_api_and_the_next_page_link_continues_where_the_page_ended(
    client, db, settings, graph_sandbox, ensure_synced
):
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    first = await drill_page(client, "/campaigns?limit=2")
    assert set(first.headers) == set(SORT_KEYS)
    assert first.headers["name"]["aria_sort"] == "ascending"
    assert [key for key, h in first.headers.items() if h["aria_sort"]] == ["name"]
    for key in SORT_KEYS:
        href = str(first.headers[key]["href"])
        order = "desc"  # name is sorted ascending now (its link reverses it); a metric's link starts largest first
        assert f"sort={key}" in href and f"order={order}" in href and "cursor" not in href, href
        sorted_page = await drill_page(client, href)
        assert sorted_page.headers[key]["aria_sort"] == ("descending" if order == "desc" else "ascending")
        # the link of the sorted column now reverses the order
        assert "order=asc" in str(sorted_page.headers[key]["href"])
        expected = await api(client, caller, "/api/v1/campaigns", sort=key, order=order, limit="2")
        assert sorted_page.ids == [c["id"] for c in expected["data"]], key
        # walk every page by the "Next page" links: the API's pages, in order, to the end
        seen, shown, cursor = list(sorted_page.ids), sorted_page, expected["next_cursor"]
        while cursor:
            assert shown.next_href and "cursor=" in shown.next_href and "limit=2" in shown.next_href
            shown = await drill_page(client, shown.next_href)
            expected = await api(client, caller, "/api/v1/campaigns", sort=key, order=order, limit="2", cursor=cursor)
            assert shown.ids == [c["id"] for c in expected["data"]], key
            seen += shown.ids
            cursor = expected["next_cursor"]
        assert shown.next_href is None
        everything = await api(client, caller, "/api/v1/campaigns", sort=key, order=order)
        assert seen == [c["id"] for c in everything["data"]] and len(seen) > 2


async def test_an_ad_set_page_lists_the_apis_ads_and_the_links_from_list_to_ad_set_to_ad_resolve(
    client, db, settings, graph_sandbox, ensure_synced
):
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    campaigns = await api(client, caller, "/api/v1/campaigns")
    list_page = await drill_page(client, "/campaigns")
    campaign = campaigns["data"][0]
    assert f"/campaigns/{campaign['id']}" in list_page.links
    adsets = await api(client, caller, "/api/v1/adsets", campaign_id=campaign["id"])
    adset = await api(client, caller, f"/api/v1/adsets/{adsets['data'][0]['id']}")
    shown = await drill_page(client, f"/adsets/{adset['id']}")
    assert shown.kpis is not None
    assert_same_figures(shown.kpis, adset["last_7d"])
    assert f"/campaigns/{campaign['id']}" in shown.links  # the parent campaign (its page is on another branch)
    ads = await api(client, caller, "/api/v1/ads", adset_id=adset["id"])
    assert shown.ids == [ad["id"] for ad in ads["data"]] and shown.ids and shown.table_wrapped
    for row, ad in zip(shown.rows, ads["data"], strict=True):
        assert_same_figures(row, ad["last_7d"])
    # sorting the ads table keeps to this ad set, as the API's sort does
    by_spend = await drill_page(client, str(shown.headers["spend"]["href"]))
    expected = await api(client, caller, "/api/v1/ads", adset_id=adset["id"], sort="spend", order="desc")
    assert by_spend.ids == [ad["id"] for ad in expected["data"]]
    assert by_spend.headers["spend"]["aria_sort"] == "descending"
    for ad_id in shown.ids:
        assert f"/ads/{ad_id}" in shown.links
        ad_page = await drill_page(client, f"/ads/{ad_id}")
        ad = await api(client, caller, f"/api/v1/ads/{ad_id}")
        assert ad_page.kpis is not None
        assert_same_figures(ad_page.kpis, ad["last_7d"])
        # the breadcrumb: campaigns > campaign > ad set > ad
        parents = [f"/campaigns/{ad['campaign_id']}", f"/adsets/{ad['adset_id']}"]
        assert ad_page.breadcrumb == ["/campaigns", *parents, f"/ads/{ad_id}"]
        back = await drill_page(client, f"/adsets/{ad['adset_id']}")
        assert ad_id in back.ids


async def test_a_paged_ad_set_shows_the_next_page_of_its_ads(client, db, settings, graph_sandbox, ensure_synced):
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    adsets = await api(client, caller, "/api/v1/adsets", limit="1")
    adset_id = adsets["data"][0]["id"]
    first = await drill_page(client, f"/adsets/{adset_id}?limit=1&sort=impressions&order=desc")
    expected = await api(client, caller, "/api/v1/ads", adset_id=adset_id, limit="1", sort="impressions",
                         order="desc")  # fmt: skip
    assert first.ids == [ad["id"] for ad in expected["data"]] and expected["next_cursor"]
    assert first.next_href and first.next_href.startswith(f"/adsets/{adset_id}?")
    second = await drill_page(client, first.next_href)
    expected = await api(client, caller, "/api/v1/ads", adset_id=adset_id, limit="1", sort="impressions",
                         order="desc", cursor=expected["next_cursor"])  # fmt: skip
    assert second.ids == [ad["id"] for ad in expected["data"]] and second.ids != first.ids


async def test_another_users_ad_set_and_ad_are_404_pages_and_the_list_shows_only_shared_accounts(
    client, db, settings, graph_sandbox, ensure_synced
):
    alice, account_id = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    bob = await new_caller(client, db, settings)
    theirs = await insert_account_with_objects(db, user_id=bob.user.id)
    for path in (f"/adsets/{theirs.adset_id}", f"/ads/{theirs.ad_id}", "/adsets/nope", "/ads/1"):
        status, html = await page(client, path)
        assert status == 404 and "<html" in html and "Synthetic" not in html, path
    shown = await drill_page(client, "/campaigns?limit=200")
    assert theirs.campaign_id not in shown.ids
    status, html = await page(client, "/campaigns")
    assert f'value="{theirs.account_id}"' not in html and f'value="{account_id}"' in html
    # filtering by their account shows nothing, as the API does
    filtered = await drill_page(client, f"/campaigns?account_id={theirs.account_id}")
    assert filtered.ids == [] == (await api(client, alice, "/api/v1/campaigns", account_id=theirs.account_id))["data"]
    # their member sees them
    client.session.cookie_jar.clear()
    await sign_in(client, bob.user.email)
    assert (await drill_page(client, "/campaigns")).ids == [theirs.campaign_id]
    assert (await drill_page(client, f"/adsets/{theirs.adset_id}")).ids == [theirs.ad_id]


async def test_a_ratio_with_no_value_shows_the_dash_not_zero(client, db, settings):
    bob = await new_caller(client, db, settings)
    theirs = await insert_account_with_objects(db, user_id=bob.user.id)  # spend, clicks, no conversions
    await sign_in(client, bob.user.email)
    shown = await drill_page(client, f"/ads/{theirs.ad_id}")
    assert shown.kpis is not None and shown.kpis["data-cpa"] == "" and shown.kpis["data-spend"] != ""
    assert shown.kpi_text["cpa"] == NO_VALUE and shown.kpi_text["conversions"] == "0"
    status, html = await page(client, f"/adsets/{theirs.adset_id}")
    assert status == 200 and f'<td class="num">{NO_VALUE}</td>' in html


async def test_a_bad_filter_sort_or_cursor_is_a_422_page_not_a_500(client, db, settings, graph_sandbox, ensure_synced):
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    by_name = await api(client, caller, "/api/v1/campaigns", limit="1")
    other_sorts_cursor = by_name["next_cursor"]
    assert other_sorts_cursor
    adsets = await api(client, caller, "/api/v1/adsets", limit="1")
    bad = [
        "/campaigns?status=NOPE",
        "/campaigns?effective_status=ACTIVE,NOPE",
        "/campaigns?sort=bogus",
        "/campaigns?order=sideways",
        "/campaigns?limit=0",
        "/campaigns?cursor=!!!garbage",
        "/campaigns?cursor=Z2FyYmFnZQ",  # base64url of "garbage": well-formed text, not a cursor
        f"/campaigns?sort=spend&cursor={other_sorts_cursor}",  # a cursor of the name sort
        "/campaigns?account_id=act_x",
        f"/adsets/{adsets['data'][0]['id']}?cursor=Z2FyYmFnZQ",
        f"/adsets/{adsets['data'][0]['id']}?sort=nope",
    ]
    for path in bad:
        response = await client.get(path, allow_redirects=False)
        html = await response.text()
        assert response.status == 422, (path, response.status)
        assert response.content_type == "text/html" and "not valid" in html, path


async def test_pt_br_shows_the_pages_in_portuguese_with_money_in_reais(
    client, db, settings, graph_sandbox, ensure_synced
):
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    portuguese = {"Accept-Language": "pt-BR"}
    status, html = await page(client, "/campaigns", headers=portuguese)
    assert status == 200 and 'lang="pt-BR"' in html
    assert "R$\xa0" in html and "Investimento" in html and "Campanhas, últimos 7 dias" in html
    assert "Dados de" in html or "Nenhuma sincronização" in html  # the freshness line, translated
    adsets = await api(client, caller, "/api/v1/adsets", limit="1")
    status, html = await page(client, f"/adsets/{adsets['data'][0]['id']}", headers=portuguese)
    assert status == 200 and "R$" in html and "Conjunto de anúncios" in html and "Últimos 7 dias" in html
    status, html = await page(client, "/campaigns?status=NOPE", headers=portuguese)
    assert status == 422 and "não é válido" in html


async def test_the_adsets_table_for_the_campaign_page_lists_the_apis_ad_sets_sortable_and_paged(
    aiohttp_client, db, settings, graph_sandbox, ensure_synced
):
    client = await aiohttp_client(create_app(settings))
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    campaign_id = (await api(client, caller, "/api/v1/campaigns"))["data"][0]["id"]
    shown = await drill_page(client, f"/campaigns/{campaign_id}?period=last_7d")
    expected = await api(client, caller, "/api/v1/adsets", campaign_id=campaign_id)
    assert shown.ids == [a["id"] for a in expected["data"]] and shown.ids and shown.table_wrapped
    for row, adset in zip(shown.rows, expected["data"], strict=True):
        assert_same_figures(row, adset["last_7d"])
        assert f"/adsets/{adset['id']}" in shown.links
    href = str(shown.headers["roas"]["href"])
    assert href.startswith(f"/campaigns/{campaign_id}?") and "period=last_7d" in href
    by_roas = await drill_page(client, href + "&limit=1")
    expected = await api(client, caller, "/api/v1/adsets", campaign_id=campaign_id, sort="roas", order="desc",
                         limit="1")  # fmt: skip
    assert by_roas.ids == [a["id"] for a in expected["data"]]
    assert by_roas.next_href and "period=last_7d" in by_roas.next_href
    second = await drill_page(client, by_roas.next_href)
    expected = await api(client, caller, "/api/v1/adsets", campaign_id=campaign_id, sort="roas", order="desc",
                         limit="1", cursor=expected["next_cursor"])  # fmt: skip
    assert second.ids == [a["id"] for a in expected["data"]]
    status, _ = await page(client, f"/campaigns/{campaign_id}?cursor=Z2FyYmFnZQ")
    assert status == 422


async def test_with_several_accounts_the_list_names_each_rows_account_and_keeps_a_multi_status_filter(
    client, db, settings, graph_sandbox, ensure_synced
):
    caller, _ = await synced_caller(client, db, settings, graph_sandbox, ensure_synced)
    status, html = await page(client, "/campaigns")
    assert status == 200 and '<th scope="col">Account</th>' not in html  # one account: no column
    mine = await insert_account_with_objects(db, user_id=caller.user.id)
    status, html = await page(client, "/campaigns?limit=200")
    assert '<th scope="col">Account</th>' in html and f"<td>Synthetic {mine.account_id}</td>" in html
    # a filter of several statuses (as the API takes them) stays selected, so "Show" keeps it
    status, html = await page(client, "/campaigns?status=ACTIVE,PAUSED")
    assert status == 200 and '<option value="ACTIVE,PAUSED" selected>' in html
    shown = Drill(html)
    expected = await api(client, caller, "/api/v1/campaigns", status="ACTIVE,PAUSED")
    assert shown.ids == [c["id"] for c in expected["data"]]

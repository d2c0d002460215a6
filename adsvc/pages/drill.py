"""The drill-down pages: the campaigns list (filters, sort by any metric the API sorts by, keyset paging), an ad
set with its ads, and an ad with its parents; plus the ad sets table a campaign's page shows (adsets_of_campaign and
the `adsets_table` macro). Every list and detail comes from adsvc.campaigns.browse, the functions the JSON views
call, so a page shows the same rows, in the same order and with the same figures, as the API for the same query."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from babel.numbers import get_currency_precision
from pydantic import BaseModel

from adsvc.accounts import queries as account_queries
from adsvc.campaigns import browse
from adsvc.campaigns.schemas import (
    EFFECTIVE_STATUSES,
    STATUSES,
    AdListQuery,
    AdOut,
    AdSetListQuery,
    AdSetOut,
    CampaignListQuery,
    CampaignOut,
)
from adsvc.errors import NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.pages.forms import parse
from adsvc.pages.render import Freshness, freshness, gettext, render
from adsvc.requests import principal

routes = web.RouteTableDef()
QueryT = TypeVar("QueryT", bound=BaseModel)

# the query parameters of a table's sort and paging links; the campaigns list takes its filters too
PAGING_KEYS = ("sort", "order", "cursor", "limit")
FILTER_KEYS = ("account_id", "status", "effective_status", "q")
# the sortable columns, in the tables' order: the object's name, then its 7-day metrics
METRIC_KEYS = ("spend", "impressions", "clicks", "conversions", "conversion_value", "ctr", "cpc", "cpm", "cpa",
               "roas")  # fmt: skip
Row = CampaignOut | AdSetOut | AdOut
ListQuery = CampaignListQuery | AdSetListQuery | AdListQuery


@dataclass(frozen=True, slots=True)
class Header:
    """A column heading: its sort key, label, the link that sorts by it, and aria-sort when the table is sorted
    by it ("ascending" / "descending"; None otherwise)."""

    key: str
    label: str
    href: str
    aria_sort: str | None
    numeric: bool


@dataclass(frozen=True, slots=True)
class Table:
    """What a table macro needs: its rows, headings with sort links, and the next page's link."""

    level: Literal["campaign", "adset", "ad"]
    rows: Sequence[Row]
    headers: list[Header]
    sort: str
    order: str
    next_href: str | None
    caption: str


def column_labels(request: web.Request) -> dict[str, str]:
    return {
        "name": gettext(request, "Name"),
        "spend": gettext(request, "Spend"),
        "impressions": gettext(request, "Impressions"),
        "clicks": gettext(request, "Clicks"),
        "conversions": gettext(request, "Conversions"),
        "conversion_value": gettext(request, "Conversion value"),
        "ctr": gettext(request, "CTR"),
        "cpc": gettext(request, "CPC"),
        "cpm": gettext(request, "CPM"),
        "cpa": gettext(request, "CPA"),
        "roas": gettext(request, "ROAS"),
    }


def budget(minor_units: int, currency: str) -> Decimal:
    """A budget stored in minor units of the account currency (5000 = 50.00 BRL; 5000 = 5000 JPY) as money."""
    return Decimal(minor_units).scaleb(-get_currency_precision(currency))


def _href(path: str, params: Mapping[str, str]) -> str:
    kept = {key: value for key, value in params.items() if value}
    return path + ("?" + urlencode(kept) if kept else "")


def table_of(
    request: web.Request,
    level: Literal["campaign", "adset", "ad"],
    page: browse.ListPage[Any],
    query: ListQuery,
    params: Mapping[str, str],
    caption: str,
) -> Table:
    """The table of one list page. `params` are the page's other query parameters (filters, a period): every sort
    and next-page link keeps them, and a sort link starts again at the first page."""
    kept = {key: value for key, value in params.items() if key not in PAGING_KEYS}
    if query.limit != 50:
        kept["limit"] = str(query.limit)
    labels = column_labels(request)
    headers = []
    for key in ("name", *METRIC_KEYS):
        current = query.sort == key or (key == "spend" and query.sort == "spend_7d")
        if current:
            order = "desc" if query.order == "asc" else "asc"
        else:
            order = "asc" if key == "name" else "desc"  # a metric is most often wanted largest first
        headers.append(Header(key=key, label=labels[key], href=_href(request.path, {**kept, "sort": key,
                                                                                      "order": order}),
                              aria_sort=("ascending" if query.order == "asc" else "descending") if current else None,
                              numeric=key != "name"))  # fmt: skip
    next_href = None
    if page.next_cursor:
        next_href = _href(request.path, {**kept, "sort": query.sort, "order": query.order,
                                         "cursor": page.next_cursor})  # fmt: skip
    return Table(level=level, rows=page.items(), headers=headers, sort=query.sort, order=query.order,
                 next_href=next_href, caption=caption)  # fmt: skip


def _query(
    request: web.Request, model: type[QueryT], params: Mapping[str, str], keys: Sequence[str], **fixed: str
) -> QueryT:
    """The list query of the page's parameters, validated by the API's own model; a bad value is a 422 page."""
    query, errors = parse(model, {**{key: params[key] for key in keys if key in params}, **fixed})
    if query is None:
        raise _bad_query(request, sorted(errors))
    return query


def _bad_query(request: web.Request, fields: Sequence[str]) -> ValidationFailed:
    return ValidationFailed(gettext(request, "This filter, sort or page link is not valid (%(fields)s). Start again "
                                             "from the list.", fields=", ".join(fields)))  # fmt: skip


async def _page(request: web.Request, load: Awaitable[browse.ListPage[Any]]) -> browse.ListPage[Any]:
    """A browse call whose cursor may be refused (malformed, or made for another sort): a 422 page that says so."""
    try:
        return await load
    except ValidationFailed:
        raise _bad_query(request, ["cursor"]) from None


async def _accounts(request: web.Request) -> dict[str, account_queries.Account]:
    accounts = await account_queries.accounts_for_user(request.config_dict[PG], user_id=principal(request).user_id)
    return {account.id: account for account in accounts}


def _fresh(accounts: Sequence[account_queries.Account]) -> Freshness | None:
    return freshness([(account.last_insights_sync_at, account.timezone_name) for account in accounts])


async def adsets_of_campaign(request: web.Request, campaign_id: str, query_params: Mapping[str, str]) -> Table:
    """The ad sets table of a campaign's page (the `adsets_table` macro of pages/drill/macros.html): one page of
    browse.adset_page with campaign_id, sorted and paged by the page's own `sort`, `order` and `cursor`; its links
    keep the page's other parameters (a period, ...). A bad sort or cursor is a ValidationFailed (a 422 page)."""
    query = _query(request, AdSetListQuery, query_params, PAGING_KEYS, campaign_id=campaign_id)
    page = await _page(request, browse.adset_page(request.config_dict[PG], user_id=principal(request).user_id,
                                                  query=query))  # fmt: skip
    return table_of(request, "adset", page, query, query_params,
                    gettext(request, "Ad sets of this campaign, last 7 days"))  # fmt: skip


@routes.get("/campaigns", name="page-drill-campaigns")
async def campaigns_list(request: web.Request) -> web.Response:
    query = _query(request, CampaignListQuery, request.query, (*FILTER_KEYS, *PAGING_KEYS))
    accounts = await _accounts(request)
    page = await _page(request, browse.campaign_page(request.config_dict[PG], user_id=principal(request).user_id,
                                                     query=query))  # fmt: skip
    table = table_of(request, "campaign", page, query, request.query,
                     gettext(request, "Campaigns, last 7 days"))  # fmt: skip
    shown = [accounts[query.account_id.removeprefix("act_")]] if query.account_id and query.account_id.removeprefix(
        "act_") in accounts else list(accounts.values())  # fmt: skip
    return render(request, "pages/drill/campaigns.html", {
        "table": table, "query": query, "accounts": list(accounts.values()), "statuses": STATUSES,
        "effective_statuses": EFFECTIVE_STATUSES, "fresh": _fresh(shown),
        "filtered": any(request.query.get(key) for key in FILTER_KEYS),
        "account_names": {a.id: a.name for a in accounts.values()} if len(accounts) > 1 else None,
    })  # fmt: skip


@routes.get("/adsets/{adset_id}", name="page-drill-adset")
async def adset_page(request: web.Request) -> web.Response:
    user_id = principal(request).user_id
    entry = await browse.adset_detail(request.config_dict[PG], user_id=user_id, adset_id=request.match_info["adset_id"])
    if entry is None:
        raise NotFound(gettext(request, "There is nothing here, or it is not shared with you."))
    adset = entry.item()
    query = _query(request, AdListQuery, request.query, PAGING_KEYS, adset_id=adset.id)
    page = await _page(request, browse.ad_page(request.config_dict[PG], user_id=user_id, query=query))
    table = table_of(request, "ad", page, query, request.query, gettext(request, "Ads of this ad set, last 7 days"))
    account = (await _accounts(request)).get(adset.account_id)
    return render(request, "pages/drill/adset.html", {
        "adset": adset, "table": table, "account": account, "budget": budget,
        "fresh": _fresh([account] if account else []),
    })  # fmt: skip


@routes.get("/ads/{ad_id}", name="page-drill-ad")
async def ad_page(request: web.Request) -> web.Response:
    entry = await browse.ad_detail(request.config_dict[PG], user_id=principal(request).user_id,
                                   ad_id=request.match_info["ad_id"])  # fmt: skip
    if entry is None:
        raise NotFound(gettext(request, "There is nothing here, or it is not shared with you."))
    ad = entry.item()
    account = (await _accounts(request)).get(ad.account_id)
    return render(request, "pages/drill/ad.html", {
        "ad": ad, "account": account, "fresh": _fresh([account] if account else []),
    })  # fmt: skip

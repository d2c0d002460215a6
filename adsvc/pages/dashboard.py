"""The dashboard pages: one account (`/dashboard/{account_id}`) or all of the caller's (`/dashboard`), for a period
against the one before it. Every number comes from the functions behind GET /api/v1/analytics/dashboard and
/performance (adsvc.analytics.reports), so the page and the JSON API cannot disagree."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web
from markupsafe import Markup

from adsvc.analytics import queries, reports
from adsvc.analytics.schemas import CurrencyDashboardOut, DashboardQuery, PerformanceQuery
from adsvc.campaigns import queries as campaign_queries
from adsvc.campaigns.metrics import derive, totals_of
from adsvc.campaigns.periods import MAX_PERIOD_DAYS
from adsvc.errors import ValidationFailed
from adsvc.keys import PG
from adsvc.pages import kpis
from adsvc.pages.charts import DailyComparison, DayText, ValueFormat, daily_comparison, day_texts, line_chart_svg
from adsvc.pages.i18n import Formatter
from adsvc.pages.render import freshness, gettext, page_locale, render, translations
from adsvc.requests import principal
from adsvc.suggestions import queries as suggestion_queries

routes = web.RouteTableDef()

PRESETS = ("today", "yesterday", "last_7d", "last_14d", "last_28d", "last_30d", "this_month", "last_month")
DEFAULT_PERIOD = "last_7d"
RANKED = 5
SUGGESTIONS_SHOWN = 5
_ACCOUNT_ID = re.compile(r"^(act_)?[0-9]{1,20}$")


@dataclass(frozen=True, slots=True)
class PeriodChoice:
    """What the picker shows: the period asked for and the custom dates as typed (for the form)."""

    period: str
    since: str
    until: str


def period_labels(request: web.Request) -> list[tuple[str, str]]:
    return [
        ("today", gettext(request, "Today")),
        ("yesterday", gettext(request, "Yesterday")),
        ("last_7d", gettext(request, "Last 7 days")),
        ("last_14d", gettext(request, "Last 14 days")),
        ("last_28d", gettext(request, "Last 28 days")),
        ("last_30d", gettext(request, "Last 30 days")),
        ("this_month", gettext(request, "This month")),
        ("last_month", gettext(request, "Last month")),
    ]


def _day(text: str) -> date | None:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def read_period(request: web.Request) -> tuple[PeriodChoice, dict[str, Any] | None, str | None]:
    """The picker's query (`period`, and `since`/`until` for a custom one) as the API's period parameters, or the
    message saying what is wrong with it."""
    period = request.query.get("period", DEFAULT_PERIOD)
    since_text, until_text = request.query.get("since", "")[:20], request.query.get("until", "")[:20]
    choice = PeriodChoice(period=period[:20], since=since_text, until=until_text)
    if period in PRESETS:
        return choice, {"date_preset": period}, None
    if period != "custom":
        return choice, None, gettext(request, "Unknown period: choose one of the list or custom dates.")
    if not since_text or not until_text:
        return choice, None, gettext(request, "A custom period needs both its first and its last day.")
    since, until = _day(since_text), _day(until_text)
    if since is None or until is None:
        return choice, None, gettext(request, "Write dates as YYYY-MM-DD, for example 2026-12-01.")
    if until < since:
        return choice, None, gettext(request, "The last day is before the first day.")
    if (until - since).days + 1 > MAX_PERIOD_DAYS:
        return choice, None, gettext(request, "A period spans at most %(days)s days.", days=MAX_PERIOD_DAYS)
    return choice, {"since": since, "until": until}, None


def period_query(model: type[Any], account_id: str | None, params: dict[str, Any], **extra: Any) -> Any:
    return model(account_id=account_id, **params, **extra)


@dataclass(frozen=True, slots=True)
class Chart:
    chart_id: str
    title: str
    comparison: DailyComparison
    svg: Markup
    rows: list[DayText]


@dataclass(frozen=True, slots=True)
class CurrencyView:
    """One currency's part of the page: its accounts, cards, charts and whether there is enough to show."""

    currency: str
    accounts: list[queries.AccountRow]
    out: CurrencyDashboardOut
    cards: list[kpis.KpiCard]
    state: kpis.DataState
    minimum_spend: Decimal
    charts: list[Chart]
    since: date
    until: date
    previous_since: date
    previous_until: date


def _series(rows: Sequence[queries.DayTotalsRow], label: str, currency: str, length: int, metric: str) -> list[Any]:
    values: list[Decimal | None] = [Decimal(0)] * length
    for row in rows:
        if row.label == label and row.currency == currency and 0 <= row.day_index < length:
            values[row.day_index] = Decimal(getattr(row, metric))
    return values


def charts_for(
    request: web.Request, fmt: Formatter, *, prefix: str, currency: str, days: Sequence[queries.DayTotalsRow],
    since: date, until: date, previous_since: date, previous_until: date,
) -> list[Chart]:  # fmt: skip
    _ = translations(request).gettext
    current_days, previous_days = kpis.days_of(since, until), kpis.days_of(previous_since, previous_until)
    labels = (gettext(request, "This period"), gettext(request, "Previous period"))
    charts = []
    for metric, title, kind in (("spend", gettext(request, "Spend per day"), "money"),
                                ("conversions", gettext(request, "Conversions per day"), "count")):  # fmt: skip
        comparison = daily_comparison(
            metric, ValueFormat(kind, currency),  # type: ignore[arg-type]
            days=current_days, current=_series(days, "current", currency, len(current_days), metric),
            previous_days=previous_days, previous=_series(days, "previous", currency, len(previous_days), metric),
        )  # fmt: skip
        chart_id = f"{prefix}-{metric}"
        texts = day_texts(comparison, fmt)
        svg = line_chart_svg(comparison, fmt, _, chart_id=chart_id, title=title, labels=labels, texts=texts)
        charts.append(Chart(chart_id=chart_id, title=title, comparison=comparison, svg=svg, rows=texts))
    return charts


def ranked_campaigns(ranked: reports.Ranking) -> list[kpis.Ranked]:
    """Scored campaigns, best first, that spent at least one target CPA (their account's CPA benchmark) in the
    period: a campaign that spent less has not had the chance to convert, so it is neither best nor worst."""
    found = []
    for row, score in ranked.scored:
        if score.score is None or row.spend < ranked.benchmarks[row.account_id].cpa:
            continue
        derived = derive(totals_of(row))
        found.append(kpis.Ranked(campaign_id=row.campaign_id, name=row.name, currency=row.currency, spend=row.spend,
                                 conversions=row.conversions, cpa=derived.cpa, roas=derived.roas, score=score.score,
                                 rating=score.rating.name.lower() if score.rating else None))  # fmt: skip
    return found


async def _reach_days(pg: Any, account_id: str, since: date, until: date) -> list[campaign_queries.DailyRow]:
    return await campaign_queries.daily_insights(pg, level="account", object_id=account_id, since=since, until=until)


async def _nothing() -> list[Any]:
    return []


async def _dashboard(request: web.Request, account_id: str | None) -> web.Response:
    user_id = principal(request).user_id
    pg = request.config_dict[PG]
    fmt = Formatter(page_locale(request))
    choice, params, error = read_period(request)
    accounts = await reports.member_accounts(pg, user_id=user_id, account_id=account_id)
    account = accounts[0] if account_id is not None else None
    context: dict[str, Any] = {
        "account": account, "accounts": accounts, "choice": choice, "periods": period_labels(request),
        "fresh": freshness([(a.last_insights_sync_at, a.timezone_name) for a in accounts]), "groups": [],
        "top": [], "bottom": [], "suggestions": [], "open_count": 0, "with_reach": False, "error": error,
        "one_day": False,
    }  # fmt: skip
    if params is None:
        return render(request, "pages/dashboard/dashboard.html", context, status=422)
    query = period_query(DashboardQuery, account_id, params)
    try:
        scope = reports.Scope(accounts=accounts, periods=reports.resolve_periods(accounts, query))
    except ValidationFailed as exc:
        context["error"] = gettext(request, "This period cannot be shown: %(reason)s", reason=exc.message)
        return render(request, "pages/dashboard/dashboard.html", context, status=422)
    periods = scope.periods
    one_day = bool(periods) and all(p.since == p.until for p in periods)
    with_reach = account is not None and one_day
    ranking_query = period_query(PerformanceQuery, account_id, params)
    out, ranked, days, open_count, open_rows, reach_rows = await asyncio.gather(
        reports.dashboard(pg, user_id=user_id, scope=scope, query=query),
        reports.ranking(pg, user_id=user_id, scope=scope, query=ranking_query),
        queries.daily_totals_by_currency(pg, user_id=user_id, periods=scope.current() + scope.previous())
        if periods else _nothing(),
        suggestion_queries.count_suggestions(pg, user_id=user_id, account_id=account.id if account else None,
                                             status="open"),
        suggestion_queries.list_suggestions(pg, user_id=user_id, account_id=account.id if account else None,
                                            statuses=["open"], kinds=None, object_id=None, before_id=None,
                                            limit=SUGGESTIONS_SHOWN),
        _reach_days(pg, account.id, periods[0].previous_since, periods[0].until) if with_reach and account
        else _nothing(),
    )  # fmt: skip
    by_account = {p.account.id: p for p in periods}
    groups = []
    for group in out.by_currency:
        members = [a for a in accounts if a.id in group.account_ids]
        first = min((by_account[a.id] for a in members), key=lambda p: p.since)
        current: dict[str, Any] = group.current.model_dump()
        previous: dict[str, Any] = group.previous.model_dump()
        if with_reach:
            for row in reach_rows:
                target = current if row.date == first.until else previous if row.date == first.previous_until else None
                if target is not None:
                    target["reach"], target["frequency"] = row.reach, row.frequency
        items = kpis.kpis(current, previous, group.change_pct.model_dump(), with_reach=with_reach)
        minimum = min(ranked.benchmarks[a.id].cpa for a in members)
        groups.append(CurrencyView(
            currency=group.currency, accounts=members, out=group,
            cards=[kpis.card(fmt, item, group.currency) for item in items],
            state=kpis.data_state(spend=group.current.spend, impressions=group.current.impressions,
                                  minimum_spend=minimum),
            minimum_spend=minimum,
            charts=charts_for(request, fmt, prefix=f"chart-{group.currency.lower()}", currency=group.currency,
                              days=days, since=first.since, until=first.until, previous_since=first.previous_since,
                              previous_until=first.previous_until),
            since=first.since, until=first.until, previous_since=first.previous_since,
            previous_until=first.previous_until,
        ))  # fmt: skip
    top, bottom = kpis.top_and_bottom(ranked_campaigns(ranked), RANKED)
    if periods and choice.period != "custom":
        # the custom form starts from the period shown (the first account's, when their todays differ)
        choice = PeriodChoice(period=choice.period, since=periods[0].since.isoformat(),
                              until=periods[0].until.isoformat())  # fmt: skip
    context.update(choice=choice, groups=groups, top=top, bottom=bottom, suggestions=open_rows, open_count=open_count,
                   with_reach=with_reach, one_day=one_day, dashboard=out)  # fmt: skip
    return render(request, "pages/dashboard/dashboard.html", context)


@routes.get("/dashboard", name="page-dashboard-all")
async def dashboard_all(request: web.Request) -> web.Response:
    return await _dashboard(request, None)


@routes.get("/dashboard/{account_id}", name="page-dashboard-account")
async def dashboard_account(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    if not _ACCOUNT_ID.match(account_id):
        raise web.HTTPNotFound()
    return await _dashboard(request, account_id)

"""One campaign's page (`/campaigns/{campaign_id}`): its facts, KPI cards for a period against the one before, the
daily chart and the daily table, from the functions behind GET /api/v1/campaigns/{id} and its /insights."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from aiohttp import web

from adsvc.accounts import queries as account_queries
from adsvc.analytics.engine import PeriodOverflow, previous_period
from adsvc.campaigns import queries, reports
from adsvc.campaigns.schemas import InsightsOut, InsightsQuery
from adsvc.errors import NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.pages import drill, kpis
from adsvc.pages.charts import ValueFormat, daily_comparison, day_texts, line_chart_svg
from adsvc.pages.dashboard import Chart, PeriodChoice, period_labels, read_period
from adsvc.pages.i18n import Formatter
from adsvc.pages.render import freshness, gettext, page_locale, render, translations
from adsvc.requests import principal

routes = web.RouteTableDef()

_CAMPAIGN_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def _by_day(insights: InsightsOut, metric: str) -> list[Decimal | None]:
    """One value per day of the period: the stored row's, or 0 on a day without one (nothing delivered)."""
    stored = {day.date: Decimal(getattr(day, metric)) for day in insights.days}
    return [stored.get(day, Decimal(0)) for day in kpis.days_of(insights.since, insights.until)]


def _charts(request: web.Request, fmt: Formatter, current: InsightsOut, previous: InsightsOut) -> list[Chart]:
    _ = translations(request).gettext
    labels = (gettext(request, "This period"), gettext(request, "Previous period"))
    charts = []
    for metric, title, kind in (("spend", gettext(request, "Spend per day"), "money"),
                                ("conversions", gettext(request, "Conversions per day"), "count")):  # fmt: skip
        comparison = daily_comparison(
            metric, ValueFormat(kind, current.currency),  # type: ignore[arg-type]
            days=kpis.days_of(current.since, current.until), current=_by_day(current, metric),
            previous_days=kpis.days_of(previous.since, previous.until), previous=_by_day(previous, metric),
        )  # fmt: skip
        chart_id = f"chart-{metric}"
        texts = day_texts(comparison, fmt)
        svg = line_chart_svg(comparison, fmt, _, chart_id=chart_id, title=title, labels=labels, texts=texts)
        charts.append(Chart(chart_id=chart_id, title=title, comparison=comparison, svg=svg, rows=texts))
    return charts


@routes.get("/campaigns/{campaign_id}", name="page-campaigns-detail")
async def campaign_detail(request: web.Request) -> web.Response:
    campaign_id = request.match_info["campaign_id"]
    if not _CAMPAIGN_ID.match(campaign_id):
        raise web.HTTPNotFound()
    user_id = principal(request).user_id
    pg = request.config_dict[PG]
    fmt = Formatter(page_locale(request))
    campaign = await queries.campaign_for_user(pg, campaign_id=campaign_id, user_id=user_id)
    if campaign is None:
        raise NotFound("campaign not found")
    account = await account_queries.account_for_user(pg, account_id=campaign.account_id, user_id=user_id)
    if account is None:
        raise NotFound("campaign not found")
    choice, params, error = read_period(request)
    context: dict[str, Any] = {
        "campaign": campaign, "account": account, "choice": choice, "periods": period_labels(request),
        "fresh": freshness([(account.last_insights_sync_at, account.timezone_name)]), "error": error,
        "counts": None, "cards": [], "charts": [], "insights": None, "state": "none", "adsets": None,
    }  # fmt: skip
    if params is None:
        return render(request, "pages/dashboard/campaign.html", context, status=422)
    try:
        since, until = reports.period_of(InsightsQuery(**params), account.timezone_name)
        previous_since, previous_until = previous_period(since, until)
    except (ValidationFailed, PeriodOverflow) as exc:
        reason = exc.message if isinstance(exc, ValidationFailed) else str(exc)
        context["error"] = gettext(request, "This period cannot be shown: %(reason)s", reason=reason)
        return render(request, "pages/dashboard/campaign.html", context, status=422)
    current, previous, counts, adsets = await asyncio.gather(
        reports.object_insights(pg, level="campaign", object_id=campaign.id, currency=campaign.currency,
                                since=since, until=until),
        reports.object_insights(pg, level="campaign", object_id=campaign.id, currency=campaign.currency,
                                since=previous_since, until=previous_until),
        queries.campaign_structure_counts(pg, campaign_id=campaign.id),
        drill.adsets_of_campaign(request, campaign.id, request.query),
    )  # fmt: skip
    now: dict[str, Any] = current.totals.model_dump()
    before: dict[str, Any] = previous.totals.model_dump()
    one_day = since == until
    if one_day:
        # reach and frequency are the day's own (they do not add up across days)
        for totals, insights in ((now, current), (before, previous)):
            if insights.days:
                totals["reach"], totals["frequency"] = insights.days[0].reach, insights.days[0].frequency
    items = kpis.kpis(now, before, {}, with_reach=one_day)
    if choice.period != "custom":
        choice = PeriodChoice(period=choice.period, since=since.isoformat(), until=until.isoformat())
    context.update(
        choice=choice,
        counts=counts, adsets=adsets, insights=current, previous=previous,
        charts=_charts(request, fmt, current, previous),
        cards=[kpis.card(fmt, item, campaign.currency) for item in items], with_reach=one_day,
        state=kpis.data_state(spend=current.totals.spend, impressions=current.totals.impressions,
                              minimum_spend=Decimal(0)),
        previous_since=previous_since, previous_until=previous_until,
        daily_budget=None if campaign.daily_budget is None else Decimal(campaign.daily_budget) / 100,
        lifetime_budget=None if campaign.lifetime_budget is None else Decimal(campaign.lifetime_budget) / 100,
    )  # fmt: skip
    return render(request, "pages/dashboard/campaign.html", context)

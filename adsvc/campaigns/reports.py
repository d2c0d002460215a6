"""The campaign reads the JSON API and the pages share: a period resolved against the account's today, and the
daily insights of an object with their totals. No HTTP here: views.py and adsvc/pages call these."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from adsvc.campaigns import queries
from adsvc.campaigns.metrics import Totals, totals_of
from adsvc.campaigns.periods import PeriodError, resolve_period
from adsvc.campaigns.schemas import DailyMetricsOut, InsightLevel, InsightsOut, InsightsQuery, MetricsOut
from adsvc.collection.plan import account_today
from adsvc.errors import ValidationFailed

TOTALS_NOTE = (
    "totals are sums over the days; ratios are computed from those sums; reach and frequency are per day only "
    "because they do not add up across days"
)


def period_of(query: InsightsQuery, timezone_name: str) -> tuple[date, date]:
    try:
        return resolve_period(
            today=account_today(timezone_name), preset=query.date_preset, since=query.since, until=query.until
        )
    except PeriodError as exc:
        raise ValidationFailed.field(("query",), str(exc), kind="period") from None


def insights_out(
    level: InsightLevel, object_id: str, currency: str, since: date, until: date, days: list[queries.DailyRow]
) -> InsightsOut:
    daily = []
    for day in days:
        totals = totals_of(day)
        daily.append(
            DailyMetricsOut(
                **MetricsOut.from_totals(totals).model_dump(), date=day.date, reach=day.reach, frequency=day.frequency
            )
        )
    totals = Totals(
        spend=sum((day.spend for day in days), Decimal(0)),
        impressions=sum(day.impressions for day in days),
        clicks=sum(day.clicks for day in days),
        inline_link_clicks=sum(day.inline_link_clicks for day in days),
        conversions=sum((day.conversions for day in days), Decimal(0)),
        conversion_value=sum((day.conversion_value for day in days), Decimal(0)),
    )
    return InsightsOut(
        object_id=object_id,
        level=level,
        currency=currency,
        since=since,
        until=until,
        days=daily,
        totals=MetricsOut.from_totals(totals),
        note=TOTALS_NOTE,
    )


async def object_insights(
    db: queries.Executor, *, level: InsightLevel, object_id: str, currency: str, since: date, until: date
) -> InsightsOut:
    """The stored daily rows of one object (campaign, ad set, ad or account) over the period, and their totals."""
    days = await queries.daily_insights(db, level=level, object_id=object_id, since=since, until=until)
    return insights_out(level, object_id, currency, since, until, days)

"""SQL for campaigns and their stored insights; every query is scoped to the accounts a user is a member of."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: str
    account_id: str
    name: str
    status: str
    effective_status: str
    objective: str | None
    bid_strategy: str | None
    daily_budget: int | None
    lifetime_budget: int | None
    currency: str
    start_time: datetime | None
    stop_time: datetime | None
    created_time: datetime | None
    updated_time: datetime | None
    synced_at: datetime
    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal
    conversion_value: Decimal


# The list's sort orders: each a fixed SQL fragment over the alias `c` (never built from input), its cursor type, and
# whether it needs the 7-day metrics (only then are metrics computed for every visible campaign, not just the page).
SORTS: dict[str, tuple[str, str, bool]] = {
    "name": ("c.name", "text", False),
    "created_time": ("coalesce(c.created_time, 'epoch'::timestamptz)", "timestamptz", False),
    "updated_time": ("coalesce(c.updated_time, 'epoch'::timestamptz)", "timestamptz", False),
    "spend_7d": ("coalesce(c.spend, 0)", "numeric", True),
    "id": ("c.id", "text", False),
}

_VISIBLE = """
    select c.id, c.account_id, c.name, c.status, c.effective_status, c.objective, c.bid_strategy, c.daily_budget,
           c.lifetime_budget, a.currency, c.start_time, c.stop_time, c.created_time, c.updated_time, c.synced_at,
           (now() at time zone a.timezone_name)::date as today
    from campaigns c
    join ad_account_members am on am.account_id = c.account_id and am.user_id = $1
    join ad_accounts a on a.id = c.account_id
    where ($2::text is null or c.account_id = $2)
      and ($3::text[] is null or c.status = any($3))
      and ($4::text[] is null or c.effective_status = any($4))
      and ($5::text is null or c.name ilike '%' || $5 || '%' escape '\\')
"""

_METRICS = """
    left join lateral (
        select sum(i.spend) as spend, sum(i.impressions)::bigint as impressions, sum(i.clicks)::bigint as clicks,
               sum(i.inline_link_clicks)::bigint as inline_link_clicks, sum(i.conversions) as conversions,
               sum(i.conversion_value) as conversion_value
        from insights_daily i
        where i.level = 'campaign' and i.campaign_id = v.id and i.date between v.today - 7 and v.today - 1
    ) m on true
"""

# Each row leaves PostgreSQL as the JSON document of CampaignOut (the OpenAPI schema the tests and schemathesis hold
# it to): ratios from the sums, rounded as adsvc.campaigns.metrics.derive does (half away from zero = half up here),
# decimals as strings. Building fifty documents in Python per request cost more than the query itself.
_OUTPUT = """
select c.id, {sort_expr}::text as sort_value, json_build_object(
       'id', c.id, 'account_id', c.account_id, 'name', c.name, 'status', c.status,
       'effective_status', c.effective_status, 'objective', c.objective, 'bid_strategy', c.bid_strategy,
       'daily_budget', c.daily_budget, 'lifetime_budget', c.lifetime_budget, 'currency', c.currency,
       'start_time', c.start_time, 'stop_time', c.stop_time, 'created_time', c.created_time,
       'updated_time', c.updated_time, 'synced_at', c.synced_at,
       'last_7d', json_build_object(
           'spend', c.spend::text, 'impressions', c.impressions, 'clicks', c.clicks,
           'inline_link_clicks', c.inline_link_clicks, 'conversions', c.conversions::text,
           'conversion_value', c.conversion_value::text,
           'ctr', round(c.clicks * 100.0 / nullif(c.impressions, 0), 6)::text,
           'cpc', round(c.spend / nullif(c.clicks, 0), 4)::text,
           'cpm', round(c.spend * 1000 / nullif(c.impressions, 0), 4)::text,
           'cpa', round(c.spend / nullif(c.conversions, 0), 4)::text,
           'roas', round(c.conversion_value / nullif(c.spend, 0), 6)::text
       ))::text as doc
"""

_WITH_METRICS = """
    select v.id, v.account_id, v.name, v.status, v.effective_status, v.objective, v.bid_strategy, v.daily_budget,
           v.lifetime_budget, v.currency, v.start_time, v.stop_time, v.created_time, v.updated_time, v.synced_at,
           coalesce(m.spend, 0) as spend, coalesce(m.impressions, 0) as impressions,
           coalesce(m.clicks, 0) as clicks, coalesce(m.inline_link_clicks, 0) as inline_link_clicks,
           coalesce(m.conversions, 0) as conversions, coalesce(m.conversion_value, 0) as conversion_value
"""

_KEYSET = "($6::text is null or ({sort_expr}, c.id) {op} ($6::{sort_type}, $7::text))"
_ORDER = "order by {sort_expr} {direction}, c.id {direction}"

# Sorting by a metric needs every visible campaign's metrics; any other sort picks the page first and computes
# metrics for those rows only, so the cost follows the page size, not the account size.
_LIST_BY_METRIC = "".join(
    ["with visible as (", _VISIBLE, "), c as (", _WITH_METRICS, " from visible v ", _METRICS, ")", _OUTPUT,
     " from c where ", _KEYSET, " ", _ORDER, " limit $8"]
)  # fmt: skip
_LIST_BY_FIELD = "".join(
    ["with c as (", _VISIBLE, "), page as (select * from c where ", _KEYSET, " ", _ORDER, " limit $8), metered as (",
     _WITH_METRICS, " from page v ", _METRICS, ")", _OUTPUT, " from metered c ", _ORDER]
)  # fmt: skip


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_campaigns(
    db: Executor,
    *,
    user_id: int,
    account_id: str | None,
    statuses: list[str] | None,
    effective_statuses: list[str] | None,
    search: str | None,
    sort: str,
    descending: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """A page of campaigns as JSON documents (`doc`) with last-7-day totals and ratios, each with its id and sort
    value for the next cursor."""
    sort_expr, sort_type, needs_metrics = SORTS[sort]
    template = _LIST_BY_METRIC if needs_metrics else _LIST_BY_FIELD
    sql = template.format(
        sort_expr=sort_expr,
        sort_type=sort_type,
        op="<" if descending else ">",
        direction="desc" if descending else "asc",
    )
    rows: list[asyncpg.Record] = await db.fetch(
        sql,
        user_id,
        account_id,
        statuses,
        effective_statuses,
        _like_escape(search) if search else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return rows


async def campaign_for_user(db: Executor, *, campaign_id: str, user_id: int) -> CampaignRow | None:
    row = await db.fetchrow(
        """
        select c.id, c.account_id, c.name, c.status, c.effective_status, c.objective, c.bid_strategy,
               c.daily_budget, c.lifetime_budget, a.currency, c.start_time, c.stop_time, c.created_time,
               c.updated_time, c.synced_at, coalesce(m.spend, 0) as spend,
               coalesce(m.impressions, 0) as impressions, coalesce(m.clicks, 0) as clicks,
               coalesce(m.inline_link_clicks, 0) as inline_link_clicks,
               coalesce(m.conversions, 0) as conversions, coalesce(m.conversion_value, 0) as conversion_value
        from campaigns c
        join ad_account_members am on am.account_id = c.account_id and am.user_id = $2
        join ad_accounts a on a.id = c.account_id
        left join lateral (
            select sum(i.spend) as spend, sum(i.impressions)::bigint as impressions, sum(i.clicks)::bigint as clicks,
                   sum(i.inline_link_clicks)::bigint as inline_link_clicks, sum(i.conversions) as conversions,
                   sum(i.conversion_value) as conversion_value
            from insights_daily i
            where i.level = 'campaign' and i.campaign_id = c.id
              and i.date between (now() at time zone a.timezone_name)::date - 7
                             and (now() at time zone a.timezone_name)::date - 1
        ) m on true
        where c.id = $1
        """,
        campaign_id,
        user_id,
    )
    return CampaignRow(**dict(row)) if row is not None else None


async def campaign_structure_counts(db: Executor, *, campaign_id: str) -> dict[str, Any]:
    row = await db.fetchrow(
        """
        select (select count(*) from adsets where campaign_id = $1) as adsets,
               (select count(*) from adsets where campaign_id = $1 and effective_status = 'ACTIVE') as active_adsets,
               (select count(*) from ads where campaign_id = $1) as ads,
               (select count(*) from ads where campaign_id = $1 and effective_status = 'ACTIVE') as active_ads
        """,
        campaign_id,
    )
    return dict(row)


@dataclass(frozen=True, slots=True)
class DailyRow:
    date: date
    impressions: int
    clicks: int
    inline_link_clicks: int
    reach: int | None
    frequency: Decimal | None
    spend: Decimal
    conversions: Decimal
    conversion_value: Decimal
    actions: dict[str, str]


async def daily_insights(db: Executor, *, level: str, object_id: str, since: date, until: date) -> list[DailyRow]:
    rows = await db.fetch(
        """
        select date, impressions, clicks, inline_link_clicks, reach, frequency, spend, conversions,
               conversion_value, actions
        from insights_daily
        where level = $1 and object_id = $2 and date between $3 and $4
        order by date
        """,
        level,
        object_id,
        since,
        until,
    )
    return [DailyRow(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class AdRow:
    id: str
    name: str
    account_id: str
    campaign_id: str
    adset_id: str
    status: str
    effective_status: str
    currency: str
    timezone_name: str


async def ad_for_user(db: Executor, *, ad_id: str, user_id: int) -> AdRow | None:
    row = await db.fetchrow(
        """
        select ad.id, ad.name, ad.account_id, ad.campaign_id, ad.adset_id, ad.status, ad.effective_status,
               a.currency, a.timezone_name
        from ads ad
        join ad_account_members am on am.account_id = ad.account_id and am.user_id = $2
        join ad_accounts a on a.id = ad.account_id
        where ad.id = $1
        """,
        ad_id,
        user_id,
    )
    return AdRow(**dict(row)) if row is not None else None


async def account_timezone_for_campaign(db: Executor, *, campaign_id: str) -> str:
    tz: str = await db.fetchval(
        "select a.timezone_name from campaigns c join ad_accounts a on a.id = c.account_id where c.id = $1",
        campaign_id,
    )
    return tz


@dataclass(frozen=True, slots=True)
class ExportRow:
    date: date
    account_id: str
    campaign_id: str
    campaign_name: str
    currency: str
    impressions: int
    clicks: int
    inline_link_clicks: int
    reach: int | None
    spend: Decimal
    conversions: Decimal
    conversion_value: Decimal


async def export_rows(db: Executor, *, user_id: int, since: date, until: date, limit: int) -> list[ExportRow]:
    """One row per campaign per day for a BI export, over the user's accounts."""
    rows = await db.fetch(
        """
        select i.date, i.account_id, i.object_id as campaign_id, coalesce(c.name, '') as campaign_name,
               a.currency, i.impressions, i.clicks, i.inline_link_clicks, i.reach, i.spend, i.conversions,
               i.conversion_value
        from insights_daily i
        join ad_account_members am on am.account_id = i.account_id and am.user_id = $1
        join ad_accounts a on a.id = i.account_id
        left join campaigns c on c.id = i.object_id
        where i.level = 'campaign' and i.date between $2 and $3
        order by i.date, i.account_id, i.object_id
        limit $4
        """,
        user_id,
        since,
        until,
        limit,
    )
    return [ExportRow(**dict(row)) for row in rows]

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


# The list's sort orders: each a fixed SQL fragment over the campaign `c` (never built from input), its cursor type,
# and whether it is a 7-day metric (only then are metrics read for every visible campaign, not just the page).
SORTS: dict[str, tuple[str, str, bool]] = {
    "name": ("c.name", "text", False),
    "created_time": ("coalesce(c.created_time, 'epoch'::timestamptz)", "timestamptz", False),
    "updated_time": ("coalesce(c.updated_time, 'epoch'::timestamptz)", "timestamptz", False),
    "spend_7d": ("coalesce(r.spend, m.spend)", "numeric", True),
    "id": ("c.id", "text", False),
}

# "Last 7 days" of a campaign `c`: its campaign-level rows of the seven complete days before its account's today
# (`c.today`, in the account's timezone), summed. One definition for the list, its stored rows and their refresh.
_SUMS = """
    select coalesce(sum(i.spend), 0) as spend, coalesce(sum(i.impressions), 0)::bigint as impressions,
           coalesce(sum(i.clicks), 0)::bigint as clicks,
           coalesce(sum(i.inline_link_clicks), 0)::bigint as inline_link_clicks,
           coalesce(sum(i.conversions), 0) as conversions, coalesce(sum(i.conversion_value), 0) as conversion_value
    from insights_daily i
    where i.level = 'campaign' and i.campaign_id = c.id and i.date between c.today - 7 and c.today - 1
"""

# A campaign's list entry (`c`: the campaign with its account's currency; `m`: its sums) as the JSON document of
# CampaignOut (the OpenAPI schema the tests and schemathesis hold it to): ratios from the sums, rounded as
# adsvc.campaigns.metrics.derive does (half away from zero = half up here), decimals as strings, timestamps as the
# UTC sessions of the service write them. Building fifty documents in Python per request cost more than the query.
_DOC = """json_build_object(
       'id', c.id, 'account_id', c.account_id, 'name', c.name, 'status', c.status,
       'effective_status', c.effective_status, 'objective', c.objective, 'bid_strategy', c.bid_strategy,
       'daily_budget', c.daily_budget, 'lifetime_budget', c.lifetime_budget, 'currency', c.currency,
       'start_time', c.start_time, 'stop_time', c.stop_time, 'created_time', c.created_time,
       'updated_time', c.updated_time, 'synced_at', c.synced_at,
       'last_7d', json_build_object(
           'spend', m.spend::text, 'impressions', m.impressions, 'clicks', m.clicks,
           'inline_link_clicks', m.inline_link_clicks, 'conversions', m.conversions::text,
           'conversion_value', m.conversion_value::text,
           'ctr', round(m.clicks * 100.0 / nullif(m.impressions, 0), 6)::text,
           'cpc', round(m.spend / nullif(m.clicks, 0), 4)::text,
           'cpm', round(m.spend * 1000 / nullif(m.impressions, 0), 4)::text,
           'cpa', round(m.spend / nullif(m.conversions, 0), 4)::text,
           'roas', round(m.conversion_value / nullif(m.spend, 0), 6)::text
       ))::text"""

# The user's accounts and their today, once per request.
_ACCOUNTS = """
    with a as materialized (
        select a.id, a.currency, (now() at time zone a.timezone_name)::date as today
        from ad_account_members am
        join ad_accounts a on a.id = am.account_id
        where am.user_id = $1 and ($2::text is null or a.id = $2)
    )
"""
_FILTERS = """
    ($3::text[] is null or c.status = any($3))
    and ($4::text[] is null or c.effective_status = any($4))
    and ($5::text is null or c.name ilike '%' || $5 || '%' escape '\\')
"""
# A campaign's stored row counts only when it was built for its account's today (campaign_metrics_7d, migration
# 0013); without one (a new campaign, a change since, a day that has begun) the list computes it here, as it did
# before that table existed. These laterals are skipped (a one-time filter) when the stored row is there.
_STORED = "left join campaign_metrics_7d r on r.campaign_id = c.id and r.as_of = c.today"
_LIVE_SUMS = "left join lateral (" + _SUMS + " and r.campaign_id is null) m on true"

# The visible campaigns, narrow (id, account, sort key: the sort runs over few bytes), through the filters. Sorting
# by spend needs every visible campaign's 7-day spend; any other sort needs none.
_VISIBLE_BY_FIELD = "".join(
    [", visible as (select c.id, c.account_id, {sort_expr} as sort_key from campaigns c",
     " where c.account_id in (select a.id from a) and ", _FILTERS, ")"]
)  # fmt: skip
_VISIBLE_BY_METRIC = "".join(
    [", visible as (select c.id, c.account_id, {sort_expr} as sort_key from (select c.id, c.account_id, a.today",
     " from campaigns c join a on a.id = c.account_id where ", _FILTERS, ") c ", _STORED, " ", _LIVE_SUMS, ")"]
)  # fmt: skip
# Then the page, and each page row's document: stored, or built here from the campaign and its sums (a subquery
# that runs only when coalesce reaches it).
_PAGE = "".join(
    [", page as (select * from visible v",
     " where ($6::text is null or (v.sort_key, v.id) {op} ($6::{sort_type}, $7::text))",
     " order by v.sort_key {direction}, v.id {direction} limit $8)",
     " select p.id, p.sort_key::text as sort_value, coalesce(r.doc, (select ", _DOC,
     " from (select c.*, a.currency, a.today from campaigns c where c.id = p.id) c",
     " cross join lateral (", _SUMS, ") m)) as doc",
     " from page p join a on a.id = p.account_id",
     " left join campaign_metrics_7d r on r.campaign_id = p.id and r.as_of = a.today",
     " order by p.sort_key {direction}, p.id {direction}"]
)  # fmt: skip
_LIST_BY_FIELD = _ACCOUNTS + _VISIBLE_BY_FIELD + _PAGE
_LIST_BY_METRIC = _ACCOUNTS + _VISIBLE_BY_METRIC + _PAGE


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


# Every campaign of one account, from the same fragments as the list (rows left alone when nothing changed).
_REFRESH = "".join(
    ["insert into campaign_metrics_7d as r (campaign_id, account_id, as_of, spend, doc)",
     " select c.id, c.account_id, c.today, m.spend, ", _DOC,
     " from (select c.*, a.currency, (now() at time zone a.timezone_name)::date as today from campaigns c",
     " join ad_accounts a on a.id = c.account_id where c.account_id = $1) c",
     " cross join lateral (", _SUMS, ") m",
     " on conflict (campaign_id) do update set account_id = excluded.account_id, as_of = excluded.as_of,",
     " spend = excluded.spend, doc = excluded.doc",
     " where (r.account_id, r.as_of, r.spend, r.doc)",
     " is distinct from (excluded.account_id, excluded.as_of, excluded.spend, excluded.doc)"]
)  # fmt: skip


async def refresh_campaign_metrics(conn: asyncpg.Connection, *, account_id: str) -> None:
    """Store every campaign of the account's list entry for the account's today (see migration
    0013.campaign-metrics). Must run inside a transaction; holds the account's campaign-metrics lock until it ends."""
    # Exclusive: writers in flight commit first, so the statement below reads what they wrote; later writers wait
    # for this transaction and then delete what it stored.
    timezone = await conn.fetchval(
        "select current_setting('timezone') from pg_advisory_xact_lock(hashtextextended('campaign-metrics:' || $1, 0))",
        account_id,
    )
    # the documents' timestamps as the service's UTC sessions (and so the list's live path) write them
    if timezone != "UTC":
        await conn.execute("select set_config('timezone', 'UTC', true)")
    await conn.execute(_REFRESH, account_id)
    if timezone != "UTC":
        await conn.execute("select set_config('timezone', $1, true)", timezone)


async def accounts_with_stale_campaign_metrics(db: Executor) -> list[str]:
    """Accounts with a campaign whose stored list entry is missing or not for the account's today (a new day)."""
    rows = await db.fetch(
        """
        select distinct c.account_id
        from campaigns c
        join ad_accounts a on a.id = c.account_id
        left join campaign_metrics_7d r
               on r.campaign_id = c.id and r.as_of = (now() at time zone a.timezone_name)::date
        where r.campaign_id is null
        order by c.account_id
        """
    )
    return [row["account_id"] for row in rows]


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

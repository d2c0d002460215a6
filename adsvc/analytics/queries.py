"""SQL for analytics: period totals, campaign totals, daily series and per-account benchmarks, all aggregated in
PostgreSQL from stored insights and scoped to the accounts a user is a member of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str
    name: str
    currency: str
    timezone_name: str
    role: str
    last_insights_sync_at: datetime | None


async def member_accounts(db: Executor, *, user_id: int, account_id: str | None) -> list[AccountRow]:
    """The user's accounts (or the one named, if the user is a member of it), ordered by id."""
    rows = await db.fetch(
        """
        select a.id, a.name, a.currency, a.timezone_name, m.role, a.last_insights_sync_at
        from ad_accounts a
        join ad_account_members m on m.account_id = a.id and m.user_id = $1
        where $2::text is null or a.id = $2
        order by a.id
        """,
        user_id,
        account_id,
    )
    return [AccountRow(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class AccountPeriod:
    """One account's days for one labelled period ("current", "previous")."""

    label: str
    account_id: str
    since: date
    until: date


def _period_arrays(periods: Sequence[AccountPeriod]) -> tuple[list[str], list[str], list[date], list[date]]:
    return (
        [p.label for p in periods],
        [p.account_id for p in periods],
        [p.since for p in periods],
        [p.until for p in periods],
    )


# The requested (label, account, since, until) rows, restricted to the user's memberships once more.
_PERIODS_CTE = """
periods as (
    select p.label, p.account_id, p.since, p.until, a.currency
    from unnest($1::text[], $2::text[], $3::date[], $4::date[]) as p(label, account_id, since, until)
    join ad_account_members m on m.account_id = p.account_id and m.user_id = $5
    join ad_accounts a on a.id = p.account_id
)
"""


@dataclass(frozen=True, slots=True)
class CurrencyTotalsRow:
    label: str
    currency: str
    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal
    conversion_value: Decimal
    active_campaigns: int


async def totals_by_currency(
    db: Executor, *, user_id: int, periods: Sequence[AccountPeriod]
) -> list[CurrencyTotalsRow]:
    """Per period label and currency: sums of the account-level rows, and the campaigns that delivered."""
    rows = await db.fetch(
        "with"  # noqa: S608 - fixed SQL fragments of this module; every value is a parameter
        + _PERIODS_CTE
        + """
        , account_sums as (
            select p.label, p.currency, coalesce(sum(i.spend), 0) as spend,
                   coalesce(sum(i.impressions), 0)::bigint as impressions,
                   coalesce(sum(i.clicks), 0)::bigint as clicks,
                   coalesce(sum(i.inline_link_clicks), 0)::bigint as inline_link_clicks,
                   coalesce(sum(i.conversions), 0) as conversions,
                   coalesce(sum(i.conversion_value), 0) as conversion_value
            from periods p
            left join insights_daily i
                   on i.account_id = p.account_id and i.level = 'account' and i.date between p.since and p.until
            group by p.label, p.currency
        ), delivering as (
            select p.label, p.currency,
                   count(distinct (i.object_id)) filter (where i.impressions > 0 or i.spend > 0) as active_campaigns
            from periods p
            left join insights_daily i
                   on i.account_id = p.account_id and i.level = 'campaign' and i.date between p.since and p.until
            group by p.label, p.currency
        )
        select s.label, s.currency, s.spend, s.impressions, s.clicks, s.inline_link_clicks, s.conversions,
               s.conversion_value, d.active_campaigns
        from account_sums s
        join delivering d on d.label = s.label and d.currency = s.currency
        order by s.currency, s.label
        """,
        *_period_arrays(periods),
        user_id,
    )
    return [CurrencyTotalsRow(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class DayTotalsRow:
    label: str
    currency: str
    day_index: int
    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal
    conversion_value: Decimal


async def daily_totals_by_currency(
    db: Executor, *, user_id: int, periods: Sequence[AccountPeriod]
) -> list[DayTotalsRow]:
    """Per period label, currency and day of the period (0 = its first day): sums of the account-level rows, as
    totals_by_currency sums them, with every day present (zeros on a day without rows). Days are aligned by their
    index, so accounts whose periods start on different dates (their own todays) add up day by day."""
    rows = await db.fetch(
        "with"  # noqa: S608 - fixed SQL fragments of this module; every value is a parameter
        + _PERIODS_CTE
        + """
        , days as (
            select p.label, p.currency, p.account_id, d.day::date as date, d.day::date - p.since as day_index
            from periods p
            cross join lateral generate_series(p.since, p.until, interval '1 day') as d(day)
        )
        select d.label, d.currency, d.day_index, coalesce(sum(i.spend), 0) as spend,
               coalesce(sum(i.impressions), 0)::bigint as impressions,
               coalesce(sum(i.clicks), 0)::bigint as clicks,
               coalesce(sum(i.inline_link_clicks), 0)::bigint as inline_link_clicks,
               coalesce(sum(i.conversions), 0) as conversions,
               coalesce(sum(i.conversion_value), 0) as conversion_value
        from days d
        left join insights_daily i on i.account_id = d.account_id and i.level = 'account' and i.date = d.date
        group by d.label, d.currency, d.day_index
        order by d.currency, d.label, d.day_index
        """,
        *_period_arrays(periods),
        user_id,
    )
    return [DayTotalsRow(**dict(row)) for row in rows]


async def campaigns_active_now(db: Executor, *, user_id: int, account_ids: Sequence[str]) -> dict[str, int]:
    """Per currency: campaigns whose effective status is ACTIVE at the last structure sync."""
    rows = await db.fetch(
        """
        select a.currency, count(c.id) as active
        from ad_accounts a
        join ad_account_members m on m.account_id = a.id and m.user_id = $1
        left join campaigns c on c.account_id = a.id and c.effective_status = 'ACTIVE'
        where a.id = any($2::text[])
        group by a.currency
        """,
        user_id,
        list(account_ids),
    )
    return {row["currency"]: row["active"] for row in rows}


@dataclass(frozen=True, slots=True)
class CampaignTotalsRow:
    currency: str
    account_id: str
    campaign_id: str
    name: str
    status: str | None
    effective_status: str | None
    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal
    conversion_value: Decimal
    reach: int | None
    frequency: Decimal | None


# Campaign sums per account period; reach and frequency only for one-day periods (they do not add up across days).
_CAMPAIGN_SUMS_CTE = """
, campaign_sums as (
    select p.currency, p.account_id, i.object_id as campaign_id, sum(i.spend) as spend,
           sum(i.impressions)::bigint as impressions, sum(i.clicks)::bigint as clicks,
           sum(i.inline_link_clicks)::bigint as inline_link_clicks, sum(i.conversions) as conversions,
           sum(i.conversion_value) as conversion_value,
           case when p.since = p.until then max(i.reach) end as reach,
           case when p.since = p.until then max(i.frequency) end as frequency
    from periods p
    join insights_daily i
      on i.account_id = p.account_id and i.level = 'campaign' and i.date between p.since and p.until
    group by p.currency, p.account_id, p.since, p.until, i.object_id
)
"""

_CAMPAIGN_COLUMNS = """
    s.currency, s.account_id, s.campaign_id, coalesce(c.name, '') as name, c.status, c.effective_status, s.spend,
    s.impressions, s.clicks, s.inline_link_clicks, s.conversions, s.conversion_value, s.reach, s.frequency
"""


async def top_campaigns_by_spend(
    db: Executor, *, user_id: int, periods: Sequence[AccountPeriod], per_currency: int
) -> list[CampaignTotalsRow]:
    """The `per_currency` campaigns with the most spend in each currency (spend is never compared across them)."""
    rows = await db.fetch(
        "with"  # noqa: S608 - fixed SQL fragments of this module; every value is a parameter
        + _PERIODS_CTE
        + _CAMPAIGN_SUMS_CTE
        + """
        , ranked as (
            select s.*, row_number() over (partition by s.currency order by s.spend desc, s.campaign_id) as position
            from campaign_sums s
        )
        select"""
        + _CAMPAIGN_COLUMNS
        + """
        from ranked s
        left join campaigns c on c.id = s.campaign_id
        where s.position <= $6
        order by s.currency, s.position
        """,
        *_period_arrays(periods),
        user_id,
        per_currency,
    )
    return [CampaignTotalsRow(**dict(row)) for row in rows]


async def campaign_totals(db: Executor, *, user_id: int, periods: Sequence[AccountPeriod]) -> list[CampaignTotalsRow]:
    """Every campaign with stored insights in its account's period, with its sums."""
    rows = await db.fetch(
        "with"
        + _PERIODS_CTE
        + _CAMPAIGN_SUMS_CTE
        + """
        select"""
        + _CAMPAIGN_COLUMNS
        + """
        from campaign_sums s
        left join campaigns c on c.id = s.campaign_id
        order by s.account_id, s.campaign_id
        """,
        *_period_arrays(periods),
        user_id,
    )
    return [CampaignTotalsRow(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class CampaignScope:
    id: str
    account_id: str
    name: str
    currency: str
    timezone_name: str


async def campaign_for_user(db: Executor, *, campaign_id: str, user_id: int) -> CampaignScope | None:
    row = await db.fetchrow(
        """
        select c.id, c.account_id, c.name, a.currency, a.timezone_name
        from campaigns c
        join ad_account_members m on m.account_id = c.account_id and m.user_id = $2
        join ad_accounts a on a.id = c.account_id
        where c.id = $1
        """,
        campaign_id,
        user_id,
    )
    return CampaignScope(**dict(row)) if row is not None else None


@dataclass(frozen=True, slots=True)
class DayRow:
    date: date
    covered: bool
    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal
    conversion_value: Decimal


@dataclass(frozen=True, slots=True)
class DailySeries:
    data_since: date | None
    data_until: date | None
    days: list[DayRow]


async def daily_series(
    db: Executor, *, account_id: str, level: str, object_id: str, since: date, until: date
) -> DailySeries:
    """Every day from since to until: the object's stored row, or zeros on a day without one. A day is covered
    when it lies between the account's first and last stored day (outside them, zeros would be a lie)."""
    rows = await db.fetch(
        """
        with stored as (
            select min(date) as first_day, max(date) as last_day
            from insights_daily
            where account_id = $1 and level = 'account'
        )
        select d.day::date as date, coalesce(d.day::date between s.first_day and s.last_day, false) as covered,
               coalesce(i.spend, 0) as spend, coalesce(i.impressions, 0) as impressions,
               coalesce(i.clicks, 0) as clicks, coalesce(i.inline_link_clicks, 0) as inline_link_clicks,
               coalesce(i.conversions, 0) as conversions, coalesce(i.conversion_value, 0) as conversion_value,
               s.first_day, s.last_day
        from generate_series($4::date, $5::date, interval '1 day') as d(day)
        cross join stored s
        left join insights_daily i on i.level = $2 and i.object_id = $3 and i.date = d.day::date
        order by d.day
        """,
        account_id,
        level,
        object_id,
        since,
        until,
    )
    days = []
    first_day = last_day = None
    for row in rows:
        values = dict(row)
        first_day, last_day = values.pop("first_day"), values.pop("last_day")
        days.append(DayRow(**values))
    return DailySeries(data_since=first_day, data_until=last_day, days=days)


@dataclass(frozen=True, slots=True)
class BenchmarkRow:
    account_id: str
    ctr_pct: Decimal
    cpa: Decimal
    roas: Decimal
    updated_by: int | None
    updated_at: datetime


async def benchmarks_for_accounts(db: Executor, *, account_ids: Sequence[str]) -> dict[str, BenchmarkRow]:
    rows = await db.fetch(
        """
        select account_id, ctr_pct, cpa, roas, updated_by, updated_at
        from account_benchmarks where account_id = any($1::text[])
        """,
        list(account_ids),
    )
    return {row["account_id"]: BenchmarkRow(**dict(row)) for row in rows}


async def benchmarks_for_update(conn: asyncpg.Connection, *, account_id: str) -> BenchmarkRow | None:
    """The account's row, locked until the transaction ends (the audit's `before` must be what was replaced)."""
    row = await conn.fetchrow(
        """
        select account_id, ctr_pct, cpa, roas, updated_by, updated_at
        from account_benchmarks where account_id = $1 for update
        """,
        account_id,
    )
    return BenchmarkRow(**dict(row)) if row is not None else None


async def upsert_benchmarks(
    conn: asyncpg.Connection, *, account_id: str, ctr_pct: Decimal, cpa: Decimal, roas: Decimal, user_id: int
) -> BenchmarkRow:
    row = await conn.fetchrow(
        """
        insert into account_benchmarks (account_id, ctr_pct, cpa, roas, updated_by, updated_at)
        values ($1, $2, $3, $4, $5, now())
        on conflict (account_id) do update set
            ctr_pct = excluded.ctr_pct, cpa = excluded.cpa, roas = excluded.roas,
            updated_by = excluded.updated_by, updated_at = excluded.updated_at
        returning account_id, ctr_pct, cpa, roas, updated_by, updated_at
        """,
        account_id,
        ctr_pct,
        cpa,
        roas,
        user_id,
    )
    return BenchmarkRow(**dict(row))

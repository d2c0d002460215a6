"""SQL for campaigns and their stored insights; every query is scoped to the accounts a user is a member of."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from adsvc.campaigns.listing import metric_of

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


def stored_name_sql(object_type: str, object_id: str) -> str:
    """The SQL expression of the stored name of the campaign, ad set or ad that two columns name (a type and an id),
    null when it was never synced: one correlated lookup by primary key inside the statement (it fits a select list
    and a RETURNING clause alike), never a query per row."""
    return f"""(select o.name from campaigns o where {object_type} = 'campaign' and o.id = {object_id}
        union all select o.name from adsets o where {object_type} = 'adset' and o.id = {object_id}
        union all select o.name from ads o where {object_type} = 'ad' and o.id = {object_id})"""  # noqa: S608


# ---- the lists of campaigns, ad sets and ads ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Level:
    """One list's object table and how its rows become documents. Every fragment is fixed SQL (never from input);
    `o` is the object, with its account's currency and today (and its parents' names) beside its columns."""

    name: str  # insights_daily.level
    table: str
    # the object's own fields in its document (CampaignOut, AdSetOut, AdOut without last_7d)
    fields: str
    # the parents' names: columns and joins on the object `o`
    parent_columns: str
    parent_joins: str
    # the filters beyond account, status, effective status and name ($9, $10: campaign, ad set)
    extra_filters: str
    # its 7-day sums can be stored (campaign_metrics_7d)
    stored: bool


_CAMPAIGN_FIELDS = """'id', o.id, 'account_id', o.account_id, 'name', o.name, 'status', o.status,
       'effective_status', o.effective_status, 'objective', o.objective, 'bid_strategy', o.bid_strategy,
       'daily_budget', o.daily_budget, 'lifetime_budget', o.lifetime_budget, 'currency', o.currency,
       'start_time', o.start_time, 'stop_time', o.stop_time, 'created_time', o.created_time,
       'updated_time', o.updated_time, 'synced_at', o.synced_at"""
_ADSET_FIELDS = """'id', o.id, 'account_id', o.account_id, 'campaign_id', o.campaign_id,
       'campaign_name', o.campaign_name, 'name', o.name, 'status', o.status, 'effective_status', o.effective_status,
       'optimization_goal', o.optimization_goal, 'billing_event', o.billing_event, 'bid_strategy', o.bid_strategy,
       'daily_budget', o.daily_budget, 'lifetime_budget', o.lifetime_budget, 'currency', o.currency,
       'start_time', o.start_time, 'end_time', o.end_time, 'created_time', o.created_time,
       'updated_time', o.updated_time, 'synced_at', o.synced_at"""
_AD_FIELDS = """'id', o.id, 'account_id', o.account_id, 'campaign_id', o.campaign_id,
       'campaign_name', o.campaign_name, 'adset_id', o.adset_id, 'adset_name', o.adset_name, 'name', o.name,
       'status', o.status, 'effective_status', o.effective_status, 'currency', o.currency,
       'created_time', o.created_time, 'updated_time', o.updated_time, 'synced_at', o.synced_at"""

LEVELS: dict[str, Level] = {
    "campaign": Level("campaign", "campaigns", _CAMPAIGN_FIELDS, "", "", "", stored=True),
    "adset": Level(
        "adset", "adsets", _ADSET_FIELDS, ", pc.name as campaign_name",
        " left join campaigns pc on pc.id = o.campaign_id",
        " and ($9::text is null or o.campaign_id = $9)", stored=False,
    ),
    "ad": Level(
        "ad", "ads", _AD_FIELDS, ", pc.name as campaign_name, ps.name as adset_name",
        " left join campaigns pc on pc.id = o.campaign_id left join adsets ps on ps.id = o.adset_id",
        " and ($9::text is null or o.campaign_id = $9) and ($10::text is null or o.adset_id = $10)", stored=False,
    ),
}  # fmt: skip

# The ratios of a row of sums `{s}`, rounded as adsvc.campaigns.metrics.derive does (half away from zero = half up
# here); null when the denominator is zero. One definition for the documents and the sort keys.
_RATIO_SQL = {
    "ctr": "round({s}.clicks * 100.0 / nullif({s}.impressions, 0), 6)",
    "cpc": "round({s}.spend / nullif({s}.clicks, 0), 4)",
    "cpm": "round({s}.spend * 1000 / nullif({s}.impressions, 0), 4)",
    "cpa": "round({s}.spend / nullif({s}.conversions, 0), 4)",
    "roas": "round({s}.conversion_value / nullif({s}.spend, 0), 6)",
}


def _sums(level: Level) -> str:
    """ "Last 7 days" of an object `o`: its rows of that level on the seven complete days before its account's today
    (`o.today`, in the account's timezone), summed. One definition for the lists, the details, the stored rows."""
    # campaign-level rows by the partial index on (campaign_id, date); the others by the primary key
    match = "i.campaign_id = o.id" if level.name == "campaign" else "i.object_id = o.id"
    return f"""
    select coalesce(sum(i.spend), 0) as spend, coalesce(sum(i.impressions), 0)::bigint as impressions,
           coalesce(sum(i.clicks), 0)::bigint as clicks,
           coalesce(sum(i.inline_link_clicks), 0)::bigint as inline_link_clicks,
           coalesce(sum(i.conversions), 0) as conversions, coalesce(sum(i.conversion_value), 0) as conversion_value
    from insights_daily i
    where i.level = '{level.name}' and {match} and i.date between o.today - 7 and o.today - 1
"""  # noqa: S608 - fixed fragments, values are parameters


# An object's list entry (`o`, `m`: its sums) as the JSON document of its OpenAPI schema (CampaignOut, AdSetOut,
# AdOut; the tests and schemathesis hold it to that): decimals as strings, timestamps as the UTC sessions of the
# service write them. Building fifty documents in Python per request cost more than the query.
def _doc(level: Level, detail: str = "") -> str:
    ratios = ", ".join(f"'{name}', {sql.format(s='m')}::text" for name, sql in _RATIO_SQL.items())
    return f"""json_build_object(
       {level.fields},{detail}
       'last_7d', json_build_object(
           'spend', m.spend::text, 'impressions', m.impressions, 'clicks', m.clicks,
           'inline_link_clicks', m.inline_link_clicks, 'conversions', m.conversions::text,
           'conversion_value', m.conversion_value::text, {ratios}
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
    ($3::text[] is null or o.status = any($3))
    and ($4::text[] is null or o.effective_status = any($4))
    and ($5::text is null or o.name ilike '%' || $5 || '%' escape '\\')
"""
# A campaign's stored row counts only when it was built for its account's today (campaign_metrics_7d, migration
# 0013); without one (a new campaign, a change since, a day that has begun) the list computes it here, as it did
# before that table existed. The lateral is skipped (a one-time filter) when the stored row is there.
_STORED = "left join campaign_metrics_7d r on r.campaign_id = o.id and r.as_of = o.today"
_STORED_SUMS = """cross join lateral (select coalesce(r.spend, m.spend) as spend,
       coalesce(r.impressions, m.impressions) as impressions, coalesce(r.clicks, m.clicks) as clicks,
       coalesce(r.conversions, m.conversions) as conversions,
       coalesce(r.conversion_value, m.conversion_value) as conversion_value) s"""

# Sort keys over the object `o` (fields) or its sums `s` (metrics), and the type their cursor value is read as.
_FIELD_SORT_SQL: dict[str, tuple[str, str]] = {
    "name": ("o.name", "text"),
    "created_time": ("coalesce(o.created_time, 'epoch'::timestamptz)", "timestamptz"),
    "updated_time": ("coalesce(o.updated_time, 'epoch'::timestamptz)", "timestamptz"),
    "id": ("o.id", "text"),
}
_METRIC_SORT_SQL: dict[str, tuple[str, str]] = {
    "spend": ("s.spend", "numeric"),
    "impressions": ("s.impressions", "bigint"),
    "clicks": ("s.clicks", "bigint"),
    "conversions": ("s.conversions", "numeric"),
    "conversion_value": ("s.conversion_value", "numeric"),
    **{name: (sql.format(s="s"), "numeric") for name, sql in _RATIO_SQL.items()},
}


def _sort_sql(sort: str, descending: bool) -> tuple[str, str, bool]:
    """The sort key's SQL, its type, and whether it is a metric. An undefined ratio takes the value past every real
    one in the requested direction (numeric infinity), so it sorts last and its cursor is an ordinary value."""
    metric = metric_of(sort)
    if metric is None:
        expr, kind = _FIELD_SORT_SQL[sort]
        return expr, kind, False
    expr, kind = _METRIC_SORT_SQL[metric]
    if metric in _RATIO_SQL:
        expr = f"coalesce({expr}, '{'-' if descending else ''}Infinity'::numeric)"
    return expr, kind, True


@functools.cache
def _list_sql(level_name: str, sort: str, descending: bool) -> str:
    level = LEVELS[level_name]
    sort_expr, sort_type, by_metric = _sort_sql(sort, descending)
    filters = _FILTERS + level.extra_filters
    # The visible objects, narrow (id, account, sort key: the sort runs over few bytes), through the filters.
    # Sorting by a metric needs every visible object's 7-day sums; any other sort needs none.
    narrow = f"select o.id, o.account_id, {sort_expr} as sort_key from "  # noqa: S608 - fixed fragments, values are parameters
    if not by_metric:
        visible = narrow + f"{level.table} o where o.account_id in (select a.id from a) and {filters}"  # noqa: S608 - fixed fragments, values are parameters
    else:
        with_today = f"(select o.id, o.account_id, a.today from {level.table} o join a on a.id = o.account_id where "  # noqa: S608 - fixed fragments, values are parameters
        if level.stored:
            sums = f"{_STORED} left join lateral ({_sums(level)} and r.campaign_id is null) m on true {_STORED_SUMS}"
        else:
            sums = f"cross join lateral ({_sums(level)}) s"
        visible = narrow + with_today + filters + ") o " + sums
    direction, op = ("desc", "<") if descending else ("asc", ">")
    # Then the page, and each page row's document: stored, or built here from the object and its sums (a subquery
    # that runs only when coalesce reaches it).
    built = "".join(
        ["(select ", _doc(level), " from (select o.*, a.currency, a.today", level.parent_columns, " from ",
         level.table, " o", level.parent_joins, " where o.id = p.id) o cross join lateral (", _sums(level), ") m)"]
    )  # fmt: skip
    doc, stored_join = built, ""
    if level.stored:
        doc = f"coalesce(r.doc, {built})"
        stored_join = " left join campaign_metrics_7d r on r.campaign_id = p.id and r.as_of = a.today"
    return "".join(
        [_ACCOUNTS, ", visible as (", visible, ")",
         ", page as (select * from visible v",
         f" where ($6::text is null or (v.sort_key, v.id) {op} ($6::{sort_type}, $7::text))",
         f" order by v.sort_key {direction}, v.id {direction} limit $8)",
         " select p.id, p.sort_key::text as sort_value, ", doc, " as doc",
         " from page p join a on a.id = p.account_id", stored_join,
         f" order by p.sort_key {direction}, p.id {direction}"]
    )  # fmt: skip


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_objects(
    db: Executor,
    *,
    level: str,
    user_id: int,
    account_id: str | None,
    statuses: list[str] | None,
    effective_statuses: list[str] | None,
    search: str | None,
    sort: str,
    descending: bool,
    after: tuple[str, str] | None,
    limit: int,
    campaign_id: str | None = None,
    adset_id: str | None = None,
) -> list[asyncpg.Record]:
    """A page of campaigns, ad sets or ads (`level`) of the user's accounts as JSON documents (`doc`) with
    last-7-day totals and ratios, each with its id and sort value for the next cursor. campaign_id filters ad sets
    and ads, adset_id ads."""
    args: list[Any] = [
        user_id,
        account_id,
        statuses,
        effective_statuses,
        _like_escape(search) if search else None,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    ]
    if level != "campaign":
        args.append(campaign_id)
    if level == "ad":
        args.append(adset_id)
    rows: list[asyncpg.Record] = await db.fetch(_list_sql(level, sort, descending), *args)
    return rows


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
    """list_objects of campaigns (the benchmark's entry point)."""
    return await list_objects(
        db, level="campaign", user_id=user_id, account_id=account_id, statuses=statuses,
        effective_statuses=effective_statuses, search=search, sort=sort, descending=descending, after=after,
        limit=limit,
    )  # fmt: skip


# What a detail adds to its list entry (AdSetDetailOut: its ads' counts).
_DETAIL = {
    "adset": """
       'ads', (select count(*) from ads x where x.adset_id = o.id),
       'active_ads', (select count(*) from ads x where x.adset_id = o.id and x.effective_status = 'ACTIVE'),""",
    "ad": "",
}


@functools.cache
def _object_sql(level_name: str) -> str:
    level = LEVELS[level_name]
    return "".join(
        [f"select {_doc(level, _DETAIL[level_name])} as doc from (select o.*, a.currency,",  # noqa: S608
         f" (now() at time zone a.timezone_name)::date as today{level.parent_columns} from {level.table} o",
         " join ad_account_members am on am.account_id = o.account_id and am.user_id = $1",
         f" join ad_accounts a on a.id = o.account_id{level.parent_joins} where o.id = $2) o",
         f" cross join lateral ({_sums(level)}) m"]
    )  # fmt: skip


async def object_for_user(db: Executor, *, level: str, object_id: str, user_id: int) -> str | None:
    """One ad set or ad of the user's accounts as its detail's JSON document (the list entry's own SQL, with what
    the detail adds); None when it does not exist or belongs to an account the user is not a member of."""
    doc: str | None = await db.fetchval(_object_sql(level), user_id, object_id)
    return doc


# Every campaign of one account, from the same fragments as the list (rows left alone when nothing changed).
_CAMPAIGN = LEVELS["campaign"]
_REFRESH = "".join(
    ["insert into campaign_metrics_7d as r (campaign_id, account_id, as_of, spend, impressions, clicks,",
     " conversions, conversion_value, doc)",
     " select o.id, o.account_id, o.today, m.spend, m.impressions, m.clicks, m.conversions, m.conversion_value, ",
     _doc(_CAMPAIGN),
     " from (select o.*, a.currency, (now() at time zone a.timezone_name)::date as today from campaigns o",
     " join ad_accounts a on a.id = o.account_id where o.account_id = $1) o",
     " cross join lateral (", _sums(_CAMPAIGN), ") m",
     " on conflict (campaign_id) do update set account_id = excluded.account_id, as_of = excluded.as_of,",
     " spend = excluded.spend, impressions = excluded.impressions, clicks = excluded.clicks,",
     " conversions = excluded.conversions, conversion_value = excluded.conversion_value, doc = excluded.doc",
     " where (r.account_id, r.as_of, r.spend, r.impressions, r.clicks, r.conversions, r.conversion_value, r.doc)",
     " is distinct from (excluded.account_id, excluded.as_of, excluded.spend, excluded.impressions,",
     " excluded.clicks, excluded.conversions, excluded.conversion_value, excluded.doc)"]
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

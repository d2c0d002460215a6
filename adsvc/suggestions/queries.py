"""SQL for suggestions: the stored metrics the engine reads, the generator's bulk upsert and expiry, the API's reads
and lifecycle transitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg

from adsvc.campaigns.queries import stored_name_sql
from adsvc.suggestions.engine import CampaignPerformance, DayPoint, Draft

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection

_COLUMNS = """
    s.id, s.account_id, s.object_type, s.object_id,
    case when s.object_type = 'account' then a.name else {name} end as object_name,
    s.kind, s.status, s.rationale, s.evidence, s.proposal, s.period_since, s.period_until, s.created_at, s.updated_at,
    s.decided_by, s.decided_at, s.expires_at, a.currency, m.role
""".format(name=stored_name_sql("s.object_type", "s.object_id"))
_FROM = """
from suggestions s
join ad_account_members m on m.account_id = s.account_id and m.user_id = $1
join ad_accounts a on a.id = s.account_id
"""


@dataclass(frozen=True, slots=True)
class SuggestionRow:
    id: int
    account_id: str
    object_type: str
    object_id: str
    object_name: str | None
    kind: str
    status: str
    rationale: str
    evidence: dict[str, Any]
    proposal: dict[str, Any]
    period_since: date
    period_until: date
    created_at: datetime
    updated_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    expires_at: datetime | None
    currency: str
    role: str


async def campaign_performance(db: Executor, *, account_id: str, since: date, until: date) -> list[CampaignPerformance]:
    """Every campaign of the account with its totals over [since, until] and its daily points (for fatigue)."""
    totals = await db.fetch(
        """
        select c.id as campaign_id, c.name, c.effective_status, c.daily_budget, c.lifetime_budget,
               coalesce(sum(i.spend), 0) as spend, coalesce(sum(i.impressions), 0)::bigint as impressions,
               coalesce(sum(i.clicks), 0)::bigint as clicks, coalesce(sum(i.conversions), 0) as conversions,
               coalesce(sum(i.conversion_value), 0) as conversion_value
        from campaigns c
        left join insights_daily i
               on i.level = 'campaign' and i.campaign_id = c.id and i.date between $2 and $3
        where c.account_id = $1
        group by c.id
        order by c.id
        """,
        account_id,
        since,
        until,
    )
    days = await db.fetch(
        """
        select i.campaign_id, i.date, i.impressions, i.clicks, i.frequency
        from insights_daily i
        where i.account_id = $1 and i.level = 'campaign' and i.date between $2 and $3
        order by i.campaign_id, i.date
        """,
        account_id,
        since,
        until,
    )
    by_campaign: dict[str, list[DayPoint]] = {}
    for row in days:
        by_campaign.setdefault(row["campaign_id"], []).append(
            DayPoint(date=row["date"], impressions=row["impressions"], clicks=row["clicks"], frequency=row["frequency"])
        )
    return [CampaignPerformance(**dict(row), days=tuple(by_campaign.get(row["campaign_id"], ()))) for row in totals]


@dataclass(frozen=True, slots=True)
class StoreCounts:
    inserted: int
    refreshed: int
    unchanged: int
    suppressed: int
    expired: int


async def store_suggestions(
    conn: asyncpg.Connection,
    *,
    account_id: str,
    drafts: Sequence[Draft],
    kinds: Sequence[str],
    cooldown_days: int,
    ttl_days: int,
) -> StoreCounts:
    """Make the account's open suggestions of `kinds` exactly `drafts`, in one transaction and three statements.

    Open suggestions the drafts no longer name (or that outlived expires_at) expire; a draft becomes a new open
    suggestion, or refreshes the open one for its object and kind when its numbers changed; a draft whose object
    and kind were accepted (and await applying) or were dismissed or applied within the cooldown is left out.
    """
    object_types = [d.object_type for d in drafts]
    object_ids = [d.object_id for d in drafts]
    draft_kinds = [d.kind for d in drafts]
    async with conn.transaction():
        # two generators for one account (a re-delivered job next to a fresh one) take turns
        await conn.execute("select pg_advisory_xact_lock(hashtextextended('suggestions:' || $1, 0))", account_id)
        expired = await conn.fetchval(
            """
            with gone as (
                update suggestions s set status = 'expired', updated_at = now()
                where s.account_id = $1
                  and (
                      (s.status in ('open', 'accepted') and s.expires_at <= now())
                      or (s.status = 'open' and s.kind = any($2::text[])
                          and (s.object_type, s.object_id, s.kind) not in (
                              select * from unnest($3::text[], $4::text[], $5::text[])))
                  )
                returning 1
            )
            select count(*) from gone
            """,
            account_id,
            list(kinds),
            object_types,
            object_ids,
            draft_kinds,
        )
        row = await conn.fetchrow(
            """
            with drafts as (
                select * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[],
                                     $8::date[], $9::date[])
                    as d(object_type, object_id, kind, rationale, evidence, proposal, period_since, period_until)
            ),
            blocked as (
                select d.object_type, d.object_id, d.kind
                from drafts d
                where exists (
                    select 1 from suggestions s
                    where s.object_type = d.object_type and s.object_id = d.object_id and s.kind = d.kind
                      and (s.status = 'accepted'
                           or (s.status in ('dismissed', 'applied')
                               and s.updated_at > now() - make_interval(days => $10)))
                )
            ),
            written as (
                insert into suggestions (account_id, object_type, object_id, kind, rationale, evidence, proposal,
                                         period_since, period_until, expires_at)
                select $1, d.object_type, d.object_id, d.kind, d.rationale, d.evidence, d.proposal, d.period_since,
                       d.period_until, now() + make_interval(days => $11)
                from drafts d
                where (d.object_type, d.object_id, d.kind) not in (select * from blocked)
                on conflict (object_type, object_id, kind) where status = 'open' do update set
                    rationale = excluded.rationale,
                    evidence = excluded.evidence,
                    proposal = excluded.proposal,
                    period_since = excluded.period_since,
                    period_until = excluded.period_until,
                    expires_at = excluded.expires_at,
                    updated_at = now()
                where (suggestions.rationale, suggestions.evidence, suggestions.proposal, suggestions.period_since,
                       suggestions.period_until)
                      is distinct from (excluded.rationale, excluded.evidence, excluded.proposal,
                                        excluded.period_since, excluded.period_until)
                   -- unchanged numbers keep the row as it is, unless it would soon expire while still holding
                   or suggestions.expires_at < now() + interval '1 day'
                returning (xmax = 0) as inserted
            )
            select (select count(*) from blocked) as suppressed,
                   count(*) filter (where inserted) as inserted,
                   count(*) filter (where not inserted) as refreshed
            from written
            """,
            account_id,
            object_types,
            object_ids,
            draft_kinds,
            [d.rationale for d in drafts],
            [d.evidence for d in drafts],
            [d.proposal for d in drafts],
            [d.since for d in drafts],
            [d.until for d in drafts],
            cooldown_days,
            ttl_days,
        )
    inserted, refreshed, suppressed = row["inserted"], row["refreshed"], row["suppressed"]
    return StoreCounts(
        inserted=inserted,
        refreshed=refreshed,
        unchanged=len(drafts) - inserted - refreshed - suppressed,
        suppressed=suppressed,
        expired=expired,
    )


async def list_suggestions(
    db: Executor,
    *,
    user_id: int,
    account_id: str | None,
    statuses: Sequence[str] | None,
    kinds: Sequence[str] | None,
    object_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[SuggestionRow]:
    """Suggestions of the user's accounts, newest first, after the keyset `before_id`."""
    rows = await db.fetch(
        f"""
        select {_COLUMNS}
        {_FROM}
        where ($2::text is null or s.account_id = $2)
          and ($3::text[] is null or s.status = any($3))
          and ($4::text[] is null or s.kind = any($4))
          and ($5::text is null or s.object_id = $5)
          and ($6::bigint is null or s.id < $6)
        order by s.id desc
        limit $7
        """,
        user_id,
        account_id,
        list(statuses) if statuses else None,
        list(kinds) if kinds else None,
        object_id,
        before_id,
        limit,
    )
    return [SuggestionRow(**dict(row)) for row in rows]


async def count_suggestions(db: Executor, *, user_id: int, account_id: str | None, status: str) -> int:
    """How many suggestions of the user's accounts (or of one) have this status."""
    count: int = await db.fetchval(
        """
        select count(*)
        from suggestions s
        join ad_account_members m on m.account_id = s.account_id and m.user_id = $1
        where ($2::text is null or s.account_id = $2) and s.status = $3
        """,
        user_id,
        account_id,
        status,
    )
    return count


async def suggestion_for_user(db: Executor, *, suggestion_id: int, user_id: int) -> SuggestionRow | None:
    row = await db.fetchrow(f"select {_COLUMNS} {_FROM} where s.id = $2", user_id, suggestion_id)
    return SuggestionRow(**dict(row)) if row is not None else None


async def decide_suggestion(db: Executor, *, suggestion_id: int, user_id: int, status: str) -> SuggestionRow | None:
    """Move an open, unexpired suggestion to `status` (accepted or dismissed); None when it is not open any more."""
    row = await db.fetchrow(
        f"""
        with decided as (
            update suggestions set status = $3, decided_by = $1, decided_at = now(), updated_at = now()
            where id = $2 and status = 'open' and (expires_at is null or expires_at > now())
              and exists (select 1 from ad_account_members am
                          where am.account_id = suggestions.account_id and am.user_id = $1
                            and am.role in ('owner', 'manager'))
            returning *
        )
        select {_COLUMNS}
        from decided s
        join ad_account_members m on m.account_id = s.account_id and m.user_id = $1
        join ad_accounts a on a.id = s.account_id
        """,  # noqa: S608 - _COLUMNS is a fixed column list; values are parameters
        user_id,
        suggestion_id,
        status,
    )
    return SuggestionRow(**dict(row)) if row is not None else None


@dataclass(frozen=True, slots=True)
class AccountForSuggestions:
    id: str
    currency: str
    timezone_name: str


async def account_for_suggestions(db: Executor, *, account_id: str) -> AccountForSuggestions | None:
    row = await db.fetchrow("select id, currency, timezone_name from ad_accounts where id = $1", account_id)
    return AccountForSuggestions(**dict(row)) if row is not None else None

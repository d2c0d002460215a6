"""SQL for webhook subscriptions, the events emitted to them, their deliveries, and the insights alerts read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    user_id: int
    account_id: str | None
    url: str
    events: list[str]
    format: str
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    event_id: str
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything one delivery attempt needs."""

    id: int
    status: str
    attempts: int
    webhook_id: int
    url: str
    format: str
    active: bool
    secret_ciphertext: bytes
    event_id: str
    event: str
    account_id: str | None
    occurred_at: datetime
    data: Any


@dataclass(frozen=True, slots=True)
class InsightDay:
    level: str
    object_id: str
    name: str | None
    date: date
    impressions: int
    clicks: int
    spend: Decimal


_UPDATABLE = ("account_id", "url", "events", "format", "description", "active")


def _webhook(row: asyncpg.Record | None) -> Webhook | None:
    return Webhook(**dict(row)) if row is not None else None


async def insert_webhook(
    db: Executor,
    *,
    user_id: int,
    account_id: str | None,
    url: str,
    events: list[str],
    format: str,
    description: str | None,
    secret_ciphertext: bytes,
    active: bool,
) -> Webhook:
    row = await db.fetchrow(
        """
        insert into webhooks (user_id, account_id, url, events, format, description, secret_ciphertext, active)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        returning id, user_id, account_id, url, events, format, description, active, created_at, updated_at
        """,
        user_id,
        account_id,
        url,
        events,
        format,
        description,
        secret_ciphertext,
        active,
    )
    return Webhook(**dict(row))


async def count_webhooks(db: Executor, *, user_id: int) -> int:
    return int(await db.fetchval("select count(*) from webhooks where user_id = $1", user_id))


async def webhooks_for_user(db: Executor, *, user_id: int, account_id: str | None = None) -> list[Webhook]:
    rows = await db.fetch(
        """
        select id, user_id, account_id, url, events, format, description, active, created_at, updated_at from webhooks
        where user_id = $1 and ($2::text is null or account_id = $2 or account_id is null)
        order by id
        """,
        user_id,
        account_id,
    )
    return [Webhook(**dict(row)) for row in rows]


async def webhook_for_user(db: Executor, *, webhook_id: int, user_id: int) -> Webhook | None:
    row = await db.fetchrow(
        """
        select id, user_id, account_id, url, events, format, description, active, created_at, updated_at
        from webhooks where id = $1 and user_id = $2
        """,
        webhook_id,
        user_id,
    )
    return _webhook(row)


async def update_webhook(db: Executor, *, webhook_id: int, user_id: int, changes: dict[str, Any]) -> Webhook | None:
    """Apply the changes given (a column left out keeps its value; None in `changes` means SQL null)."""
    row = await db.fetchrow(
        """
        update webhooks set
            account_id = case when $3 then $4 else account_id end,
            url = case when $5 then $6 else url end,
            events = case when $7 then $8 else events end,
            format = case when $9 then $10 else format end,
            description = case when $11 then $12 else description end,
            active = case when $13 then $14 else active end,
            updated_at = now()
        where id = $1 and user_id = $2
        returning id, user_id, account_id, url, events, format, description, active, created_at, updated_at
        """,
        webhook_id,
        user_id,
        *[value for name in _UPDATABLE for value in (name in changes, changes.get(name))],
    )
    return _webhook(row)


async def delete_webhook(db: Executor, *, webhook_id: int, user_id: int) -> bool:
    deleted = await db.fetchval("delete from webhooks where id = $1 and user_id = $2 returning id", webhook_id, user_id)
    return deleted is not None


async def insert_event(db: Executor, *, event_id: str, event: str, account_id: str | None, data: Any) -> bool:
    """Record an event once; False when this event id was emitted before."""
    inserted = await db.fetchval(
        """
        insert into webhook_events (id, event, account_id, data) values ($1, $2, $3, $4)
        on conflict (id) do nothing
        returning true
        """,
        event_id,
        event,
        account_id,
        data,
    )
    return bool(inserted)


async def insert_deliveries_for_event(db: Executor, *, event_id: str) -> None:
    """One delivery per active subscription to this event whose owner may see its account: subscriptions to that
    account, and all-accounts subscriptions of its members (membership is checked now, not when subscribing)."""
    await db.execute(
        """
        insert into webhook_deliveries (webhook_id, event_id)
        select w.id, e.id
        from webhook_events e
        join webhooks w on w.active and e.event = any(w.events)
        where e.id = $1
          and e.account_id is not null
          and (w.account_id is null or w.account_id = e.account_id)
          and exists (select 1 from ad_account_members m where m.account_id = e.account_id and m.user_id = w.user_id)
        on conflict (webhook_id, event_id) do nothing
        """,
        event_id,
    )


async def insert_delivery(db: Executor, *, webhook_id: int, event_id: str) -> None:
    await db.execute(
        "insert into webhook_deliveries (webhook_id, event_id) values ($1, $2) on conflict do nothing",
        webhook_id,
        event_id,
    )


async def pending_deliveries_for_event(db: Executor, *, event_id: str) -> list[int]:
    """Deliveries of this event not yet attempted: what an emit (or its re-run after a crash) must queue."""
    rows = await db.fetch(
        "select id from webhook_deliveries where event_id = $1 and status = 'pending' and attempts = 0 order by id",
        event_id,
    )
    return [row["id"] for row in rows]


async def outgoing(db: Executor, *, delivery_id: int) -> Outgoing | None:
    row = await db.fetchrow(
        """
        select d.id, d.status, d.attempts, w.id as webhook_id, w.url, w.format, w.active, w.secret_ciphertext,
               e.id as event_id, e.event, e.account_id, e.occurred_at, e.data
        from webhook_deliveries d
        join webhooks w on w.id = d.webhook_id
        join webhook_events e on e.id = d.event_id
        where d.id = $1
        """,
        delivery_id,
    )
    return Outgoing(**dict(row)) if row is not None else None


async def record_attempt(
    db: Executor,
    *,
    delivery_id: int,
    status: str,
    status_code: int | None,
    error: str | None,
    retry_in_seconds: float | None = None,
) -> None:
    await db.execute(
        """
        update webhook_deliveries set
            status = $2,
            attempts = attempts + 1,
            last_status_code = $3,
            last_error = $4,
            last_attempt_at = now(),
            next_attempt_at = case when $5::float8 is null then null else now() + make_interval(secs => $5) end,
            finished_at = case when $2 in ('delivered', 'failed') then now() else null end
        where id = $1
        """,
        delivery_id,
        status,
        status_code,
        error,
        retry_in_seconds,
    )


async def finish_without_attempt(db: Executor, *, delivery_id: int, error: str) -> None:
    """Give up on a delivery without sending (subscription disabled, target refused)."""
    await db.execute(
        """
        update webhook_deliveries set status = 'failed', last_error = $2, next_attempt_at = null, finished_at = now()
        where id = $1
        """,
        delivery_id,
        error,
    )


async def deliveries_for_webhook(
    db: Executor, *, webhook_id: int, status: str | None, before_id: int, limit: int
) -> list[Delivery]:
    rows = await db.fetch(
        """
        select d.id, d.webhook_id, d.event_id, e.event, d.status, d.attempts, d.last_status_code, d.last_error,
               d.created_at, d.last_attempt_at, d.next_attempt_at, d.finished_at
        from webhook_deliveries d join webhook_events e on e.id = d.event_id
        where d.webhook_id = $1 and d.id < $2 and ($3::text is null or d.status = $3)
        order by d.id desc
        limit $4
        """,
        webhook_id,
        before_id,
        status,
        limit,
    )
    return [Delivery(**dict(row)) for row in rows]


async def member_account_exists(db: Executor, *, account_id: str, user_id: int) -> bool:
    found = await db.fetchval(
        "select 1 from ad_account_members where account_id = $1 and user_id = $2", account_id, user_id
    )
    return found is not None


async def daily_series(db: Executor, *, account_id: str, since: date, until: date) -> list[InsightDay]:
    """Account- and campaign-level daily rows of one account in a date range, with campaign names."""
    rows = await db.fetch(
        """
        select i.level, i.object_id, c.name, i.date, i.impressions, i.clicks, i.spend
        from insights_daily i
        left join campaigns c on i.level = 'campaign' and c.id = i.object_id
        where i.account_id = $1 and i.level in ('account', 'campaign') and i.date between $2 and $3
        order by i.level, i.object_id, i.date
        """,
        account_id,
        since,
        until,
    )
    return [InsightDay(**dict(row)) for row in rows]


async def account_ids(db: Executor) -> list[str]:
    rows = await db.fetch("select id from ad_accounts order by id")
    return [row["id"] for row in rows]

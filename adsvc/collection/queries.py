"""SQL for writing collected data: COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE.

No code path writes these rows one at a time. Numbers arrive as text and are cast by PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeAlias

import asyncpg

from adsvc.collection.records import INSIGHT_COLUMNS, OBJECT_FIELDS

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def _stage(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], records: Sequence[tuple[object, ...]]
) -> None:
    column_list = ", ".join(f"{name} text" for name in columns)
    # a fixed table name and column names from our own constants, never from input
    await conn.execute(f"create temporary table {table} ({column_list}) on commit drop")
    await conn.copy_records_to_table(table, records=records, columns=list(columns))


async def upsert_insights(
    conn: asyncpg.Connection,
    *,
    level: str,
    account_id: str,
    since: date,
    until: date,
    records: Sequence[tuple[str | None, ...]],
) -> int:
    """Write one complete (level, account, window) answer from Meta: upsert every row, and delete stored rows of
    that window Meta no longer reports. Must run inside a transaction. Returns rows inserted or changed."""
    await _stage(conn, "incoming_insights", INSIGHT_COLUMNS, records)
    status = await conn.execute(
        """
        insert into insights_daily as d (level, object_id, date, account_id, campaign_id, adset_id, ad_id,
            impressions, clicks, inline_link_clicks, reach, frequency, spend, conversions, conversion_value,
            actions, action_values)
        select i.level, i.object_id, i.date::date, i.account_id, i.campaign_id, i.adset_id, i.ad_id,
            i.impressions::bigint, i.clicks::bigint, i.inline_link_clicks::bigint, i.reach::bigint,
            i.frequency::numeric, i.spend::numeric, i.conversions::numeric, i.conversion_value::numeric,
            i.actions::jsonb, i.action_values::jsonb
        from incoming_insights i
        -- rows stored exactly as they arrive write nothing: ON CONFLICT would still lock (and so write) each one;
        -- conversions are compared too, so rows counted by an older rule are rewritten by the next sync
        where not exists (
            select 1 from insights_daily s
            where s.account_id = $1 and s.level = $2 and s.date between $3 and $4
              and s.level = i.level and s.object_id = i.object_id and s.date = i.date::date
              and (s.impressions, s.clicks, s.inline_link_clicks, s.reach, s.frequency, s.spend, s.actions,
                   s.action_values, s.campaign_id, s.adset_id, s.ad_id, s.conversions, s.conversion_value)
                  is not distinct from
                  (i.impressions::bigint, i.clicks::bigint, i.inline_link_clicks::bigint, i.reach::bigint,
                   i.frequency::numeric(12, 6), i.spend::numeric(18, 4), i.actions::jsonb, i.action_values::jsonb,
                   i.campaign_id, i.adset_id, i.ad_id, i.conversions::numeric(18, 4),
                   i.conversion_value::numeric(18, 4))
        )
        on conflict (level, object_id, date) do update set
            account_id = excluded.account_id,
            campaign_id = excluded.campaign_id,
            adset_id = excluded.adset_id,
            ad_id = excluded.ad_id,
            impressions = excluded.impressions,
            clicks = excluded.clicks,
            inline_link_clicks = excluded.inline_link_clicks,
            reach = excluded.reach,
            frequency = excluded.frequency,
            spend = excluded.spend,
            conversions = excluded.conversions,
            conversion_value = excluded.conversion_value,
            actions = excluded.actions,
            action_values = excluded.action_values,
            fetched_at = now()
        where (d.impressions, d.clicks, d.inline_link_clicks, d.reach, d.frequency, d.spend, d.actions,
               d.action_values, d.campaign_id, d.adset_id, d.ad_id, d.conversions, d.conversion_value)
            is distinct from
              (excluded.impressions, excluded.clicks, excluded.inline_link_clicks, excluded.reach,
               excluded.frequency, excluded.spend, excluded.actions, excluded.action_values,
               excluded.campaign_id, excluded.adset_id, excluded.ad_id, excluded.conversions,
               excluded.conversion_value)
        """,
        account_id,
        level,
        since,
        until,
    )
    await conn.execute(
        """
        delete from insights_daily d
        where d.account_id = $1 and d.level = $2 and d.date between $3 and $4
          and not exists (
              select 1 from incoming_insights i where i.object_id = d.object_id and i.date::date = d.date
          )
        """,
        account_id,
        level,
        since,
        until,
    )
    return int(status.rsplit(" ", 1)[1])


_OBJECT_TABLES = {"campaign": "campaigns", "adset": "adsets", "ad": "ads"}
_TIMESTAMPS = {"start_time", "stop_time", "end_time", "created_time", "updated_time"}
_BIGINTS = {"daily_budget", "lifetime_budget"}


def _cast(name: str) -> str:
    if name in _TIMESTAMPS:
        return f"i.{name}::timestamptz"
    if name in _BIGINTS:
        return f"i.{name}::bigint"
    return f"i.{name}"


async def upsert_objects(conn: asyncpg.Connection, *, kind: str, records: Sequence[tuple[str | None, ...]]) -> int:
    """Upsert campaigns, ad sets or ads as Meta described them. Must run inside a transaction."""
    table, columns = _OBJECT_TABLES[kind], OBJECT_FIELDS[kind]
    await _stage(conn, f"incoming_{table}", columns, records)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "id")
    status = await conn.execute(
        f"""
        insert into {table} as o ({", ".join(columns)}, synced_at)
        select {", ".join(_cast(name) for name in columns)}, now()
        from incoming_{table} i
        on conflict (id) do update set {updates}, synced_at = now()
        """  # noqa: S608
    )
    return int(status.rsplit(" ", 1)[1])


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: int
    account_id: str
    kind: str
    status: str
    job_id: str | None
    since: date | None
    until: date | None
    progress: Decimal
    rows_written: int
    objects_written: int
    graph_calls: int
    error_kind: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


async def start_run(
    db: Executor, *, account_id: str, kind: str, job_id: str | None, since: date | None, until: date | None
) -> int:
    run_id: int = await db.fetchval(
        """
        insert into sync_runs (account_id, kind, status, job_id, since, until, started_at, heartbeat_at)
        values ($1, $2, 'running', $3, $4, $5, now(), now())
        returning id
        """,
        account_id,
        kind,
        job_id,
        since,
        until,
    )
    return run_id


async def record_progress(
    db: Executor, *, run_id: int, progress: float, rows_written: int, objects_written: int, graph_calls: int
) -> None:
    await db.execute(
        """
        update sync_runs set progress = $2, rows_written = $3, objects_written = $4, graph_calls = $5,
                             heartbeat_at = now()
        where id = $1
        """,
        run_id,
        min(1.0, max(0.0, progress)),
        rows_written,
        objects_written,
        graph_calls,
    )


async def finish_run(
    db: Executor, *, run_id: int, status: str, error_kind: str | None = None, error: str | None = None
) -> None:
    """A run's end is written once: a run a later one already marked abandoned keeps that end."""
    await db.execute(
        """
        update sync_runs set status = $2, error_kind = $3, error = $4, finished_at = now(), heartbeat_at = now(),
                             progress = case when $2 = 'succeeded' then 1 else progress end
        where id = $1 and status = 'running'
        """,
        run_id,
        status,
        error_kind,
        error,
    )


async def abandon_running(db: Executor, *, account_id: str) -> int:
    """Runs still 'running' when a new one holds the account's lock were killed mid-way: say so."""
    status = await db.execute(
        """
        update sync_runs set status = 'abandoned', finished_at = now(),
                             error = 'worker stopped before finishing; superseded by a later run'
        where account_id = $1 and status = 'running'
        """,
        account_id,
    )
    return int(status.rsplit(" ", 1)[1])


async def runs_for_account(db: Executor, *, account_id: str, before_id: int, limit: int) -> list[SyncRun]:
    rows = await db.fetch(
        """
        select id, account_id, kind, status, job_id, since, until, progress, rows_written, objects_written,
               graph_calls, error_kind, error, created_at, started_at, heartbeat_at, finished_at
        from sync_runs where account_id = $1 and id < $2 order by id desc limit $3
        """,
        account_id,
        before_id,
        limit,
    )
    return [SyncRun(**dict(row)) for row in rows]


async def latest_runs(db: Executor, *, limit: int) -> list[SyncRun]:
    rows = await db.fetch(
        """
        select id, account_id, kind, status, job_id, since, until, progress, rows_written, objects_written,
               graph_calls, error_kind, error, created_at, started_at, heartbeat_at, finished_at
        from sync_runs order by id desc limit $1
        """,
        limit,
    )
    return [SyncRun(**dict(row)) for row in rows]


async def run_for_job(db: Executor, *, job_id: str) -> SyncRun | None:
    """The latest run of an arq job (a job retried after a throttle has one run per attempt)."""
    row = await db.fetchrow(
        """
        select id, account_id, kind, status, job_id, since, until, progress, rows_written, objects_written,
               graph_calls, error_kind, error, created_at, started_at, heartbeat_at, finished_at
        from sync_runs where job_id = $1 order by id desc limit 1
        """,
        job_id,
    )
    return SyncRun(**dict(row)) if row is not None else None


# ---- conversions counted by the account's rule (adsvc.collection.conversions) ----------------------------------


async def conversion_action_types_for_ingest(conn: asyncpg.Connection, *, account_id: str) -> list[str] | None:
    """The account's conversion types, its row held FOR SHARE until the transaction ends: a change of the setting
    (which recounts every stored row) waits for this ingest step, and a step that starts later reads the new value."""
    types: list[str] | None = await conn.fetchval(
        "select conversion_action_types from ad_accounts where id = $1 for share", account_id
    )
    return types


async def stored_actions(
    conn: asyncpg.Connection, *, account_id: str, chunk: int = 5000
) -> AsyncIterator[list[asyncpg.Record]]:
    """The account's stored rows that carry any action or a conversion (the others count 0 by any rule), with their
    actions, action values and current conversions, `chunk` rows at a time (a server-side cursor: an account's
    history never sits in memory at once). Must run inside a transaction."""
    cursor = await conn.cursor(
        """
        select level, object_id, date, actions, action_values, conversions, conversion_value
        from insights_daily
        where account_id = $1
          and (actions <> '{}' or action_values <> '{}' or conversions <> 0 or conversion_value <> 0)
        """,
        account_id,
    )
    while rows := await cursor.fetch(chunk):
        yield rows


async def stage_recounted(conn: asyncpg.Connection, *, records: Sequence[tuple[str, str, date, str, str]]) -> None:
    """Add (level, object_id, date, conversions, conversion_value) rows to this transaction's recount table."""
    await conn.execute(
        """
        create temporary table if not exists recounted_conversions (
            level text, object_id text, date date, conversions text, conversion_value text
        ) on commit drop
        """
    )
    await conn.copy_records_to_table("recounted_conversions", records=records)


async def apply_recounted(conn: asyncpg.Connection, *, account_id: str) -> int:
    """Write the staged conversions onto the stored rows (rows already equal are not written); returns rows changed."""
    status = await conn.execute(
        """
        update insights_daily d
        set conversions = r.conversions::numeric, conversion_value = r.conversion_value::numeric
        from recounted_conversions r
        where d.level = r.level and d.object_id = r.object_id and d.date = r.date and d.account_id = $1
          and (d.conversions, d.conversion_value)
              is distinct from (r.conversions::numeric(18, 4), r.conversion_value::numeric(18, 4))
        """,
        account_id,
    )
    return int(status.rsplit(" ", 1)[1])

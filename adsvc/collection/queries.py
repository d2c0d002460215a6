"""SQL for writing collected data: COPY into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE.

No code path writes these rows one at a time. Numbers arrive as text and are cast by PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from adsvc.collection.records import INSIGHT_COLUMNS, OBJECT_FIELDS

_CONVERSIONS = (
    "coalesce((i.actions::jsonb->>'purchase')::numeric, 0) + coalesce((i.actions::jsonb->>'lead')::numeric, 0)"
)
_CONVERSION_VALUE = (
    "coalesce((i.action_values::jsonb->>'purchase')::numeric, 0) "
    "+ coalesce((i.action_values::jsonb->>'lead')::numeric, 0)"
)


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
        f"""
        insert into insights_daily as d (level, object_id, date, account_id, campaign_id, adset_id, ad_id,
            impressions, clicks, inline_link_clicks, reach, frequency, spend, conversions, conversion_value,
            actions, action_values)
        select i.level, i.object_id, i.date::date, i.account_id, i.campaign_id, i.adset_id, i.ad_id,
            i.impressions::bigint, i.clicks::bigint, i.inline_link_clicks::bigint, i.reach::bigint,
            i.frequency::numeric, i.spend::numeric, {_CONVERSIONS}, {_CONVERSION_VALUE},
            i.actions::jsonb, i.action_values::jsonb
        from incoming_insights i
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
               d.action_values, d.campaign_id, d.adset_id, d.ad_id)
            is distinct from
              (excluded.impressions, excluded.clicks, excluded.inline_link_clicks, excluded.reach,
               excluded.frequency, excluded.spend, excluded.actions, excluded.action_values,
               excluded.campaign_id, excluded.adset_id, excluded.ad_id)
        """  # noqa: S608
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

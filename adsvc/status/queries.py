"""SQL the health checks run."""

from __future__ import annotations

import asyncpg


async def applied_migration_ids(conn: asyncpg.Connection) -> set[str]:
    """The migrations yoyo recorded; an empty set before the first `adsvc migrate`."""
    try:
        rows = await conn.fetch("select migration_id from _yoyo_migration")
    except asyncpg.UndefinedTableError:
        return set()
    return {row["migration_id"] for row in rows}


async def server_version(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("show server_version"))


async def latest_syncs(db: asyncpg.Pool | asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    """The newest sync runs across accounts, with the account's name, for the status page."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        select r.id, r.account_id, a.name as account_name, r.kind, r.status, r.progress, r.rows_written,
               r.objects_written, r.graph_calls, r.error_kind, r.error, r.started_at, r.finished_at,
               extract(epoch from coalesce(r.finished_at, now()) - r.started_at) as seconds
        from sync_runs r join ad_accounts a on a.id = r.account_id
        order by r.id desc limit $1
        """,
        limit,
    )
    return rows

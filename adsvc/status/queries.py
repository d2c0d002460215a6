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

"""SQL for ad accounts and their members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    currency: str
    timezone_name: str
    timezone_offset_hours_utc: Decimal | None
    account_status: int | None
    token_status: str
    token_checked_at: datetime | None
    token_error: str | None
    connected_at: datetime
    last_structure_sync_at: datetime | None
    last_insights_sync_at: datetime | None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What Meta says about an account when its token is validated."""

    id: str
    name: str
    currency: str
    timezone_name: str
    timezone_offset_hours_utc: Decimal | None
    account_status: int | None


def _account(row: asyncpg.Record | None) -> Account | None:
    return Account(**dict(row)) if row is not None else None


async def insert_new_account(
    db: Executor, *, info: AccountInfo, token_ciphertext: bytes, connected_by: int
) -> Account | None:
    """Store an account seen for the first time, with its validated token; None when it is already connected
    (a concurrent first connect waits for the other's transaction, then gets None)."""
    row = await db.fetchrow(
        """
        insert into ad_accounts (id, name, currency, timezone_name, timezone_offset_hours_utc, account_status,
                                 token_ciphertext, token_status, token_checked_at, token_error, connected_by)
        values ($1, $2, $3, $4, $5, $6, $7, 'valid', now(), null, $8)
        on conflict (id) do nothing
        returning id, name, currency, timezone_name, timezone_offset_hours_utc, account_status, token_status,
                  token_checked_at, token_error, connected_at, last_structure_sync_at, last_insights_sync_at
        """,
        info.id,
        info.name,
        info.currency,
        info.timezone_name,
        info.timezone_offset_hours_utc,
        info.account_status,
        token_ciphertext,
        connected_by,
    )
    return _account(row)


async def replace_token(db: Executor, *, info: AccountInfo, token_ciphertext: bytes) -> Account | None:
    """Store a freshly validated token for a connected account, with what Meta now says about the account."""
    row = await db.fetchrow(
        """
        update ad_accounts set
            name = $2,
            currency = $3,
            timezone_name = $4,
            timezone_offset_hours_utc = $5,
            account_status = $6,
            token_ciphertext = $7,
            token_status = 'valid',
            token_checked_at = now(),
            token_error = null,
            updated_at = now()
        where id = $1
        returning id, name, currency, timezone_name, timezone_offset_hours_utc, account_status, token_status,
                  token_checked_at, token_error, connected_at, last_structure_sync_at, last_insights_sync_at
        """,
        info.id,
        info.name,
        info.currency,
        info.timezone_name,
        info.timezone_offset_hours_utc,
        info.account_status,
        token_ciphertext,
    )
    return _account(row)


async def accounts_for_user(db: Executor, *, user_id: int) -> list[Account]:
    rows = await db.fetch(
        """
        select a.id, a.name, a.currency, a.timezone_name, a.timezone_offset_hours_utc, a.account_status,
               a.token_status, a.token_checked_at, a.token_error, a.connected_at, a.last_structure_sync_at,
               a.last_insights_sync_at, m.role
        from ad_accounts a
        join ad_account_members m on m.account_id = a.id and m.user_id = $1
        order by a.name, a.id
        """,
        user_id,
    )
    return [Account(**dict(row)) for row in rows]


async def account_for_user(db: Executor, *, account_id: str, user_id: int) -> Account | None:
    """The account if this user is a member of it; None otherwise (callers answer 404 either way)."""
    row = await db.fetchrow(
        """
        select a.id, a.name, a.currency, a.timezone_name, a.timezone_offset_hours_utc, a.account_status,
               a.token_status, a.token_checked_at, a.token_error, a.connected_at, a.last_structure_sync_at,
               a.last_insights_sync_at, m.role
        from ad_accounts a
        join ad_account_members m on m.account_id = a.id and m.user_id = $2
        where a.id = $1
        """,
        account_id,
        user_id,
    )
    return _account(row)


async def account_by_id(db: Executor, *, account_id: str) -> Account | None:
    row = await db.fetchrow(
        """
        select id, name, currency, timezone_name, timezone_offset_hours_utc, account_status, token_status,
               token_checked_at, token_error, connected_at, last_structure_sync_at, last_insights_sync_at
        from ad_accounts where id = $1
        """,
        account_id,
    )
    return _account(row)


async def account_token(db: Executor, *, account_id: str) -> bytes | None:
    ciphertext: bytes | None = await db.fetchval("select token_ciphertext from ad_accounts where id = $1", account_id)
    return ciphertext


async def mark_token(db: Executor, *, account_id: str, status: str, error: str | None) -> None:
    await db.execute(
        """
        update ad_accounts set token_status = $2, token_error = $3, token_checked_at = now(), updated_at = now()
        where id = $1
        """,
        account_id,
        status,
        error,
    )


async def account_ids_with_valid_tokens(db: Executor) -> list[str]:
    rows = await db.fetch("select id from ad_accounts where token_status = 'valid' order by id")
    return [row["id"] for row in rows]


async def mark_structure_synced(db: Executor, *, account_id: str) -> None:
    await db.execute("update ad_accounts set last_structure_sync_at = now() where id = $1", account_id)


async def mark_insights_synced(db: Executor, *, account_id: str) -> None:
    await db.execute("update ad_accounts set last_insights_sync_at = now() where id = $1", account_id)


async def campaign_counts(db: Executor, *, account_id: str) -> dict[str, int]:
    rows = await db.fetch(
        "select effective_status, count(*) as n from campaigns where account_id = $1 group by 1 order by 1", account_id
    )
    return {row["effective_status"]: row["n"] for row in rows}


async def running_sync_count(db: Executor, *, account_id: str) -> int:
    return int(
        await db.fetchval("select count(*) from sync_runs where account_id = $1 and status = 'running'", account_id)
    )


# ---- the account's conversion types (adsvc.collection.conversions; null = the default precedence) ---------------


async def conversion_action_types(db: Executor, *, account_id: str) -> list[str] | None:
    types: list[str] | None = await db.fetchval(
        "select conversion_action_types from ad_accounts where id = $1", account_id
    )
    return types


async def lock_conversion_action_types(conn: asyncpg.Connection, *, account_id: str) -> tuple[bool, list[str] | None]:
    """The setting, the account's row locked until the transaction ends (ingest steps read it FOR SHARE, so none
    writes rows by the old setting after a recount). Returns (account found, the setting)."""
    row = await conn.fetchrow(
        "select conversion_action_types from ad_accounts where id = $1 for no key update", account_id
    )
    if row is None:
        return False, None
    types: list[str] | None = row["conversion_action_types"]
    return True, types


async def set_conversion_action_types(
    conn: asyncpg.Connection, *, account_id: str, action_types: list[str] | None
) -> None:
    await conn.execute(
        "update ad_accounts set conversion_action_types = $2, updated_at = now() where id = $1",
        account_id,
        action_types,
    )

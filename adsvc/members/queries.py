"""SQL for the members of ad accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    email: str
    role: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class AccountAccess:
    """An account as one user reaches it: its id, and that user's role (None when not a member)."""

    account_id: str
    role: str | None


async def lock_account_members(conn: asyncpg.Connection, *, account_id: str, user_id: int) -> AccountAccess | None:
    """Lock the account's membership until the transaction ends (so two owners demoting each other at once cannot
    both succeed), and say the caller's role in it; None when there is no such account."""
    row = await conn.fetchrow(
        """
        select a.id as account_id, m.role
        from ad_accounts a
        left join ad_account_members m on m.account_id = a.id and m.user_id = $2
        where a.id = $1
        for no key update of a
        """,
        account_id,
        user_id,
    )
    return AccountAccess(**dict(row)) if row is not None else None


async def account_access(db: Executor, *, account_id: str, user_id: int) -> AccountAccess | None:
    row = await db.fetchrow(
        """
        select a.id as account_id, m.role
        from ad_accounts a
        left join ad_account_members m on m.account_id = a.id and m.user_id = $2
        where a.id = $1
        """,
        account_id,
        user_id,
    )
    return AccountAccess(**dict(row)) if row is not None else None


async def members(db: Executor, *, account_id: str, after_user_id: int, limit: int) -> list[Member]:
    rows = await db.fetch(
        """
        select m.user_id, u.email, m.role, m.added_at
        from ad_account_members m
        join users u on u.id = m.user_id
        where m.account_id = $1 and m.user_id > $2
        order by m.user_id
        limit $3
        """,
        account_id,
        after_user_id,
        limit,
    )
    return [Member(**dict(row)) for row in rows]


async def member(db: Executor, *, account_id: str, user_id: int) -> Member | None:
    row = await db.fetchrow(
        """
        select m.user_id, u.email, m.role, m.added_at
        from ad_account_members m
        join users u on u.id = m.user_id
        where m.account_id = $1 and m.user_id = $2
        """,
        account_id,
        user_id,
    )
    return Member(**dict(row)) if row is not None else None


async def owner_count(db: Executor, *, account_id: str) -> int:
    count: int = await db.fetchval(
        "select count(*) from ad_account_members where account_id = $1 and role = 'owner'", account_id
    )
    return count


async def insert_member(db: Executor, *, account_id: str, user_id: int, role: str) -> Member:
    row = await db.fetchrow(
        """
        with added as (
            insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)
            returning user_id, role, added_at
        )
        select added.user_id, u.email, added.role, added.added_at from added join users u on u.id = added.user_id
        """,
        account_id,
        user_id,
        role,
    )
    return Member(**dict(row))


async def set_member_role(db: Executor, *, account_id: str, user_id: int, role: str) -> Member | None:
    row = await db.fetchrow(
        """
        with changed as (
            update ad_account_members set role = $3 where account_id = $1 and user_id = $2
            returning user_id, role, added_at
        )
        select changed.user_id, u.email, changed.role, changed.added_at
        from changed join users u on u.id = changed.user_id
        """,
        account_id,
        user_id,
        role,
    )
    return Member(**dict(row)) if row is not None else None


async def delete_member(db: Executor, *, account_id: str, user_id: int) -> bool:
    deleted: str = await db.execute(
        "delete from ad_account_members where account_id = $1 and user_id = $2", account_id, user_id
    )
    return deleted == "DELETE 1"

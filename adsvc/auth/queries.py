"""SQL for users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    hashed_password: str
    is_active: bool
    is_admin: bool
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None
    # the pages' language (adsvc.pages.i18n.LOCALES); None: the browser's
    locale: str | None


def _user(row: asyncpg.Record | None) -> User | None:
    return User(**dict(row)) if row is not None else None


async def user_by_email(db: Executor, *, email: str) -> User | None:
    row = await db.fetchrow(
        """
        select id, email, hashed_password, is_active, is_admin, created_at, password_changed_at, disabled_at, locale
        from users where lower(email) = lower($1)
        """,
        email.strip(),
    )
    return _user(row)


async def user_by_id(db: Executor, *, user_id: int) -> User | None:
    row = await db.fetchrow(
        """
        select id, email, hashed_password, is_active, is_admin, created_at, password_changed_at, disabled_at, locale
        from users where id = $1
        """,
        user_id,
    )
    return _user(row)


async def lock_user(conn: asyncpg.Connection, *, user_id: int) -> User | None:
    """The user, row-locked until the caller's transaction ends."""
    row = await conn.fetchrow(
        """
        select id, email, hashed_password, is_active, is_admin, created_at, password_changed_at, disabled_at, locale
        from users where id = $1
        for update
        """,
        user_id,
    )
    return _user(row)


async def insert_user(db: Executor, *, email: str, hashed_password: str, is_admin: bool) -> User | None:
    """The new user, or None when the email is already taken (case-insensitively)."""
    row = await db.fetchrow(
        """
        insert into users (email, hashed_password, is_admin)
        values ($1, $2, $3)
        on conflict ((lower(email))) do nothing
        returning id, email, hashed_password, is_active, is_admin, created_at, password_changed_at, disabled_at, locale
        """,
        email.strip(),
        hashed_password,
        is_admin,
    )
    return _user(row)


async def update_password_hash(db: Executor, *, user_id: int, old_hash: str, new_hash: str) -> bool:
    """Swap a hash for a rehash of the same password, unless the password changed meanwhile."""
    result = await db.execute(
        "update users set hashed_password = $3 where id = $1 and hashed_password = $2", user_id, old_hash, new_hash
    )
    return bool(result == "UPDATE 1")


async def set_password(db: Executor, *, user_id: int, hashed_password: str) -> datetime:
    changed_at: datetime = await db.fetchval(
        """
        update users set hashed_password = $2, password_changed_at = clock_timestamp()
        where id = $1
        returning password_changed_at
        """,
        user_id,
        hashed_password,
    )
    return changed_at


async def disable_user(db: Executor, *, user_id: int) -> User | None:
    row = await db.fetchrow(
        """
        update users set is_active = false, disabled_at = clock_timestamp()
        where id = $1
        returning id, email, hashed_password, is_active, is_admin, created_at, password_changed_at, disabled_at, locale
        """,
        user_id,
    )
    return _user(row)


async def is_active_admin(db: Executor, *, user_id: int) -> bool:
    return bool(await db.fetchval("select is_admin and is_active from users where id = $1", user_id))


async def count_users(db: Executor) -> int:
    return int(await db.fetchval("select count(*) from users"))


async def list_users(db: Executor, *, after_id: int, limit: int) -> list[User]:
    rows = await db.fetch(
        """
        select id, email, hashed_password, is_active, is_admin, created_at, password_changed_at, disabled_at, locale
        from users where id > $1 order by id limit $2
        """,
        after_id,
        limit,
    )
    return [User(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def insert_api_key(db: Executor, *, user_id: int, name: str, prefix: str, digest: bytes) -> ApiKey:
    row = await db.fetchrow(
        """
        insert into api_keys (user_id, name, prefix, key_hash) values ($1, $2, $3, $4)
        returning id, user_id, name, prefix, created_at, last_used_at, revoked_at
        """,
        user_id,
        name,
        prefix,
        digest,
    )
    return ApiKey(**dict(row))


async def revoke_api_key(db: Executor, *, key_id: int) -> ApiKey | None:
    row = await db.fetchrow(
        """
        update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1
        returning id, user_id, name, prefix, created_at, last_used_at, revoked_at
        """,
        key_id,
    )
    return ApiKey(**dict(row)) if row is not None else None


async def list_api_keys(db: Executor) -> list[ApiKey]:
    rows = await db.fetch(
        "select id, user_id, name, prefix, created_at, last_used_at, revoked_at from api_keys order by id"
    )
    return [ApiKey(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class KeyOwner:
    key_id: int
    user_id: int
    email: str
    is_admin: bool


async def use_api_key(db: Executor, *, digest: bytes) -> KeyOwner | None:
    """The active owner of an unrevoked key, noting its use; None for unknown, revoked or disabled."""
    row = await db.fetchrow(
        """
        update api_keys k set last_used_at = now()
        from users u
        where k.key_hash = $1 and k.revoked_at is null and u.id = k.user_id and u.is_active
        returning k.id as key_id, u.id as user_id, u.email, u.is_admin
        """,
        digest,
    )
    return KeyOwner(**dict(row)) if row is not None else None


async def set_locale(db: Executor, *, user_id: int, locale: str | None) -> bool:
    status: str = await db.execute("update users set locale = $2 where id = $1", user_id, locale)
    return status == "UPDATE 1"

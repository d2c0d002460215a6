"""SQL for automation actions: the stored object a plan reads, the action rows and their transitions, and what an
applied action writes back (the stored object, the suggestion it came from)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

from adsvc.automation.planner import StoredObject

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection

_COLUMNS = """
    x.id, x.account_id, x.object_type, x.object_id, x.field, x.before_value, x.after_value, x.currency, x.status,
    x.source, x.source_id, x.reason, x.idempotency_key, x.reverts_action_id, x.error, x.requested_by, x.created_at,
    x.applied_at, x.reverted_at
"""


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    account_id: str
    object_type: str
    object_id: str
    field: str
    before_value: str | None
    after_value: str
    currency: str | None
    status: str
    source: str
    source_id: str | None
    reason: str | None
    idempotency_key: str
    reverts_action_id: int | None
    error: str | None
    requested_by: int | None
    created_at: datetime
    applied_at: datetime | None
    reverted_at: datetime | None


@dataclass(frozen=True, slots=True)
class MemberAction:
    action: ActionRow
    role: str


_STORED_OBJECT_SQL = {
    "campaign": """
        select 'campaign' as object_type, o.id as object_id, o.account_id, o.status, o.daily_budget, o.lifetime_budget,
               a.currency
        from campaigns o join ad_accounts a on a.id = o.account_id where o.id = $1
    """,
    "adset": """
        select 'adset' as object_type, o.id as object_id, o.account_id, o.status, o.daily_budget, o.lifetime_budget,
               a.currency
        from adsets o join ad_accounts a on a.id = o.account_id where o.id = $1
    """,
    "ad": """
        select 'ad' as object_type, o.id as object_id, o.account_id, o.status, null::bigint as daily_budget,
               null::bigint as lifetime_budget, a.currency
        from ads o join ad_accounts a on a.id = o.account_id where o.id = $1
    """,
}

_UPDATE_STATUS_SQL = {
    "campaign": "update campaigns set status = $2, effective_status = $2 where id = $1",
    "adset": "update adsets set status = $2, effective_status = $2 where id = $1",
    "ad": "update ads set status = $2, effective_status = $2 where id = $1",
}
_UPDATE_BUDGET_SQL = {
    "campaign": "update campaigns set daily_budget = $2 where id = $1",
    "adset": "update adsets set daily_budget = $2 where id = $1",
}


async def stored_object(db: Executor, *, object_type: str, object_id: str) -> StoredObject | None:
    sql = _STORED_OBJECT_SQL.get(object_type)
    if sql is None:
        return None
    row = await db.fetchrow(sql, object_id)
    return StoredObject(**dict(row)) if row is not None else None


async def write_stored_object(db: Executor, *, object_type: str, object_id: str, field: str, value: str) -> None:
    """What Meta now holds, so reads reflect the change before the next structure sync."""
    if field == "status":
        await db.execute(_UPDATE_STATUS_SQL[object_type], object_id, value)
    else:
        await db.execute(_UPDATE_BUDGET_SQL[object_type], object_id, int(value))


async def lock_object(conn: asyncpg.Connection, *, object_id: str) -> None:
    """Serialise planning for one object (the budget limit counts rows that a concurrent plan may be adding)."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended('action:' || $1, 0))", object_id)


async def recent_budget_changes(db: Executor, *, object_id: str, since: datetime) -> list[datetime]:
    """When the object's budget changed (or is being changed) since `since`; reverts are changes too."""
    rows = await db.fetch(
        """
        select coalesce(applied_at, created_at) as changed_at
        from actions
        where object_id = $1 and field = 'daily_budget' and status in ('planned', 'applied', 'reverted')
          and coalesce(applied_at, created_at) > $2
        order by changed_at
        """,
        object_id,
        since,
    )
    return [row["changed_at"] for row in rows]


async def insert_planned_action(
    conn: asyncpg.Connection,
    *,
    account_id: str,
    object_type: str,
    object_id: str,
    field: str,
    before_value: str | None,
    after_value: str,
    currency: str,
    source: str,
    source_id: str | None,
    reason: str,
    idempotency_key: str,
    reverts_action_id: int | None,
    requested_by: int | None,
) -> ActionRow | None:
    """The new planned action, or None when an action already holds the idempotency key."""
    row = await conn.fetchrow(
        f"""
        insert into actions as x (account_id, object_type, object_id, field, before_value, after_value, currency,
                                  source, source_id, reason, idempotency_key, reverts_action_id, requested_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        on conflict (idempotency_key) do nothing
        returning {_COLUMNS}
        """,  # noqa: S608 - _COLUMNS is a fixed column list; values are parameters
        account_id,
        object_type,
        object_id,
        field,
        before_value,
        after_value,
        currency,
        source,
        source_id,
        reason,
        idempotency_key,
        reverts_action_id,
        requested_by,
    )
    return ActionRow(**dict(row)) if row is not None else None


async def action_by_key(db: Executor, *, idempotency_key: str) -> ActionRow | None:
    row = await db.fetchrow(f"select {_COLUMNS} from actions x where x.idempotency_key = $1", idempotency_key)  # noqa: S608
    return ActionRow(**dict(row)) if row is not None else None


async def actions_by_keys(db: Executor, *, keys: Sequence[str]) -> list[ActionRow]:
    rows = await db.fetch(
        f"select {_COLUMNS} from actions x where x.idempotency_key = any($1::text[]) order by x.id",  # noqa: S608
        list(keys),
    )
    return [ActionRow(**dict(row)) for row in rows]


async def mark_applied(conn: asyncpg.Connection, *, action_id: int) -> ActionRow:
    row = await conn.fetchrow(
        f"update actions x set status = 'applied', applied_at = now(), error = null where id = $1 returning {_COLUMNS}",  # noqa: S608
        action_id,
    )
    return ActionRow(**dict(row))


async def mark_failed(conn: asyncpg.Connection, *, action_id: int, error: str) -> ActionRow:
    row = await conn.fetchrow(
        f"update actions x set status = 'failed', error = $2 where id = $1 returning {_COLUMNS}",  # noqa: S608
        action_id,
        error[:1000],
    )
    return ActionRow(**dict(row))


async def mark_reverted(conn: asyncpg.Connection, *, action_id: int) -> None:
    await conn.execute(
        "update actions set status = 'reverted', reverted_at = now() where id = $1 and status = 'applied'", action_id
    )


async def revert_actions_of(db: Executor, *, action_id: int) -> list[ActionRow]:
    """The actions that revert `action_id` (failed attempts included), oldest first."""
    rows = await db.fetch(
        f"select {_COLUMNS} from actions x where x.reverts_action_id = $1 order by x.id",  # noqa: S608
        action_id,
    )
    return [ActionRow(**dict(row)) for row in rows]


async def action_for_user(db: Executor, *, action_id: int, user_id: int) -> MemberAction | None:
    row = await db.fetchrow(
        f"""
        select {_COLUMNS}, m.role
        from actions x join ad_account_members m on m.account_id = x.account_id and m.user_id = $1
        where x.id = $2
        """,  # noqa: S608
        user_id,
        action_id,
    )
    if row is None:
        return None
    values = dict(row)
    role = values.pop("role")
    return MemberAction(action=ActionRow(**values), role=role)


async def list_actions(
    db: Executor,
    *,
    user_id: int,
    account_id: str | None,
    status: str | None,
    object_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[ActionRow]:
    """Actions on the user's accounts, newest first, after the keyset `before_id`."""
    rows = await db.fetch(
        f"""
        select {_COLUMNS}
        from actions x join ad_account_members m on m.account_id = x.account_id and m.user_id = $1
        where ($2::text is null or x.account_id = $2)
          and ($3::text is null or x.status = $3)
          and ($4::text is null or x.object_id = $4)
          and ($5::bigint is null or x.id < $5)
        order by x.id desc
        limit $6
        """,  # noqa: S608
        user_id,
        account_id,
        status,
        object_id,
        before_id,
        limit,
    )
    return [ActionRow(**dict(row)) for row in rows]


async def mark_suggestion_applied(conn: asyncpg.Connection, *, suggestion_id: int) -> bool:
    status = await conn.fetchval(
        """
        update suggestions set status = 'applied', updated_at = now()
        where id = $1 and status = 'accepted'
        returning status
        """,
        suggestion_id,
    )
    return status is not None

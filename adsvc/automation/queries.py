"""SQL for automation actions (the stored object a plan reads, the action rows and their transitions, what an applied
action writes back) and for automation rules (CRUD, the objects and daily totals a rule judges, runs, cooldowns,
the schedule)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias, cast

import asyncpg

from adsvc.automation.planner import StoredObject
from adsvc.automation.rules import DailyTotals, RuleObject
from adsvc.campaigns.queries import stored_name_sql

Executor: TypeAlias = asyncpg.Pool | asyncpg.Connection

# an action `x` with the stored name of its object (null if never synced)
_COLUMNS = f"""
    x.id, x.account_id, x.object_type, x.object_id, {stored_name_sql("x.object_type", "x.object_id")} as object_name,
    x.field, x.before_value, x.after_value, x.currency, x.status, x.source, x.source_id, x.reason, x.idempotency_key,
    x.reverts_action_id, x.error, x.requested_by, x.created_at, x.applied_at, x.reverted_at
"""


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    account_id: str
    object_type: str
    object_id: str
    object_name: str | None
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


async def object_names(db: Executor, *, objects: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The stored names of (object_type, object_id) pairs; an object never synced has none."""
    rows = await db.fetch(
        """
        select o.object_type, o.object_id, coalesce(c.name, s.name, d.name) as name
        from unnest($1::text[], $2::text[]) as o(object_type, object_id)
        left join campaigns c on o.object_type = 'campaign' and c.id = o.object_id
        left join adsets s on o.object_type = 'adset' and s.id = o.object_id
        left join ads d on o.object_type = 'ad' and d.id = o.object_id
        """,
        [t for t, _ in objects],
        [i for _, i in objects],
    )
    return {(row["object_type"], row["object_id"]): row["name"] for row in rows if row["name"] is not None}


async def actions_for_source(db: Executor, *, source: str, source_id: str) -> list[ActionRow]:
    """The actions a suggestion (or a rule) made, oldest first."""
    rows = await db.fetch(
        f"select {_COLUMNS} from actions x where x.source = $1 and x.source_id = $2 order by x.id",  # noqa: S608
        source,
        source_id,
    )
    return [ActionRow(**dict(row)) for row in rows]


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


async def abandon_planned(conn: asyncpg.Connection, *, created_before: datetime, error: str) -> list[ActionRow]:
    """Planned actions older than `created_before` (their process stopped between claiming the key and recording
    Meta's answer) marked failed, so they no longer hold a cooldown or a budget-change slot as if pending."""
    rows = await conn.fetch(
        f"""
        update actions x set status = 'failed', error = $2
        where x.status = 'planned' and x.created_at < $1
        returning {_COLUMNS}
        """,  # noqa: S608
        created_before,
        error,
    )
    return [ActionRow(**dict(row)) for row in rows]


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


# --- automation rules -------------------------------------------------------------------------------------------

_RULE_COLUMNS = """
    r.id, r.account_id, r.name, r.enabled, r.spec, r.version, r.next_run_at, r.last_run_at, r.created_by,
    r.created_at, r.updated_at
"""


@dataclass(frozen=True, slots=True)
class RuleRow:
    id: int
    account_id: str
    name: str
    enabled: bool
    spec: dict[str, Any]
    version: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberRule:
    rule: RuleRow
    role: str


def _rule(row: asyncpg.Record) -> RuleRow:
    return RuleRow(**dict(row))


async def insert_rule(
    conn: asyncpg.Connection,
    *,
    account_id: str,
    name: str,
    enabled: bool,
    spec: dict[str, Any],
    next_run_at: datetime | None,
    created_by: int,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> RuleRow:
    row = await conn.fetchrow(
        f"""
        insert into automation_rules as r (account_id, name, enabled, spec, next_run_at, created_by, idempotency_key,
                                           request_fingerprint)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        returning {_RULE_COLUMNS}
        """,  # noqa: S608
        account_id,
        name,
        enabled,
        spec,
        next_run_at,
        created_by,
        idempotency_key,
        request_fingerprint,
    )
    return _rule(row)


@dataclass(frozen=True, slots=True)
class KeyedRule:
    rule: RuleRow
    request_fingerprint: str | None
    deleted: bool


async def rule_by_idempotency_key(db: Executor, *, created_by: int, idempotency_key: str) -> KeyedRule | None:
    """The rule this user created with this Idempotency-Key, deleted or not."""
    row = await db.fetchrow(
        f"""
        select {_RULE_COLUMNS}, r.request_fingerprint, r.deleted_at is not null as deleted
        from automation_rules r
        where r.created_by = $1 and r.idempotency_key = $2
        """,  # noqa: S608
        created_by,
        idempotency_key,
    )
    if row is None:
        return None
    values = dict(row)
    fingerprint, deleted = values.pop("request_fingerprint"), values.pop("deleted")
    return KeyedRule(RuleRow(**values), fingerprint, deleted)


async def count_rules(db: Executor, *, account_id: str) -> int:
    count: int = await db.fetchval(
        "select count(*) from automation_rules where account_id = $1 and deleted_at is null", account_id
    )
    return count


async def rule_for_user(db: Executor, *, rule_id: int, user_id: int) -> MemberRule | None:
    row = await db.fetchrow(
        f"""
        select {_RULE_COLUMNS}, m.role
        from automation_rules r
        join ad_account_members m on m.account_id = r.account_id and m.user_id = $2
        where r.id = $1 and r.deleted_at is null
        """,  # noqa: S608
        rule_id,
        user_id,
    )
    if row is None:
        return None
    values = dict(row)
    role = values.pop("role")
    return MemberRule(RuleRow(**values), role)


async def rule_by_id(db: Executor, *, rule_id: int) -> RuleRow | None:
    row = await db.fetchrow(
        f"select {_RULE_COLUMNS} from automation_rules r where r.id = $1 and r.deleted_at is null",  # noqa: S608
        rule_id,
    )
    return _rule(row) if row is not None else None


async def rules_for_user(db: Executor, *, user_id: int, account_id: str | None, enabled: bool | None) -> list[RuleRow]:
    rows = await db.fetch(
        f"""
        select {_RULE_COLUMNS}
        from automation_rules r
        join ad_account_members m on m.account_id = r.account_id and m.user_id = $1
        where r.deleted_at is null
          and ($2::text is null or r.account_id = $2)
          and ($3::boolean is null or r.enabled = $3)
        order by r.account_id, r.id
        """,  # noqa: S608
        user_id,
        account_id,
        enabled,
    )
    return [_rule(row) for row in rows]


async def update_rule(
    conn: asyncpg.Connection,
    *,
    rule_id: int,
    name: str,
    enabled: bool,
    spec: dict[str, Any],
    next_run_at: datetime | None,
) -> RuleRow:
    row = await conn.fetchrow(
        f"""
        update automation_rules r
        set name = $2, enabled = $3, spec = $4, next_run_at = $5, version = r.version + 1, updated_at = now()
        where r.id = $1 and r.deleted_at is null
        returning {_RULE_COLUMNS}
        """,  # noqa: S608
        rule_id,
        name,
        enabled,
        spec,
        next_run_at,
    )
    return _rule(row)


async def delete_rule(conn: asyncpg.Connection, *, rule_id: int) -> bool:
    """Hide the rule and stop its schedule; its runs and actions stay as history."""
    status: str = await conn.execute(
        """
        update automation_rules
        set deleted_at = now(), enabled = false, next_run_at = null, updated_at = now()
        where id = $1 and deleted_at is null
        """,
        rule_id,
    )
    return status == "UPDATE 1"


_RULE_OBJECTS_SQL = {
    "campaign": """
        select 'campaign' as object_type, o.id as object_id, o.name, o.effective_status as status, o.daily_budget
        from campaigns o
        where o.account_id = $1 and o.effective_status = any($2::text[])
          and ($3::text[] is null or o.id = any($3)) and ($4::text[] is null or o.id = any($4))
          and ($5::text is null or strpos(lower(o.name), lower($5)) > 0)
        order by o.id
    """,
    "adset": """
        select 'adset' as object_type, o.id as object_id, o.name, o.effective_status as status, o.daily_budget
        from adsets o
        where o.account_id = $1 and o.effective_status = any($2::text[])
          and ($3::text[] is null or o.id = any($3)) and ($4::text[] is null or o.campaign_id = any($4))
          and ($5::text is null or strpos(lower(o.name), lower($5)) > 0)
        order by o.id
    """,
    "ad": """
        select 'ad' as object_type, o.id as object_id, o.name, o.effective_status as status,
               null::bigint as daily_budget
        from ads o
        where o.account_id = $1 and o.effective_status = any($2::text[])
          and ($3::text[] is null or o.id = any($3)) and ($4::text[] is null or o.campaign_id = any($4))
          and ($5::text is null or strpos(lower(o.name), lower($5)) > 0)
        order by o.id
    """,
}


async def rule_objects(
    db: Executor,
    *,
    account_id: str,
    level: str,
    statuses: Sequence[str],
    object_ids: Sequence[str] | None,
    campaign_ids: Sequence[str] | None,
    name_contains: str | None,
) -> list[RuleObject]:
    """The objects of `level` a rule's scope names, as stored (the account itself at account level)."""
    if level == "account":
        row = await db.fetchrow(
            """
            select 'account' as object_type, id as object_id, name, null::text as status, null::bigint as daily_budget
            from ad_accounts where id = $1
            """,
            account_id,
        )
        return [RuleObject(**dict(row))] if row is not None else []
    rows = await db.fetch(
        _RULE_OBJECTS_SQL[level],
        account_id,
        list(statuses),
        list(object_ids) if object_ids is not None else None,
        list(campaign_ids) if campaign_ids is not None else None,
        name_contains,
    )
    return [RuleObject(**dict(row)) for row in rows]


DAILY_TOTALS_SQL = """
    select i.object_id, i.date, i.spend, i.impressions, i.clicks, i.conversions, i.conversion_value
    from insights_daily i
    where i.account_id = $1 and i.level = $2 and i.date between $3 and $4
      and ($5::text[] is null or i.object_id = any($5))
"""


async def daily_totals(
    db: Executor, *, account_id: str, level: str, object_ids: Sequence[str] | None, since: date, until: date
) -> list[DailyTotals]:
    """The stored daily totals of the account's objects of `level` over [since, until] (all of them when
    `object_ids` is None)."""
    rows = await db.fetch(
        DAILY_TOTALS_SQL,
        account_id,
        level,
        since,
        until,
        list(object_ids) if object_ids is not None else None,
    )
    # records unpack in DailyTotals' column order, which is all Series.build asks of them: no copy per row
    return cast("list[DailyTotals]", rows)


async def rule_cooldowns(db: Executor, *, rule_id: int) -> dict[str, datetime]:
    """When the rule last acted on each object: its notifications and finished runs (rule_cooldowns), and every
    change it made or began at Meta (actions), so a run that died before recording its cooldowns still counts."""
    rows = await db.fetch(
        """
        select object_id, max(acted_at) as acted_at
        from (
            select object_id, acted_at from rule_cooldowns where rule_id = $1
            union all
            select object_id, coalesce(applied_at, created_at) from actions
            where source = 'rule' and source_id = $1::text and status in ('planned', 'applied', 'reverted')
        ) as acted
        group by object_id
        """,
        rule_id,
    )
    return {row["object_id"]: row["acted_at"] for row in rows}


async def record_cooldowns(
    conn: asyncpg.Connection, *, rule_id: int, object_ids: Sequence[str], acted_at: datetime
) -> None:
    await conn.execute(
        """
        insert into rule_cooldowns (rule_id, object_id, acted_at)
        select $1, object_id, $3 from unnest($2::text[]) as object_id
        on conflict (rule_id, object_id) do update set acted_at = greatest(rule_cooldowns.acted_at, excluded.acted_at)
        """,
        rule_id,
        list(object_ids),
        acted_at,
    )


_RUN_COLUMNS = """
    u.id, u.rule_id, u.account_id, u.run_key, u.trigger, u.rule_version, u.status, u.evaluated, u.matched, u.applied,
    u.refused, u.failed, u.results, u.error, u.requested_by, u.started_at, u.finished_at
"""


@dataclass(frozen=True, slots=True)
class RuleRunRow:
    id: int
    rule_id: int
    account_id: str
    run_key: str
    trigger: str
    rule_version: int
    status: str
    evaluated: int
    matched: int
    applied: int
    refused: int
    failed: int
    results: list[dict[str, Any]]
    error: str | None
    requested_by: int | None
    started_at: datetime
    finished_at: datetime | None


async def claim_run(
    db: Executor,
    *,
    rule: RuleRow,
    run_key: str,
    trigger: str,
    requested_by: int | None,
) -> tuple[RuleRunRow, bool]:
    """The run for `run_key`: a new one (True), or the one that already has the key (False)."""
    row = await db.fetchrow(
        f"""
        insert into rule_runs as u (rule_id, account_id, run_key, trigger, rule_version, requested_by)
        values ($1, $2, $3, $4, $5, $6)
        on conflict (run_key) do nothing
        returning {_RUN_COLUMNS}
        """,  # noqa: S608
        rule.id,
        rule.account_id,
        run_key,
        trigger,
        rule.version,
        requested_by,
    )
    if row is not None:
        return RuleRunRow(**dict(row)), True
    existing = await db.fetchrow(f"select {_RUN_COLUMNS} from rule_runs u where u.run_key = $1", run_key)  # noqa: S608
    return RuleRunRow(**dict(existing)), False


async def finish_run(
    conn: asyncpg.Connection,
    *,
    run_id: int,
    status: str,
    evaluated: int,
    matched: int,
    applied: int,
    refused: int,
    failed: int,
    results: list[dict[str, Any]],
    error: str | None,
) -> RuleRunRow:
    row = await conn.fetchrow(
        f"""
        update rule_runs u
        set status = $2, evaluated = $3, matched = $4, applied = $5, refused = $6, failed = $7, results = $8,
            error = $9, finished_at = now()
        where u.id = $1
        returning {_RUN_COLUMNS}
        """,  # noqa: S608
        run_id,
        status,
        evaluated,
        matched,
        applied,
        refused,
        failed,
        results,
        error,
    )
    await conn.execute(
        """
        update automation_rules set last_run_at = greatest(last_run_at, $2)
        where id = $1
        """,
        row["rule_id"],
        row["finished_at"],
    )
    return RuleRunRow(**dict(row))


async def count_blocked_runs(db: Executor, *, run_key_prefix: str) -> int:
    """Runs of one scheduled slot that failed without acting (their retries take the next key)."""
    count: int = await db.fetchval(
        """
        select count(*) from rule_runs
        where (run_key = $1 or run_key like $1 || ':retry%') and status = 'failed' and applied = 0
        """,
        run_key_prefix,
    )
    return count


async def runs_for_rule(db: Executor, *, rule_id: int, before_id: int | None, limit: int) -> list[RuleRunRow]:
    rows = await db.fetch(
        f"""
        select {_RUN_COLUMNS} from rule_runs u
        where u.rule_id = $1 and ($2::bigint is null or u.id < $2)
        order by u.id desc
        limit $3
        """,  # noqa: S608
        rule_id,
        before_id,
        limit,
    )
    return [RuleRunRow(**dict(row)) for row in rows]


@dataclass(frozen=True, slots=True)
class DueRule:
    rule: RuleRow
    timezone_name: str


async def claim_due_rules(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[DueRule]:
    """Enabled rules whose next run is due, locked until the caller's transaction ends (other schedulers skip
    them)."""
    rows = await conn.fetch(
        f"""
        select {_RULE_COLUMNS}, a.timezone_name
        from automation_rules r join ad_accounts a on a.id = r.account_id
        where r.enabled and r.deleted_at is null and r.next_run_at <= $1
        order by r.next_run_at
        limit $2
        for update of r skip locked
        """,  # noqa: S608
        now,
        limit,
    )
    due = []
    for row in rows:
        values = dict(row)
        timezone_name = values.pop("timezone_name")
        due.append(DueRule(RuleRow(**values), timezone_name))
    return due


async def set_next_run(conn: asyncpg.Connection, *, rule_id: int, next_run_at: datetime | None) -> None:
    await conn.execute("update automation_rules set next_run_at = $2 where id = $1", rule_id, next_run_at)

"""Applying plans at Meta: a planned action row first (its idempotency key claimed), then one Graph write, then the
outcome recorded, the stored object updated, the audit log written and an action.applied / action.failed event."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from adsvc.audit.queries import insert_audit_entry
from adsvc.automation import queries
from adsvc.automation.planner import BUDGET_WINDOW, Plan, Refusal, Step, plan_step
from adsvc.graph.agent import FacebookAdsAgent
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.cache import AgentCache
from adsvc.graph.errors import GraphError
from adsvc.webhooks.deliveries import emit_event

log = logging.getLogger("adsvc.automation")


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Who asks, and the resources an action needs."""

    pg: asyncpg.Pool
    queue: ArqRedis
    agents: AgentCache[FacebookAdsAgent]
    actor_id: int | None
    client_addr: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    action: queries.ActionRow
    error: GraphError | CircuitOpen | None = None
    replayed: bool = False  # the idempotency key already named this action: nothing was sent to Meta


async def _plan(conn: asyncpg.Connection, step: Step, *, account_id: str, now: datetime) -> Plan:
    stored = await queries.stored_object(conn, object_type=step.object_type, object_id=step.object_id)
    if stored is not None and stored.account_id != account_id:
        stored = None  # never act on another account's object through this account's token
    recent = await queries.recent_budget_changes(conn, object_id=step.object_id, since=now - BUDGET_WINDOW)
    return plan_step(step, stored, recent_budget_changes=recent, now=now)


async def preview(pg: asyncpg.Pool, steps: Sequence[Step], *, account_id: str) -> list[Plan]:
    """Every step planned without acting: raises the first Refusal, so nothing is applied when any step would fail."""
    now = datetime.now(UTC)
    async with pg.acquire() as conn:
        return [await _plan(conn, step, account_id=account_id, now=now) for step in steps]


async def plan_each(pg: asyncpg.Pool, steps: Sequence[Step], *, account_id: str) -> list[Plan | Refusal]:
    """Every step planned without acting, each on its own: its plan, or the refusal that stops it."""
    now = datetime.now(UTC)
    planned: list[Plan | Refusal] = []
    async with pg.acquire() as conn:
        for step in steps:
            try:
                planned.append(await _plan(conn, step, account_id=account_id, now=now))
            except Refusal as refusal:
                planned.append(refusal)
    return planned


def _event_data(action: queries.ActionRow) -> dict[str, Any]:
    return {
        "action_id": action.id,
        "object_type": action.object_type,
        "object_id": action.object_id,
        "object_name": action.object_name,
        "field": action.field,
        "before": action.before_value,
        "after": action.after_value,
        "currency": action.currency,
        "source": action.source,
        "source_id": action.source_id,
        "reverts_action_id": action.reverts_action_id,
        "error": action.error,
        "summary": f"{action.field} of {action.object_type} {action.object_id}: "
        f"{action.before_value} -> {action.after_value}",
    }


async def _emit(ctx: ActionContext, action: queries.ActionRow) -> None:
    event = "action.applied" if action.status == "applied" else "action.failed"
    try:
        await emit_event(
            ctx.pg, ctx.queue, event=event, account_id=action.account_id, data=_event_data(action),
            event_id=f"{event}:{action.id}",
        )  # fmt: skip
    except (RedisError, OSError):
        # the change is made and recorded; a lost notification must not turn it into an error for the caller
        log.exception("could not emit %s for action %s", event, action.id)


async def _audit(
    conn: asyncpg.Connection,
    action: queries.ActionRow,
    *,
    outcome: str,
    actor_id: int | None,
    client_addr: str | None = None,
    request_id: str | None = None,
) -> None:
    await insert_audit_entry(
        conn,
        action="action.revert" if action.reverts_action_id else "action.apply",
        actor_id=actor_id,
        target_type=action.object_type,
        target_id=action.object_id,
        outcome=outcome,
        before={action.field: action.before_value},
        after={action.field: action.after_value},
        details={
            "action_id": action.id,
            "account_id": action.account_id,
            "source": action.source,
            "source_id": action.source_id,
            "reverts_action_id": action.reverts_action_id,
            "currency": action.currency,
            "reason": action.reason,
            "error": action.error,
        },
        client_addr=client_addr,
        request_id=request_id,
    )


async def apply_step(
    ctx: ActionContext,
    step: Step,
    *,
    account_id: str,
    source: str,
    source_id: str | None,
    idempotency_key: str,
    reverts_action_id: int | None = None,
) -> Outcome:
    """Plan and apply one step once per idempotency key. Raises Refusal when the planner refuses, and what building
    the account's agent raises (GraphError, CircuitOpen, TokenUnreadable, NotFound); a failed Graph write is recorded
    on the action and returned in the outcome (the caller decides how to report it)."""
    existing = await queries.action_by_key(ctx.pg, idempotency_key=idempotency_key)
    if existing is not None:
        return Outcome(existing, replayed=True)
    # the agent first: an account we cannot act for (token unreadable, rejected, breaker open) plans nothing
    agent = await ctx.agents.get(account_id)
    async with ctx.pg.acquire() as conn, conn.transaction():
        await queries.lock_object(conn, object_id=step.object_id)
        plan = await _plan(conn, step, account_id=account_id, now=datetime.now(UTC))
        action = await queries.insert_planned_action(
            conn,
            account_id=account_id,
            object_type=plan.object_type,
            object_id=plan.object_id,
            field=plan.field,
            before_value=plan.before,
            after_value=plan.after,
            currency=plan.currency,
            source=source,
            source_id=source_id,
            reason=plan.why,
            idempotency_key=idempotency_key,
            reverts_action_id=reverts_action_id,
            requested_by=ctx.actor_id,
        )
    if action is None:  # a concurrent request with the same key got there first
        taken = await queries.action_by_key(ctx.pg, idempotency_key=idempotency_key)
        assert taken is not None
        return Outcome(taken, replayed=True)
    try:
        await agent.client.post(f"{plan.object_id}/", {plan.field: plan.after})
    except (GraphError, CircuitOpen) as exc:
        async with ctx.pg.acquire() as conn, conn.transaction():
            failed = await queries.mark_failed(conn, action_id=action.id, error=str(exc))
            await _audit(conn, failed, outcome="failure", actor_id=ctx.actor_id, client_addr=ctx.client_addr,
                         request_id=ctx.request_id)  # fmt: skip
        await _emit(ctx, failed)
        return Outcome(failed, error=exc)
    async with ctx.pg.acquire() as conn, conn.transaction():
        applied = await queries.mark_applied(conn, action_id=action.id)
        await queries.write_stored_object(
            conn, object_type=plan.object_type, object_id=plan.object_id, field=plan.field, value=plan.after
        )
        if reverts_action_id is not None:
            await queries.mark_reverted(conn, action_id=reverts_action_id)
        await _audit(conn, applied, outcome="success", actor_id=ctx.actor_id, client_addr=ctx.client_addr,
                     request_id=ctx.request_id)  # fmt: skip
    await _emit(ctx, applied)
    return Outcome(applied)


async def apply_steps(
    ctx: ActionContext,
    steps: Sequence[Step],
    *,
    account_id: str,
    source: str,
    source_id: str | None,
    key_scope: str,
) -> list[Outcome]:
    """Apply the steps in order after planning them all (a refusal stops everything before any write); stops at the
    first Graph failure. Each step's key is `key_scope` with its object and field."""
    claimed = {
        a.idempotency_key for a in await queries.actions_by_keys(ctx.pg, keys=[step_key(key_scope, s) for s in steps])
    }
    # a retried request replays what its key already holds; only the rest is planned (and may be refused)
    await preview(ctx.pg, [s for s in steps if step_key(key_scope, s) not in claimed], account_id=account_id)
    outcomes: list[Outcome] = []
    for step in steps:
        outcome = await apply_step(
            ctx, step, account_id=account_id, source=source, source_id=source_id,
            idempotency_key=step_key(key_scope, step),
        )  # fmt: skip
        outcomes.append(outcome)
        if outcome.error is not None:
            break
    return outcomes


def step_key(scope: str, step: Step) -> str:
    return f"{scope}:{step.object_type}:{step.object_id}:{step.field}"


# A Graph write answers within the client's timeout and retries (minutes at most); a planned action this old was
# left by a process that stopped before recording the answer.
STALE_PLANNED_AFTER = timedelta(minutes=30)


async def abandon_stale_actions(pg: asyncpg.Pool, *, now: datetime | None = None) -> list[queries.ActionRow]:
    """Record planned actions nobody will finish as failed (with an audit entry each). Whether Meta applied them is
    unknown here; the next structure sync stores what Meta holds."""
    cutoff = (now or datetime.now(UTC)) - STALE_PLANNED_AFTER
    error = "abandoned: the process stopped before Meta's answer was recorded; the next structure sync shows the state"
    async with pg.acquire() as conn, conn.transaction():
        abandoned = await queries.abandon_planned(conn, created_before=cutoff, error=error)
        for action in abandoned:
            await _audit(conn, action, outcome="failure", actor_id=None)
    return abandoned

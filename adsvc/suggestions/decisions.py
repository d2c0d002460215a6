"""What the suggestions API and pages do apart from HTTP: accept or dismiss a suggestion (audited), and apply it at
Meta through the automation executor once per idempotency key."""

from __future__ import annotations

import asyncpg

from adsvc.audit.queries import insert_audit_entry
from adsvc.automation import queries as action_queries
from adsvc.automation.executor import ActionContext
from adsvc.automation.operations import (
    action_out,
    apply_proposal,
    origin_of,
    proposal_keys,
    raise_for_failure,
    record_suggestion_applied,
    scoped_key,
)
from adsvc.automation.schemas import SuggestionAppliedOut
from adsvc.errors import Conflict, Forbidden, NotFound
from adsvc.requests import AuditOrigin
from adsvc.suggestions import queries
from adsvc.suggestions.schemas import SuggestionOut

DECIDE_ROLES = frozenset({"owner", "manager"})


def suggestion_out(row: queries.SuggestionRow) -> SuggestionOut:
    return SuggestionOut(
        id=row.id,
        account_id=row.account_id,
        object_type=row.object_type,  # type: ignore[arg-type]
        object_id=row.object_id,
        object_name=row.object_name,
        kind=row.kind,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        rationale=row.rationale,
        evidence=row.evidence,
        proposal=row.proposal,
        period_since=row.period_since,
        period_until=row.period_until,
        currency=row.currency,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
    )


async def decide(
    pg: asyncpg.Pool, origin: AuditOrigin, *, user_id: int, suggestion_id: int, status: str
) -> queries.SuggestionRow:
    """Accept or dismiss (`status`) an open suggestion of the caller's accounts, audited; the API's and the pages'
    one path. Raises NotFound, Forbidden, or Conflict (with the current status in its details)."""
    row = await queries.suggestion_for_user(pg, suggestion_id=suggestion_id, user_id=user_id)
    if row is None:
        raise NotFound("suggestion not found")
    if row.role not in DECIDE_ROLES:
        raise Forbidden("only owners and managers can accept or dismiss suggestions")
    verb = "accept" if status == "accepted" else "dismiss"
    async with pg.acquire() as conn, conn.transaction():
        decided = await queries.decide_suggestion(conn, suggestion_id=row.id, user_id=user_id, status=status)
        if decided is not None:
            await insert_audit_entry(
                conn,
                action=f"suggestion.{verb}",
                target_type="suggestion",
                target_id=str(row.id),
                before={"status": row.status},
                after={"status": decided.status},
                details={
                    "account_id": row.account_id,
                    "object_type": row.object_type,
                    "object_id": row.object_id,
                    "kind": row.kind,
                    "proposal": row.proposal,
                },
                **origin,
            )
    if decided is None:
        current = await queries.suggestion_for_user(pg, suggestion_id=row.id, user_id=user_id)
        current_status = current.status if current is not None else row.status
        if current_status == "open":  # open, but past expires_at: the generator marks it expired on its next run
            raise Conflict(
                f"cannot {verb} an expired suggestion", code="suggestion_expired", details={"status": "expired"}
            )
        raise Conflict(
            f"cannot {verb} a suggestion that is {current_status}; only open suggestions can be decided",
            code="invalid_transition",
            details={"status": current_status},
        )
    return decided


async def apply(
    ctx: ActionContext, *, user_id: int, suggestion_id: int, idempotency_key: str | None
) -> SuggestionAppliedOut:
    """Apply a suggestion at Meta through the executor, once per idempotency key (the API's Idempotency-Key header,
    a page form's hidden key); the API's and the pages' one path. Raises the API error of a refusal or failure."""
    pg = ctx.pg
    row = await queries.suggestion_for_user(pg, suggestion_id=suggestion_id, user_id=user_id)
    if row is None:
        raise NotFound("suggestion not found")
    if row.role not in DECIDE_ROLES:
        raise Forbidden("only owners and managers can apply suggestions")
    scope = scoped_key(user_id, idempotency_key, default=f"suggestion:{row.id}")
    keys = proposal_keys(
        key_scope=scope, object_type=row.object_type, object_id=row.object_id, kind=row.kind, proposal=row.proposal
    )
    done = await action_queries.actions_by_keys(pg, keys=keys) if keys else []
    retried = idempotency_key is not None  # only a keyed retry replays; a second plain apply conflicts
    if retried and keys and len(done) == len(keys) and row.status == "applied":
        return SuggestionAppliedOut(suggestion=suggestion_out(row), actions=[action_out(a) for a in done])
    if row.status == "open":
        await decide(pg, origin_of(ctx), user_id=user_id, suggestion_id=row.id, status="accepted")
    elif row.status != "accepted":
        raise Conflict(
            f"cannot apply a suggestion that is {row.status}; only open or accepted suggestions can be applied",
            code="invalid_transition",
            details={"status": row.status},
        )
    outcomes = await apply_proposal(
        ctx, account_id=row.account_id, object_type=row.object_type, object_id=row.object_id, kind=row.kind,
        proposal=row.proposal, rationale=row.rationale, source="suggestion", source_id=str(row.id), key_scope=scope,
    )  # fmt: skip
    raise_for_failure(outcomes)
    actions = [action_out(outcome.action) for outcome in outcomes]
    await record_suggestion_applied(ctx, suggestion_id=row.id, actions=actions)
    current = await queries.suggestion_for_user(pg, suggestion_id=row.id, user_id=user_id)
    assert current is not None
    return SuggestionAppliedOut(suggestion=suggestion_out(current), actions=actions)

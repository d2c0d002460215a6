"""HTTP handlers for automation actions (list, detail, revert) and the apply paths the suggestions API and the older
automation endpoints call: planning refusals, roles, idempotency keys and Graph errors turned into API errors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adsvc.accounts.views import graph_error_to_api
from adsvc.audit.queries import insert_audit_entry
from adsvc.automation import queries
from adsvc.automation.executor import ActionContext, Outcome, apply_step, apply_steps, step_key
from adsvc.automation.planner import Refusal, revert_step, steps_from_proposal
from adsvc.automation.schemas import ActionListOut, ActionListQuery, ActionOut, RefusedOut
from adsvc.collection.records import account_number
from adsvc.crypto import TokenUnreadable
from adsvc.errors import ApiError, Conflict, Forbidden, NotFound, ValidationFailed
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.errors import GraphError
from adsvc.keys import AGENTS, ARQ, PG
from adsvc.requests import client_address, principal, request_id
from adsvc.routing import Routes, json_response
from adsvc.suggestions.engine import Draft

routes = Routes(tag="automation")

ACT_ROLES = frozenset({"owner", "manager"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")


class BudgetChangeLimited(Conflict):
    """The object's budget changed four times in the last hour: refused before Meta is called."""

    def __init__(self, message: str, *, retry_after: int, details: Any) -> None:
        super().__init__(message, details=details, code="budget_change_limit")
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def agent_error_to_api(exc: GraphError | CircuitOpen | TokenUnreadable) -> ApiError:
    """Why we could not act for the account at all (nothing was planned or sent)."""
    if isinstance(exc, TokenUnreadable):
        return ValidationFailed.field(
            ("body", "account_id"),
            "the stored access token of this account cannot be used; reconnect the account",
            kind="meta_auth",
            code="meta_token_unreadable",
            summary="The account's access token cannot be used",
        )
    return graph_error_to_api(exc)


def refusal_to_api(refusal: Refusal) -> ApiError:
    if refusal.retry_at is not None:
        seconds = int((refusal.retry_at - datetime.now(UTC)).total_seconds()) + 1
        return BudgetChangeLimited(
            refusal.message,
            retry_after=seconds,
            details={"frees_at": refusal.retry_at.isoformat(), "retry_after_seconds": max(1, seconds)},
        )
    return Conflict(refusal.message, code=refusal.code)


def action_out(action: queries.ActionRow) -> ActionOut:
    return ActionOut(
        id=action.id,
        account_id=action.account_id,
        object_type=action.object_type,  # type: ignore[arg-type]
        object_id=action.object_id,
        field=action.field,  # type: ignore[arg-type]
        before_value=action.before_value,
        after_value=action.after_value,
        currency=action.currency,
        status=action.status,  # type: ignore[arg-type]
        source=action.source,  # type: ignore[arg-type]
        source_id=action.source_id,
        reason=action.reason,
        reverts_action_id=action.reverts_action_id,
        error=action.error,
        requested_by=action.requested_by,
        created_at=action.created_at,
        applied_at=action.applied_at,
        reverted_at=action.reverted_at,
    )


def action_context(request: web.Request) -> ActionContext:
    return ActionContext(
        pg=request.app[PG],
        queue=request.app[ARQ],
        agents=request.app[AGENTS],
        actor_id=principal(request).user_id,
        client_addr=client_address(request),
        request_id=request_id(request),
    )


def idempotency_scope(request: web.Request, default: str) -> str:
    """The caller's Idempotency-Key (scoped to the caller, so two users' keys never meet), or `default`."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return default
    if not _KEY_PATTERN.match(key):
        raise ValidationFailed.field(
            ("header", IDEMPOTENCY_HEADER), "must be 1 to 200 visible ASCII characters", code="invalid_idempotency_key"
        )
    return f"user:{principal(request).user_id}:{key}"


def raise_for_failure(outcomes: Sequence[Outcome]) -> None:
    """A failed Graph write is reported as the API error it maps to, on the request that made it."""
    for outcome in outcomes:
        if outcome.error is not None:
            raise graph_error_to_api(outcome.error)


async def apply_proposal(
    request: web.Request,
    *,
    account_id: str,
    object_type: str,
    object_id: str,
    kind: str,
    proposal: dict[str, Any],
    rationale: str,
    source: str,
    source_id: str | None,
    key_scope: str,
) -> list[Outcome]:
    """Plan every step of a proposal (refusing before any write) and apply them; raises ApiError on a refusal."""
    try:
        steps = steps_from_proposal(
            object_type=object_type, object_id=object_id, kind=kind, proposal=proposal, rationale=rationale
        )
        return await apply_steps(
            action_context(request), steps, account_id=account_id, source=source, source_id=source_id,
            key_scope=key_scope,
        )  # fmt: skip
    except Refusal as refusal:
        raise refusal_to_api(refusal) from None
    except (GraphError, CircuitOpen, TokenUnreadable) as exc:
        raise agent_error_to_api(exc) from None


def proposal_keys(
    *, key_scope: str, object_type: str, object_id: str, kind: str, proposal: dict[str, Any]
) -> list[str]:
    """The idempotency keys a proposal's steps would use (empty when the proposal cannot be applied)."""
    try:
        steps = steps_from_proposal(
            object_type=object_type, object_id=object_id, kind=kind, proposal=proposal, rationale=""
        )
    except Refusal:
        return []
    return [step_key(key_scope, step) for step in steps]


async def apply_drafts(
    request: web.Request, *, account_id: str, drafts: Sequence[Draft]
) -> tuple[list[ActionOut], list[RefusedOut]]:
    """The older endpoints with dry_run false: each draft applied on its own; refusals listed, not raised."""
    scope = idempotency_scope(request, default=f"legacy:{request_id(request)}")
    actions: list[ActionOut] = []
    refused: list[RefusedOut] = []
    for draft in drafts:
        try:
            steps = steps_from_proposal(
                object_type=draft.object_type, object_id=draft.object_id, kind=draft.kind, proposal=draft.proposal,
                rationale=draft.rationale,
            )  # fmt: skip
            outcomes = await apply_steps(
                action_context(request), steps, account_id=account_id, source="legacy", source_id=draft.kind,
                key_scope=scope,
            )  # fmt: skip
        except (GraphError, CircuitOpen, TokenUnreadable) as exc:
            raise agent_error_to_api(exc) from None
        except Refusal as refusal:
            refused.append(
                RefusedOut(
                    object_type=draft.object_type, object_id=draft.object_id, code=refusal.code, message=refusal.message
                )
            )
            continue
        actions.extend(action_out(outcome.action) for outcome in outcomes)
    return actions, refused


@routes.get(
    "/api/v1/automation/actions",
    name="automation-actions",
    summary="Actions on your accounts (planned, applied, failed, reverted), newest first; keyset pages",
    query=ActionListQuery,
    response=ActionListOut,
)
async def list_actions(request: web.Request, query: ActionListQuery) -> web.Response:
    rows = await queries.list_actions(
        request.app[PG],
        user_id=principal(request).user_id,
        account_id=account_number(query.account_id) if query.account_id else None,
        status=query.status,
        object_id=query.object_id,
        before_id=query.before_id,
        limit=query.limit + 1,
    )
    page = rows[: query.limit]
    next_before_id = page[-1].id if len(rows) > query.limit else None
    return json_response(ActionListOut(data=[action_out(row) for row in page], next_before_id=next_before_id))


@routes.get(
    "/api/v1/automation/actions/{action_id}",
    name="automation-action",
    summary="One action with its object, field, before and after values, and outcome",
    response=ActionOut,
    errors=(404,),
    path_params={"action_id": int},
)
async def get_action(request: web.Request, action_id: int) -> web.Response:
    found = await queries.action_for_user(request.app[PG], action_id=action_id, user_id=principal(request).user_id)
    if found is None:
        raise NotFound("action not found")
    return json_response(action_out(found.action))


@routes.post(
    "/api/v1/automation/actions/{action_id}/revert",
    name="automation-action-revert",
    summary="Restore the value an applied action replaced (owners and managers), as a new action; reverting an "
    "already reverted action returns the action that reverted it. Honours Idempotency-Key.",
    response=ActionOut,
    errors=(403, 404, 409, 422, 429, 503),
    path_params={"action_id": int},
)
async def revert_action(request: web.Request, action_id: int) -> web.Response:
    pg = request.app[PG]
    found = await queries.action_for_user(pg, action_id=action_id, user_id=principal(request).user_id)
    if found is None:
        raise NotFound("action not found")
    if found.role not in ACT_ROLES:
        raise Forbidden("only owners and managers can revert actions")
    original = found.action
    reverts = await queries.revert_actions_of(pg, action_id=original.id)
    settled = [r for r in reverts if r.status in ("applied", "planned")]
    if original.status == "reverted" and settled:
        return json_response(action_out(settled[-1]))
    failed_attempts = sum(1 for r in reverts if r.status == "failed")
    key = idempotency_scope(request, default=f"revert:{original.id}:{failed_attempts}") + ":revert"
    replay = await queries.action_by_key(pg, idempotency_key=key)
    if replay is not None:
        return json_response(action_out(replay))
    if original.status != "applied":
        raise Conflict(
            f"only applied actions can be reverted; action {original.id} is {original.status}",
            code="invalid_transition",
            details={"status": original.status},
        )
    if original.reverts_action_id is not None:
        raise Conflict("a revert cannot itself be reverted; apply a new change instead", code="not_revertible")
    try:
        step = revert_step(
            object_type=original.object_type, object_id=original.object_id, field=original.field,
            before_value=original.before_value, action_id=original.id,
        )  # fmt: skip
        outcome = await apply_step(
            action_context(request), step, account_id=original.account_id, source="manual",
            source_id=str(original.id), idempotency_key=key, reverts_action_id=original.id,
        )  # fmt: skip
    except Refusal as refusal:
        raise refusal_to_api(refusal) from None
    except (GraphError, CircuitOpen, TokenUnreadable) as exc:
        raise agent_error_to_api(exc) from None
    raise_for_failure([outcome])
    return json_response(action_out(outcome.action))


async def record_suggestion_applied(request: web.Request, *, suggestion_id: int, actions: Sequence[ActionOut]) -> bool:
    """Move an accepted suggestion to applied, with an audit entry naming its actions; False when it was not
    accepted any more (another request applied it)."""
    pg = request.app[PG]
    async with pg.acquire() as conn, conn.transaction():
        moved = await queries.mark_suggestion_applied(conn, suggestion_id=suggestion_id)
        if moved:
            await insert_audit_entry(
                conn,
                action="suggestion.apply",
                actor_id=principal(request).user_id,
                target_type="suggestion",
                target_id=str(suggestion_id),
                before={"status": "accepted"},
                after={"status": "applied"},
                details={"action_ids": [a.id for a in actions]},
                client_addr=client_address(request),
                request_id=request_id(request),
            )
    return moved

"""What the automation API and pages do apart from HTTP: apply a proposal or revert an action at Meta through the
executor, and create, change, preview, backtest and run rules, with their roles, idempotency keys, audit entries and
the API errors of refusals and Graph failures. Callers say who asks (an ActionContext, or the pool, the user and the
audit origin) and apply the request limits (adsvc.ratelimit) themselves, as the JSON views and the pages both do."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from pydantic import ValidationError as PydanticValidationError

from adsvc.accounts.queries import account_by_id, account_for_user
from adsvc.accounts.views import graph_error_to_api
from adsvc.audit.queries import insert_audit_entry
from adsvc.automation import queries
from adsvc.automation.executor import ActionContext, Outcome, apply_step, apply_steps, step_key
from adsvc.automation.planner import Refusal, revert_step, steps_from_proposal
from adsvc.automation.replays import ReplayPool, ReplaySlotsBusy
from adsvc.automation.rules import next_run_at
from adsvc.automation.runner import (
    AccountGone,
    BacktestPeriodError,
    RunResult,
    backtest,
    decision_out,
    evaluate,
    rule_spec,
    run_rule,
)
from adsvc.automation.schemas import (
    ActionOut,
    BacktestActionOut,
    BacktestDayOut,
    BacktestIn,
    BacktestOut,
    RefusedOut,
    RuleIn,
    RuleOut,
    RulePatch,
    RulePreviewOut,
    RuleRunOut,
    RuleSpec,
)
from adsvc.collection.records import account_number
from adsvc.crypto import TokenUnreadable
from adsvc.errors import ApiError, Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.errors import GraphError
from adsvc.requests import AuditOrigin
from adsvc.routing import IDEMPOTENCY_HEADER
from adsvc.settings import Settings
from adsvc.suggestions.engine import Draft

ACT_ROLES = frozenset({"owner", "manager"})
MAX_RULES_PER_ACCOUNT = 200
_SPEC_FIELDS = tuple(RuleSpec.model_fields)


def origin_of(ctx: ActionContext) -> AuditOrigin:
    return {"actor_id": ctx.actor_id, "client_addr": ctx.client_addr or "", "request_id": ctx.request_id or ""}


def scoped_key(user_id: int, key: str | None, *, default: str) -> str:
    """An idempotency key (the API's Idempotency-Key header, a page form's hidden field) scoped to the caller, so two
    users' keys never meet; `default` when there is none."""
    return default if key is None else f"user:{user_id}:{key}"


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
    return ActionOut.from_row(action)


def raise_for_failure(outcomes: Sequence[Outcome]) -> None:
    """A failed Graph write is reported as the API error it maps to, on the request that made it."""
    for outcome in outcomes:
        if outcome.error is not None:
            raise graph_error_to_api(outcome.error)


async def apply_proposal(
    ctx: ActionContext,
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
            ctx, steps, account_id=account_id, source=source, source_id=source_id,
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
    ctx: ActionContext, *, account_id: str, drafts: Sequence[Draft], key_scope: str
) -> tuple[list[ActionOut], list[RefusedOut]]:
    """The older endpoints with dry_run false: each draft applied on its own; refusals listed, not raised."""
    scope = key_scope
    actions: list[ActionOut] = []
    refused: list[RefusedOut] = []
    for draft in drafts:
        try:
            steps = steps_from_proposal(
                object_type=draft.object_type, object_id=draft.object_id, kind=draft.kind, proposal=draft.proposal,
                rationale=draft.rationale,
            )  # fmt: skip
            outcomes = await apply_steps(
                ctx, steps, account_id=account_id, source="legacy", source_id=draft.kind,
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


async def revert(ctx: ActionContext, *, user_id: int, action_id: int, idempotency_key: str | None) -> queries.ActionRow:
    """Restore what an applied action replaced, as a new action, once per idempotency key; the API's and the pages'
    one path. Reverting a reverted action returns the action that reverted it."""
    pg = ctx.pg
    found = await queries.action_for_user(pg, action_id=action_id, user_id=user_id)
    if found is None:
        raise NotFound("action not found")
    if found.role not in ACT_ROLES:
        raise Forbidden("only owners and managers can revert actions")
    original = found.action
    reverts = await queries.revert_actions_of(pg, action_id=original.id)
    settled = [r for r in reverts if r.status in ("applied", "planned")]
    if original.status == "reverted" and settled:
        return settled[-1]
    failed_attempts = sum(1 for r in reverts if r.status == "failed")
    key = scoped_key(user_id, idempotency_key, default=f"revert:{original.id}:{failed_attempts}") + ":revert"
    replay = await queries.action_by_key(pg, idempotency_key=key)
    if replay is not None:
        return replay
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
            ctx, step, account_id=original.account_id, source="manual",
            source_id=str(original.id), idempotency_key=key, reverts_action_id=original.id,
        )  # fmt: skip
    except Refusal as refusal:
        raise refusal_to_api(refusal) from None
    except (GraphError, CircuitOpen, TokenUnreadable) as exc:
        raise agent_error_to_api(exc) from None
    raise_for_failure([outcome])
    return outcome.action


async def record_suggestion_applied(ctx: ActionContext, *, suggestion_id: int, actions: Sequence[ActionOut]) -> bool:
    """Move an accepted suggestion to applied, with an audit entry naming its actions; False when it was not
    accepted any more (another request applied it)."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        moved = await queries.mark_suggestion_applied(conn, suggestion_id=suggestion_id)
        if moved:
            await insert_audit_entry(
                conn,
                action="suggestion.apply",
                target_type="suggestion",
                target_id=str(suggestion_id),
                before={"status": "accepted"},
                after={"status": "applied"},
                details={"action_ids": [a.id for a in actions]},
                **origin_of(ctx),
            )
    return moved


def rule_out(rule: queries.RuleRow) -> RuleOut:
    return RuleOut.model_validate(
        {
            **rule.spec,
            "id": rule.id,
            "account_id": rule.account_id,
            "name": rule.name,
            "enabled": rule.enabled,
            "version": rule.version,
            "next_run_at": rule.next_run_at,
            "last_run_at": rule.last_run_at,
            "created_by": rule.created_by,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    )


def _stored_spec(spec: RuleSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", include=set(_SPEC_FIELDS), exclude_none=True)


def _first_run(spec: RuleSpec, *, enabled: bool, timezone_name: str) -> datetime | None:
    return next_run_at(spec.schedule, timezone_name=timezone_name, now=datetime.now(UTC)) if enabled else None


async def member_rule(pg: asyncpg.Pool, *, user_id: int, rule_id: int, act: bool = False) -> queries.MemberRule:
    """The rule and the caller's role on its account; 404 for a rule of another tenant, 403 to act as a viewer."""
    found = await queries.rule_for_user(pg, rule_id=rule_id, user_id=user_id)
    if found is None:
        raise NotFound("rule not found")
    if act and found.role not in ACT_ROLES:
        raise Forbidden("only owners and managers can change or run rules")
    return found


def _audit_view(rule: queries.RuleRow) -> dict[str, Any]:
    return {"name": rule.name, "enabled": rule.enabled, "spec": rule.spec, "version": rule.version}


def _replayed_create(keyed: queries.KeyedRule, fingerprint: str) -> queries.RuleRow:
    """The rule a create retried with the Idempotency-Key of an earlier one finds."""
    if keyed.request_fingerprint != fingerprint:
        raise ValidationFailed.field(
            ("header", IDEMPOTENCY_HEADER),
            f"this Idempotency-Key already created rule {keyed.rule.id} from a different request body",
            code="idempotency_key_reused",
        )
    if keyed.deleted:
        raise Conflict(f"this Idempotency-Key created rule {keyed.rule.id}, which has since been deleted",
                       code="idempotency_key_used")  # fmt: skip
    return keyed.rule


async def create(
    pg: asyncpg.Pool, origin: AuditOrigin, *, user_id: int, body: RuleIn, idempotency_key: str | None
) -> tuple[queries.RuleRow, bool]:
    """Create a rule, audited, once per idempotency key; the API's and the pages' one path. Returns the rule and
    whether an earlier request with the key had created it."""
    account = await account_for_user(pg, account_id=account_number(body.account_id), user_id=user_id)
    if account is None:
        # the same answer whether the account exists or not: no probing for other tenants' ids
        raise NotFound("ad account not found")
    if account.role not in ACT_ROLES:
        raise Forbidden("only owners and managers can create rules")
    spec = RuleSpec.model_validate(body.model_dump(include=set(_SPEC_FIELDS)))
    key = idempotency_key
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    async with pg.acquire() as conn, conn.transaction():
        # one creator at a time per account, so the cap holds under concurrent requests (and a retry with the same
        # key waits for the first request, then finds its rule)
        await conn.execute("select pg_advisory_xact_lock(hashtextextended('rules:' || $1, 0))", account.id)
        if key is not None:
            keyed = await queries.rule_by_idempotency_key(conn, created_by=user_id, idempotency_key=key)
            if keyed is not None:
                return _replayed_create(keyed, fingerprint), True
        if await queries.count_rules(conn, account_id=account.id) >= MAX_RULES_PER_ACCOUNT:
            raise Conflict(f"an account has at most {MAX_RULES_PER_ACCOUNT} rules", code="too_many_rules")
        rule = await queries.insert_rule(
            conn,
            account_id=account.id,
            name=body.name,
            enabled=body.enabled,
            spec=_stored_spec(spec),
            next_run_at=_first_run(spec, enabled=body.enabled, timezone_name=account.timezone_name),
            created_by=user_id,
            idempotency_key=key,
            request_fingerprint=fingerprint,
        )
        await insert_audit_entry(
            conn,
            action="rule.create",
            target_type="rule",
            target_id=str(rule.id),
            after=_audit_view(rule),
            details={"account_id": rule.account_id},
            **origin,
        )
    return rule, False


async def update(
    pg: asyncpg.Pool, origin: AuditOrigin, *, user_id: int, rule_id: int, body: RulePatch
) -> queries.RuleRow:
    """Change a rule (the fields given), validated as a whole and audited; the API's and the pages' one path."""
    before = (await member_rule(pg, user_id=user_id, rule_id=rule_id, act=True)).rule
    given = body.model_fields_set
    for name in given:
        if getattr(body, name) is None:
            raise ValidationFailed.field(("body", name), f"{name} cannot be null")
    merged = {**rule_spec(before).model_dump(), **body.model_dump(include=given & set(_SPEC_FIELDS))}
    try:
        spec = RuleSpec.model_validate(merged)
    except PydanticValidationError as exc:
        raise ValidationFailed(
            "the rule would not be valid with these changes",
            details=[{"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]} for err in exc.errors()],
        ) from None
    enabled = before.enabled if body.enabled is None else body.enabled
    account = await account_by_id(pg, account_id=before.account_id)
    if account is None:
        raise NotFound("rule not found")
    schedule_changed = "schedule" in given or enabled != before.enabled
    next_run = (
        _first_run(spec, enabled=enabled, timezone_name=account.timezone_name)
        if schedule_changed
        else before.next_run_at
    )
    async with pg.acquire() as conn, conn.transaction():
        rule = await queries.update_rule(
            conn, rule_id=rule_id, name=body.name or before.name, enabled=enabled, spec=_stored_spec(spec),
            next_run_at=next_run,
        )  # fmt: skip
        await insert_audit_entry(
            conn,
            action="rule.update",
            target_type="rule",
            target_id=str(rule_id),
            before=_audit_view(before),
            after=_audit_view(rule),
            details={"account_id": rule.account_id},
            **origin,
        )
    return rule


async def delete(pg: asyncpg.Pool, origin: AuditOrigin, *, user_id: int, rule_id: int) -> None:
    """Delete a rule (it stops; its runs and actions stay as history), audited."""
    before = (await member_rule(pg, user_id=user_id, rule_id=rule_id, act=True)).rule
    async with pg.acquire() as conn, conn.transaction():
        if not await queries.delete_rule(conn, rule_id=rule_id):
            raise NotFound("rule not found")
        await insert_audit_entry(
            conn,
            action="rule.delete",
            target_type="rule",
            target_id=str(rule_id),
            before=_audit_view(before),
            details={"account_id": before.account_id},
            **origin,
        )


async def preview(pg: asyncpg.Pool, rule: queries.RuleRow) -> RulePreviewOut:
    """What the rule would do now, acting on nothing; the API's and the pages' one path (both apply
    THROTTLE_PREVIEWS first)."""
    try:
        evaluation = await evaluate(pg, rule)
    except AccountGone:
        raise NotFound("rule not found") from None
    return RulePreviewOut(
        rule_id=rule.id,
        account_id=rule.account_id,
        today=evaluation.today,
        evaluated=evaluation.evaluated,
        matched=len(evaluation.decisions),
        decisions=[decision_out(d) for d in evaluation.decisions],
    )


async def backtest_of(
    pg: asyncpg.Pool, rule: queries.RuleRow, body: BacktestIn, *, replays: ReplayPool, settings: Settings
) -> BacktestOut:
    """The rule replayed over stored history in a replay slot; the API's and the pages' one path (both apply
    THROTTLE_BACKTESTS first)."""
    try:
        async with replays.slot():
            result = await backtest(
                pg, rule, since=body.since, until=body.until, replays=replays,
                database_url=settings.database_url, command_timeout=max(60.0, settings.db_timeout_seconds),
            )  # fmt: skip
    except ReplaySlotsBusy:
        raise ServiceUnavailable(
            "every backtest slot of this server is busy; try again shortly", retry_after=5, code="backtests_busy"
        ) from None
    except BrokenProcessPool:
        raise ServiceUnavailable(
            "the backtest worker stopped; try again", retry_after=1, code="backtests_busy"
        ) from None
    except BacktestPeriodError as exc:
        raise ValidationFailed.field(("body", "since"), str(exc), code="invalid_period") from None
    except AccountGone:
        raise NotFound("rule not found") from None
    days = [
        BacktestDayOut(
            date=day.date,
            matched=day.matched,
            actions=[
                BacktestActionOut(
                    object_type=a.object.object_type,
                    object_id=a.object.object_id,
                    object_name=a.object.name,
                    field=a.field,  # type: ignore[arg-type]
                    before=a.before,
                    after=a.after,
                    why=a.why,
                    spend_after=None if a.spend_after is None else float(a.spend_after),
                )
                for a in day.actions
            ],
        )
        for day in result.replay.days
    ]
    actions = [a for day in result.replay.days for a in day.actions]
    saved = sum((a.spend_after for a in actions if a.spend_after is not None), Decimal(0))
    return BacktestOut(
        rule_id=rule.id,
        account_id=rule.account_id,
        currency=result.account.currency,
        since=result.since,
        until=result.until,
        evaluated_objects=result.evaluated,
        days_with_actions=sum(1 for day in result.replay.days if day.actions),
        actions=len(actions),
        spend_after_pauses=float(saved),
        assumptions=list(result.replay.assumptions),
        days=days,
    )


def run_out(result: RunResult) -> RuleRunOut:
    run = result.run
    return RuleRunOut.model_validate(
        {
            "id": run.id,
            "rule_id": run.rule_id,
            "account_id": run.account_id,
            "trigger": run.trigger,
            "rule_version": run.rule_version,
            "status": run.status,
            "evaluated": run.evaluated,
            "matched": run.matched,
            "applied": run.applied,
            "refused": run.refused,
            "failed": run.failed,
            "results": run.results,
            "error": run.error,
            "requested_by": run.requested_by,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "replayed": result.replayed,
        }
    )


async def run_now(
    ctx: ActionContext, rule: queries.RuleRow, *, user_id: int, idempotency_key: str | None
) -> RuleRunOut:
    """Evaluate the rule and act on what matches, once per idempotency key; the API's and the pages' one path (both
    check the caller may act on the rule and apply THROTTLE_RULE_RUNS first)."""
    run_key = f"manual:{rule.id}:" + scoped_key(user_id, idempotency_key, default=f"request:{uuid.uuid4().hex}")
    result = await run_rule(ctx, rule, run_key=run_key, trigger="manual")
    if result.blocked is not None and result.run.applied == 0:
        # nothing could be done at Meta (breaker open, token unusable, ...): the caller gets the error that says
        # when to retry; the failed run is recorded and listed under .../runs
        raise agent_error_to_api(result.blocked)
    return run_out(result)

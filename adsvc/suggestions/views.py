"""HTTP handlers for suggestions (list, detail, accept, dismiss, apply; what they do apart from HTTP is in
adsvc.suggestions.decisions, shared with the pages) and the older service's automation endpoints, which compute
suggestions from stored data and apply them only with dry_run false."""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from adsvc.accounts.queries import account_for_user
from adsvc.automation.operations import apply_drafts
from adsvc.automation.schemas import (
    ActionOut,
    AutomationRunOut,
    OptimizeBudgetsRunIn,
    PauseUnderperformingRunIn,
    ReallocationPlanRunIn,
    RefusedOut,
    SuggestionAppliedOut,
)
from adsvc.automation.views import action_context, idempotency_scope
from adsvc.collection.plan import account_today
from adsvc.collection.records import account_number
from adsvc.errors import Forbidden, NotFound
from adsvc.keys import PG
from adsvc.requests import audit_origin, principal, request_id
from adsvc.routing import Routes, json_response, keyset_page, read_idempotency_key
from adsvc.suggestions import queries
from adsvc.suggestions.decisions import DECIDE_ROLES, apply, decide
from adsvc.suggestions.decisions import suggestion_out as _suggestion_out
from adsvc.suggestions.engine import LOWER, PAUSE, RAISE, REALLOCATE, Draft, Thresholds, suggest, suggestion_period
from adsvc.suggestions.schemas import (
    AutomationSuggestionsOut,
    AutomationSuggestionsQuery,
    DraftOut,
    SuggestionListOut,
    SuggestionListQuery,
    SuggestionOut,
)

routes = Routes(tag="suggestions")
legacy_routes = Routes(tag="automation")


@routes.get(
    "/api/v1/suggestions",
    name="suggestions",
    summary="Suggestions of your accounts, newest first: filter by account, status, kind or object; keyset pages",
    query=SuggestionListQuery,
    response=SuggestionListOut,
)
async def list_suggestions(request: web.Request, query: SuggestionListQuery) -> web.Response:
    rows = await queries.list_suggestions(
        request.config_dict[PG],
        user_id=principal(request).user_id,
        account_id=account_number(query.account_id) if query.account_id else None,
        statuses=[query.status] if query.status else None,
        kinds=[query.kind] if query.kind else None,
        object_id=query.object_id,
        before_id=query.before_id,
        limit=query.limit + 1,
    )
    page, next_before_id = keyset_page(rows, query.limit)
    return json_response(SuggestionListOut(data=[_suggestion_out(row) for row in page], next_before_id=next_before_id))


@routes.get(
    "/api/v1/suggestions/{suggestion_id}",
    name="suggestion",
    summary="One suggestion with its rationale, evidence, proposal and period",
    response=SuggestionOut,
    errors=(404,),
    path_params={"suggestion_id": int},
)
async def get_suggestion(request: web.Request, suggestion_id: int) -> web.Response:
    row = await queries.suggestion_for_user(
        request.config_dict[PG], suggestion_id=suggestion_id, user_id=principal(request).user_id
    )
    if row is None:
        raise NotFound("suggestion not found")
    return json_response(_suggestion_out(row))


async def _decide(request: web.Request, suggestion_id: int, status: str) -> web.Response:
    decided = await decide(request.config_dict[PG], audit_origin(request), user_id=principal(request).user_id,
                           suggestion_id=suggestion_id, status=status)  # fmt: skip
    return json_response(_suggestion_out(decided))


@routes.post(
    "/api/v1/suggestions/{suggestion_id}/accept",
    name="suggestion-accept",
    summary="Accept an open suggestion (owners and managers); applying it is a separate step",
    response=SuggestionOut,
    errors=(403, 404, 409),
    path_params={"suggestion_id": int},
)
async def accept_suggestion(request: web.Request, suggestion_id: int) -> web.Response:
    return await _decide(request, suggestion_id, "accepted")


@routes.post(
    "/api/v1/suggestions/{suggestion_id}/dismiss",
    name="suggestion-dismiss",
    summary="Dismiss an open suggestion (owners and managers); it is not proposed again for 7 days",
    response=SuggestionOut,
    errors=(403, 404, 409),
    path_params={"suggestion_id": int},
)
async def dismiss_suggestion(request: web.Request, suggestion_id: int) -> web.Response:
    return await _decide(request, suggestion_id, "dismissed")


@routes.post(
    "/api/v1/suggestions/{suggestion_id}/apply",
    name="suggestion-apply",
    summary="Apply an accepted (or open, which then counts as accepted) suggestion at Meta (owners and managers); "
    "returns the suggestion, now applied, and its actions. Honours Idempotency-Key.",
    response=SuggestionAppliedOut,
    errors=(403, 404, 409, 422, 429, 503),
    path_params={"suggestion_id": int},
    idempotent=True,
)
async def apply_suggestion(request: web.Request, suggestion_id: int) -> web.Response:
    applied = await apply(action_context(request), user_id=principal(request).user_id, suggestion_id=suggestion_id,
                          idempotency_key=read_idempotency_key(request))  # fmt: skip
    return json_response(applied)


# ---- the older service's automation endpoints: dry runs over stored data --------------------------------------


def _draft_out(draft: Draft) -> DraftOut:
    return DraftOut(
        object_type=draft.object_type,  # type: ignore[arg-type]
        object_id=draft.object_id,
        kind=draft.kind,  # type: ignore[arg-type]
        rationale=draft.rationale,
        evidence=draft.evidence,
        proposal=draft.proposal,
        period_since=draft.since,
        period_until=draft.until,
    )


async def _plan(
    request: web.Request, account_ref: str, thresholds: Thresholds, kinds: Collection[str], *, dry_run: bool = True
) -> web.Response:
    pg = request.config_dict[PG]
    account = await account_for_user(pg, account_id=account_number(account_ref), user_id=principal(request).user_id)
    if account is None:
        raise NotFound("ad account not found")
    if not dry_run and account.role not in DECIDE_ROLES:
        raise Forbidden("only owners and managers can apply automation")
    since, until = suggestion_period(account_today(account.timezone_name))
    campaigns = await queries.campaign_performance(pg, account_id=account.id, since=since, until=until)
    drafts = suggest(
        account_id=account.id, currency=account.currency, campaigns=campaigns, since=since, until=until,
        thresholds=thresholds, kinds=kinds,
    )  # fmt: skip
    actions: list[ActionOut] = []
    refused: list[RefusedOut] = []
    if not dry_run:
        scope = idempotency_scope(request, default=f"legacy:{request_id(request)}")
        actions, refused = await apply_drafts(action_context(request), account_id=account.id, drafts=drafts,
                                              key_scope=scope)  # fmt: skip
    return json_response(
        AutomationRunOut(
            account_id=account.id,
            currency=account.currency,
            period_since=since,
            period_until=until,
            dry_run=dry_run,
            thresholds={
                "ctr_threshold": str(thresholds.ctr_threshold),
                "cpa_threshold": str(thresholds.cpa_threshold),
                "min_spend": str(thresholds.min_spend),
                "excellent_ctr": str(thresholds.ctr_threshold * thresholds.excellent_ctr_factor),
                "budget_change_percent": thresholds.budget_step_percent,
                "max_budget_cuts": thresholds.max_budget_cuts,
                "reallocation_percent": thresholds.reallocation_percent,
            },
            suggestions=[_draft_out(draft) for draft in drafts],
            total=len(drafts),
            actions=actions,
            refused=refused,
        )
    )


@legacy_routes.post(
    "/api/v1/automation/pause-underperforming",
    name="automation-pause-underperforming",
    summary="Dry run by default: the active campaigns to pause (CTR below ctr_threshold, or CPA above cpa_threshold), "
    "from stored data over the last 7 complete days",
    body=PauseUnderperformingRunIn,
    response=AutomationRunOut,
    errors=(403, 404, 409, 429, 503),
    idempotent=True,
)
async def pause_underperforming(request: web.Request, body: PauseUnderperformingRunIn) -> web.Response:
    thresholds = Thresholds(
        ctr_threshold=body.ctr_threshold, cpa_threshold=body.cpa_threshold, min_spend=body.min_spend
    )
    return await _plan(request, body.account_id, thresholds, {PAUSE}, dry_run=body.dry_run)


@legacy_routes.post(
    "/api/v1/automation/optimize-budgets",
    name="automation-optimize-budgets",
    summary="Dry run by default: daily budget raises for excellent campaigns (CTR >= 1.5 x threshold) and cuts for "
    "weak ones (at most max_budget_cuts, the worst first), from stored data over the last 7 complete days",
    body=OptimizeBudgetsRunIn,
    response=AutomationRunOut,
    errors=(404,),
    idempotent=True,
)
async def optimize_budgets(request: web.Request, body: OptimizeBudgetsRunIn) -> web.Response:
    thresholds = Thresholds(
        ctr_threshold=body.ctr_threshold,
        cpa_threshold=body.cpa_threshold,
        min_spend=body.min_spend,
        budget_step_percent=body.budget_change_percent,
        max_budget_cuts=body.max_budget_cuts,
    )
    return await _plan(request, body.account_id, thresholds, {RAISE, LOWER}, dry_run=body.dry_run)


@legacy_routes.post(
    "/api/v1/automation/reallocation-plan",
    name="automation-reallocation-plan",
    summary="Dry run by default: move a share of the underperformers' daily budgets to the excellent campaigns, in "
    "proportion to their spend (minor units that add up exactly)",
    body=ReallocationPlanRunIn,
    response=AutomationRunOut,
    errors=(404,),
    idempotent=True,
)
async def reallocation_plan(request: web.Request, body: ReallocationPlanRunIn) -> web.Response:
    thresholds = Thresholds(
        ctr_threshold=body.ctr_threshold,
        cpa_threshold=body.cpa_threshold,
        min_spend=body.min_spend,
        reallocation_percent=body.reallocation_percent,
    )
    return await _plan(request, body.account_id, thresholds, {REALLOCATE}, dry_run=body.dry_run)


@legacy_routes.get(
    "/api/v1/automation/suggestions",
    name="automation-suggestions",
    summary="The open suggestions of your accounts (the older service's list), newest first",
    query=AutomationSuggestionsQuery,
    response=AutomationSuggestionsOut,
)
async def automation_suggestions(request: web.Request, query: AutomationSuggestionsQuery) -> web.Response:
    rows = await queries.list_suggestions(
        request.config_dict[PG],
        user_id=principal(request).user_id,
        account_id=account_number(query.account_id) if query.account_id else None,
        statuses=["open"],
        kinds=None,
        object_id=None,
        before_id=None,
        limit=query.limit,
    )
    return json_response(AutomationSuggestionsOut(suggestions=[_suggestion_out(row) for row in rows], total=len(rows)))

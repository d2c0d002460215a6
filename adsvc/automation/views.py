"""HTTP handlers for automation actions (list, detail, revert) and rules (CRUD, preview, backtest, run, runs); what
they do apart from HTTP is in adsvc.automation.operations, shared with the pages."""

from __future__ import annotations

from aiohttp import web

from adsvc.automation import queries
from adsvc.automation.executor import ActionContext
from adsvc.automation.operations import (
    action_out,
    backtest_of,
    create,
    delete,
    member_rule,
    preview,
    revert,
    rule_out,
    run_now,
    run_out,
    scoped_key,
    update,
)
from adsvc.automation.rules import presets
from adsvc.automation.runner import RunResult
from adsvc.automation.schemas import (
    ActionListOut,
    ActionListQuery,
    ActionOut,
    BacktestIn,
    BacktestOut,
    RuleDeletedOut,
    RuleIn,
    RuleListOut,
    RuleListQuery,
    RuleOut,
    RulePatch,
    RulePresetListOut,
    RulePresetOut,
    RulePreviewOut,
    RuleRunListOut,
    RuleRunListQuery,
    RuleRunOut,
)
from adsvc.collection.records import account_number
from adsvc.errors import NotFound
from adsvc.keys import AGENTS, ARQ, PG, REPLAYS, SETTINGS
from adsvc.ratelimit import limit_calls
from adsvc.requests import AuditOrigin, audit_origin, client_address, principal, request_id
from adsvc.routing import Routes, json_response, keyset_page, read_idempotency_key

routes = Routes(tag="automation")


def action_context(request: web.Request) -> ActionContext:
    return ActionContext(
        pg=request.config_dict[PG],
        queue=request.config_dict[ARQ],
        agents=request.config_dict[AGENTS],
        actor_id=principal(request).user_id,
        client_addr=client_address(request),
        request_id=request_id(request),
    )


def idempotency_scope(request: web.Request, default: str) -> str:
    """The caller's Idempotency-Key (scoped to the caller, so two users' keys never meet), or `default`."""
    return scoped_key(principal(request).user_id, read_idempotency_key(request), default=default)


@routes.get(
    "/api/v1/automation/actions",
    name="automation-actions",
    summary="Actions on your accounts (planned, applied, failed, reverted), newest first; keyset pages",
    query=ActionListQuery,
    response=ActionListOut,
)
async def list_actions(request: web.Request, query: ActionListQuery) -> web.Response:
    rows = await queries.list_actions(
        request.config_dict[PG],
        user_id=principal(request).user_id,
        account_id=account_number(query.account_id) if query.account_id else None,
        status=query.status,
        object_id=query.object_id,
        before_id=query.before_id,
        limit=query.limit + 1,
    )
    page, next_before_id = keyset_page(rows, query.limit)
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
    found = await queries.action_for_user(
        request.config_dict[PG], action_id=action_id, user_id=principal(request).user_id
    )
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
    idempotent=True,
)
async def revert_action(request: web.Request, action_id: int) -> web.Response:
    reverted_by = await revert(action_context(request), user_id=principal(request).user_id, action_id=action_id,
                               idempotency_key=read_idempotency_key(request))  # fmt: skip
    return json_response(action_out(reverted_by))


# --- automation rules -------------------------------------------------------------------------------------------

rule_routes = Routes(tag="automation rules")
_RULE_ID: dict[str, type] = {"rule_id": int}


def _origin(request: web.Request) -> tuple[int, AuditOrigin]:
    return principal(request).user_id, audit_origin(request)


async def _member_rule(request: web.Request, rule_id: int, *, act: bool = False) -> queries.MemberRule:
    return await member_rule(request.config_dict[PG], user_id=principal(request).user_id, rule_id=rule_id, act=act)


@rule_routes.get(
    "/api/v1/automation/rules",
    name="automation-rules",
    summary="Automation rules of your accounts",
    query=RuleListQuery,
    response=RuleListOut,
)
async def list_rules(request: web.Request, query: RuleListQuery) -> web.Response:
    rules = await queries.rules_for_user(
        request.config_dict[PG],
        user_id=principal(request).user_id,
        account_id=account_number(query.account_id) if query.account_id else None,
        enabled=query.enabled,
    )
    return json_response(RuleListOut(data=[rule_out(rule) for rule in rules]))


@rule_routes.get(
    "/api/v1/automation/rule-presets",
    name="automation-rule-presets",
    summary="The older service's pause-underperforming and optimize-budgets endpoints as rule specs to start from",
    response=RulePresetListOut,
)
async def list_rule_presets(request: web.Request) -> web.Response:
    return json_response(
        RulePresetListOut(
            data=[RulePresetOut(key=p.key, name=p.name, description=p.description, spec=p.spec) for p in presets()]
        )
    )


@rule_routes.post(
    "/api/v1/automation/rules",
    name="create-automation-rule",
    summary="Create a rule (owners and managers): scope, AND/OR conditions over metric windows, a minimum spend, an "
    "action (pause, activate, change budget within caps, notify), a cooldown and a schedule",
    body=RuleIn,
    response=RuleOut,
    status=201,
    errors=(403, 404, 409, 422),
    idempotent=True,
)
async def create_rule(request: web.Request, body: RuleIn) -> web.Response:
    user_id, origin = _origin(request)
    rule, replayed = await create(request.config_dict[PG], origin, user_id=user_id, body=body,
                                  idempotency_key=read_idempotency_key(request))  # fmt: skip
    response = json_response(rule_out(rule), status=201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@rule_routes.get(
    "/api/v1/automation/rules/{rule_id}",
    name="automation-rule",
    summary="One rule with its spec and schedule",
    response=RuleOut,
    errors=(404,),
    path_params=_RULE_ID,
)
async def get_rule(request: web.Request, rule_id: int) -> web.Response:
    return json_response(rule_out((await _member_rule(request, rule_id)).rule))


@rule_routes.route(
    "PATCH",
    "/api/v1/automation/rules/{rule_id}",
    name="update-automation-rule",
    summary="Change a rule (owners and managers); the fields given replace the stored ones and the result is "
    "validated as a whole",
    body=RulePatch,
    response=RuleOut,
    errors=(403, 404, 422),
    path_params=_RULE_ID,
)
async def update_rule(request: web.Request, body: RulePatch, rule_id: int) -> web.Response:
    user_id, origin = _origin(request)
    return json_response(rule_out(await update(request.config_dict[PG], origin, user_id=user_id, rule_id=rule_id,
                                               body=body)))  # fmt: skip


@rule_routes.route(
    "DELETE",
    "/api/v1/automation/rules/{rule_id}",
    name="delete-automation-rule",
    summary="Delete a rule (owners and managers): it stops, and its runs and actions stay as history",
    response=RuleDeletedOut,
    errors=(403, 404),
    path_params=_RULE_ID,
)
async def delete_rule(request: web.Request, rule_id: int) -> web.Response:
    user_id, origin = _origin(request)
    await delete(request.config_dict[PG], origin, user_id=user_id, rule_id=rule_id)
    return json_response(RuleDeletedOut(id=rule_id, deleted=True))


@rule_routes.post(
    "/api/v1/automation/rules/{rule_id}/preview",
    name="preview-automation-rule",
    summary="What the rule would do now, without acting: every matched object with its condition values and the "
    "exact change (field, before -> after) or why none would be made",
    response=RulePreviewOut,
    errors=(404,),
    path_params=_RULE_ID,
    limit="throttle_previews",
)
async def preview_rule(request: web.Request, rule_id: int) -> web.Response:
    rule = (await _member_rule(request, rule_id)).rule
    await limit_calls(request, "throttle_previews", account_id=rule.account_id)
    return json_response(await preview(request.config_dict[PG], rule))


@rule_routes.post(
    "/api/v1/automation/rules/{rule_id}/backtest",
    name="backtest-automation-rule",
    summary="Replay the rule over stored history: what it would have done on each day (default: the last 30 days)",
    body=BacktestIn,
    response=BacktestOut,
    errors=(404, 422, 503),
    path_params=_RULE_ID,
    limit="throttle_backtests",
)
async def backtest_rule(request: web.Request, body: BacktestIn, rule_id: int) -> web.Response:
    rule = (await _member_rule(request, rule_id)).rule
    await limit_calls(request, "throttle_backtests", account_id=rule.account_id)
    return json_response(await backtest_of(request.config_dict[PG], rule, body, replays=request.config_dict[REPLAYS],
                                           settings=request.config_dict[SETTINGS]))  # fmt: skip


@rule_routes.post(
    "/api/v1/automation/rules/{rule_id}/run",
    name="run-automation-rule",
    summary="Evaluate the rule now and act on what matches (owners and managers), once per Idempotency-Key; the run "
    "records every decision and action. When nothing can be done at Meta for the account (circuit open, token "
    "unusable) the answer is that error (503 with Retry-After, 422, ...) and the failed run is still recorded",
    response=RuleRunOut,
    errors=(403, 404, 409, 422, 429, 503),
    path_params=_RULE_ID,
    idempotent=True,
    limit="throttle_rule_runs",
)
async def run_rule_now(request: web.Request, rule_id: int) -> web.Response:
    rule = (await _member_rule(request, rule_id, act=True)).rule
    await limit_calls(request, "throttle_rule_runs", account_id=rule.account_id)
    return json_response(await run_now(action_context(request), rule, user_id=principal(request).user_id,
                                       idempotency_key=read_idempotency_key(request)))  # fmt: skip


@rule_routes.get(
    "/api/v1/automation/rules/{rule_id}/runs",
    name="automation-rule-runs",
    summary="A rule's runs, newest first, with what each decided per object; keyset pages",
    query=RuleRunListQuery,
    response=RuleRunListOut,
    errors=(404,),
    path_params=_RULE_ID,
)
async def list_rule_runs(request: web.Request, query: RuleRunListQuery, rule_id: int) -> web.Response:
    await _member_rule(request, rule_id)
    runs = await queries.runs_for_rule(request.config_dict[PG], rule_id=rule_id, before_id=query.before_id,
                                       limit=query.limit + 1)  # fmt: skip
    page, next_before_id = keyset_page(runs, query.limit)
    data = [run_out(RunResult(run, replayed=False)) for run in page]
    return json_response(RuleRunListOut(data=data, next_before_id=next_before_id))

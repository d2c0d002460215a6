"""The rules pages: the list with enable/disable, create from a preset or a form, a rule's page with its runs, edit,
preview as a table, backtest as a chart and a table, and run now after a confirmation page. Forms validate with the
API's own models (RuleIn, RulePatch, BacktestIn) and every change or run goes through the JSON API's own functions
(adsvc.automation.operations: create, update, preview, backtest_of, run_now): the same audit, idempotency keys and
throttles (a 429 page with Retry-After)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adsvc.accounts.queries import Account, account_for_user
from adsvc.automation import operations, queries
from adsvc.automation.planner import Refusal
from adsvc.automation.rules import presets
from adsvc.automation.runner import RunResult
from adsvc.automation.schemas import BacktestIn, RuleIn, RulePatch, RuleRunOut
from adsvc.automation.views import action_context
from adsvc.collection.records import account_number
from adsvc.errors import Forbidden, NotFound, ValidationFailed
from adsvc.keys import PG, REPLAYS, SETTINGS
from adsvc.pages import changes, rule_form
from adsvc.pages.acting import ACT_ROLES, caller_accounts, form_key, formatter, new_form_key, path_id, translator
from adsvc.pages.forms import field_errors, form_values, parse
from adsvc.pages.middleware import local_target
from adsvc.pages.render import freshness, gettext, render
from adsvc.ratelimit import limit_calls
from adsvc.requests import audit_origin, principal

routes = web.RouteTableDef()

RUNS_SHOWN = 10


async def _rule(request: web.Request) -> tuple[queries.MemberRule, Account]:
    rule_id = path_id(request, "rule_id")
    pg = request.config_dict[PG]
    found = await queries.rule_for_user(pg, rule_id=rule_id, user_id=principal(request).user_id)
    account = None if found is None else await account_for_user(pg, account_id=found.rule.account_id,
                                                                 user_id=principal(request).user_id)  # fmt: skip
    if found is None or account is None:
        raise NotFound(gettext(request, "This rule does not exist or is not shared with you."))
    return found, account


def _may_change(request: web.Request, found: queries.MemberRule) -> None:
    if found.role not in ACT_ROLES:
        raise Forbidden(gettext(request, "Only owners and managers of the account can change rules."))


def _summary(request: web.Request, rule: queries.RuleRow, currency: str) -> dict[str, str]:
    _ = translator(request)
    fmt = formatter(request)
    spec = rule.spec
    return {
        "level": rule_form.level_label(_, spec["scope"]["level"]),
        "conditions": rule_form.conditions_text(_, fmt, spec["conditions"]),
        "action": rule_form.action_text(_, fmt, spec["action"], currency),
        "schedule": rule_form.schedule_text(_, spec["schedule"]),
        "min_spend": fmt.money(spec.get("min_spend", 0), currency),
        "cooldown": _("%(minutes)s minutes") % {"minutes": fmt.number(spec.get("cooldown_minutes", 0))},
    }


@routes.get("/rules", name="page-rules-list")
async def list_rules(request: web.Request) -> web.Response:
    accounts = await caller_accounts(request)
    wanted = request.query.get("account_id", "")
    by_id = {a.id: a for a in accounts}
    chosen = account_number(wanted) if wanted and account_number(wanted) in by_id else None
    rules = await queries.rules_for_user(request.config_dict[PG], user_id=principal(request).user_id,
                                         account_id=chosen, enabled=None)  # fmt: skip
    listed = [(rule, by_id[rule.account_id], _summary(request, rule, by_id[rule.account_id].currency))
              for rule in rules if rule.account_id in by_id]  # fmt: skip
    return render(
        request,
        "pages/rules/list.html",
        {
            "rules": listed,
            "accounts": accounts,
            "chosen": chosen or "",
            "can_create": any(a.role in ACT_ROLES for a in accounts),
            "done": request.query.get("done", ""),
        },
    )


def _form_context(request: web.Request, values: dict[str, Any], errors: dict[str, str], **extra: Any) -> dict[str, Any]:
    _ = translator(request)
    return {
        "values": {**rule_form.BLANK_FORM, **values},
        "errors": errors,
        "rows": rule_form.rows_needed(values),
        "metrics": [(m, rule_form.metric_label(_, m)) for m in rule_form.METRICS],
        "windows": [(w, rule_form.window_label(_, w)) for w in rule_form.WINDOWS],
        "operators": list(rule_form.OPERATORS.items()),
        "levels": [(lv, rule_form.level_label(_, lv)) for lv in rule_form.LEVELS],
        "weekdays": rule_form.weekday_names(_),
        "idempotency_key": values.get("idempotency_key") or new_form_key(),
        **extra,
    }


@routes.get("/rules/new", name="page-rules-new")
async def new_rule(request: web.Request) -> web.Response:
    accounts = [a for a in await caller_accounts(request) if a.role in ACT_ROLES]
    chosen = next((p for p in presets() if p.key == request.query.get("preset")), None)
    spec = rule_form.stored_spec(chosen.spec) if chosen is not None else rule_form.NEW_RULE
    currency = accounts[0].currency if accounts else "USD"
    values = rule_form.spec_to_form(spec, currency=currency, name=chosen.name if chosen else "",
                                    account_id=accounts[0].id if accounts else "")  # fmt: skip
    return render(request, "pages/rules/form.html", _form_context(
        request, values, {}, accounts=accounts, presets=presets(), preset=chosen, rule=None))  # fmt: skip


def _values_with_days(values: dict[str, str], weekdays: list[str]) -> dict[str, Any]:
    return {**values, "schedule_weekdays": weekdays}


@routes.post("/rules/new", name="page-rules-create")
async def create_rule(request: web.Request) -> web.Response:
    values = await form_values(request)
    weekdays = [str(day) for day in (await request.post()).getall("schedule_weekdays", [])]
    accounts = [a for a in await caller_accounts(request) if a.role in ACT_ROLES]
    account = next((a for a in accounts if values.get("account_id") and a.id == account_number(
        values["account_id"])), None)  # fmt: skip
    _ = translator(request)
    currency = account.currency if account else "USD"
    converted = rule_form.form_to_body(values, weekdays, currency=currency, _=_)
    body, errors = rule_form.validate(RuleIn, converted, _=_, fmt=formatter(request), currency=currency)
    if account is None:
        errors["account_id"] = gettext(request, "Choose one of the accounts you manage.")
    if body is None or errors:
        return render(request, "pages/rules/form.html", _form_context(
            request, _values_with_days(values, weekdays), errors, accounts=accounts, presets=presets(), preset=None,
            rule=None), status=422)  # fmt: skip
    try:
        rule, _replayed = await operations.create(request.config_dict[PG], audit_origin(request),
                                                  user_id=principal(request).user_id, body=body,
                                                  idempotency_key=form_key(values))  # fmt: skip
    except ValidationFailed as exc:
        return render(request, "pages/rules/form.html", _form_context(
            request, _values_with_days(values, weekdays), rule_form.api_errors(
                exc.details or [], converted, _=_, fmt=formatter(request), currency=currency),
            accounts=accounts, presets=presets(), preset=None, rule=None), status=422)  # fmt: skip
    raise web.HTTPSeeOther(f"/rules/{rule.id}?done=created")


@routes.get("/rules/{rule_id}", name="page-rules-detail")
async def rule_detail(request: web.Request) -> web.Response:
    found, account = await _rule(request)
    runs = await queries.runs_for_rule(request.config_dict[PG], rule_id=found.rule.id, before_id=None,
                                       limit=RUNS_SHOWN)  # fmt: skip
    ran = request.query.get("ran", "")
    shown = next((run for run in runs if str(run.id) == ran), None)
    results = None
    if shown is not None:
        out = operations.run_out(RunResult(shown, replayed=False))
        results = _decisions(request, out.results, account.currency)
    return render(
        request,
        "pages/rules/detail.html",
        {
            "rule": found.rule,
            "account": account,
            "summary": _summary(request, found.rule, account.currency),
            "can_act": found.role in ACT_ROLES,
            "runs": runs,
            "shown": shown,
            "results": results,
            "done": request.query.get("done", ""),
        },
    )


@routes.get("/rules/{rule_id}/edit", name="page-rules-edit")
async def edit_rule(request: web.Request) -> web.Response:
    found, account = await _rule(request)
    _may_change(request, found)
    rule = found.rule
    values = rule_form.spec_to_form(rule.spec, currency=account.currency, name=rule.name, enabled=rule.enabled,
                                    account_id=rule.account_id)  # fmt: skip
    return render(request, "pages/rules/form.html", _form_context(
        request, values, {}, accounts=[account], presets=[], preset=None, rule=rule))  # fmt: skip


@routes.post("/rules/{rule_id}/edit", name="page-rules-update")
async def update_rule(request: web.Request) -> web.Response:
    values = await form_values(request)
    weekdays = [str(day) for day in (await request.post()).getall("schedule_weekdays", [])]
    found, account = await _rule(request)
    _may_change(request, found)
    _ = translator(request)
    converted = rule_form.form_to_body({**values, "account_id": ""}, weekdays, currency=account.currency, _=_)
    body, errors = rule_form.validate(RulePatch, converted, _=_, fmt=formatter(request), currency=account.currency)
    if not converted.body.get("name"):
        errors["name"] = gettext(request, "Enter a name.")

    def again(errors: dict[str, str]) -> web.Response:
        return render(request, "pages/rules/form.html", _form_context(
            request, _values_with_days({**values, "account_id": account.id}, weekdays), errors, accounts=[account],
            presets=[], preset=None, rule=found.rule), status=422)  # fmt: skip

    if body is None or errors:
        return again(errors)
    try:
        await operations.update(request.config_dict[PG], audit_origin(request), user_id=principal(request).user_id,
                                rule_id=found.rule.id, body=body)  # fmt: skip
    except ValidationFailed as exc:
        return again(rule_form.api_errors(exc.details or [], converted, _=_, fmt=formatter(request),
                                          currency=account.currency))  # fmt: skip
    raise web.HTTPSeeOther(f"/rules/{found.rule.id}?done=updated")


async def _toggle(request: web.Request, enabled: bool) -> web.Response:
    values = await form_values(request)
    found, _account = await _rule(request)
    _may_change(request, found)
    # a second submit of the same toggle finds the rule already so: nothing to change, nothing to audit
    if found.rule.enabled != enabled:
        await operations.update(request.config_dict[PG], audit_origin(request), user_id=principal(request).user_id,
                                rule_id=found.rule.id, body=RulePatch(enabled=enabled))  # fmt: skip
    target = local_target(values.get("next"), default=f"/rules/{found.rule.id}")
    raise web.HTTPSeeOther(target + ("&" if "?" in target else "?") + "done=" + ("enabled" if enabled else "disabled"))


@routes.post("/rules/{rule_id}/enable", name="page-rules-enable")
async def enable_rule(request: web.Request) -> web.Response:
    return await _toggle(request, True)


@routes.post("/rules/{rule_id}/disable", name="page-rules-disable")
async def disable_rule(request: web.Request) -> web.Response:
    return await _toggle(request, False)


def _decisions(request: web.Request, decisions: list[Any], currency: str) -> list[dict[str, Any]]:
    """Preview and run decisions worded for a table."""
    _ = translator(request)
    fmt = formatter(request)
    rows = []
    for d in decisions:
        change = None
        if d.plan is not None:
            change = changes.change(_, fmt, object_type=d.object_type, object_id=d.object_id,
                                    object_name=d.object_name, field=d.plan.field, before=d.plan.before,
                                    after=d.plan.after, currency=d.plan.currency)  # fmt: skip
        refusal = None
        if d.refusal is not None:
            refusal = changes.refusal_text(_, fmt, Refusal(d.refusal.code, d.refusal.message))
        checks = [
            {
                "text": f"{rule_form.metric_label(_, c.metric)} ({rule_form.window_label(_, c.window)}) "
                f"{rule_form.OPERATORS.get(c.operator, c.operator)} {fmt.number(c.threshold, 2)}",
                "value": fmt.number(c.value, 2),
                "passed": c.passed,
            }
            for c in d.checks
        ]
        rows.append({"decision": d, "spend": fmt.money(d.spend, currency), "checks": checks, "change": change,
                     "refusal": refusal})  # fmt: skip
    return rows


@routes.get("/rules/{rule_id}/preview", name="page-rules-preview")
async def preview_rule(request: web.Request) -> web.Response:
    found, account = await _rule(request)
    await limit_calls(request, "throttle_previews", account_id=found.rule.account_id)
    preview = await operations.preview(request.config_dict[PG], found.rule)
    return render(
        request,
        "pages/rules/preview.html",
        {
            "rule": found.rule,
            "account": account,
            "preview": preview,
            "rows": _decisions(request, preview.decisions, account.currency),
            "summary": _summary(request, found.rule, account.currency),
            "fresh": freshness([(account.last_insights_sync_at, account.timezone_name)]),
        },
    )


@routes.get("/rules/{rule_id}/backtest", name="page-rules-backtest")
async def backtest_rule(request: web.Request) -> web.Response:
    found, account = await _rule(request)
    wanted = {k: v for k, v in request.query.items() if k in ("since", "until") and v}
    result = None
    errors: dict[str, str] = {}
    if "run" in request.query or wanted:
        body, errors = parse(BacktestIn, wanted)
        if body is not None:
            try:
                await limit_calls(request, "throttle_backtests", account_id=found.rule.account_id)
                result = await operations.backtest_of(request.config_dict[PG], found.rule, body,
                                                      replays=request.config_dict[REPLAYS],
                                                      settings=request.config_dict[SETTINGS])  # fmt: skip
            except ValidationFailed as exc:
                errors = field_errors(exc)
    fmt = formatter(request)
    days: list[dict[str, Any]] = []
    if result is not None:
        _ = translator(request)
        days = [{"date": day.date, "label": fmt.short_day(day.date), "matched": day.matched,
                 "actions": len(day.actions),
                 "details": [(a, None if a.field is None else changes.change(
                     _, fmt, object_type=a.object_type, object_id=a.object_id, object_name=a.object_name,
                     field=a.field, before=a.before, after=a.after, currency=result.currency)) for a in day.actions]}
                for day in result.days]  # fmt: skip
    return render(
        request,
        "pages/rules/backtest.html",
        {
            "rule": found.rule,
            "account": account,
            "result": result,
            "days": days,
            "errors": errors,
            "since": wanted.get("since", ""),
            "until": wanted.get("until", ""),
            "peak": max([int(d["matched"]) for d in days] + [1]),
            "fresh": freshness([(account.last_insights_sync_at, account.timezone_name)]),
        },
        status=422 if errors else 200,
    )


@routes.get("/rules/{rule_id}/run", name="page-rules-run-confirm")
async def confirm_run(request: web.Request) -> web.Response:
    found, account = await _rule(request)
    return render(
        request,
        "pages/rules/run.html",
        {
            "rule": found.rule,
            "account": account,
            "summary": _summary(request, found.rule, account.currency),
            "can_act": found.role in ACT_ROLES,
            "idempotency_key": new_form_key(),
        },
    )


@routes.post("/rules/{rule_id}/run", name="page-rules-run")
async def run_rule(request: web.Request) -> web.Response:
    values = await form_values(request)
    found, _account = await _rule(request)
    rule = (await operations.member_rule(request.config_dict[PG], user_id=principal(request).user_id,
                                         rule_id=found.rule.id, act=True)).rule  # fmt: skip
    await limit_calls(request, "throttle_rule_runs", account_id=rule.account_id)
    run: RuleRunOut = await operations.run_now(action_context(request), rule, user_id=principal(request).user_id,
                                               idempotency_key=form_key(values))  # fmt: skip
    raise web.HTTPSeeOther(f"/rules/{found.rule.id}?ran={run.id}#run-{run.id}")

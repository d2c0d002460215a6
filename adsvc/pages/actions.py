"""The actions history: every change made at Meta on the caller's accounts (filters, keyset pages), one action with
what it changed, and revert after a confirmation page showing the change back; the revert goes through the JSON
API's own function (adsvc.automation.operations.revert), audited and idempotent the same way."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from adsvc.automation import operations, queries
from adsvc.automation.executor import plan_each
from adsvc.automation.planner import Plan, Refusal, revert_step
from adsvc.automation.schemas import ActionListQuery
from adsvc.automation.views import action_context
from adsvc.collection.records import account_number
from adsvc.errors import NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.pages import changes
from adsvc.pages.acting import (
    ACT_ROLES,
    action_views,
    caller_accounts,
    form_key,
    formatter,
    new_form_key,
    path_id,
    translator,
)
from adsvc.pages.forms import form_values, parse
from adsvc.pages.render import gettext, render
from adsvc.requests import principal
from adsvc.routing import keyset_page

routes = web.RouteTableDef()

STATUSES = ("planned", "applied", "failed", "reverted")
PAGE_SIZE = 50


async def _action(request: web.Request) -> queries.MemberAction:
    action_id = path_id(request, "action_id")
    found = await queries.action_for_user(request.config_dict[PG], action_id=action_id,
                                          user_id=principal(request).user_id)  # fmt: skip
    if found is None:
        raise NotFound(gettext(request, "This action does not exist or is not shared with you."))
    return found


@routes.get("/actions", name="page-actions-list")
async def history(request: web.Request) -> web.Response:
    wanted = {k: v for k, v in request.query.items() if k in ("account_id", "status", "object_id", "before_id") and v}
    query, errors = parse(ActionListQuery, {**wanted, "limit": str(PAGE_SIZE)})
    if query is None:
        raise ValidationFailed("the filters are not valid", details=[{"loc": ["query", k], "msg": v}
                                                                      for k, v in errors.items()])  # fmt: skip
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
    accounts = await caller_accounts(request)
    filters = {"account_id": query.account_id or "", "status": query.status or "", "object_id": query.object_id or ""}
    given = {k: v for k, v in filters.items() if v}
    _ = translator(request)
    return render(
        request,
        "pages/actions/list.html",
        {
            "actions": await action_views(request, page),
            "accounts": accounts,
            "zones": {a.id: a.timezone_name for a in accounts},
            "filters": filters,
            "statuses": [(s, changes.action_status_label(_, s)) for s in STATUSES],
            "next_url": None if next_before_id is None else "/actions?" + urlencode({**given,
                                                                                   "before_id": next_before_id}),
            "first_url": None if query.before_id is None else "/actions?" + urlencode(given),
        },
    )  # fmt: skip


async def revert_plan(request: web.Request, found: queries.MemberAction) -> tuple[Plan | None, str | None]:
    """The change a revert would make now against the stored object, or why there is none, in the reader's language
    (the API's refusals and the planner's)."""
    action = found.action
    if found.role not in ACT_ROLES:
        return None, gettext(request, "Only owners and managers of the account can revert actions.")
    if action.status == "reverted":
        return None, gettext(request, "This action has already been reverted.")
    if action.status != "applied":
        return None, gettext(request, "Only applied actions can be reverted; this one is %(status)s.",
                             status=changes.action_status_label(translator(request), action.status))  # fmt: skip
    if action.reverts_action_id is not None:
        return None, gettext(request, "A revert cannot itself be reverted; make a new change instead.")
    try:
        step = revert_step(object_type=action.object_type, object_id=action.object_id, field=action.field,
                           before_value=action.before_value, action_id=action.id)  # fmt: skip
    except Refusal as refusal:
        return None, changes.refusal_text(translator(request), formatter(request), refusal)
    [planned] = await plan_each(request.config_dict[PG], [step], account_id=action.account_id)
    if isinstance(planned, Refusal):
        return None, changes.refusal_text(translator(request), formatter(request), planned)
    return planned, None


@routes.get("/actions/{action_id}", name="page-actions-detail")
async def detail(request: web.Request) -> web.Response:
    found = await _action(request)
    pg = request.config_dict[PG]
    reverts = await queries.revert_actions_of(pg, action_id=found.action.id)
    [view] = await action_views(request, [found.action])
    return render(
        request,
        "pages/actions/detail.html",
        {
            "view": view,
            "reverts": await action_views(request, reverts),
            "why_not": (await revert_plan(request, found))[1],
            "zones": {a.id: a.timezone_name for a in await caller_accounts(request)},
            "done": request.query.get("done", ""),
        },
    )


@routes.get("/actions/{action_id}/revert", name="page-actions-revert-confirm")
async def confirm_revert(request: web.Request) -> web.Response:
    found = await _action(request)
    plan, why_not = await revert_plan(request, found)
    [view] = await action_views(request, [found.action])
    back = None
    if plan is not None:
        names = {(plan.object_type, plan.object_id): view.change.object_name or plan.object_id}
        back = changes.planned(translator(request), formatter(request), plan, names=names)
    return render(
        request,
        "pages/actions/revert.html",
        {"view": view, "back": back, "why_not": why_not, "idempotency_key": new_form_key()},
    )


@routes.post("/actions/{action_id}/revert", name="page-actions-revert")
async def revert(request: web.Request) -> web.Response:
    values = await form_values(request)
    found = await _action(request)
    reverted_by = await operations.revert(action_context(request), user_id=principal(request).user_id,
                                          action_id=found.action.id, idempotency_key=form_key(values))  # fmt: skip
    raise web.HTTPSeeOther(f"/actions/{reverted_by.id}?done=reverted")

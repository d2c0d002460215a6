"""The suggestions inbox: the suggestions of the caller's accounts with what each proposes and why, accept and
dismiss, and apply after a confirmation page that shows the exact change; every change through the JSON API's own
functions (adsvc.suggestions.decisions: decide, apply), so it is audited and idempotent the same way."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from adsvc.automation import queries as action_queries
from adsvc.automation.executor import plan_each
from adsvc.automation.planner import Plan, Refusal, Step, steps_from_proposal
from adsvc.automation.views import action_context
from adsvc.collection.records import account_number
from adsvc.errors import Conflict, NotFound, ValidationFailed
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
from adsvc.pages.i18n import Formatter
from adsvc.pages.middleware import local_target
from adsvc.pages.render import freshness, gettext, render
from adsvc.requests import audit_origin, principal
from adsvc.routing import keyset_page
from adsvc.suggestions import decisions, queries
from adsvc.suggestions.engine import KINDS
from adsvc.suggestions.schemas import SuggestionListQuery

routes = web.RouteTableDef()

STATUSES = ("open", "accepted", "dismissed", "applied", "expired")
PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class SuggestionView:
    row: queries.SuggestionRow
    kind: str
    status: str
    proposes: str
    evidence: list[tuple[str, str]]
    can_decide: bool
    can_apply: bool


def _view(request: web.Request, row: queries.SuggestionRow, fmt: Formatter) -> SuggestionView:
    _ = translator(request)
    return SuggestionView(
        row=row,
        kind=changes.kind_label(_, row.kind),
        status=changes.suggestion_status_label(_, row.status),
        proposes=changes.proposal_text(_, fmt, row.proposal, row.currency),
        evidence=changes.evidence_rows(_, fmt, row.evidence, row.currency),
        can_decide=row.role in ACT_ROLES and row.status == "open",
        can_apply=row.role in ACT_ROLES
        and row.status in ("open", "accepted")
        and row.proposal.get("action") != "refresh_creatives",
    )


async def _suggestion(request: web.Request) -> queries.SuggestionRow:
    suggestion_id = path_id(request, "suggestion_id")
    row = await queries.suggestion_for_user(request.config_dict[PG], suggestion_id=suggestion_id,
                                            user_id=principal(request).user_id)  # fmt: skip
    if row is None:
        raise NotFound(gettext(request, "This suggestion does not exist or is not shared with you."))
    return row


@routes.get("/suggestions", name="page-suggestions-list")
async def inbox(request: web.Request) -> web.Response:
    wanted = {key: value for key, value in request.query.items() if key in ("account_id", "status", "kind",
                                                                             "before_id") and value}  # fmt: skip
    status = wanted.get("status", "open")
    if status == "all":
        wanted.pop("status")
    else:
        wanted["status"] = status
    query, errors = parse(SuggestionListQuery, {**wanted, "limit": str(PAGE_SIZE)})
    if query is None:
        raise ValidationFailed("the filters are not valid", details=[{"loc": ["query", k], "msg": v}
                                                                      for k, v in errors.items()])  # fmt: skip
    accounts = await caller_accounts(request)
    rows = await queries.list_suggestions(
        request.config_dict[PG],
        user_id=principal(request).user_id,
        account_id=account_number(query.account_id) if query.account_id else None,
        statuses=[query.status] if query.status else None,
        kinds=[query.kind] if query.kind else None,
        object_id=None,
        before_id=query.before_id,
        limit=query.limit + 1,
    )
    page, next_before_id = keyset_page(rows, query.limit)
    fmt = formatter(request)
    shown = [a for a in accounts if query.account_id is None or a.id == account_number(query.account_id)]
    filters = {"account_id": query.account_id or "", "status": query.status or "all", "kind": query.kind or ""}
    given = {k: v for k, v in filters.items() if v}
    next_url = None if next_before_id is None else "/suggestions?" + urlencode({**given, "before_id": next_before_id})
    # where accept and dismiss come back to: this page, without the notice of the last decision
    kept = urlencode([(k, v) for k, v in request.query.items() if k != "done"])
    _ = translator(request)
    return render(
        request,
        "pages/suggestions/inbox.html",
        {
            "items": [_view(request, row, fmt) for row in page],
            "accounts": accounts,
            "filters": filters,
            "statuses": [(s, changes.suggestion_status_label(_, s)) for s in STATUSES],
            "kinds": [(k, changes.kind_label(_, k)) for k in KINDS],
            "next_url": next_url,
            "first_page": query.before_id is None,
            "first_url": "/suggestions?" + urlencode(given),
            "fresh": freshness([(a.last_insights_sync_at, a.timezone_name) for a in shown]),
            "zones": {a.id: a.timezone_name for a in accounts},
            "done": request.query.get("done", ""),
            "back": request.path + ("?" + kept if kept else ""),
        },
    )


@routes.get("/suggestions/{suggestion_id}", name="page-suggestions-detail")
async def detail(request: web.Request) -> web.Response:
    row = await _suggestion(request)
    actions = await action_queries.actions_for_source(request.config_dict[PG], source="suggestion",
                                                      source_id=str(row.id))  # fmt: skip
    return render(
        request,
        "pages/suggestions/detail.html",
        {
            "item": _view(request, row, formatter(request)),
            "actions": await action_views(request, actions),
            "zones": {a.id: a.timezone_name for a in await caller_accounts(request)},
            "done": request.query.get("done", ""),
        },
    )


async def _decide(request: web.Request, status: str) -> web.Response:
    values = await form_values(request)
    row = await _suggestion(request)
    try:
        await decisions.decide(request.config_dict[PG], audit_origin(request), user_id=principal(request).user_id,
                               suggestion_id=row.id, status=status)  # fmt: skip
    except Conflict as exc:
        # a second submit of the same form: the suggestion is already where the first one put it
        if not (isinstance(exc.details, dict) and exc.details.get("status") == status):
            raise
    verb = "accepted" if status == "accepted" else "dismissed"
    target = local_target(values.get("next"), default="/suggestions")
    raise web.HTTPSeeOther(target + ("&" if "?" in target else "?") + "done=" + verb)


@routes.post("/suggestions/{suggestion_id}/accept", name="page-suggestions-accept")
async def accept(request: web.Request) -> web.Response:
    return await _decide(request, "accepted")


@routes.post("/suggestions/{suggestion_id}/dismiss", name="page-suggestions-dismiss")
async def dismiss(request: web.Request) -> web.Response:
    return await _decide(request, "dismissed")


@routes.get("/suggestions/{suggestion_id}/apply", name="page-suggestions-apply-confirm")
async def confirm_apply(request: web.Request) -> web.Response:
    row = await _suggestion(request)
    fmt = formatter(request)
    _ = translator(request)
    planned: list[Plan | Refusal]
    try:
        steps = steps_from_proposal(object_type=row.object_type, object_id=row.object_id, kind=row.kind,
                                    proposal=row.proposal, rationale=row.rationale)  # fmt: skip
        planned = await plan_each(request.config_dict[PG], steps, account_id=row.account_id)
    except Refusal as refusal:
        steps, planned = [], [refusal]
    pg = request.config_dict[PG]
    names = await action_queries.object_names(pg, objects=[(s.object_type, s.object_id) for s in steps])
    lines: list[changes.Change | changes.Refused] = []
    named: list[Step | None] = [*steps] if steps else [None] * len(planned)
    for step, plan in zip(named, planned, strict=True):
        if isinstance(plan, Refusal):
            lines.append(changes.refused(_, fmt, plan, step=step, names=names))
        else:
            lines.append(changes.planned(_, fmt, plan, names=names))
    refused = [line for line in lines if isinstance(line, changes.Refused)]
    problem = None
    if row.role not in ACT_ROLES:
        problem = gettext(request, "Only owners and managers of the account can apply suggestions.")
    elif row.status not in ("open", "accepted"):
        status = changes.suggestion_status_label(_, row.status)
        problem = gettext(request, "Only open or accepted suggestions can be applied; this one is %(status)s.",
                          status=status)  # fmt: skip
    elif refused:
        problem = gettext(request, "This suggestion cannot be applied now.")
    return render(
        request,
        "pages/suggestions/apply.html",
        {"item": _view(request, row, fmt), "lines": lines, "problem": problem, "idempotency_key": new_form_key()},
    )


@routes.post("/suggestions/{suggestion_id}/apply", name="page-suggestions-apply")
async def apply(request: web.Request) -> web.Response:
    values = await form_values(request)
    row = await _suggestion(request)
    await decisions.apply(action_context(request), user_id=principal(request).user_id, suggestion_id=row.id,
                          idempotency_key=form_key(values))  # fmt: skip
    raise web.HTTPSeeOther(f"/suggestions/{row.id}?done=applied")

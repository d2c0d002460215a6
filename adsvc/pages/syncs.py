"""The syncs pages: each of the user's accounts with its last sync runs (the sync-runs API's query), a running
sync's progress as the worker records it, the last successful syncs and the data's age, the token's status, and
"sync now", which queues the job through the sync API's own function (same roles, same one-job-per-minute dedupe,
same audit entry)."""

from __future__ import annotations

from aiohttp import web

from adsvc.accounts import queries as account_queries
from adsvc.accounts.schemas import SyncIn, SyncRunListQuery
from adsvc.accounts.syncing import may_sync, queue_sync
from adsvc.collection.queries import runs_for_account
from adsvc.collection.records import account_number
from adsvc.errors import Forbidden, NotFound, ValidationFailed
from adsvc.keys import ARQ, PG
from adsvc.pages.accounts import account_id_of, last_runs, role_names
from adsvc.pages.forms import form_values, parse
from adsvc.pages.middleware import error_page
from adsvc.pages.render import freshness, gettext, render
from adsvc.requests import audit_origin, principal

routes = web.RouteTableDef()

RUNS_PER_ACCOUNT = 5
KINDS = ("insights", "structure", "backfill")


def _notice(request: web.Request) -> str | None:
    done = request.query.get("done")
    if done == "queued":
        return gettext(request, "The sync was queued; its progress shows here once a worker starts it.")
    if done == "behind":
        return gettext(request, "The sync was queued behind the one running now: it starts when that one ends.")
    if done == "already":
        return gettext(request, "This sync was already queued a moment ago: nothing was added.")
    return None


def _kind_names(request: web.Request) -> dict[str, str]:
    return {
        "insights": gettext(request, "Insights (recent days, with the restatement lookback)"),
        "structure": gettext(request, "Structure (campaigns, ad sets, ads)"),
        "backfill": gettext(request, "Backfill (history)"),
    }


async def _member_account(request: web.Request) -> account_queries.Account:
    account = await account_queries.account_for_user(request.config_dict[PG],
                                                     account_id=account_number(account_id_of(request)),
                                                     user_id=principal(request).user_id)  # fmt: skip
    if account is None:
        raise NotFound("ad account not found")
    return account


def _context(request: web.Request, accounts: list[account_queries.Account]) -> dict[str, object]:
    return {
        "accounts": accounts,
        "may_sync": {account.id: may_sync(account.role) for account in accounts},
        "role_names": role_names(request),
        "kinds": KINDS,
        "kind_names": _kind_names(request),
        "notice": _notice(request),
        "fresh": {
            account.id: freshness([(account.last_insights_sync_at, account.timezone_name)]) for account in accounts
        },
    }


@routes.get("/syncs", name="page-syncs-list")
async def syncs_list(request: web.Request) -> web.Response:
    accounts = await account_queries.accounts_for_user(request.config_dict[PG], user_id=principal(request).user_id)
    runs = await last_runs(request, accounts, RUNS_PER_ACCOUNT)
    return render(request, "pages/syncs/list.html", {**_context(request, accounts), "runs": runs, "single": False})


@routes.get("/syncs/{account_id}", name="page-syncs-account")
async def syncs_account(request: web.Request) -> web.Response:
    account = await _member_account(request)
    query, _errors = parse(
        SyncRunListQuery, {name: request.query[name] for name in ("before_id",) if name in request.query}
    )
    if query is None:
        raise web.HTTPNotFound()
    rows = await runs_for_account(request.config_dict[PG], account_id=account.id, before_id=query.before_id,
                                  limit=query.limit + 1)  # fmt: skip
    page = rows[: query.limit]
    next_before_id = page[-1].id if len(rows) > query.limit else None
    return render(request, "pages/syncs/list.html", {**_context(request, [account]), "runs": {account.id: page},
                                                     "single": True, "next_before_id": next_before_id})  # fmt: skip


@routes.post("/syncs/{account_id}", name="page-syncs-now")
async def sync_now(request: web.Request) -> web.Response:
    account = await _member_account(request)
    values = await form_values(request)
    body, _errors = parse(SyncIn, {"kind": values.get("kind", "insights"), "days": values.get("days", "")})
    refused = gettext(request, "Choose a kind of sync; days (1 to 1110) are for a backfill only.")
    if body is None:
        return error_page(request, 422, message=refused)
    try:
        queued = await queue_sync(request.config_dict[PG], request.config_dict[ARQ], account=account, kind=body.kind,
                                  days=body.days, origin=audit_origin(request))  # fmt: skip
    except ValidationFailed:
        return error_page(request, 422, message=refused)
    except Forbidden:
        return error_page(request, 403, message=gettext(request, "Only the account's owners and managers can start a "
                                                                 "sync."))  # fmt: skip
    outcome = "already"
    if queued.queued:
        running = await account_queries.running_sync_count(request.config_dict[PG], account_id=account.id)
        outcome = "behind" if running else "queued"
    target = f"/syncs/{account.id}" if values.get("back") == "account" else "/syncs"
    raise web.HTTPSeeOther(f"{target}?done={outcome}#account-{account.id}")

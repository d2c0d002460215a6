"""The pages of one's ad accounts and of their members: the accounts list (role, token, last syncs, links to each
account's dashboard, syncs and members) and an account's members, which its owners add, change and remove through
the members API's own functions (adsvc.members.changes: same rules, same lock, same audit entries)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from adsvc.accounts import queries as account_queries
from adsvc.collection.queries import SyncRun, runs_for_account
from adsvc.errors import Conflict, Forbidden, NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.members import changes
from adsvc.members import queries as member_queries
from adsvc.members.roles import ROLES, may_manage_members, may_remove
from adsvc.members.schemas import AddMemberIn, ChangeRoleIn, MemberListQuery
from adsvc.pages.forms import FieldErrors, form_values, parse
from adsvc.pages.middleware import error_page
from adsvc.pages.render import gettext, render
from adsvc.requests import audit_origin, principal

routes = web.RouteTableDef()

LAST_RUNS = 3
MEMBERS_PER_PAGE = 100


def role_names(request: web.Request) -> dict[str, str]:
    return {
        "owner": gettext(request, "Owner"),
        "manager": gettext(request, "Manager"),
        "analyst": gettext(request, "Analyst"),
        "viewer": gettext(request, "Viewer"),
    }


async def last_runs(
    request: web.Request, accounts: list[account_queries.Account], limit: int
) -> dict[str, list[SyncRun]]:
    """The newest sync runs of each account (the sync-runs API's query), read concurrently."""
    pg = request.config_dict[PG]
    found = await asyncio.gather(
        *(runs_for_account(pg, account_id=account.id, before_id=2**62, limit=limit) for account in accounts)
    )
    return {account.id: runs for account, runs in zip(accounts, found, strict=True)}


@routes.get("/accounts", name="page-accounts-list")
async def accounts_list(request: web.Request) -> web.Response:
    accounts = await account_queries.accounts_for_user(request.config_dict[PG], user_id=principal(request).user_id)
    runs = await last_runs(request, accounts, LAST_RUNS)
    return render(request, "pages/accounts/list.html", {"accounts": accounts, "runs": runs,
                                                         "role_names": role_names(request)})  # fmt: skip


def _message_for(request: web.Request, exc: Conflict | ValidationFailed, email: str = "") -> str:
    """The API's refusals in the reader's words."""
    if exc.code == "last_owner":
        return gettext(request, "An account must keep at least one owner: make another member an owner first.")
    if exc.code == "already_a_member":
        role = role_names(request).get(str((exc.details or {}).get("role", "")), "")
        return gettext(request, "%(email)s is already a member, as %(role)s: change their role in the list instead.",
                       email=email, role=role)  # fmt: skip
    if exc.code == "unknown_user":
        return gettext(request, "No active adsvc user has this email. An administrator creates users.")
    return exc.message


async def _members_page(
    request: web.Request,
    account_id: str,
    *,
    errors: FieldErrors | None = None,
    refusal: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    pg, caller = request.config_dict[PG], principal(request)
    query, _ = parse(MemberListQuery, {"after_id": request.query.get("after_id", "0")})
    if query is None:
        raise web.HTTPNotFound()
    page = await changes.list_members(pg, caller, account_id, after_id=query.after_id, limit=MEMBERS_PER_PAGE)
    account = await account_queries.account_by_id(pg, account_id=page.access.account_id)
    if account is None:
        raise NotFound(changes.NO_ACCOUNT)
    done = request.query.get("done", "")
    notices = {
        "added": gettext(request, "The member was added."),
        "unchanged": gettext(request, "Nothing changed: they were already a member with this role."),
        "role": gettext(request, "The role was changed."),
        "removed": gettext(request, "The member was removed."),
    }
    return render(
        request,
        "pages/accounts/members.html",
        {
            "account": account,
            "members": page.members,
            "next_after_id": page.next_after_id,
            "my_role": page.access.role,
            "manages": may_manage_members(role=page.access.role, is_admin=caller.is_admin),
            "me": caller.user_id,
            "roles": ROLES,
            "role_names": role_names(request),
            "errors": errors or {},
            "refusal": refusal,
            "values": values or {},
            "notice": notices.get(done),
        },
        status=status,
    )


def _not_an_owner(request: web.Request) -> web.Response:
    return error_page(request, 403, message=gettext(request, "Only the account's owners can manage its members."))


def _members_path(account_id: str, done: str) -> str:
    return f"/accounts/{account_id}/members?done={done}"


@routes.get("/accounts/{account_id}/members", name="page-members-list")
async def members_list(request: web.Request) -> web.Response:
    return await _members_page(request, account_id_of(request))


@routes.post("/accounts/{account_id}/members", name="page-members-add")
async def members_add(request: web.Request) -> web.Response:
    account_id = account_id_of(request)
    values = await form_values(request)
    email = values.get("email", "").strip()[:320]
    body, problems = parse(AddMemberIn, {"email": email, "role": values.get("role", "")})
    if body is None:
        errors: FieldErrors = {}
        if "email" in problems:
            errors["email"] = gettext(request, "Enter the email address of an adsvc user.")
        if "role" in problems:
            errors["role"] = gettext(request, "Choose one of the roles.")
        return await _members_page(request, account_id, errors=errors, values=values, status=422)
    try:
        added = await changes.add_member(request.config_dict[PG], principal(request), audit_origin(request),
                                         account_id, email=body.email, role=body.role)  # fmt: skip
    except ValidationFailed as exc:
        return await _members_page(request, account_id, errors={"email": _message_for(request, exc)}, values=values,
                                   status=422)  # fmt: skip
    except Forbidden:
        return _not_an_owner(request)
    except Conflict as exc:
        return await _members_page(request, account_id, refusal=_message_for(request, exc, email), values=values,
                                   status=409)  # fmt: skip
    raise web.HTTPSeeOther(_members_path(account_id, "added" if added.created else "unchanged"))


def account_id_of(request: web.Request) -> str:
    """The path's account id; one no account can have (a NUL character) is a 404, as in the API."""
    raw = request.match_info["account_id"]
    if "\x00" in raw or len(raw) > 40:
        raise web.HTTPNotFound()
    return raw


def _user_id(request: web.Request) -> int:
    raw = request.match_info["user_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound()
    return int(raw)


@routes.post("/accounts/{account_id}/members/{user_id}/role", name="page-members-role")
async def members_role(request: web.Request) -> web.Response:
    account_id, user_id = account_id_of(request), _user_id(request)
    values = await form_values(request)
    body, _errors = parse(ChangeRoleIn, {"role": values.get("role", "")})
    if body is None:
        return await _members_page(request, account_id, refusal=gettext(request, "Choose one of the roles."),
                                   status=422)  # fmt: skip
    try:
        await changes.change_role(request.config_dict[PG], principal(request), audit_origin(request), account_id,
                                  user_id=user_id, role=body.role)  # fmt: skip
    except Forbidden:
        return _not_an_owner(request)
    except Conflict as exc:
        return await _members_page(request, account_id, refusal=_message_for(request, exc), status=409)
    raise web.HTTPSeeOther(_members_path(account_id, "role"))


@routes.get("/accounts/{account_id}/members/{user_id}/remove", name="page-members-remove-confirm")
async def members_remove_confirm(request: web.Request) -> web.Response:
    account_id, user_id = account_id_of(request), _user_id(request)
    pg, caller = request.config_dict[PG], principal(request)
    access = await changes.visible_access(pg, caller, account_id)
    if not may_remove(role=access.role, is_admin=caller.is_admin, caller_id=caller.user_id, target_id=user_id):
        return _not_an_owner(request)
    member = await member_queries.member(pg, account_id=access.account_id, user_id=user_id)
    if member is None:
        raise NotFound("member not found")
    account = await account_queries.account_by_id(pg, account_id=access.account_id)
    return render(request, "pages/accounts/remove.html", {"account": account, "member": member,
                                                           "leaving": user_id == caller.user_id,
                                                           "role_names": role_names(request)})  # fmt: skip


@routes.post("/accounts/{account_id}/members/{user_id}/remove", name="page-members-remove")
async def members_remove(request: web.Request) -> web.Response:
    account_id, user_id = account_id_of(request), _user_id(request)
    caller = principal(request)
    try:
        removed = await changes.remove_member(request.config_dict[PG], caller, audit_origin(request), account_id,
                                              user_id=user_id)  # fmt: skip
    except Forbidden:
        return _not_an_owner(request)
    except Conflict as exc:
        return await _members_page(request, account_id, refusal=_message_for(request, exc), status=409)
    if user_id == caller.user_id and removed.removed and not caller.is_admin:
        raise web.HTTPSeeOther("/accounts")  # they left: the account is no longer theirs to see
    raise web.HTTPSeeOther(_members_path(account_id, "removed"))

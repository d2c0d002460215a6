"""HTTP handlers for an ad account's members: list, add by email, change a role, remove (or leave)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from adsvc.audit.queries import insert_audit_entry
from adsvc.auth.queries import user_by_email
from adsvc.collection.records import account_number
from adsvc.errors import Conflict, Forbidden, NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.members import queries
from adsvc.members.roles import leaves_no_owner, may_manage_members, may_remove
from adsvc.members.schemas import (
    AddMemberIn,
    ChangeRoleIn,
    MemberListOut,
    MemberListQuery,
    MemberOut,
    MemberRemovedOut,
)
from adsvc.requests import audit_origin, principal
from adsvc.routing import Routes, json_response

routes = Routes(tag="ad-accounts")

_ACCOUNT = {"account_id": str}
_MEMBER = {"account_id": str, "user_id": int}
# the same answer as for an account that does not exist: a non-member learns nothing
_NO_ACCOUNT = "ad account not found"


def _member_out(member: queries.Member) -> MemberOut:
    return MemberOut(user_id=member.user_id, email=member.email, role=member.role, added_at=member.added_at)  # type: ignore[arg-type]


def _audit_view(member: queries.Member) -> dict[str, object]:
    return {"user_id": member.user_id, "email": member.email, "role": member.role}


async def _locked_access(request: web.Request, conn: asyncpg.Connection, account_id: str) -> queries.AccountAccess:
    """The caller's access to the account, with its membership locked until the transaction ends; 404 for anyone
    who is neither a member nor an administrator."""
    caller = principal(request)
    access = await queries.lock_account_members(conn, account_id=account_number(account_id), user_id=caller.user_id)
    if access is None or (access.role is None and not caller.is_admin):
        raise NotFound(_NO_ACCOUNT)
    return access


def _require_manager_of_members(request: web.Request, access: queries.AccountAccess, doing: str) -> None:
    if not may_manage_members(role=access.role, is_admin=principal(request).is_admin):
        raise Forbidden(f"only the account's owners can {doing}")


def _last_owner(doing: str) -> Conflict:
    return Conflict(f"the account's last owner cannot {doing}; make another member an owner first", code="last_owner")


@routes.get(
    "/api/v1/ad-accounts/{account_id}/members",
    name="ad-account-members",
    summary="Who may see this account, with their roles (any member; administrators for every account)",
    query=MemberListQuery,
    response=MemberListOut,
    errors=(404, 422),
    path_params=_ACCOUNT,
)
async def list_members(request: web.Request, query: MemberListQuery, account_id: str) -> web.Response:
    caller = principal(request)
    pg = request.config_dict[PG]
    access = await queries.account_access(pg, account_id=account_number(account_id), user_id=caller.user_id)
    if access is None or (access.role is None and not caller.is_admin):
        raise NotFound(_NO_ACCOUNT)
    rows = await queries.members(pg, account_id=access.account_id, after_user_id=query.after_id, limit=query.limit + 1)
    page = rows[: query.limit]
    next_after_id = page[-1].user_id if len(rows) > query.limit else None
    return json_response(MemberListOut(data=[_member_out(member) for member in page], next_after_id=next_after_id))


@routes.post(
    "/api/v1/ad-accounts/{account_id}/members",
    name="add-ad-account-member",
    summary="Add an adsvc user to this account by email, with a role (owners; administrators). Adding a member "
    "again with the role they have changes nothing and answers 200; with another role it is a 409 (change roles "
    "with PATCH). An email that names no active user is a 422 `unknown_user`",
    body=AddMemberIn,
    response=MemberOut,
    status=201,
    errors=(403, 404, 409, 422),
    alt_responses={200: MemberOut},
    path_params=_ACCOUNT,
)
async def add_member(request: web.Request, body: AddMemberIn, account_id: str) -> web.Response:
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        access = await _locked_access(request, conn, account_id)
        _require_manager_of_members(request, access, "add members")
        user = await user_by_email(conn, email=body.email)
        if user is None or not user.is_active:
            raise ValidationFailed.field(
                ("body", "email"),
                "no active adsvc user has this email; an administrator creates users",
                code="unknown_user",
            )
        existing = await queries.member(conn, account_id=access.account_id, user_id=user.id)
        if existing is not None:
            if existing.role == body.role:
                return json_response(_member_out(existing))  # a retried add: nothing to change
            raise Conflict(
                f"already a member as {existing.role}; change the role with PATCH",
                code="already_a_member",
                details={"user_id": existing.user_id, "role": existing.role},
            )
        added = await queries.insert_member(conn, account_id=access.account_id, user_id=user.id, role=body.role)
        await insert_audit_entry(
            conn,
            action="ad_account.member_add",
            target_type="ad_account",
            target_id=access.account_id,
            after=_audit_view(added),
            **audit_origin(request),
        )
    return json_response(_member_out(added), status=201)


@routes.route(
    "PATCH",
    "/api/v1/ad-accounts/{account_id}/members/{user_id}",
    name="change-ad-account-member",
    summary="Change a member's role (owners; administrators). The account's last owner cannot be demoted (409 "
    "`last_owner`); giving the role the member has changes nothing",
    body=ChangeRoleIn,
    response=MemberOut,
    errors=(403, 404, 409, 422),
    path_params=_MEMBER,
)
async def change_member(request: web.Request, body: ChangeRoleIn, account_id: str, user_id: int) -> web.Response:
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        access = await _locked_access(request, conn, account_id)
        _require_manager_of_members(request, access, "change roles")
        before = await queries.member(conn, account_id=access.account_id, user_id=user_id)
        if before is None:
            raise NotFound("member not found")
        if before.role == body.role:
            return json_response(_member_out(before))
        owners = await queries.owner_count(conn, account_id=access.account_id)
        if leaves_no_owner(owners=owners, current=before.role, new=body.role):
            raise _last_owner("be demoted")
        after = await queries.set_member_role(conn, account_id=access.account_id, user_id=user_id, role=body.role)
        assert after is not None  # the membership is locked: the row read above is still there
        await insert_audit_entry(
            conn,
            action="ad_account.member_role_change",
            target_type="ad_account",
            target_id=access.account_id,
            before=_audit_view(before),
            after=_audit_view(after),
            **audit_origin(request),
        )
    return json_response(_member_out(after))


@routes.route(
    "DELETE",
    "/api/v1/ad-accounts/{account_id}/members/{user_id}",
    name="remove-ad-account-member",
    summary="Remove a member (owners; administrators), or leave the account (any member, with their own user id). "
    "The account's last owner cannot be removed or leave (409 `last_owner`). Removing someone who is not a "
    "member answers 200 with `removed: false`, so a retried removal succeeds",
    response=MemberRemovedOut,
    errors=(403, 404, 409),
    path_params=_MEMBER,
)
async def remove_member(request: web.Request, account_id: str, user_id: int) -> web.Response:
    caller = principal(request)
    leaving = user_id == caller.user_id
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        access = await _locked_access(request, conn, account_id)
        if not may_remove(role=access.role, is_admin=caller.is_admin, caller_id=caller.user_id, target_id=user_id):
            raise Forbidden("only the account's owners can remove other members")
        before = await queries.member(conn, account_id=access.account_id, user_id=user_id)
        if before is None:
            return json_response(MemberRemovedOut(account_id=access.account_id, user_id=user_id, removed=False))
        owners = await queries.owner_count(conn, account_id=access.account_id)
        if leaves_no_owner(owners=owners, current=before.role, new=None):
            raise _last_owner("leave" if leaving else "be removed")
        await queries.delete_member(conn, account_id=access.account_id, user_id=user_id)
        await insert_audit_entry(
            conn,
            action="ad_account.member_leave" if leaving else "ad_account.member_remove",
            target_type="ad_account",
            target_id=access.account_id,
            before=_audit_view(before),
            **audit_origin(request),
        )
    return json_response(MemberRemovedOut(account_id=access.account_id, user_id=user_id, removed=True))

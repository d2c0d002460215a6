"""HTTP handlers for an ad account's members: list, add by email, change a role, remove (or leave); the rules are
applied by adsvc.members.changes."""

from __future__ import annotations

from aiohttp import web

from adsvc.keys import PG
from adsvc.members import changes, queries
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


def _member_out(member: queries.Member) -> MemberOut:
    return MemberOut(user_id=member.user_id, email=member.email, role=member.role, added_at=member.added_at)  # type: ignore[arg-type]


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
    page = await changes.list_members(request.config_dict[PG], principal(request), account_id, after_id=query.after_id,
                                      limit=query.limit)  # fmt: skip
    return json_response(MemberListOut(data=[_member_out(member) for member in page.members],
                                       next_after_id=page.next_after_id))  # fmt: skip


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
    added = await changes.add_member(request.config_dict[PG], principal(request), audit_origin(request), account_id,
                                     email=body.email, role=body.role)  # fmt: skip
    return json_response(_member_out(added.member), status=201 if added.created else 200)


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
    member = await changes.change_role(request.config_dict[PG], principal(request), audit_origin(request), account_id,
                                       user_id=user_id, role=body.role)  # fmt: skip
    return json_response(_member_out(member))


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
    removed = await changes.remove_member(request.config_dict[PG], principal(request), audit_origin(request),
                                          account_id, user_id=user_id)  # fmt: skip
    return json_response(MemberRemovedOut(account_id=removed.account_id, user_id=removed.user_id,
                                          removed=removed.removed))  # fmt: skip

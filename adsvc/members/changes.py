"""Reading and changing an account's members, shared by the JSON API and the members page: the rules of
adsvc.members.roles applied under the account's lock, and one audit entry per change (none when nothing changes)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from adsvc.audit.queries import insert_audit_entry
from adsvc.auth.principal import Principal
from adsvc.auth.queries import user_by_email
from adsvc.collection.records import account_number
from adsvc.errors import Conflict, Forbidden, NotFound, ValidationFailed
from adsvc.members import queries
from adsvc.members.roles import Role, leaves_no_owner, may_manage_members, may_remove
from adsvc.requests import AuditOrigin

# the same answer as for an account that does not exist: a non-member learns nothing
NO_ACCOUNT = "ad account not found"


@dataclass(frozen=True, slots=True)
class MemberPage:
    access: queries.AccountAccess
    members: list[queries.Member]
    next_after_id: int | None


@dataclass(frozen=True, slots=True)
class Added:
    member: queries.Member
    created: bool  # False: they were already a member with this role (a retried add)


@dataclass(frozen=True, slots=True)
class Removed:
    account_id: str
    user_id: int
    removed: bool  # False: they were not a member (a retried removal)


def _audit_view(member: queries.Member) -> dict[str, object]:
    return {"user_id": member.user_id, "email": member.email, "role": member.role}


def _visible(access: queries.AccountAccess | None, caller: Principal) -> queries.AccountAccess:
    if access is None or (access.role is None and not caller.is_admin):
        raise NotFound(NO_ACCOUNT)
    return access


async def _locked_access(conn: asyncpg.Connection, caller: Principal, account_id: str) -> queries.AccountAccess:
    """The caller's access to the account, with its membership locked until the transaction ends; 404 for anyone
    who is neither a member nor an administrator."""
    access = await queries.lock_account_members(conn, account_id=account_number(account_id), user_id=caller.user_id)
    return _visible(access, caller)


def _require_manager_of_members(caller: Principal, access: queries.AccountAccess, doing: str) -> None:
    if not may_manage_members(role=access.role, is_admin=caller.is_admin):
        raise Forbidden(f"only the account's owners can {doing}")


def _last_owner(doing: str) -> Conflict:
    return Conflict(f"the account's last owner cannot {doing}; make another member an owner first", code="last_owner")


async def visible_access(pg: asyncpg.Pool, caller: Principal, account_id: str) -> queries.AccountAccess:
    """The caller's access to the account (their role; None for an administrator who is not a member); 404 for
    anyone else."""
    return _visible(await queries.account_access(pg, account_id=account_number(account_id), user_id=caller.user_id),
                    caller)  # fmt: skip


async def list_members(
    pg: asyncpg.Pool, caller: Principal, account_id: str, *, after_id: int, limit: int
) -> MemberPage:
    access = await visible_access(pg, caller, account_id)
    rows = await queries.members(pg, account_id=access.account_id, after_user_id=after_id, limit=limit + 1)
    page = rows[:limit]
    return MemberPage(access=access, members=page, next_after_id=page[-1].user_id if len(rows) > limit else None)


async def add_member(
    pg: asyncpg.Pool, caller: Principal, origin: AuditOrigin, account_id: str, *, email: str, role: Role
) -> Added:
    async with pg.acquire() as conn, conn.transaction():
        access = await _locked_access(conn, caller, account_id)
        _require_manager_of_members(caller, access, "add members")
        user = await user_by_email(conn, email=email)
        if user is None or not user.is_active:
            raise ValidationFailed.field(
                ("body", "email"),
                "no active adsvc user has this email; an administrator creates users",
                code="unknown_user",
            )
        existing = await queries.member(conn, account_id=access.account_id, user_id=user.id)
        if existing is not None:
            if existing.role == role:
                return Added(member=existing, created=False)  # a retried add: nothing to change
            raise Conflict(
                f"already a member as {existing.role}; change the role with PATCH",
                code="already_a_member",
                details={"user_id": existing.user_id, "role": existing.role},
            )
        added = await queries.insert_member(conn, account_id=access.account_id, user_id=user.id, role=role)
        await insert_audit_entry(
            conn,
            action="ad_account.member_add",
            target_type="ad_account",
            target_id=access.account_id,
            after=_audit_view(added),
            **origin,
        )
    return Added(member=added, created=True)


async def change_role(
    pg: asyncpg.Pool, caller: Principal, origin: AuditOrigin, account_id: str, *, user_id: int, role: Role
) -> queries.Member:
    async with pg.acquire() as conn, conn.transaction():
        access = await _locked_access(conn, caller, account_id)
        _require_manager_of_members(caller, access, "change roles")
        before = await queries.member(conn, account_id=access.account_id, user_id=user_id)
        if before is None:
            raise NotFound("member not found")
        if before.role == role:
            return before
        owners = await queries.owner_count(conn, account_id=access.account_id)
        if leaves_no_owner(owners=owners, current=before.role, new=role):
            raise _last_owner("be demoted")
        after = await queries.set_member_role(conn, account_id=access.account_id, user_id=user_id, role=role)
        assert after is not None  # the membership is locked: the row read above is still there
        await insert_audit_entry(
            conn,
            action="ad_account.member_role_change",
            target_type="ad_account",
            target_id=access.account_id,
            before=_audit_view(before),
            after=_audit_view(after),
            **origin,
        )
    return after


async def remove_member(
    pg: asyncpg.Pool, caller: Principal, origin: AuditOrigin, account_id: str, *, user_id: int
) -> Removed:
    leaving = user_id == caller.user_id
    async with pg.acquire() as conn, conn.transaction():
        access = await _locked_access(conn, caller, account_id)
        if not may_remove(role=access.role, is_admin=caller.is_admin, caller_id=caller.user_id, target_id=user_id):
            raise Forbidden("only the account's owners can remove other members")
        before = await queries.member(conn, account_id=access.account_id, user_id=user_id)
        if before is None:
            return Removed(account_id=access.account_id, user_id=user_id, removed=False)
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
            **origin,
        )
    return Removed(account_id=access.account_id, user_id=user_id, removed=True)

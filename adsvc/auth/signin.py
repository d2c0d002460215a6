"""Signing in and changing a password: the checks, throttles, audit entries and revocations that the JSON API and
the pages share, so both ends follow one set of rules."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from adsvc.audit.queries import insert_audit_entry
from adsvc.auth import queries
from adsvc.auth.passwords import PasswordHashing
from adsvc.auth.policy import password_problems
from adsvc.auth.revocation import revoke_user_tokens
from adsvc.auth.throttle import check_login_allowed, clear_account_failures, record_login_failure
from adsvc.errors import Unauthorized, ValidationFailed
from adsvc.settings import Settings

BAD_CREDENTIALS = "invalid email or password"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What signing in needs from the app, and where the request came from (for throttles and the audit log)."""

    settings: Settings
    pg: asyncpg.Pool
    redis: Redis
    passwords: PasswordHashing
    dummy_hash: str
    address: str
    request_id: str


def policy_check(password: str, *, email: str, min_length: int, field: str) -> None:
    problems = password_problems(password, email=email, min_length=min_length)
    if problems:
        raise ValidationFailed(
            "password does not meet the policy",
            details=[{"loc": ["body", field], "msg": f"password {problem}", "type": "password_policy"}
                     for problem in problems],
        )  # fmt: skip


async def authenticate(auth: AuthContext, *, email: str, password: str) -> queries.User:
    """The active user with this email and password, or Unauthorized (the same answer for an unknown email, a wrong
    password and a disabled user); failures are throttled per account and per address, and audited."""
    await check_login_allowed(auth.redis, auth.settings, email=email, address=auth.address)
    user = await queries.user_by_email(auth.pg, email=email)
    # An unknown email is verified against a dummy hash: the same cost, status and body as a wrong password.
    password_ok = await auth.passwords.verify(user.hashed_password if user else auth.dummy_hash, password)
    if user is None or not password_ok or not user.is_active:
        reason = "unknown_email" if user is None else ("wrong_password" if not password_ok else "user_disabled")
        await record_login_failure(auth.redis, auth.settings, email=email, address=auth.address)
        await insert_audit_entry(
            auth.pg,
            action="auth.login",
            outcome="failure",
            actor_id=user.id if user else None,
            actor_label=email.strip().lower() if "@" in email else None,
            target_type="user",
            target_id=str(user.id) if user else None,
            details={"reason": reason},
            client_addr=auth.address,
            request_id=auth.request_id,
        )
        raise Unauthorized(BAD_CREDENTIALS, code="invalid_credentials")
    if auth.passwords.needs_rehash(user.hashed_password):
        new_hash = await auth.passwords.hash(password)
        await queries.update_password_hash(auth.pg, user_id=user.id, old_hash=user.hashed_password, new_hash=new_hash)
    await clear_account_failures(auth.redis, auth.settings, email=email)
    return user


async def audit_sign_in(auth: AuthContext, user: queries.User, *, credential: dict[str, str]) -> None:
    """The audit entry of a successful sign-in, naming the credential it produced (a token id, a session)."""
    await insert_audit_entry(
        auth.pg,
        action="auth.login",
        actor_id=user.id,
        target_type="user",
        target_id=str(user.id),
        details=credential,
        client_addr=auth.address,
        request_id=auth.request_id,
    )


async def change_password(
    auth: AuthContext, *, user_id: int, email: str, old_password: str, new_password: str
) -> float:
    """Check the old password (a wrong one counts as a failed login), apply the policy, store the new hash and revoke
    every credential of the user issued before now, in every process; returns that cut-off time. ValidationFailed
    names the field at fault (`old_password` or `new_password`)."""
    settings = auth.settings
    await check_login_allowed(auth.redis, settings, email=email, address=auth.address)
    user = await queries.user_by_id(auth.pg, user_id=user_id)
    if user is None or not user.is_active:
        raise Unauthorized("user no longer exists or is disabled")
    if not await auth.passwords.verify(user.hashed_password, old_password):
        # Guessing the old password through a stolen credential is throttled like a login.
        await record_login_failure(auth.redis, settings, email=email, address=auth.address)
        raise ValidationFailed(
            "old password is incorrect",
            details=[{"loc": ["body", "old_password"], "msg": "is incorrect", "type": "wrong_password"}],
        )
    if new_password == old_password:
        raise ValidationFailed(
            "new password must differ from the old one",
            details=[{"loc": ["body", "new_password"], "msg": "equals the old password", "type": "password_policy"}],
        )
    policy_check(new_password, email=user.email, min_length=settings.password_min_length, field="new_password")
    new_hash = await auth.passwords.hash(new_password)

    cutoff = time.time()
    async with auth.pg.acquire() as conn, conn.transaction():
        await queries.set_password(conn, user_id=user.id, hashed_password=new_hash)
        await insert_audit_entry(
            conn,
            action="auth.change_password",
            actor_id=user.id,
            target_type="user",
            target_id=str(user.id),
            details={"revoked_tokens_issued_before": cutoff},
            client_addr=auth.address,
            request_id=auth.request_id,
        )
        # Revoke before commit: if Redis cannot take it, the password stays as it was and the caller gets 503.
        await revoke_user_tokens(
            auth.redis,
            user_id=user.id,
            before=cutoff,
            credential_lifetime_seconds=settings.credential_lifetime_seconds,
            timeout=settings.redis_timeout_seconds,
        )
    return cutoff

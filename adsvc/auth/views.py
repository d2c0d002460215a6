"""HTTP handlers of the auth API (login, logout, me, change-password) and of user administration."""

from __future__ import annotations

import time

from aiohttp import web

from adsvc.audit.queries import insert_audit_entry
from adsvc.auth import queries, signin
from adsvc.auth.apikeys import new_api_key
from adsvc.auth.revocation import revoke_token, revoke_user_tokens
from adsvc.auth.schemas import (
    ApiKeyListOut,
    ApiKeyOut,
    ChangePasswordIn,
    CreateApiKeyIn,
    CreateUserIn,
    LoginIn,
    MeOut,
    NewApiKeyOut,
    OkOut,
    TokenOut,
    UserListOut,
    UserListQuery,
    UserOut,
)
from adsvc.auth.signin import AuthContext, audit_sign_in, authenticate, policy_check
from adsvc.auth.tokens import issue_access_token
from adsvc.errors import Conflict, NotFound
from adsvc.keys import DUMMY_PASSWORD_HASH, PASSWORDS, PG, REDIS, SETTINGS
from adsvc.requests import client_address, principal, request_id
from adsvc.routing import Auth, Routes, json_response, keyset_page

routes = Routes(tag="auth")
admin_routes = Routes(tag="admin")


def auth_context(request: web.Request) -> AuthContext:
    """The app resources and request origin that signing in needs (the pages build theirs the same way)."""
    app = request.config_dict
    return AuthContext(
        settings=app[SETTINGS], pg=app[PG], redis=app[REDIS], passwords=app[PASSWORDS],
        dummy_hash=app[DUMMY_PASSWORD_HASH], address=client_address(request), request_id=request_id(request),
    )  # fmt: skip


def _user_out(user: queries.User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        is_active=user.is_active,
        is_admin=user.is_admin,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


@routes.post(
    "/api/v1/auth/login",
    name="auth-login",
    summary="Exchange email and password for a bearer access token",
    auth=Auth.PUBLIC,
    body=LoginIn,
    response=TokenOut,
    errors=(400, 401, 415, 422, 429, 503),
)
async def login(request: web.Request, body: LoginIn) -> web.Response:
    auth = auth_context(request)
    user = await authenticate(auth, email=body.email, password=body.password)
    issued = issue_access_token(auth.settings, user_id=user.id, email=user.email, is_admin=user.is_admin)
    await audit_sign_in(auth, user, credential={"jti": issued.jti})
    return json_response(TokenOut(access_token=issued.token, expires_in=issued.expires_in))


@routes.get(
    "/api/v1/auth/me",
    name="auth-me",
    summary="The authenticated user",
    response=MeOut,
    errors=(401, 503),
)
async def me(request: web.Request) -> web.Response:
    caller = principal(request)
    return json_response(MeOut(id=caller.user_id, email=caller.email, is_admin=caller.is_admin))


@routes.post(
    "/api/v1/auth/logout",
    name="auth-logout",
    summary="Revoke the access token of this request in every process",
    response=OkOut,
    errors=(401, 503),
)
async def logout(request: web.Request) -> web.Response:
    caller = principal(request)
    settings = request.config_dict[SETTINGS]
    await revoke_token(request.config_dict[REDIS], caller, timeout=settings.redis_timeout_seconds)
    await insert_audit_entry(
        request.config_dict[PG],
        action="auth.logout",
        actor_id=caller.user_id,
        target_type="user",
        target_id=str(caller.user_id),
        details={"jti": caller.jti},
        client_addr=client_address(request),
        request_id=request_id(request),
    )
    return json_response(OkOut())


@routes.post(
    "/api/v1/auth/change-password",
    name="auth-change-password",
    summary="Change the caller's password; every token issued before now is revoked and a fresh one returned",
    body=ChangePasswordIn,
    response=TokenOut,
    errors=(400, 401, 415, 422, 429, 503),
)
async def change_password(request: web.Request, body: ChangePasswordIn) -> web.Response:
    auth, caller = auth_context(request), principal(request)
    cutoff = await signin.change_password(
        auth, user_id=caller.user_id, email=caller.email, old_password=body.old_password,
        new_password=body.new_password,
    )  # fmt: skip
    issued = issue_access_token(
        auth.settings, user_id=caller.user_id, email=caller.email, is_admin=caller.is_admin,
        now=max(time.time(), cutoff + 0.001),
    )  # fmt: skip
    return json_response(TokenOut(access_token=issued.token, expires_in=issued.expires_in))


@admin_routes.get(
    "/api/v1/admin/users",
    name="admin-users",
    summary="List users, oldest first, with keyset pagination",
    auth=Auth.ADMIN,
    query=UserListQuery,
    response=UserListOut,
    errors=(401, 403, 422, 503),
)
async def list_users(request: web.Request, query: UserListQuery) -> web.Response:
    users = await queries.list_users(request.config_dict[PG], after_id=query.after_id, limit=query.limit + 1)
    page, next_after_id = keyset_page(users, query.limit)
    return json_response(UserListOut(data=[_user_out(user) for user in page], next_after_id=next_after_id))


@admin_routes.post(
    "/api/v1/admin/users",
    name="admin-create-user",
    summary="Create a user",
    auth=Auth.ADMIN,
    body=CreateUserIn,
    response=UserOut,
    status=201,
    errors=(400, 401, 403, 409, 415, 422, 503),
)
async def create_user(request: web.Request, body: CreateUserIn) -> web.Response:
    app = request.config_dict
    settings, pg = app[SETTINGS], app[PG]
    caller = principal(request)
    policy_check(body.password, email=body.email, min_length=settings.password_min_length, field="password")
    hashed = await app[PASSWORDS].hash(body.password)
    async with pg.acquire() as conn, conn.transaction():
        user = await queries.insert_user(conn, email=body.email, hashed_password=hashed, is_admin=body.is_admin)
        if user is None:
            raise Conflict("a user with this email already exists", code="email_taken")
        await insert_audit_entry(
            conn,
            action="user.create",
            actor_id=caller.user_id,
            target_type="user",
            target_id=str(user.id),
            after={"email": user.email, "is_admin": user.is_admin, "is_active": user.is_active},
            client_addr=client_address(request),
            request_id=request_id(request),
        )
    return json_response(_user_out(user), status=201)


@admin_routes.post(
    "/api/v1/admin/users/{user_id:\\d+}/disable",
    name="admin-disable-user",
    summary="Disable a user and revoke every token they hold, in every process",
    auth=Auth.ADMIN,
    response=UserOut,
    errors=(401, 403, 404, 409, 503),
    path_params={"user_id": int},
)
async def disable_user(request: web.Request, user_id: int) -> web.Response:
    app = request.config_dict
    settings, pg, redis = app[SETTINGS], app[PG], app[REDIS]
    caller = principal(request)
    if user_id == caller.user_id:
        raise Conflict("you cannot disable your own account", code="cannot_disable_self")
    async with pg.acquire() as conn, conn.transaction():
        user = await queries.lock_user(conn, user_id=user_id)
        if user is None:
            raise NotFound("user not found")
        if not user.is_active:
            return json_response(_user_out(user))  # already disabled: nothing changes, nothing to audit
        disabled = await queries.disable_user(conn, user_id=user_id)
        assert disabled is not None
        await insert_audit_entry(
            conn,
            action="user.disable",
            actor_id=caller.user_id,
            target_type="user",
            target_id=str(user_id),
            before={"is_active": True},
            after={"is_active": False},
            client_addr=client_address(request),
            request_id=request_id(request),
        )
        await revoke_user_tokens(
            redis,
            user_id=user_id,
            before=time.time(),
            credential_lifetime_seconds=settings.credential_lifetime_seconds,
            timeout=settings.redis_timeout_seconds,
        )
    return json_response(_user_out(disabled))


def _api_key_out(key: queries.ApiKey) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, user_id=key.user_id, name=key.name, prefix=key.prefix, created_at=key.created_at,
                     last_used_at=key.last_used_at, revoked_at=key.revoked_at)  # fmt: skip


@admin_routes.get(
    "/api/v1/admin/api-keys",
    name="admin-api-keys",
    summary="List API keys (never the keys themselves)",
    auth=Auth.ADMIN,
    response=ApiKeyListOut,
)
async def list_api_keys(request: web.Request) -> web.Response:
    keys = await queries.list_api_keys(request.config_dict[PG])
    return json_response(ApiKeyListOut(data=[_api_key_out(key) for key in keys]))


@admin_routes.post(
    "/api/v1/admin/api-keys",
    name="admin-create-api-key",
    summary="Create an API key for a user's exports; the key is in this response only",
    auth=Auth.ADMIN,
    body=CreateApiKeyIn,
    response=NewApiKeyOut,
    status=201,
    errors=(404,),
)
async def create_api_key(request: web.Request, body: CreateApiKeyIn) -> web.Response:
    caller = principal(request)
    new = new_api_key()
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        owner = await queries.user_by_id(conn, user_id=body.user_id)
        if owner is None or not owner.is_active:
            raise NotFound("user not found")
        key = await queries.insert_api_key(conn, user_id=owner.id, name=body.name, prefix=new.prefix,
                                           digest=new.digest)  # fmt: skip
        await insert_audit_entry(
            conn,
            action="api_key.create",
            actor_id=caller.user_id,
            target_type="api_key",
            target_id=str(key.id),
            after={"user_id": owner.id, "name": key.name, "prefix": key.prefix},
            client_addr=client_address(request),
            request_id=request_id(request),
        )
    return json_response(NewApiKeyOut(**_api_key_out(key).model_dump(), key=new.key), status=201)


@admin_routes.post(
    "/api/v1/admin/api-keys/{key_id:\\d+}/revoke",
    name="admin-revoke-api-key",
    summary="Revoke an API key at once, for every process",
    auth=Auth.ADMIN,
    response=ApiKeyOut,
    errors=(404,),
    path_params={"key_id": int},
)
async def revoke_api_key(request: web.Request, key_id: int) -> web.Response:
    caller = principal(request)
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        key = await queries.revoke_api_key(conn, key_id=key_id)
        if key is None:
            raise NotFound("API key not found")
        await insert_audit_entry(
            conn,
            action="api_key.revoke",
            actor_id=caller.user_id,
            target_type="api_key",
            target_id=str(key_id),
            after={"revoked_at": key.revoked_at.isoformat() if key.revoked_at else None},
            client_addr=client_address(request),
            request_id=request_id(request),
        )
    return json_response(_api_key_out(key))

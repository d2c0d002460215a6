"""The three middlewares every request passes: request context (id, headers, metrics), JSON errors, and auth."""

from __future__ import annotations

import logging
import os
import re
import time

import asyncpg
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from adsvc.auth.apikeys import key_digest
from adsvc.auth.principal import Principal
from adsvc.auth.queries import is_active_admin, use_api_key
from adsvc.auth.tokens import InvalidToken
from adsvc.errors import (
    ApiError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from adsvc.keys import ENDPOINTS, METRICS, PG, PRINCIPAL, REQUEST_ID, REVOCATION, SESSIONS, TOKEN_VERIFIER
from adsvc.outages import DATABASE, OUTAGES, RETRY_AFTER_SECONDS, outage_of
from adsvc.pages.sessions import COOKIE_NAME
from adsvc.routing import Auth

log = logging.getLogger("adsvc.web")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # The service's own pages load only their own stylesheet and scripts; charts are inline SVG.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}


# The Server header names the service, not the versions of aiohttp and Python behind it.
SERVER_NAME = "adsvc"


async def plain_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response the app sends, redirects and static files included."""
    response.headers["Server"] = SERVER_NAME


def error_response(error: ApiError, request_id: str) -> web.Response:
    body = error.body()
    body["error"]["request_id"] = request_id
    return web.Response(
        body=orjson.dumps(body), status=error.status, content_type="application/json", headers=error.headers()
    )


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id in and out, security headers, and per-route metrics (labelled by route name, never raw path)."""
    started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID")
    request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else os.urandom(12).hex()
    request[REQUEST_ID] = request_id
    response = await handler(request)
    response.headers["X-Request-ID"] = request_id
    response.headers.update(SECURITY_HEADERS)
    route = request.match_info.route.name or "unmatched"
    method = request.method if request.method in _KNOWN_METHODS else "OTHER"
    request.config_dict[METRICS].observe_request(route, method, response.status, time.perf_counter() - started)
    return response


def _translate_http_exception(exc: web.HTTPException) -> ApiError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such route")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return MethodNotAllowed(f"method {exc.method} is not allowed here", allowed=sorted(exc.allowed_methods))
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("request body is too large")
    error = ApiError(exc.reason or "request failed", code=exc.reason.lower().replace(" ", "_") if exc.reason else None)
    error.status = exc.status
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ApiError becomes the JSON error shape; PostgreSQL or Redis unreachable is a 503 with Retry-After (logged
    once per outage); anything else unexpected is logged in full and answered a bare 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc, request[REQUEST_ID])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_translate_http_exception(exc), request[REQUEST_ID])
    except Exception as exc:
        component = outage_of(exc)
        if component is None:
            log.exception("unhandled error in %s %s (request_id=%s)", request.method, request.path, request[REQUEST_ID])
            return error_response(ApiError("internal server error"), request[REQUEST_ID])
        OUTAGES.down(component, exc, where="answering 503")
        return error_response(_unavailable(component), request[REQUEST_ID])


def _unavailable(component: str) -> ServiceUnavailable:
    if component == DATABASE:
        return ServiceUnavailable(
            "the database is unavailable; try again shortly", retry_after=RETRY_AFTER_SECONDS,
            code="database_unavailable",
        )  # fmt: skip
    return ServiceUnavailable(
        "Redis is unavailable; try again shortly", retry_after=RETRY_AFTER_SECONDS, code="redis_unavailable"
    )


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


async def _api_key_principal(request: web.Request) -> Principal:
    key = request.headers.get("X-API-Key", "").strip()
    if not key:
        raise Unauthorized("missing X-API-Key header")
    owner = await use_api_key(request.config_dict[PG], digest=key_digest(key))
    if owner is None:
        request.config_dict[METRICS].auth_failures.labels("invalid_api_key").inc()
        raise Unauthorized("invalid or revoked API key")
    return Principal(
        user_id=owner.user_id,
        email=owner.email,
        is_admin=owner.is_admin,
        jti=f"api-key:{owner.key_id}",
        issued_at=0.0,
        expires_at=0,
    )


async def _bearer_principal(request: web.Request) -> Principal:
    """The caller proven by a valid, unrevoked bearer token (Unauthorized, or 503 when Redis cannot say)."""
    app = request.config_dict
    try:
        principal = app[TOKEN_VERIFIER].verify(bearer_token(request))
    except (InvalidToken, Unauthorized) as exc:
        app[METRICS].auth_failures.labels("invalid_token").inc()
        raise Unauthorized("invalid or missing access token") from exc
    await app[REVOCATION].check(principal)
    return principal


async def _session_principal(request: web.Request, session_id: str) -> Principal:
    store = request.config_dict[SESSIONS]
    session = await store.load(session_id)
    if session is None:
        raise Unauthorized("no session")
    principal = session.principal(session_id, absolute_seconds=store.absolute_seconds)
    await request.config_dict[REVOCATION].check(principal)
    return principal


async def admin_caller(request: web.Request) -> Principal | None:
    """The administrator behind a request to a public ops endpoint, or None: the one place that decides who sees
    the detail (account names and ids, worker hosts and PIDs, error texts) behind the component health that anyone
    sees: an admin bearer token, or an admin's session of the pages.

    Anything short of a proven, active admin (no token, a bad or revoked one, Redis or PostgreSQL unable to say)
    gets the public view, never an error: these pages must answer most when something is down."""
    session_id = request.cookies.get(COOKIE_NAME)
    if "Authorization" not in request.headers and not session_id:
        return None
    try:
        if "Authorization" in request.headers or not session_id:
            principal = await _bearer_principal(request)
        else:
            principal = await _session_principal(request, session_id)
        if not await is_active_admin(request.config_dict[PG], user_id=principal.user_id):
            return None
    except (ApiError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.info("public view for %s: %s", request.path, type(exc).__name__)
        return None
    return principal


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routes declared USER or ADMIN need a valid, unrevoked access token; the revocation check is one Redis call."""
    route_name = request.match_info.route.name
    endpoint = request.config_dict[ENDPOINTS].get(route_name) if route_name else None
    if endpoint is None or endpoint.auth is Auth.PUBLIC:
        return await handler(request)
    app = request.config_dict
    if endpoint.auth is Auth.API_KEY:
        request[PRINCIPAL] = await _api_key_principal(request)
        return await handler(request)
    principal = await _bearer_principal(request)
    if endpoint.auth is Auth.ADMIN:
        # Admin rights are read fresh: a token minted before a demotion must not keep them.
        if not await is_active_admin(app[PG], user_id=principal.user_id):
            raise Forbidden("administrator rights required")
    request[PRINCIPAL] = principal
    return await handler(request)

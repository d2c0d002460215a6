"""The pages' own middlewares, outermost first: HTML error pages, the session (signed in or sent to /login), and CSRF.

Every error a page meets becomes a page with the right status (the JSON API's error shape never reaches a browser
here): 404 and 403 pages, 503 with Retry-After when PostgreSQL or Redis is down (never a signed-in page without a
session check), and a bare 500 page (the traceback only in the log).
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from adsvc.errors import ApiError, Unauthorized
from adsvc.keys import (
    CSRF_COOKIE_TOKEN,
    METRICS,
    PAGE_SESSION,
    PAGE_SESSION_ID,
    PRINCIPAL,
    REQUEST_ID,
    REVOCATION,
    SESSIONS,
    SETTINGS,
)
from adsvc.outages import DATABASE, OUTAGES, RETRY_AFTER_SECONDS, outage_of
from adsvc.pages.render import gettext, render
from adsvc.pages.sessions import COOKIE_NAME

log = logging.getLogger("adsvc.pages")

CSRF_COOKIE = "adsvc_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
# pages anyone may open; every other page needs a session
PUBLIC_PAGES = frozenset({"page-login", "page-login-submit"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def over_https(request: web.Request) -> bool:
    if request.secure:
        return True
    settings = request.config_dict[SETTINGS]
    return settings.trust_forwarded_proto and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:  # fmt: skip
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax",
                        secure=over_https(request))  # fmt: skip


def local_target(raw: str | None, default: str = "/dashboard") -> str:
    """A redirect target that stays on this site: a path, never `//host` or a scheme."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or any(ord(c) < 32 for c in raw):
        return default
    return raw


def error_page(request: web.Request, status: int, *, message: str | None = None) -> web.Response:
    titles = {
        400: gettext(request, "Bad request"),
        403: gettext(request, "Forbidden"),
        404: gettext(request, "Page not found"),
        405: gettext(request, "Method not allowed"),
        409: gettext(request, "Conflict"),
        413: gettext(request, "Too large"),
        422: gettext(request, "Check the form"),
        429: gettext(request, "Too many requests"),
        503: gettext(request, "Temporarily unavailable"),
    }
    title = titles.get(status, gettext(request, "Something went wrong"))
    response = render(
        request,
        "pages/error.html",
        {"status": status, "title": title, "message": message, "request_id": request.get(REQUEST_ID, "")},
        status=status,
    )
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_page(request, exc.status)
    except ApiError as exc:
        response = error_page(request, exc.status, message=exc.message)
        for name, value in exc.headers().items():
            if name.lower() == "retry-after":
                response.headers[name] = value
        return response
    except Exception as exc:
        component = outage_of(exc)
        if component is None:
            log.exception("unhandled error in page %s %s (request_id=%s)", request.method, request.path,
                          request.get(REQUEST_ID))  # fmt: skip
            return error_page(request, 500)
        OUTAGES.down(component, exc, where="answering a 503 page")
        what = "database" if component == DATABASE else "Redis"
        return error_page(request, 503, message=gettext(request, "The %(what)s is unavailable; try again shortly.",
                                                        what=what))  # fmt: skip
    # pages show people's numbers: never kept by the browser or a proxy (the back button after sign-out shows none)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _to_login(request: web.Request) -> web.HTTPException:
    target = request.path_qs if request.method in _SAFE_METHODS else request.path
    return web.HTTPSeeOther("/login?next=" + quote(target, safe="/"))


@web.middleware
async def page_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loads the session named by the cookie and checks it as a credential (revocation, absolute timeout) on every
    request; a page that needs one and has none redirects to /login."""
    app = request.config_dict
    session_id = request.cookies.get(COOKIE_NAME)
    if session_id:
        store = app[SESSIONS]
        session = await store.load(session_id)
        if session is not None:
            principal = session.principal(session_id, absolute_seconds=store.absolute_seconds)
            try:
                await app[REVOCATION].check(principal)
            except Unauthorized:
                await store.delete(session_id)
                session = None
            else:
                request[PAGE_SESSION] = session
                request[PAGE_SESSION_ID] = session_id
                request[PRINCIPAL] = principal
        if session is None:
            app[METRICS].auth_failures.labels("expired_session").inc()
    if PAGE_SESSION not in request and request.match_info.route.name not in PUBLIC_PAGES:
        if request.match_info.http_exception is not None:
            raise request.match_info.http_exception  # a 404 is a 404, signed in or not
        response = _to_login(request)
        if session_id:
            response.del_cookie(COOKIE_NAME, path="/")
        raise response
    return await handler(request)


@web.middleware
async def page_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A synchronizer token: signed in, the session's token; signed out (the sign-in form), a cookie that the form
    repeats. Any unsafe method without the right token is a 403 page."""
    session = request.get(PAGE_SESSION)
    cookie_token = request.cookies.get(CSRF_COOKIE, "")
    fresh = session is None and len(cookie_token) < 32
    if fresh:
        cookie_token = secrets.token_urlsafe(32)
    if session is None:
        request[CSRF_COOKIE_TOKEN] = cookie_token
    if request.method not in _SAFE_METHODS:
        expected = session.csrf_token if session is not None else cookie_token
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = str((await request.post()).get(CSRF_FIELD, ""))
        if not sent or not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
            log.info("refused %s %s: missing or wrong CSRF token", request.method, request.path)
            return error_page(request, 403, message=gettext(
                request, "This form has expired or did not come from this site. Go back, reload the page and try again."
            ))  # fmt: skip
    response = await handler(request)
    if fresh:
        set_cookie(request, response, CSRF_COOKIE, request[CSRF_COOKIE_TOKEN])
    return response

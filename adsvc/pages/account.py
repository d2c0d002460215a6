"""The pages of signing in and of one's own account: sign-in, sign-out, the password and the language."""

from __future__ import annotations

from aiohttp import web

from adsvc.auth import queries as auth_queries
from adsvc.auth import signin
from adsvc.auth.schemas import ChangePasswordIn, LoginIn
from adsvc.auth.views import auth_context
from adsvc.errors import TooManyRequests, Unauthorized, ValidationFailed
from adsvc.keys import PAGE_SESSION, PAGE_SESSION_ID, PG, SESSIONS
from adsvc.pages.forms import field_errors, form_values, parse
from adsvc.pages.i18n import LOCALES
from adsvc.pages.middleware import local_target, set_cookie
from adsvc.pages.render import gettext, render
from adsvc.pages.sessions import COOKIE_NAME

routes = web.RouteTableDef()


@routes.get("/", name="page-home")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/dashboard")


@routes.get("/login", name="page-login")
async def login_form(request: web.Request) -> web.Response:
    if PAGE_SESSION in request:
        raise web.HTTPSeeOther(local_target(request.query.get("next")))
    return render(request, "pages/login.html", {"next": local_target(request.query.get("next")), "errors": {},
                                                 "email": ""})  # fmt: skip


@routes.post("/login", name="page-login-submit")
async def login(request: web.Request) -> web.Response:
    values = await form_values(request)
    target = local_target(values.get("next"))
    body, _ = parse(LoginIn, {"email": values.get("email", ""), "password": values.get("password", "")})
    context = {"next": target, "email": values.get("email", "")[:320]}
    if body is None:
        return render(request, "pages/login.html", {**context, "errors": {"form": gettext(
            request, "Enter your email and password.")}}, status=422)  # fmt: skip
    auth = auth_context(request)
    try:
        user = await signin.authenticate(auth, email=body.email, password=body.password)
    except Unauthorized:
        return render(request, "pages/login.html", {**context, "errors": {"form": gettext(
            request, "Invalid email or password.")}}, status=401)  # fmt: skip
    except TooManyRequests as exc:
        response = render(request, "pages/login.html", {**context, "errors": {"form": gettext(
            request, "Too many failed sign-ins. Try again later.")}}, status=429)  # fmt: skip
        response.headers.update(exc.headers())
        return response
    store = request.config_dict[SESSIONS]
    old = request.get(PAGE_SESSION_ID)
    if old:
        await store.delete(old)
    session_id, session = await store.create(user_id=user.id, email=user.email, is_admin=user.is_admin,
                                             locale=user.locale)  # fmt: skip
    await signin.audit_sign_in(auth, user, credential={"session": session.principal(
        session_id, absolute_seconds=store.absolute_seconds).jti})  # fmt: skip
    response = web.HTTPSeeOther(target)
    set_cookie(request, response, COOKIE_NAME, session_id)
    raise response


@routes.post("/logout", name="page-logout")
async def logout(request: web.Request) -> web.Response:
    await request.config_dict[SESSIONS].delete(request[PAGE_SESSION_ID])
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE_NAME, path="/")
    # the browser drops whatever it kept of the signed-in pages
    response.headers["Clear-Site-Data"] = '"cache"'
    raise response


@routes.get("/account/password", name="page-password")
async def password_form(request: web.Request) -> web.Response:
    return render(request, "pages/password.html", {"errors": {}, "done": "done" in request.query})


@routes.post("/account/password", name="page-password-submit")
async def change_password(request: web.Request) -> web.Response:
    values = await form_values(request)
    session = request[PAGE_SESSION]
    errors: dict[str, str] = {}
    if values.get("new_password", "") != values.get("confirm_password", ""):
        errors["confirm_password"] = gettext(request, "The two new passwords differ.")
    body, problems = parse(ChangePasswordIn, {"old_password": values.get("old_password", ""),
                                              "new_password": values.get("new_password", "")})  # fmt: skip
    errors = {**problems, **errors}
    if body is None or errors:
        return render(request, "pages/password.html", {"errors": errors, "done": False}, status=422)
    auth = auth_context(request)
    try:
        cutoff = await signin.change_password(
            auth, user_id=session.user_id, email=session.email, old_password=body.old_password,
            new_password=body.new_password,
        )  # fmt: skip
    except ValidationFailed as exc:
        return render(request, "pages/password.html", {"errors": field_errors(exc), "done": False}, status=422)
    # every session of the user ended with the change, this one too: it goes on in a new one
    store = request.config_dict[SESSIONS]
    await store.delete(request[PAGE_SESSION_ID])
    session_id, _ = await store.create(user_id=session.user_id, email=session.email, is_admin=session.is_admin,
                                       locale=session.locale, not_before=cutoff)  # fmt: skip
    response = web.HTTPSeeOther("/account/password?done=1")
    set_cookie(request, response, COOKIE_NAME, session_id)
    raise response


@routes.post("/account/language", name="page-language")
async def set_language(request: web.Request) -> web.Response:
    values = await form_values(request)
    locale = values.get("locale") or None
    if locale is not None and locale not in LOCALES:
        raise ValidationFailed.field(("form", "locale"), "unknown language")
    session = request[PAGE_SESSION]
    await auth_queries.set_locale(request.config_dict[PG], user_id=session.user_id, locale=locale)
    store = request.config_dict[SESSIONS]
    await store.update(request[PAGE_SESSION_ID], session.with_locale(locale))
    raise web.HTTPSeeOther(local_target(values.get("next")))

"""Signing in to the pages: server-side sessions in Redis, CSRF on every form, revocation with the user's tokens,
and HTML error pages, on the real PostgreSQL and Redis of the test session."""

from __future__ import annotations

import redis as redis_sync
from factories import TEST_PASSWORD, bearer, create_user, login
from pages.helpers import csrf_of, page, sign_in
from yarl import URL

from adsvc.pages.sessions import COOKIE_NAME, SESSION_PREFIX


def _cookie(client, name):
    found = [cookie for cookie in client.session.cookie_jar if cookie.key == name]
    return found[0] if found else None


async def test_signed_out_pages_redirect_to_sign_in_with_the_way_back(client):
    response = await client.get("/account/password?from=mail", allow_redirects=False)
    assert response.status == 303
    location = URL(response.headers["Location"])
    assert location.path == "/login" and location.query["next"] == "/account/password?from=mail"
    root = await client.get("/", allow_redirects=False)
    assert root.status == 303


async def test_sign_in_sets_an_httponly_lax_session_cookie_with_a_new_id(client, db, settings, stack):
    user = await create_user(db, settings)
    client.session.cookie_jar.update_cookies({COOKIE_NAME: "a" * 43})  # a planted id is never adopted
    status, html = await page(client, "/login")
    assert status == 200 and 'name="password"' in html
    response = await client.post(
        "/login",
        data={
            "_csrf": csrf_of(html),
            "email": user.email.upper(),
            "password": TEST_PASSWORD,
            "next": "/account/password",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/account/password"
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Secure" not in set_cookie
    session_id = response.cookies[COOKIE_NAME].value
    assert len(session_id) >= 40 and session_id != "a" * 43
    stored = redis_sync.Redis.from_url(stack.redis_url).keys(SESSION_PREFIX + "*")
    assert len(stored) == 1
    assert session_id.encode() not in stored[0]  # Redis holds a hash of the id, not the cookie
    status, html = await page(client, "/account/password")
    assert status == 200 and user.email in html


async def test_secure_cookie_when_a_trusted_proxy_says_https(aiohttp_client, db, stack):
    from factories import make_settings

    from adsvc.app import create_app

    settings = make_settings(stack, trust_forwarded_proto=True)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    _status, html = await page(client, "/login")
    response = await client.post(
        "/login",
        data={"_csrf": csrf_of(html), "email": user.email, "password": TEST_PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert "Secure" in response.headers["Set-Cookie"]


async def test_a_form_without_its_csrf_token_is_a_403_page(client, db, settings):
    user = await create_user(db, settings)
    response = await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}, allow_redirects=False)
    assert response.status == 403
    assert response.content_type == "text/html"
    assert _cookie(client, COOKIE_NAME) is None
    csrf = await sign_in(client, user.email)
    refused = await client.post("/logout", data={"_csrf": csrf[:-2] + "xx"}, allow_redirects=False)
    assert refused.status == 403 and "did not come from this site" in await refused.text()
    status, _ = await page(client, "/account/password")
    assert status == 200  # still signed in: the forged sign-out did nothing


async def test_wrong_password_is_refused_on_the_page_and_throttled_like_the_api(client, db, settings):
    user = await create_user(db, settings)
    for _ in range(settings.login_max_failures_per_account):
        _, html = await page(client, "/login")
        response = await client.post(
            "/login",
            data={"_csrf": csrf_of(html), "email": user.email, "password": "wrong password!"},
            allow_redirects=False,
        )
        assert response.status == 401
        assert "Invalid email or password." in await response.text()
    # the API shares the throttle: the account is locked for both
    api = await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert api.status == 429
    _status, html = await page(client, "/login")
    response = await client.post(
        "/login", data={"_csrf": csrf_of(html), "email": user.email, "password": TEST_PASSWORD}, allow_redirects=False
    )
    assert response.status == 429 and "Retry-After" in response.headers


async def test_sign_out_ends_the_session_and_pages_are_never_cached(client, db, settings, stack):
    user = await create_user(db, settings)
    csrf = await sign_in(client, user.email)
    status, _ = await page(client, "/account/password")
    response = await client.get("/account/password")
    assert response.headers["Cache-Control"] == "no-store"
    old_id = _cookie(client, COOKIE_NAME).value
    out = await client.post("/logout", data={"_csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert redis_sync.Redis.from_url(stack.redis_url).keys(SESSION_PREFIX + "*") == []
    # the old cookie, replayed, is worth nothing
    client.session.cookie_jar.update_cookies({COOKIE_NAME: old_id})
    status, _ = await page(client, "/account/password")
    assert status == 303


async def test_a_password_change_through_the_api_ends_the_page_session(client, db, settings):
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    token = await login(client, user.email)
    changed = await client.post(
        "/api/v1/auth/change-password",
        headers=bearer(token),
        json={"old_password": TEST_PASSWORD, "new_password": "a whole new passphrase"},
    )
    assert changed.status == 200
    status, _ = await page(client, "/account/password")
    assert status == 303


async def test_changing_the_password_on_the_page_keeps_this_session_and_revokes_tokens(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    csrf = await sign_in(client, user.email)
    mismatch = await client.post(
        "/account/password",
        data={
            "_csrf": csrf,
            "old_password": TEST_PASSWORD,
            "new_password": "a whole new passphrase",
            "confirm_password": "another one",
        },
    )
    assert mismatch.status == 422 and "The two new passwords differ." in await mismatch.text()
    wrong = await client.post(
        "/account/password",
        data={
            "_csrf": csrf,
            "old_password": "not it at all",
            "new_password": "a whole new passphrase",
            "confirm_password": "a whole new passphrase",
        },
    )
    assert wrong.status == 422 and "is incorrect" in await wrong.text()
    done = await client.post(
        "/account/password",
        data={
            "_csrf": csrf,
            "old_password": TEST_PASSWORD,
            "new_password": "a whole new passphrase",
            "confirm_password": "a whole new passphrase",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    status, html = await page(client, "/account/password?done=1")
    assert status == 200 and "Your password was changed" in html
    me = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status == 401


async def test_disabling_a_user_ends_their_page_session(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    token = await login(client, admin.email)
    disabled = await client.post(f"/api/v1/admin/users/{user.id}/disable", headers=bearer(token))
    assert disabled.status == 200
    status, _ = await page(client, "/account/password")
    assert status == 303


async def test_unknown_pages_are_html_404s_and_the_api_keeps_json(client, db, settings):
    response = await client.get("/no/such/page")
    assert response.status == 404 and response.content_type == "text/html"
    assert "Page not found" in await response.text()
    api = await client.get("/api/v1/no-such-thing")
    assert api.status == 404 and (await api.json())["error"]["code"] == "not_found"


async def test_pages_speak_portuguese_to_a_brazilian_browser(client):
    status, html = await page(client, "/login", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"})
    assert status == 200
    assert '<html lang="pt-BR">' in html and "Entrar" in html and "Senha" in html
    status, html = await page(client, "/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in html and "Sign in" in html


async def test_the_stored_language_wins_over_the_browser(client, db, settings):
    user = await create_user(db, settings)
    csrf = await sign_in(client, user.email)
    response = await client.post(
        "/account/language", data={"_csrf": csrf, "locale": "pt_BR", "next": "/account/password"}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/account/password"
    _status, html = await page(client, "/account/password", headers={"Accept-Language": "en"})
    assert "Alterar senha" in html
    assert await db.fetchval("select locale from users where id = $1", user.id) == "pt_BR"


async def test_the_status_page_shows_its_detail_to_a_signed_in_admin_only(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    user = await create_user(db, settings)
    public_note = "shown to administrators only"
    status, html = await page(client, "/status")
    assert public_note in html
    await sign_in(client, user.email)
    status, html = await page(client, "/status")
    assert public_note in html
    client.session.cookie_jar.clear()
    await sign_in(client, admin.email)
    status, html = await page(client, "/status")
    assert status == 200 and public_note not in html


async def test_an_unexpected_error_on_a_page_is_a_bare_500_page(aiohttp_client, db, settings, caplog, monkeypatch):
    import logging

    from aiohttp import web

    from adsvc.app import create_app
    from adsvc.pages import site

    extra = web.RouteTableDef()

    @extra.get("/explode", name="page-explode")
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(site, "ROUTE_TABLES", (*site.ROUTE_TABLES, extra))
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    await sign_in(client, user.email)
    with caplog.at_level(logging.ERROR, logger="adsvc.pages"):
        response = await client.get("/explode", headers={"X-Request-ID": "req-500"})
    assert response.status == 500 and response.content_type == "text/html"
    html = await response.text()
    assert "hunter2" not in html and "Traceback" not in html and "req-500" in html
    assert any("req-500" in record.getMessage() and record.exc_info for record in caplog.records)

"""Signing in and out in a real Chromium: the session cookie, CSRF refusal, the back button after sign-out, a
password reset in another process, both languages and the phone layout."""

from __future__ import annotations

import os
import subprocess
import sys

from browser.a11y import contrast_failures, unlabelled_controls
from browser.driver import PHONE
from factories import TEST_SECRET, TEST_TOKEN_KEY


def _session_cookie(browser):
    return next((c for c in browser.driver.get_cookies() if c["name"] == "adsvc_session"), None)


def test_sign_in_through_the_form_lands_where_it_was_going(browser, live_server, screenshot):
    user = live_server.create_user()
    browser.open("/account/password")
    assert browser.path.startswith("/login?next=")
    screenshot("login")
    browser.fill({"email": user.email, "password": "correct horse battery staple"})
    browser.submit()
    assert browser.path == "/account/password"
    assert user.email in browser.text("header")
    cookie = _session_cookie(browser)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    screenshot("password")


def test_a_wrong_password_says_so_on_the_page(browser, live_server):
    user = live_server.create_user()
    browser.sign_in(user.email, "not the password at all")
    assert browser.path.startswith("/login")
    assert "Invalid email or password." in browser.text("main")
    assert _session_cookie(browser) is None


def test_a_post_without_the_csrf_token_is_refused_with_a_page(browser, live_server):
    user = live_server.create_user()
    browser.sign_in(user.email, "correct horse battery staple")
    # a form another site would post: no _csrf field; the session cookie goes with it (same-site here)
    browser.js(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/logout';"
        "document.body.appendChild(f); f.submit();"
    )
    assert "did not come from this site" in browser.text("main")
    browser.open("/account/password")
    assert browser.path == "/account/password"  # still signed in: the forged sign-out did nothing


def test_after_sign_out_the_back_button_shows_no_data(browser, live_server):
    user = live_server.create_user()
    browser.sign_in(user.email, "correct horse battery staple")
    browser.open("/account/password")
    assert user.email in browser.text("header")
    browser.submit("form[action='/logout']")
    assert browser.path == "/login"
    browser.driver.back()
    # no-store: the browser asks the server again, which sends it to sign in
    assert browser.path.startswith("/login")
    assert user.email not in browser.text("body")


def test_a_password_reset_in_another_process_ends_the_session(browser, live_server):
    user = live_server.create_user()
    browser.sign_in(user.email, "correct horse battery staple")
    browser.open("/account/password")
    assert browser.path == "/account/password"
    env = {**os.environ, "DATABASE_URL": live_server.stack.database_url, "REDIS_URL": live_server.stack.redis_url,
           "SECRET_KEY": TEST_SECRET, "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY, "ARGON2_TIME_COST": "1",
           "ARGON2_MEMORY_COST_KIB": "8192", "ARGON2_PARALLELISM": "1"}  # fmt: skip
    reset = subprocess.run(
        [sys.executable, "-m", "adsvc", "reset-password", user.email],
        input="another long passphrase\nanother long passphrase\n", capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert reset.returncode == 0, reset.stderr
    browser.open("/account/password")
    assert browser.path.startswith("/login")
    browser.sign_in(user.email, "another long passphrase")
    assert browser.path == "/dashboard" or not browser.path.startswith("/login")


def test_the_language_selector_switches_every_text_and_is_remembered(browser, live_server, screenshot):
    user = live_server.create_user()
    browser.sign_in(user.email, "correct horse battery staple")
    browser.open("/account/password")
    assert "Change password" in browser.text("h1")
    from selenium.webdriver.support.ui import Select

    Select(browser.find("#locale")).select_by_value("pt_BR")
    browser.submit("form.language")
    assert browser.path == "/account/password"
    assert browser.text("h1") == "Alterar senha"
    assert browser.find("html").get_attribute("lang") == "pt-BR"
    assert "Sair" in browser.text("header")
    screenshot("password-pt-BR")
    # remembered for the user, not the browser: a new session still speaks Portuguese
    browser.reset()
    browser.sign_in(user.email, "correct horse battery staple")
    browser.open("/account/password")
    assert browser.text("h1") == "Alterar senha"


def test_sign_in_and_password_pages_fit_a_phone_and_are_accessible(browser, live_server, screenshot):
    user = live_server.create_user()
    browser.use_viewport(PHONE)
    browser.open("/login")
    assert browser.horizontal_overflow() == 0
    assert unlabelled_controls(browser) == []
    assert contrast_failures(browser) == []
    screenshot("login")
    browser.sign_in(user.email, "correct horse battery staple")
    browser.open("/account/password")
    assert browser.horizontal_overflow() == 0
    assert unlabelled_controls(browser) == []
    assert contrast_failures(browser) == []
    screenshot("password")

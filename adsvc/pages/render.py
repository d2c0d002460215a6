"""Rendering a page: the template context every page shares (the caller, CSRF token, language, formatting, how fresh
the numbers are) and the HTML response with the headers every page carries."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from babel.support import NullTranslations

from adsvc import __version__
from adsvc.keys import CSRF_COOKIE_TOKEN, PAGE_SESSION, TRANSLATIONS
from adsvc.pages.i18n import LANGUAGE_NAMES, LOCALES, Formatter, negotiate
from adsvc.pages.sessions import Session


def current_session(request: web.Request) -> Session | None:
    return request[PAGE_SESSION] if PAGE_SESSION in request else None


def page_locale(request: web.Request) -> str:
    """The signed-in user's stored language, else the browser's (Accept-Language)."""
    session = current_session(request)
    if session is not None and session.locale in LOCALES:
        return session.locale
    return negotiate(request.headers.get("Accept-Language", ""))


def translations(request: web.Request) -> NullTranslations:
    found: NullTranslations = request.config_dict[TRANSLATIONS][page_locale(request)]
    return found


def gettext(request: web.Request, message: str, **values: Any) -> str:
    """A text of the code (not of a template) in the request's language: flash messages, errors."""
    text: str = translations(request).gettext(message)
    return text % values if values else text


@dataclass(frozen=True, slots=True)
class Freshness:
    """How old the numbers on a page are: the last successful insights sync of the oldest account shown."""

    as_of: datetime
    seconds_ago: float
    timezone: str | None


def freshness(synced: Iterable[tuple[datetime | None, str | None]]) -> Freshness | None:
    """From (last successful sync, account timezone) pairs; None when one of them was never synced."""
    oldest: tuple[datetime, str | None] | None = None
    for at, timezone in synced:
        if at is None:
            return None
        if oldest is None or at < oldest[0]:
            oldest = (at, timezone)
    if oldest is None:
        return None
    return Freshness(as_of=oldest[0], seconds_ago=max(0.0, time.time() - oldest[0].timestamp()), timezone=oldest[1])


def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    session = current_session(request)
    locale = page_locale(request)
    texts = translations(request)
    shared: dict[str, Any] = {
        "translations": texts,
        "fmt": Formatter(locale),
        "locale": locale,
        "html_lang": locale.replace("_", "-"),
        "languages": LANGUAGE_NAMES,
        "user": session,
        "csrf_token": session.csrf_token if session else request.get(CSRF_COOKIE_TOKEN, ""),
        "path": request.path,
        "version": __version__,
        "now": time.time(),
    }
    # rendering is synchronous: macros imported without the template's context still find its language here
    token = _RENDERING.set(texts)
    try:
        return aiohttp_jinja2.render_template(template, request, {**shared, **(context or {})}, status=status)
    finally:
        _RENDERING.reset(token)


_RENDERING: ContextVar[NullTranslations | None] = ContextVar("adsvc_page_translations", default=None)


def _translations_of(context: jinja2.runtime.Context) -> NullTranslations | None:
    found = context.get("translations")
    return found if isinstance(found, NullTranslations) else _RENDERING.get()


@jinja2.pass_context
def context_gettext(context: jinja2.runtime.Context, message: str) -> str:
    found = _translations_of(context)
    return message if found is None else str(found.gettext(message))


@jinja2.pass_context
def context_ngettext(context: jinja2.runtime.Context, singular: str, plural: str, count: int) -> str:
    found = _translations_of(context)
    if found is None:
        return singular if count == 1 else plural
    return str(found.ngettext(singular, plural, count))

"""What the pages that change things at Meta share (suggestions, actions, rules): the idempotency key each rendered
form carries, the translation function the wording helpers take, and the caller's accounts."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from adsvc.accounts.queries import Account, accounts_for_user
from adsvc.automation import queries as action_queries
from adsvc.errors import ValidationFailed
from adsvc.keys import PG
from adsvc.pages import changes
from adsvc.pages.changes import Translate
from adsvc.pages.i18n import Formatter
from adsvc.pages.render import page_locale, translations
from adsvc.requests import principal
from adsvc.routing import IDEMPOTENCY_KEY_PATTERN, MAX_BIGINT

KEY_FIELD = "idempotency_key"
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
ACT_ROLES = frozenset({"owner", "manager"})


def path_id(request: web.Request, name: str) -> int:
    """A numeric id of the path; anything else (or past bigint) names nothing: a 404 page."""
    raw = request.match_info[name]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BIGINT:
        raise web.HTTPNotFound()
    return int(raw)


def new_form_key() -> str:
    """A fresh key for one rendered form: submitting the form twice sends it twice, and the change happens once."""
    return "page-" + secrets.token_urlsafe(18)


def form_key(values: dict[str, str]) -> str | None:
    """The form's idempotency key, checked as the API checks an Idempotency-Key header (None: the form had none)."""
    key = values.get(KEY_FIELD) or None
    if key is not None and not _KEY.match(key):
        raise ValidationFailed.field(("form", KEY_FIELD), "must be 1 to 200 visible ASCII characters",
                                     code="invalid_idempotency_key")  # fmt: skip
    return key


def translator(request: web.Request) -> Translate:
    gettext: Translate = translations(request).gettext
    return gettext


async def caller_accounts(request: web.Request) -> list[Account]:
    return await accounts_for_user(request.config_dict[PG], user_id=principal(request).user_id)


def formatter(request: web.Request) -> Formatter:
    return Formatter(page_locale(request))


@dataclass(frozen=True, slots=True)
class ActionView:
    action: action_queries.ActionRow
    change: changes.Change
    status: str
    source: str


async def action_views(request: web.Request, actions: Sequence[action_queries.ActionRow]) -> list[ActionView]:
    """Actions worded for a page, with their objects' stored names (read with the actions)."""
    _ = translator(request)
    fmt = formatter(request)
    return [
        ActionView(
            action=a,
            change=changes.change(
                _,
                fmt,
                object_type=a.object_type,
                object_id=a.object_id,
                object_name=a.object_name,
                field=a.field,
                before=a.before_value,
                after=a.after_value,
                currency=a.currency,
            ),
            status=changes.action_status_label(_, a.status),
            source=changes.source_label(_, a.source),
        )
        for a in actions
    ]

"""The webhook pages: one's subscriptions, creating one (validated by the API's WebhookIn, its URL through the same
SSRF guard; the signing secret shown once, in the answer to the creating POST, never in a URL or again), one
subscription with its deliveries, sending a test (throttled like the API: a 429 page), enabling, disabling and
deleting (after a confirmation page). Every change goes through adsvc.webhooks.subscriptions, as the API's do."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web
from redis.exceptions import RedisError

from adsvc.accounts import queries as account_queries
from adsvc.auth.revocation import redis_unavailable
from adsvc.errors import Conflict, ValidationFailed
from adsvc.keys import ARQ, PG, REDIS, SETTINGS, TOKEN_BOX
from adsvc.pages.forms import FieldErrors, field_errors, parse
from adsvc.pages.render import gettext, render
from adsvc.ratelimit import limit_calls
from adsvc.requests import audit_origin, principal
from adsvc.routing import IDEMPOTENCY_KEY_PATTERN
from adsvc.webhooks import queries, subscriptions
from adsvc.webhooks.events import EVENTS
from adsvc.webhooks.schemas import DeliveryListQuery, WebhookIn, WebhookPatch
from adsvc.webhooks.views import SIGNATURE_HELP

routes = web.RouteTableDef()

# a create form's idempotency key, claimed in Redis for a day: a second submit of the same form finds the first
# subscription instead of making another (the webhooks API has no idempotency key of its own to feed it to)
FORM_KEY_PREFIX = "adsvc:page-form:webhook-create:"
FORM_KEY_SECONDS = 86400
_PENDING = b"pending"
T = TypeVar("T")


def _webhook_id(request: web.Request) -> int:
    raw = request.match_info["webhook_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound()
    return int(raw)


async def _own(request: web.Request) -> queries.Webhook:
    return await subscriptions.own_webhook(request.config_dict[PG], webhook_id=_webhook_id(request),
                                           user_id=principal(request).user_id)  # fmt: skip


async def _accounts(request: web.Request) -> dict[str, account_queries.Account]:
    accounts = await account_queries.accounts_for_user(request.config_dict[PG], user_id=principal(request).user_id)
    return {account.id: account for account in accounts}


@routes.get("/webhooks", name="page-webhooks-list")
async def webhooks_list(request: web.Request) -> web.Response:
    webhooks = await queries.webhooks_for_user(request.config_dict[PG], user_id=principal(request).user_id)
    return render(request, "pages/webhooks/list.html", {"webhooks": webhooks, "accounts": await _accounts(request),
                                                         "deleted": "deleted" in request.query})  # fmt: skip


async def _form(request: web.Request, *, values: dict[str, Any], errors: FieldErrors, status: int) -> web.Response:
    return render(
        request,
        "pages/webhooks/new.html",
        {
            "values": values,
            "errors": errors,
            "events": EVENTS,
            "accounts": await _accounts(request),
            "idempotency_key": values.get("idempotency_key") or secrets.token_urlsafe(24),
        },
        status=status,
    )


@routes.get("/webhooks/new", name="page-webhooks-new")
async def webhooks_new(request: web.Request) -> web.Response:
    return await _form(request, values={"events": [], "format": "json", "active": True}, errors={}, status=200)


class FormClaim:
    """A create form's idempotency key, claimed in Redis (bounded by the Redis timeout; Redis down: a 503 page)."""

    def __init__(self, request: web.Request, user_id: int, key: str) -> None:
        self._redis = request.config_dict[REDIS]
        self._timeout = request.config_dict[SETTINGS].redis_timeout_seconds
        self._name = f"{FORM_KEY_PREFIX}{user_id}:{key}"

    async def _call(self, command: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await command
        except (RedisError, OSError, TimeoutError) as exc:
            raise redis_unavailable(exc) from None

    async def claim(self) -> bytes | None:
        """None when this key is new (now claimed), else what the first submit left: pending or a webhook id."""
        if await self._call(self._redis.set(self._name, _PENDING, nx=True, ex=FORM_KEY_SECONDS)):
            return None
        found: bytes | None = await self._call(self._redis.get(self._name))
        return found or _PENDING

    async def done(self, webhook_id: int) -> None:
        await self._call(self._redis.set(self._name, str(webhook_id), ex=FORM_KEY_SECONDS))

    async def release(self) -> None:
        await self._call(self._redis.delete(self._name))


@routes.post("/webhooks/new", name="page-webhooks-create")
async def webhooks_create(request: web.Request) -> web.Response:
    data = await request.post()
    values: dict[str, Any] = {
        "url": str(data.get("url", "")).strip(),
        "events": [str(event) for event in data.getall("events", [])],
        "format": str(data.get("format", "json")),
        "account_id": str(data.get("account_id", "")),
        "description": str(data.get("description", "")),
        "active": data.get("active") == "on",
        "idempotency_key": str(data.get("idempotency_key", "")),
    }
    if any("\x00" in str(value) for value in values.values()) or any("\x00" in e for e in values["events"]):
        raise ValidationFailed.field(("form",), "must not contain NUL characters", kind="nul_character")
    body, errors = parse(WebhookIn, {name: values[name] for name in
                                     ("url", "events", "format", "account_id", "description", "active")})  # fmt: skip
    if body is None:
        if any(name == "events" or name.startswith("events.") for name in errors):
            errors = {name: text for name, text in errors.items() if not name.startswith("events")}
            errors["events"] = gettext(request, "Choose at least one event of the list.")
        return await _form(request, values=values, errors=errors, status=422)
    caller = principal(request)
    key = values["idempotency_key"]
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        key = secrets.token_urlsafe(24)  # a form without its key still works, once
    claim = FormClaim(request, caller.user_id, key)
    first = await claim.claim()
    if first is not None:
        if first == _PENDING:
            raise Conflict(gettext(request, "This form is being sent already; look for the webhook in your list."))
        raise web.HTTPSeeOther(f"/webhooks/{int(first)}?again=1")
    try:
        webhook, secret = await subscriptions.create_webhook(request.config_dict[PG], request.config_dict[TOKEN_BOX],
                                                             audit_origin(request), user_id=caller.user_id,
                                                             body=body)  # fmt: skip
    except ValidationFailed as exc:
        await claim.release()
        return await _form(request, values={**values, "idempotency_key": ""}, errors=field_errors(exc), status=422)
    except Exception:
        await claim.release()
        raise
    await claim.done(webhook.id)
    # the one answer that carries the secret: not a redirect, so it is in no URL and no later page
    return render(request, "pages/webhooks/created.html", {"webhook": webhook, "secret": secret,
                                                            "signature": SIGNATURE_HELP}, status=201)  # fmt: skip


@routes.get("/webhooks/{webhook_id}", name="page-webhooks-detail")
async def webhooks_detail(request: web.Request) -> web.Response:
    webhook = await _own(request)
    query, _ = parse(DeliveryListQuery, {name: request.query[name] for name in ("status", "before_id")
                                         if name in request.query})  # fmt: skip
    if query is None:
        raise web.HTTPNotFound()
    rows = await queries.deliveries_for_webhook(request.config_dict[PG], webhook_id=webhook.id, status=query.status,
                                                before_id=query.before_id, limit=query.limit + 1)  # fmt: skip
    page = rows[: query.limit]
    notices = {
        "tested": gettext(request, "A test event was queued; its delivery shows below within seconds."),
        "enabled": gettext(request, "The webhook is enabled."),
        "disabled": gettext(request, "The webhook is disabled: no event is sent to it until you enable it."),
        "again": gettext(
            request,
            "This form was already sent: here is the webhook it created. Its secret was shown "
            "once, on that first answer.",
        ),
    }
    notice = next((text for name, text in notices.items() if name in request.query), None)
    return render(
        request,
        "pages/webhooks/detail.html",
        {
            "webhook": webhook,
            "deliveries": page,
            "next_before_id": page[-1].id if len(rows) > query.limit else None,
            "status_filter": query.status,
            "statuses": ("pending", "retrying", "delivered", "failed"),
            "accounts": await _accounts(request),
            "notice": notice,
        },
    )


@routes.post("/webhooks/{webhook_id}/test", name="page-webhooks-test")
async def webhooks_test(request: web.Request) -> web.Response:
    webhook = await _own(request)
    await limit_calls(request, "throttle_webhook_tests", account_id=webhook.account_id)
    await subscriptions.send_test(request.config_dict[PG], request.config_dict[ARQ], audit_origin(request),
                                  webhook=webhook, user_id=principal(request).user_id)  # fmt: skip
    raise web.HTTPSeeOther(f"/webhooks/{webhook.id}?tested=1")


@routes.post("/webhooks/{webhook_id}/active", name="page-webhooks-active")
async def webhooks_active(request: web.Request) -> web.Response:
    webhook = await _own(request)
    active = (await request.post()).get("active") == "1"
    if webhook.active != active:  # a double submit changes nothing twice, and audits nothing the second time
        await subscriptions.update_webhook(request.config_dict[PG], audit_origin(request),
                                           user_id=principal(request).user_id, webhook_id=webhook.id,
                                           body=WebhookPatch(active=active))  # fmt: skip
    raise web.HTTPSeeOther(f"/webhooks/{webhook.id}?{'enabled' if active else 'disabled'}=1")


@routes.get("/webhooks/{webhook_id}/delete", name="page-webhooks-delete-confirm")
async def webhooks_delete_confirm(request: web.Request) -> web.Response:
    return render(request, "pages/webhooks/delete.html", {"webhook": await _own(request)})


@routes.post("/webhooks/{webhook_id}/delete", name="page-webhooks-delete")
async def webhooks_delete(request: web.Request) -> web.Response:
    await subscriptions.delete_webhook(request.config_dict[PG], audit_origin(request),
                                       user_id=principal(request).user_id, webhook_id=_webhook_id(request))  # fmt: skip
    raise web.HTTPSeeOther("/webhooks?deleted=1")

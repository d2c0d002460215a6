"""Creating, changing, deleting and test-sending webhook subscriptions, shared by the JSON API and the webhook pages:
the target checks (SSRF guard), the tenancy of the account a subscription covers, and the audit entries."""

from __future__ import annotations

from typing import Any

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from adsvc.audit.queries import insert_audit_entry
from adsvc.collection.records import account_number
from adsvc.crypto import TokenBox
from adsvc.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from adsvc.requests import AuditOrigin
from adsvc.webhooks import queries
from adsvc.webhooks.config import WebhookSettings
from adsvc.webhooks.deliveries import emit_test
from adsvc.webhooks.events import new_secret
from adsvc.webhooks.schemas import WebhookIn, WebhookPatch
from adsvc.webhooks.targets import TargetGuard, TargetRefused

MAX_WEBHOOKS_PER_USER = 100


def public_view(webhook: queries.Webhook) -> dict[str, Any]:
    """What the audit log keeps of a subscription (never its secret)."""
    return {
        "url": webhook.url,
        "events": webhook.events,
        "format": webhook.format,
        "account_id": webhook.account_id,
        "active": webhook.active,
    }


async def checked_url(url: str) -> str:
    try:
        await TargetGuard(WebhookSettings.from_env().allowed_private_networks).check_url(url)
    except TargetRefused as exc:
        raise ValidationFailed.field(
            ("body", "url"), str(exc), kind="url_refused", code="webhook_url_refused"
        ) from None
    return url


async def checked_account(pg: asyncpg.Pool, *, user_id: int, account_id: str | None) -> str | None:
    if account_id is None:
        return None
    number = account_number(account_id)
    if not await queries.member_account_exists(pg, account_id=number, user_id=user_id):
        # the same answer whether the account exists or not: no probing for other tenants' ids
        raise NotFound("ad account not found")
    return number


async def own_webhook(pg: asyncpg.Pool, *, webhook_id: int, user_id: int) -> queries.Webhook:
    webhook = await queries.webhook_for_user(pg, webhook_id=webhook_id, user_id=user_id)
    if webhook is None:
        raise NotFound("webhook not found")
    return webhook


async def _audit(pg: asyncpg.Pool, origin: AuditOrigin, action: str, webhook_id: int, **values: Any) -> None:
    await insert_audit_entry(pg, action=action, target_type="webhook", target_id=str(webhook_id), **origin, **values)


async def create_webhook(
    pg: asyncpg.Pool, box: TokenBox, origin: AuditOrigin, *, user_id: int, body: WebhookIn
) -> tuple[queries.Webhook, str]:
    """The new subscription and its signing secret (in the caller's answer only; stored encrypted)."""
    url = await checked_url(body.url)
    account_id = await checked_account(pg, user_id=user_id, account_id=body.account_id)
    if await queries.count_webhooks(pg, user_id=user_id) >= MAX_WEBHOOKS_PER_USER:
        raise Conflict(f"at most {MAX_WEBHOOKS_PER_USER} webhooks per user")
    secret = new_secret()
    async with pg.acquire() as conn, conn.transaction():
        webhook = await queries.insert_webhook(
            conn,
            user_id=user_id,
            account_id=account_id,
            url=url,
            events=list(body.events),
            format=body.format,
            description=body.description,
            secret_ciphertext=box.seal(secret),
            active=body.active,
        )
        await insert_audit_entry(
            conn,
            action="webhook.create",
            target_type="webhook",
            target_id=str(webhook.id),
            after=public_view(webhook),
            **origin,
        )
    return webhook, secret


async def update_webhook(
    pg: asyncpg.Pool, origin: AuditOrigin, *, user_id: int, webhook_id: int, body: WebhookPatch
) -> queries.Webhook:
    """Only the fields given change (url, events, format and active cannot be null)."""
    before = await own_webhook(pg, webhook_id=webhook_id, user_id=user_id)
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    for name in ("url", "events", "format", "active"):
        if name in given:
            value = getattr(body, name)
            if value is None:
                raise ValidationFailed.field(("body", name), f"{name} cannot be null")
            changes[name] = value
    if "url" in changes:
        changes["url"] = await checked_url(changes["url"])
    if "account_id" in given:
        changes["account_id"] = await checked_account(pg, user_id=user_id, account_id=body.account_id)
    if "description" in given:
        changes["description"] = body.description
    webhook = await queries.update_webhook(pg, webhook_id=webhook_id, user_id=user_id, changes=changes)
    if webhook is None:
        raise NotFound("webhook not found")
    await _audit(pg, origin, "webhook.update", webhook_id, before=public_view(before), after=public_view(webhook))
    return webhook


async def delete_webhook(pg: asyncpg.Pool, origin: AuditOrigin, *, user_id: int, webhook_id: int) -> None:
    before = await own_webhook(pg, webhook_id=webhook_id, user_id=user_id)
    if not await queries.delete_webhook(pg, webhook_id=webhook_id, user_id=user_id):
        raise NotFound("webhook not found")
    await _audit(pg, origin, "webhook.delete", webhook_id, before=public_view(before))


async def send_test(
    pg: asyncpg.Pool, queue: ArqRedis, origin: AuditOrigin, *, webhook: queries.Webhook, user_id: int
) -> tuple[str, int]:
    """Queue a signed `test` event to this subscription (the caller has counted it in THROTTLE_WEBHOOK_TESTS);
    returns the event and delivery ids."""
    try:
        event_id, delivery_id = await emit_test(pg, queue, webhook=webhook, requested_by=user_id)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("the job queue is unavailable", retry_after=5) from exc
    await _audit(pg, origin, "webhook.test", webhook.id, details={"event_id": event_id, "delivery_id": delivery_id})
    return event_id, delivery_id

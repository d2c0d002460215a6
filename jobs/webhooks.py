"""Webhook jobs: deliver one signed delivery (retried with exponential backoff), check an account's alerts, and
the sync-failure notification the collection jobs call."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from itertools import groupby
from typing import Any

from arq import Retry, func

from adsvc.accounts.queries import account_by_id
from adsvc.collection.plan import account_today
from adsvc.crypto import TokenBox, TokenUnreadable
from adsvc.webhooks import queries
from adsvc.webhooks.alerts import TRAILING_DAYS, DayStats, Series, Thresholds, evaluate, token_alert
from adsvc.webhooks.config import MAX_ATTEMPTS_CEILING, WebhookSettings
from adsvc.webhooks.deliveries import attempt, backoff_seconds, emit_event

log = logging.getLogger("adsvc.jobs.webhooks")


def _webhook_settings(ctx: dict[str, Any]) -> WebhookSettings:
    if "webhook_settings" not in ctx:
        ctx["webhook_settings"] = WebhookSettings.from_env()
    settings: WebhookSettings = ctx["webhook_settings"]
    return settings


def _token_box(ctx: dict[str, Any]) -> TokenBox:
    if "token_box" not in ctx:
        settings = ctx["settings"]
        ctx["token_box"] = TokenBox(settings.token_encryption_key, settings.token_encryption_previous_keys)
    box: TokenBox = ctx["token_box"]
    return box


async def deliver_webhook(ctx: dict[str, Any], delivery_id: int) -> dict[str, Any]:
    """One attempt at one delivery. Transient failures raise Retry with exponential backoff until
    WEBHOOK_MAX_ATTEMPTS; a finished delivery is never sent again (arq may run a job twice)."""
    pg, settings = ctx["pg"], _webhook_settings(ctx)
    item = await queries.outgoing(pg, delivery_id=delivery_id)
    if item is None:
        return {"delivery_id": delivery_id, "status": "gone"}  # its subscription was deleted meanwhile
    if item.status in ("delivered", "failed"):
        return {"delivery_id": delivery_id, "status": item.status, "skipped": True}
    if not item.active:
        await queries.finish_without_attempt(pg, delivery_id=delivery_id, error="subscription disabled")
        return {"delivery_id": delivery_id, "status": "failed"}
    try:
        secret = _token_box(ctx).open(item.secret_ciphertext)
    except TokenUnreadable:
        await queries.finish_without_attempt(pg, delivery_id=delivery_id, error="secret unreadable with current keys")
        return {"delivery_id": delivery_id, "status": "failed"}

    outcome = await attempt(ctx["webhook_session"], item, secret, settings)
    number = max(int(ctx.get("job_try", 1)), item.attempts + 1)
    if outcome.kind == "delivered":
        await queries.record_attempt(pg, delivery_id=delivery_id, status="delivered", status_code=outcome.status_code,
                                     error=None)  # fmt: skip
        return {"delivery_id": delivery_id, "status": "delivered", "attempts": number}
    if outcome.kind == "retry" and number < settings.max_attempts:
        delay = backoff_seconds(number, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
        if outcome.retry_after is not None:
            delay = min(max(delay, outcome.retry_after), settings.retry_max_seconds)
        await queries.record_attempt(
            pg,
            delivery_id=delivery_id,
            status="retrying",
            status_code=outcome.status_code,
            error=outcome.error,
            retry_in_seconds=delay,
        )
        raise Retry(defer=delay)
    await queries.record_attempt(pg, delivery_id=delivery_id, status="failed", status_code=outcome.status_code,
                                 error=outcome.error)  # fmt: skip
    log.info("webhook delivery %s failed for good after %s attempts: %s", delivery_id, number, outcome.error)
    return {"delivery_id": delivery_id, "status": "failed", "attempts": number}


def _series(rows: list[queries.InsightDay]) -> list[Series]:
    return [
        Series(
            level=level,
            object_id=object_id,
            name=days[0].name,
            days=[
                DayStats(date=row.date, impressions=row.impressions, clicks=row.clicks, spend=row.spend) for row in days
            ],
        )
        for (level, object_id), group in groupby(rows, key=lambda row: (row.level, row.object_id))
        if (days := list(group))
    ]


async def check_alerts(ctx: dict[str, Any], account_id: str, as_of: str | None = None) -> dict[str, Any]:
    """Evaluate the alert rules over the last complete day (yesterday in the account's timezone, or `as_of`) and
    its trailing week from stored insights; emit one event per alert. Event ids are the alerts' keys, so running
    this again the same day (or on two workers) delivers nothing twice."""
    pg, settings = ctx["pg"], _webhook_settings(ctx)
    account = await account_by_id(pg, account_id=account_id)
    if account is None:
        return {"account_id": account_id, "alerts": 0}
    day = date.fromisoformat(as_of) if as_of else account_today(account.timezone_name) - timedelta(days=1)
    thresholds = Thresholds(
        ctr_drop_ratio=settings.ctr_drop_ratio,
        ctr_min_impressions=settings.ctr_min_impressions,
        spend_spike_factor=settings.spend_spike_factor,
        spend_min=settings.spend_min,
    )
    rows = await queries.daily_series(pg, account_id=account_id, since=day - timedelta(days=TRAILING_DAYS), until=day)
    alerts = evaluate(_series(rows), day, thresholds)
    token = token_alert(
        account_id=account_id, token_status=account.token_status, token_error=account.token_error, day=day
    )
    if token is not None:
        alerts.append(token)
    queued = 0
    for alert in alerts:
        data = {**alert.data, "account_name": account.name, "currency": account.currency}
        delivered = await emit_event(
            pg, ctx["redis"], event=alert.event, account_id=account_id, data=data, event_id=f"{account_id}:{alert.key}"
        )
        queued += len(delivered)
    return {"account_id": account_id, "date": day.isoformat(), "alerts": len(alerts), "deliveries": queued}


async def schedule_alert_checks(ctx: dict[str, Any]) -> dict[str, int]:
    """Cron: queue check_alerts for every connected account (one job per account and day)."""
    queued = 0
    today = date.today().isoformat()
    for account_id in await queries.account_ids(ctx["pg"]):
        job = await ctx["redis"].enqueue_job("check_alerts", account_id, _job_id=f"check_alerts:{account_id}:{today}")
        queued += job is not None
    return {"queued": queued}


async def notify_sync_failed(
    ctx: dict[str, Any], account_id: str, run_id: int | None, error_kind: str, error: str, kind: str | None = None
) -> list[int]:
    """Emit `sync.failed` for a sync run that failed for good (call it where run_sync records status 'failed').
    One event per run id. Never raises: a broken notification must not turn into a second sync failure."""
    try:
        return await emit_event(
            ctx["pg"],
            ctx["redis"],
            event="sync.failed",
            account_id=account_id,
            data={"run_id": run_id, "kind": kind, "error_kind": error_kind, "error": error[:500]},
            event_id=f"sync.failed:{run_id}" if run_id is not None else None,
        )
    except Exception:
        log.exception("could not emit sync.failed for account %s run %s", account_id, run_id)
        return []


# What jobs/worker.py adds to WorkerSettings.functions (and, for alerts, the cron).
WEBHOOK_FUNCTIONS = [
    # our own attempt counter ends retries at WEBHOOK_MAX_ATTEMPTS; arq's max_tries is only the ceiling
    func(deliver_webhook, max_tries=MAX_ATTEMPTS_CEILING, timeout=120),
    func(check_alerts, max_tries=3, timeout=300),
]

"""Emitting events (one delivery row per matching subscription, one arq job each) and making one delivery attempt."""

from __future__ import annotations

import ipaddress
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from arq.connections import ArqRedis

from adsvc import __version__
from adsvc.webhooks import queries
from adsvc.webhooks.config import WebhookSettings
from adsvc.webhooks.events import render, sign
from adsvc.webhooks.targets import TargetRefused, address_allowed, is_address_refusal, parse_target

DELIVER_JOB = "deliver_webhook"
# what we keep of a receiver's answer for the deliveries list: enough to debug, not a place to store pages
RESPONSE_SNIPPET_BYTES = 512


def delivery_job_id(delivery_id: int) -> str:
    return f"webhook-delivery:{delivery_id}"


async def _enqueue(queue: ArqRedis, delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        # a fixed job id per delivery: a second emit of the same event (or a re-run after a crash) queues nothing new
        await queue.enqueue_job(DELIVER_JOB, delivery_id, _job_id=delivery_job_id(delivery_id))


async def emit_event(
    pg: asyncpg.Pool,
    queue: ArqRedis,
    *,
    event: str,
    account_id: str,
    data: Any,
    event_id: str | None = None,
) -> list[int]:
    """Record an event for an account and queue one delivery per subscription that wants it; returns the delivery
    ids queued. Idempotent by `event_id` (give one derived from what happened, e.g. `sync.failed:<run id>`, so a
    job that runs twice notifies once); without one a fresh id is made."""
    event_id = event_id or f"{event}:{uuid.uuid4().hex}"
    async with pg.acquire() as conn, conn.transaction():
        await queries.insert_event(conn, event_id=event_id, event=event, account_id=account_id, data=data)
        await queries.insert_deliveries_for_event(conn, event_id=event_id)
        pending = await queries.pending_deliveries_for_event(conn, event_id=event_id)
    await _enqueue(queue, pending)
    return pending


async def emit_test(
    pg: asyncpg.Pool, queue: ArqRedis, *, webhook: queries.Webhook, requested_by: int
) -> tuple[str, int]:
    """A `test` event for one subscription only (whatever events it subscribes to); returns event and delivery ids."""
    event_id = f"test:{uuid.uuid4().hex}"
    data = {"webhook_id": webhook.id, "requested_by": requested_by, "message": "test delivery from adsvc"}
    async with pg.acquire() as conn, conn.transaction():
        await queries.insert_event(conn, event_id=event_id, event="test", account_id=webhook.account_id, data=data)
        await queries.insert_delivery(conn, webhook_id=webhook.id, event_id=event_id)
        pending = await queries.pending_deliveries_for_event(conn, event_id=event_id)
    await _enqueue(queue, pending)
    return event_id, pending[0]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: delivered, worth retrying (network, timeout, 408, 429, 5xx) or permanently refused."""

    kind: str  # "delivered" | "retry" | "permanent"
    status_code: int | None
    error: str | None
    retry_after: float | None = None


def classify(status: int) -> str:
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "permanent"  # 3xx (we never follow redirects: a redirect could point anywhere) and the other 4xx


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential: base, 2 x base, 4 x base, ... after attempts 1, 2, 3, ..., never more than cap."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def _retry_after(header: str | None) -> float | None:
    if header and header.strip().isdigit():
        return float(header.strip())
    return None


def build_request(item: queries.Outgoing, secret: str, *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = render(
        item.format,
        event_id=item.event_id,
        event=item.event,
        occurred_at=item.occurred_at,
        account_id=item.account_id,
        data=item.data,
    )
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"adsvc-webhooks/{__version__}",
        "X-Adsvc-Event": item.event,
        "X-Adsvc-Delivery": str(item.id),
        "X-Adsvc-Timestamp": str(timestamp),
        "X-Adsvc-Signature": sign(secret, timestamp, body),
    }
    return body, headers


def network_error_text(exc: BaseException, *, timeout_seconds: float) -> tuple[str, str]:
    """(outcome kind, what the subscriber reads) for a failure before any answer: in the receiver's terms, never
    naming the address, port or host we tried (that would tell whoever asks which internal ports are open)."""
    if is_address_refusal(exc):
        return "permanent", "address not allowed: the receiver's address is internal or reserved"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "retry", f"receiver timed out (no answer within {timeout_seconds:g} s)"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "retry", "the receiver's host name could not be resolved"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "retry", "TLS with the receiver failed (certificate or handshake)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "retry", "connection refused by the receiver"
        return "retry", "could not connect to the receiver"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return "retry", "the receiver closed the connection before answering"
    return "retry", "the request to the receiver failed"


def _public_peer(response: aiohttp.ClientResponse) -> bool:
    """Whether the answer came from a publicly routable address (not one inside an allow-listed network)."""
    transport = response.connection.transport if response.connection is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return False
    try:
        return address_allowed(ipaddress.ip_address(str(peer[0]).split("%")[0]), ())
    except ValueError:
        return False


async def attempt(
    session: aiohttp.ClientSession, item: queries.Outgoing, secret: str, settings: WebhookSettings
) -> Outcome:
    """POST one delivery, signed with a fresh timestamp; never raises for what the network or receiver does.
    `session` must be a `guarded_session`: its connector refuses addresses outside the allowed ones, on the
    address actually connected to."""
    try:
        parse_target(item.url)
    except TargetRefused as exc:
        return Outcome("permanent", None, f"target refused: {exc}")
    body, headers = build_request(item, secret)
    try:
        async with session.post(
            item.url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
        ) as response:
            # read (a bounded part of) the body before the response closes, so the connection is reusable
            public = _public_peer(response)
            snippet = (await response.content.read(RESPONSE_SNIPPET_BYTES)).decode("utf-8", "replace")
            status = response.status
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except (TimeoutError, aiohttp.ClientError) as exc:
        kind, reason = network_error_text(exc, timeout_seconds=settings.timeout_seconds)
        return Outcome(kind, None, reason)
    kind = classify(status)
    # a receiver inside an allow-listed network gets its status recorded, not its body: the body could be any
    # internal service's page, read back by whoever owns the subscription
    error = None if kind == "delivered" else (f"HTTP {status}: {snippet}" if public else f"HTTP {status}")[:500]
    return Outcome(kind, status, error, retry_after)

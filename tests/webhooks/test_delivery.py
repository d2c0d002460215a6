"""Delivery end to end: events recorded per matching subscription, signed POSTs to a local receiver, retries by
the arq worker with backoff, permanent 4xx failures, the Slack shape, and sync failures."""

from __future__ import annotations

import time

import orjson
import pytest
from accounts.helpers import insert_account, new_caller
from webhooks.helpers import run_webhook_worker

from adsvc.keys import ARQ, PG
from adsvc.webhooks.deliveries import emit_event
from adsvc.webhooks.events import sign
from jobs.webhooks import notify_sync_failed


@pytest.fixture
async def subscriber(client, db, settings):
    caller = await new_caller(client, db, settings)
    account_id = await insert_account(db, user_id=caller.user.id)
    return caller, account_id


async def subscribe(client, caller, url, **fields):
    body = {"url": url, "events": ["sync.failed", "alert.ctr_drop", "test"], **fields}
    response = await client.post("/api/v1/webhooks", json=body, headers=caller.headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def deliveries(client, caller, webhook_id):
    response = await client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=caller.headers)
    assert response.status == 200
    return (await response.json())["data"]


async def test_signed_delivery_fails_once_with_500_and_the_retry_arrives(
    client, stack, subscriber, receiver, worker_env
):
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url, account_id=account_id)
    receiver.secret = webhook["secret"]  # the one shown at creation
    receiver.statuses = [500]

    queued = await emit_event(client.app[PG], client.app[ARQ], event="alert.ctr_drop", account_id=account_id,
                              data={"object_id": "42", "ctr": "0.50"}, event_id="evt-ctr-1")  # fmt: skip
    assert len(queued) == 1
    worker = await run_webhook_worker(stack)

    assert len(receiver.received) == 2 and all(hit.signature_ok for hit in receiver.received)
    first, second = receiver.received
    assert first.headers["X-Adsvc-Delivery"] == second.headers["X-Adsvc-Delivery"] == str(queued[0])
    assert first.headers["X-Adsvc-Event"] == "alert.ctr_drop"
    assert first.body == second.body  # the same payload; only the timestamp and signature are per attempt
    payload = orjson.loads(second.body)
    assert payload == {
        "id": "evt-ctr-1",
        "event": "alert.ctr_drop",
        "occurred_at": payload["occurred_at"],
        "account_id": account_id,
        "data": {"object_id": "42", "ctr": "0.50"},
    }
    timestamp = int(second.headers["X-Adsvc-Timestamp"])
    assert abs(time.time() - timestamp) < 60
    assert second.headers["X-Adsvc-Signature"] == sign(webhook["secret"], timestamp, second.body)
    assert worker.jobs_retried == 1 and worker.jobs_failed == 0

    [delivery] = await deliveries(client, caller, webhook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert delivery["last_status_code"] == 200 and delivery["last_error"] is None
    assert delivery["event_id"] == "evt-ctr-1" and delivery["finished_at"] is not None


async def test_a_tampered_body_or_other_secret_fails_verification(client, stack, subscriber, receiver, worker_env):
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url)
    receiver.secret = "whsec_not-the-right-one"
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    await run_webhook_worker(stack)
    [hit] = receiver.received
    assert not hit.signature_ok
    timestamp = int(hit.headers["X-Adsvc-Timestamp"])
    assert hit.headers["X-Adsvc-Signature"] == sign(webhook["secret"], timestamp, hit.body)
    assert hit.headers["X-Adsvc-Signature"] != sign(webhook["secret"], timestamp, hit.body + b" ")


@pytest.mark.parametrize("status", [400, 404, 410])
async def test_a_permanent_4xx_is_not_retried(client, stack, subscriber, receiver, worker_env, status):
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url)
    receiver.statuses = [status, 200]
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    worker = await run_webhook_worker(stack)
    assert len(receiver.received) == 1 and worker.jobs_retried == 0
    [delivery] = await deliveries(client, caller, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 1, status)
    assert delivery["last_error"].startswith(f"HTTP {status}")


@pytest.mark.parametrize("status", [408, 429, 503])
async def test_transient_statuses_are_retried_until_the_attempt_cap(client, stack, subscriber, receiver, worker_env,
                                                                    monkeypatch, status):  # fmt: skip
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "3")
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url)
    receiver.statuses = [status] * 10
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    worker = await run_webhook_worker(stack)
    assert len(receiver.received) == 3 and worker.jobs_retried == 2
    [delivery] = await deliveries(client, caller, webhook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 3, status)


async def test_network_errors_and_timeouts_are_retried(client, stack, db, subscriber, receiver, worker_env,
                                                       monkeypatch):  # fmt: skip
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.2")
    caller, account_id = subscriber
    receiver.delays = [1.0]  # the first attempt times out
    webhook = await subscribe(client, caller, receiver.url)
    # a port nothing listens on: connection refused
    dead = await subscribe(client, caller, "http://127.0.0.1:9/hook")
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    await run_webhook_worker(stack)
    [delivered] = await deliveries(client, caller, webhook["id"])
    assert delivered["status"] == "delivered" and delivered["attempts"] == 2
    [refused] = await deliveries(client, caller, dead["id"])
    assert refused["status"] == "failed" and refused["attempts"] == 4  # WEBHOOK_MAX_ATTEMPTS of the fast env
    # in the receiver's terms: which address and port we tried is not the subscriber's business
    assert refused["last_error"] == "connection refused by the receiver" and refused["last_status_code"] is None


async def test_slack_format_is_an_incoming_webhook_message(client, stack, db, subscriber, receiver, worker_env):
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url, format="slack", events=["alert.spend_spike"])
    receiver.secret = webhook["secret"]
    data = {"level": "campaign", "object_id": "7", "object_name": "Sale <2x> & more", "date": "2025-01-31",
            "spend": "250.00", "trailing_average": "80.00", "factor": "3.13"}  # fmt: skip
    await emit_event(client.app[PG], client.app[ARQ], event="alert.spend_spike", account_id=account_id, data=data)
    await run_webhook_worker(stack)
    [hit] = receiver.received
    assert hit.signature_ok and hit.headers["Content-Type"] == "application/json"
    message = orjson.loads(hit.body)
    assert set(message) == {"text", "blocks"}
    assert "Spend spike on campaign Sale &lt;2x&gt; &amp; more" in message["text"]  # Slack's control characters
    assert "250.00" in message["text"] and "80.00" in message["text"]
    assert [block["type"] for block in message["blocks"]] == ["header", "section", "section", "context"]
    assert message["blocks"][0]["text"] == {"type": "plain_text", "text": "alert.spend_spike"}
    assert message["blocks"][1]["text"]["type"] == "mrkdwn"
    assert len(message["blocks"][2]["fields"]) <= 10


async def test_emit_matches_subscriptions_by_event_account_membership_and_is_idempotent(
    client, db, settings, subscriber, receiver
):
    caller, account_id = subscriber
    other_account = await insert_account(db, user_id=caller.user.id)
    scoped = await subscribe(client, caller, receiver.url, account_id=account_id)
    everywhere = await subscribe(client, caller, receiver.url)
    await subscribe(client, caller, receiver.url, account_id=other_account)  # another account
    await subscribe(client, caller, receiver.url, events=["action.applied"])  # another event
    await subscribe(client, caller, receiver.url, active=False)  # disabled
    stranger = await new_caller(client, db, settings)
    await subscribe(client, stranger, receiver.url)  # all of the stranger's accounts: not this one

    pg, queue = client.app[PG], client.app[ARQ]
    first = await emit_event(pg, queue, event="sync.failed", account_id=account_id, data={"n": 1}, event_id="run-7")
    again = await emit_event(pg, queue, event="sync.failed", account_id=account_id, data={"n": 1}, event_id="run-7")
    rows = await db.fetch("select webhook_id from webhook_deliveries where event_id = 'run-7' order by webhook_id")
    assert [row["webhook_id"] for row in rows] == [scoped["id"], everywhere["id"]]
    assert len(first) == 2 and again == first  # nothing new recorded; the same jobs (arq drops a duplicate job id)
    assert await db.fetchval("select count(*) from webhook_events where id = 'run-7'") == 1
    queued = await queue.queued_jobs()
    assert sorted(job.args[0] for job in queued if job.function == "deliver_webhook") == sorted(first)


async def test_test_endpoint_queues_a_delivery_the_worker_sends(client, stack, subscriber, receiver, worker_env):
    caller, _ = subscriber
    webhook = await subscribe(client, caller, receiver.url, events=["alert.token_expiring"])
    receiver.secret = webhook["secret"]
    queued = await client.post(f"/api/v1/webhooks/{webhook['id']}/test", headers=caller.headers)
    assert queued.status == 202
    body = await queued.json()
    [pending] = await deliveries(client, caller, webhook["id"])
    assert pending["status"] == "pending" and pending["attempts"] == 0 and pending["event"] == "test"
    await run_webhook_worker(stack)
    [hit] = receiver.received
    assert hit.signature_ok and hit.headers["X-Adsvc-Event"] == "test"
    assert orjson.loads(hit.body)["id"] == body["event_id"]
    [done] = await deliveries(client, caller, webhook["id"])
    assert done["id"] == body["delivery_id"] and done["status"] == "delivered"


async def test_disabled_before_delivery_means_not_sent(client, stack, subscriber, receiver, worker_env):
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url)
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    await client.patch(f"/api/v1/webhooks/{webhook['id']}", json={"active": False}, headers=caller.headers)
    await run_webhook_worker(stack)
    assert receiver.received == []
    [delivery] = await deliveries(client, caller, webhook["id"])
    assert delivery["status"] == "failed" and delivery["last_error"] == "subscription disabled"


async def test_notify_sync_failed_emits_once_per_run(client, stack, subscriber, receiver, worker_env):
    caller, account_id = subscriber
    webhook = await subscribe(client, caller, receiver.url, account_id=account_id)
    receiver.secret = webhook["secret"]
    ctx = {"pg": client.app[PG], "redis": client.app[ARQ]}
    await notify_sync_failed(ctx, account_id, 991, "permission", "Meta refused the account", kind="insights")
    await notify_sync_failed(ctx, account_id, 991, "permission", "Meta refused the account", kind="insights")
    await run_webhook_worker(stack)
    [hit] = receiver.received
    payload = orjson.loads(hit.body)
    assert payload["event"] == "sync.failed" and payload["id"] == "sync.failed:991"
    assert payload["data"] == {"run_id": 991, "kind": "insights", "error_kind": "permission",
                               "error": "Meta refused the account"}  # fmt: skip

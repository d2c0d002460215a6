"""Collection end to end: connect a sandbox account through the API, run the arq worker in burst mode against the
sandbox over real HTTP, and compare what PostgreSQL holds with the sandbox's ground truth."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from accounts.helpers import share_if_connected
from arq.connections import RedisSettings
from factories import TEST_SECRET, TEST_TOKEN_KEY, bearer, create_user, login, make_settings
from ground_truth import assert_matches_ground_truth

from adsvc.app import create_app
from adsvc.collection.plan import account_today, lookback_window
from adsvc.keys import ARQ, REDIS
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, FaultProfile
from jobs.runtime import AdsvcWorker
from jobs.worker import WorkerSettings

LEASE_SECONDS = 5
FAST = {
    "GRAPH_POLL_INITIAL_SECONDS": "0.01",
    "GRAPH_POLL_MAX_SECONDS": "0.05",
    "GRAPH_PACING_TIME_SCALE": "0.001",
    "SYNC_RETRY_BASE_SECONDS": "0.05",
    "SYNC_LOCK_SECONDS": "5",
}


def graph_url(server: Any) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def worker_env(monkeypatch, stack, graph_sandbox):
    values = {
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        "FACEBOOK_GRAPH_URL": graph_url(graph_sandbox),
        **FAST,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def run_worker_burst(stack, **overrides: Any) -> AdsvcWorker:
    worker = AdsvcWorker(
        functions=WorkerSettings.functions,
        cron_jobs=[],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(stack.redis_url),
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
        max_jobs=4,
        **overrides,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


async def connect(client, db, settings, account_id: str) -> tuple[Any, str]:
    user = await create_user(db, settings)
    token = await login(client, user.email)
    await share_if_connected(db, account_id, user.id)
    response = await client.post(
        "/api/v1/ad-accounts",
        json={"account_id": f"act_{account_id}", "access_token": SANDBOX_ACCESS_TOKEN},
        headers=bearer(token),
    )
    assert response.status in (200, 201), await response.text()
    return user, token


async def test_connect_then_sync_matches_ground_truth(aiohttp_client, db, stack, graph_sandbox, worker_env):
    settings = make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    account_id = account.account_id
    await connect(client, db, settings, account_id)

    worker = await run_worker_burst(stack)
    assert worker.jobs_failed == 0

    runs = await db.fetch("select kind, status, graph_calls, rows_written from sync_runs where account_id = $1",
                          account_id)  # fmt: skip
    assert {run["kind"] for run in runs} == {"structure", "insights"}
    assert all(run["status"] == "succeeded" and run["graph_calls"] > 0 for run in runs)

    # every object of every status, archived and deleted included
    for kind, table in (("campaign", "campaigns"), ("adset", "adsets"), ("ad", "ads")):
        truth = {obj["id"] for obj in state.data.objects(account.id, kind)}
        stored = {row["id"] for row in await db.fetch(f"select id from {table} where account_id = $1", account_id)}
        assert stored == truth, kind
    statuses = {row["status"] for row in await db.fetch("select status from campaigns where account_id = $1",
                                                         account_id)}  # fmt: skip
    assert {"ARCHIVED", "DELETED"} & statuses

    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    compared = await assert_matches_ground_truth(db, state, account.id, window.since, window.until)
    assert compared > 100


async def _set_faults(graph_sandbox, **profile: Any) -> None:
    state = graph_sandbox.app[SANDBOX_STATE]
    state.faults.replace(FaultProfile.from_json(profile))


async def test_sync_under_a_fault_profile_ends_with_the_ground_truth(
    aiohttp_client, db, stack, graph_sandbox, worker_env, monkeypatch
):
    monkeypatch.setenv("GRAPH_STUCK_JOB_SECONDS", "0.3")
    monkeypatch.setenv("GRAPH_RETRY_START_SECONDS", "0.01")
    settings = make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = list(state.data.accounts.values())[1]
    first_run = await db.fetchval("select coalesce(max(id), 0) + 1 from sync_runs")
    await connect(client, db, settings, account.account_id)
    await _set_faults(
        graph_sandbox, seed=11, transient_rate=0.08, throttle_rate=0.03, throttle_codes=[17, 613, 80004],
        block_seconds=0.5, stuck_job_rate=0.2, failed_job_rate=0.2, running_at_100_polls=2,
    )  # fmt: skip
    worker = await run_worker_burst(stack)
    assert worker.jobs_failed == 0
    rows = await db.fetch(
        "select status from sync_runs where account_id = $1 and id >= $2 order by id", account.account_id, first_run
    )
    statuses = [row["status"] for row in rows]
    assert statuses.count("succeeded") == 2, statuses  # structure and insights, each after its reschedules
    assert "rescheduled" in statuses  # the profile really bit: throttles and errors sent syncs back to the queue
    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    assert await assert_matches_ground_truth(db, state, account.id, window.since, window.until) > 100


async def test_restated_conversions_update_stored_rows(aiohttp_client, db, stack, graph_sandbox, worker_env):
    settings = make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    await connect(client, db, settings, account.account_id)
    await run_worker_burst(stack)
    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    before = dict(await db.fetch(
        "select date, conversions from insights_daily where level = 'account' and account_id = $1 and date >= $2",
        account.account_id, window.since))  # fmt: skip
    old_day = window.since - timedelta(days=5)
    old_before = await db.fetchval(
        "select conversions from insights_daily where level = 'account' and account_id = $1 and date = $2",
        account.account_id, old_day)  # fmt: skip

    state.data.restate()  # Meta re-attributes conversions of the last 28 days
    await client.app[ARQ].enqueue_job("sync_insights", account.account_id, "lookback", _job_id="restated-lookback")
    worker = await run_worker_burst(stack)
    assert worker.jobs_failed == 0
    after = dict(await db.fetch(
        "select date, conversions from insights_daily where level = 'account' and account_id = $1 and date >= $2",
        account.account_id, window.since))  # fmt: skip
    assert after != before, "restatement changed nothing stored"
    assert await assert_matches_ground_truth(db, state, account.id, window.since, window.until) > 0
    # older days are final
    assert await db.fetchval(
        "select conversions from insights_daily where level = 'account' and account_id = $1 and date = $2",
        account.account_id, old_day) == old_before  # fmt: skip


async def test_worker_killed_mid_sync_and_run_again_is_exact(aiohttp_client, db, stack, graph_sandbox, worker_env):
    """A real `adsvc worker` process is SIGKILLed half-way through a backfill; its lease on the job runs out, another
    worker takes the job (try 2), takes back the account's sync lease (named after the job), and ends with exactly
    the sandbox's ground truth."""
    settings = make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = list(state.data.accounts.values())[1]
    await connect(client, db, settings, account.account_id)
    await run_worker_burst(stack)  # the connect's own syncs, so the backfill below is the only job
    # slow report runs down so the kill lands mid-way
    await _set_faults(graph_sandbox, running_at_100_polls=15)
    job_id = "backfill-to-kill"
    await client.app[ARQ].enqueue_job("backfill_insights", account.account_id, 40, _job_id=job_id)
    env = {**os.environ, **worker_env, "GRAPH_POLL_INITIAL_SECONDS": "0.02", "GRAPH_POLL_MAX_SECONDS": "0.02",
           "LOG_LEVEL": "WARNING", "WORKER_LEASE_SECONDS": str(LEASE_SECONDS)}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adsvc", "worker", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            while True:
                progress = await db.fetchval("select progress from sync_runs where job_id = $1", job_id)
                if progress is not None and 0 < progress < 1:
                    break
                await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    killed_at = time.monotonic()
    killed = await db.fetchrow("select id, status, progress from sync_runs where job_id = $1", job_id)
    assert killed["status"] == "running" and 0 < killed["progress"] < 1
    redis = client.app[REDIS]
    assert 0 < await redis.pttl(f"arq:in-progress:{job_id}") <= LEASE_SECONDS * 1000

    await _set_faults(graph_sandbox)
    # (the killed worker's own cron jobs are still queued; this test worker has no crons, so arq drops them)
    worker = await run_worker_burst(stack, lease_seconds=LEASE_SECONDS)
    assert time.monotonic() - killed_at < LEASE_SECONDS + 30
    assert worker.jobs_complete >= 1
    runs = await db.fetch("select status from sync_runs where job_id = $1 order by id", job_id)
    assert [run["status"] for run in runs] == ["abandoned", "succeeded"]
    today = account_today(account.timezone_name)
    assert await assert_matches_ground_truth(db, state, account.id, today - timedelta(days=39), today) > 100


async def test_breaker_opens_sheds_at_once_and_recovers(aiohttp_client, db, stack, graph_sandbox):
    settings = make_settings(
        stack, facebook_graph_url=graph_url(graph_sandbox), breaker_failure_threshold=2, breaker_recovery_seconds=0.5
    )
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    user = await create_user(db, settings)
    token = await login(client, user.email)
    await share_if_connected(db, account.account_id, user.id)
    body = {"account_id": account.account_id, "access_token": SANDBOX_ACCESS_TOKEN}

    await _set_faults(graph_sandbox, transient_rate=1.0)  # Meta is down
    for _ in range(2):
        failing = await client.post("/api/v1/ad-accounts", json=body, headers=bearer(token))
        assert failing.status == 503 and (await failing.json())["error"]["code"] == "meta_unavailable"
    calls_before = state.stats.graph_calls
    started = asyncio.get_running_loop().time()
    shed = await client.post("/api/v1/ad-accounts", json=body, headers=bearer(token))
    assert shed.status == 503 and (await shed.json())["error"]["code"] == "upstream_circuit_open"
    assert int(shed.headers["Retry-After"]) >= 1
    assert state.stats.graph_calls == calls_before  # shed without calling Meta
    assert asyncio.get_running_loop().time() - started < 0.5
    health = await (await client.get("/health/agent-cache")).json()
    assert health["breakers_open"] >= 1

    await _set_faults(graph_sandbox)  # Meta is back
    await asyncio.sleep(0.6)
    recovered = await client.post("/api/v1/ad-accounts", json=body, headers=bearer(token))
    assert recovered.status in (200, 201), await recovered.text()
    health = await (await client.get("/health/agent-cache")).json()
    assert health["breakers_open"] == 0

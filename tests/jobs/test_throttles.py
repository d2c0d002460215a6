"""Throttles that announce no time to regain access, with the account's sync lease shorter than the wait (issue 9):
a real arq worker against the sandbox over HTTP. Two syncs of one account never overlap, a throttle in the middle of
a step resumes the step (its report run is paged, not requested again), the end state is the sandbox's ground
truth, and the account's pacing state is shared by every process."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from typing import Any

import aiohttp
import pytest
from accounts.helpers import share_if_connected
from arq.connections import RedisSettings
from factories import TEST_SECRET, TEST_TOKEN_KEY, bearer, create_user, login, make_settings
from ground_truth import assert_matches_ground_truth
from redis.asyncio import Redis

from adsvc.app import create_app
from adsvc.collection.locks import LeaseLost, SyncLock
from adsvc.collection.plan import account_today, insights_steps, lookback_window
from adsvc.contexts import create_agent_cache, create_pg_pool
from adsvc.embedded import free_port
from adsvc.graph.breaker import BreakerRegistry, CircuitOpen
from adsvc.graph.errors import ErrorKind, GraphError
from adsvc.graph.pacing import PACING_PREFIX, PacingState, SharedPacing
from adsvc.graph.usage import Usage
from adsvc.keys import ARQ
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, FaultProfile
from jobs.runtime import AdsvcWorker
from jobs.worker import WorkerSettings

LEASE_SECONDS = 3
# another OS process on the same PostgreSQL and Redis: builds its own agent for the account and says what happened
OTHER_PROCESS = """
import asyncio, sys
import aiohttp
from redis.asyncio import Redis
from adsvc.contexts import create_agent_cache, create_pg_pool
from adsvc.graph.breaker import BreakerRegistry, CircuitOpen
from adsvc.settings import Settings

async def main():
    settings = Settings.from_env()
    pg, redis = await create_pg_pool(settings), Redis.from_url(settings.redis_url)
    async with aiohttp.ClientSession() as session:
        cache = create_agent_cache(settings, pg=pg, session=session, breakers=BreakerRegistry(), ttl_seconds=60,
                                   metrics=None, interactive=False, redis=redis)
        try:
            await cache.get(sys.argv[1])
            print("called Meta")
        except CircuitOpen as exc:
            print(f"refused {exc.retry_after:.0f}")
    await redis.aclose()
    await pg.close()

asyncio.run(main())
"""
FAST = {
    "GRAPH_POLL_INITIAL_SECONDS": "0.01",
    "GRAPH_POLL_MAX_SECONDS": "0.05",
    "SYNC_RETRY_BASE_SECONDS": "0.05",
    "SYNC_LOCK_SECONDS": str(LEASE_SECONDS),
    # a full budget without ETA is estimated at 900 s: 3.6 s here, longer than the lease
    "GRAPH_PACING_TIME_SCALE": "0.004",
    "GRAPH_MAX_PACE_WAIT_SECONDS": "1",
}


@pytest.fixture
def worker_env(monkeypatch, stack, graph_sandbox):
    values = {
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        "FACEBOOK_GRAPH_URL": str(graph_sandbox.make_url("")).rstrip("/"),
        **FAST,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def run_worker_burst(stack) -> AdsvcWorker:
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
    )
    try:
        async with asyncio.timeout(150):
            await worker.main()
    finally:
        await worker.close()
    return worker


async def connect(client, db, settings, account_id: str) -> None:
    user = await create_user(db, settings)
    token = await login(client, user.email)
    await share_if_connected(db, account_id, user.id)
    response = await client.post(
        "/api/v1/ad-accounts",
        json={"account_id": f"act_{account_id}", "access_token": SANDBOX_ACCESS_TOKEN},
        headers=bearer(token),
    )
    assert response.status in (200, 201), await response.text()


def report_steps(settings, account) -> int:
    """How many report runs one lookback insights sync asks for (steps longer than two days)."""
    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    return sum(1 for _, step in insights_steps([window]) if step.days > 2)


async def account_runs(db, account_id: str, first_run: int) -> list[Any]:
    return await db.fetch(
        """select id, kind, status, error_kind, error, started_at, finished_at from sync_runs
           where account_id = $1 and id >= $2 order by started_at""",
        account_id,
        first_run,
    )


def assert_never_overlapping(runs: list[Any]) -> None:
    assert all(run["finished_at"] is not None for run in runs), [dict(run) for run in runs]
    for before, after in itertools.pairwise(runs):
        assert before["finished_at"] <= after["started_at"], (dict(before), dict(after))


@pytest.mark.parametrize("max_pace_wait", ["1", "60"], ids=["waits-rescheduled", "waits-in-step-lease-renewed"])
async def test_no_eta_throttles_with_a_short_lease_never_let_two_syncs_of_one_account_overlap(
    aiohttp_client, db, stack, graph_sandbox, worker_env, monkeypatch, max_pace_wait
):
    """Waits of 3.6 s with a 3 s lease: given back to the queue (the default, a bound shorter than the wait), or
    waited out inside the step while the lease is renewed in the background (a bound longer than the wait)."""
    monkeypatch.setenv("GRAPH_MAX_PACE_WAIT_SECONDS", max_pace_wait)
    settings = make_settings(stack, facebook_graph_url=worker_env["FACEBOOK_GRAPH_URL"])
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = list(state.data.accounts.values())[1]
    first_run = await db.fetchval("select coalesce(max(id), 0) + 1 from sync_runs")
    await connect(client, db, settings, account.account_id)  # queues a structure sync and a lookback
    queue = client.app[ARQ]
    await queue.enqueue_job("sync_insights", account.account_id, "recent", _job_id="recent-insights")
    await queue.enqueue_job("sync_structure", account.account_id, _job_id="second-structure")
    posts_before = state.report_run_counter
    # budgets that run out on a normal answer and throttles mid-step, none saying when access comes back
    state.faults.replace(FaultProfile.from_json({
        "seed": 7, "throttle_eta": False, "usage_full_rate": 0.04, "throttle_rate": 0.02,
        "throttle_codes": [17, 80004], "block_seconds": 1.0, "throttle_report_poll": 2, "running_at_100_polls": 1,
    }))  # fmt: skip

    worker = await run_worker_burst(stack)

    assert worker.jobs_failed == 0
    runs = await account_runs(db, account.account_id, first_run)
    assert_never_overlapping(runs)
    assert sorted(run["kind"] for run in runs if run["status"] == "succeeded") == [
        "insights", "insights", "structure", "structure",
    ]  # fmt: skip
    rescheduled = [run for run in runs if run["status"] == "rescheduled"]
    assert any(run["error_kind"] == "throttle" for run in rescheduled)
    # the long waits (a full budget, 3.6 s here) were given back to the queue, or slept within the bound
    assert any("paced" in (run["error"] or "") for run in rescheduled) is (max_pace_wait == "1")
    if max_pace_wait == "60":
        # some run outlived its lease several times over while waiting: the renewals kept it, nobody else started
        assert any((run["finished_at"] - run["started_at"]).total_seconds() > LEASE_SECONDS for run in runs)
    # every report run was requested once: each throttled step resumed its run
    assert state.report_run_counter - posts_before == report_steps(settings, account)
    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    assert await assert_matches_ground_truth(db, state, account.id, window.since, window.until) > 100


async def test_a_throttle_mid_step_resumes_the_step_instead_of_restarting_it(
    aiohttp_client, db, stack, graph_sandbox, worker_env
):
    settings = make_settings(stack, facebook_graph_url=worker_env["FACEBOOK_GRAPH_URL"])
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    first_run = await db.fetchval("select coalesce(max(id), 0) + 1 from sync_runs")
    await connect(client, db, settings, account.account_id)
    posts_before = state.report_run_counter
    # every report run is throttled at its second poll: a run asked for again would be throttled again, forever
    state.faults.replace(FaultProfile.from_json({
        "throttle_report_poll": 2, "throttle_eta": False, "throttle_codes": [80004], "block_seconds": 0.3,
        "running_at_100_polls": 2,
    }))  # fmt: skip

    worker = await run_worker_burst(stack)

    assert worker.jobs_failed == 0
    runs = await account_runs(db, account.account_id, first_run)
    assert_never_overlapping(runs)
    insights = [run for run in runs if run["kind"] == "insights"]
    assert insights[-1]["status"] == "succeeded"
    steps = report_steps(settings, account)
    assert sum(1 for run in insights if run["error_kind"] == "throttle") >= steps
    assert state.report_run_counter - posts_before == steps
    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    assert await assert_matches_ground_truth(db, state, account.id, window.since, window.until) > 100


async def test_a_throttle_seen_by_one_process_holds_back_a_new_agent_elsewhere(
    aiohttp_client, db, stack, graph_sandbox, worker_env
):
    """Agent caches with their own breakers, as processes have (and a real second OS process): what the first learnt
    reaches the others through Redis, and survives the first re-creating its agent."""
    settings = make_settings(stack, facebook_graph_url=worker_env["FACEBOOK_GRAPH_URL"])
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    await connect(client, db, settings, account.account_id)
    pg = await create_pg_pool(settings)
    redis = Redis.from_url(stack.redis_url)
    session = aiohttp.ClientSession()

    def process() -> Any:
        return create_agent_cache(
            settings, pg=pg, session=session, breakers=BreakerRegistry(), ttl_seconds=60, metrics=None,
            interactive=False, redis=redis,
        )  # fmt: skip

    try:
        first = process()
        agent = await first.get(account.account_id)
        # the budget runs out on a normal answer; the headers say 100% and nothing about when it comes back
        state.faults.replace(FaultProfile(usage_full_rate=1.0, throttle_eta=False, block_seconds=600))
        await agent.client.validate()
        stored = await redis.hgetall(PACING_PREFIX + account.account_id)
        assert b"usage" in stored
        calls = state.stats.graph_calls

        second = process()
        with pytest.raises(GraphError) as paced:
            await second.get(account.account_id)  # its validation call is held back before it leaves
        assert paced.value.kind is ErrorKind.THROTTLE and paced.value.retry_after > 1
        assert state.stats.graph_calls == calls

        # now a throttle error (17, no ETA) met by the first process's agent
        state.faults.replace(FaultProfile(throttle_rate=1.0, throttle_codes=(17,), throttle_eta=False))
        state.faults.blocks.clear()
        fresh = BreakerRegistry()
        agent.client.usage = agent.client.insights_usage = Usage()  # forget the full budget
        agent.client.breaker = fresh.get("meta", account.account_id)
        with pytest.raises(GraphError) as throttled:
            await agent.client.validate()
        assert throttled.value.kind is ErrorKind.THROTTLE
        until = float((await redis.hget(PACING_PREFIX + account.account_id, "until")).decode())
        assert until > time.time()
        first.invalidate(account.account_id)
        calls = state.stats.graph_calls
        for cache in (first, process()):  # the same process re-creating its agent, and another process
            with pytest.raises(CircuitOpen) as refused:
                await cache.get(account.account_id)
            assert refused.value.retry_after > 0
        process_ = await asyncio.create_subprocess_exec(
            sys.executable, "-c", OTHER_PROCESS, account.account_id, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, _ = await process_.communicate()
        assert out.decode().startswith("refused"), out
        assert state.stats.graph_calls == calls
        assert await redis.ttl(PACING_PREFIX + account.account_id) >= until - time.time() - 1
    finally:
        await session.close()
        await redis.aclose()
        await pg.close()


async def test_the_pacing_state_is_written_only_when_it_changes(aiohttp_client, db, stack, graph_sandbox, worker_env):
    settings = make_settings(stack, facebook_graph_url=worker_env["FACEBOOK_GRAPH_URL"])
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    await connect(client, db, settings, account.account_id)
    pg = await create_pg_pool(settings)
    redis = Redis.from_url(stack.redis_url)
    session = aiohttp.ClientSession()
    try:
        cache = create_agent_cache(
            settings, pg=pg, session=session, breakers=BreakerRegistry(), ttl_seconds=60, metrics=None,
            interactive=False, redis=redis,
        )  # fmt: skip
        agent = await cache.get(account.account_id)
        shared = agent.client.shared_pacing
        assert shared is not None
        writes = shared.writes
        for _ in range(20):
            await agent.client.validate()
        # the usage moved through a bucket or two at most: not a write per call
        assert shared.writes - writes <= 3
        assert agent.client.calls >= 21
    finally:
        await session.close()
        await redis.aclose()
        await pg.close()


async def test_a_sync_that_loses_its_lease_stops_before_another_can_take_it(stack):
    redis = Redis.from_url(stack.redis_url)
    lock = SyncLock(redis, "lease-test", lease_seconds=LEASE_SECONDS, holder="job-a")
    assert await lock.acquire()
    started = time.monotonic()
    try:
        with pytest.raises(LeaseLost):
            async with lock.kept_alive():
                await redis.set(lock.key, "job-b", px=LEASE_SECONDS * 1000)  # taken (an expired lease, say)
                await asyncio.sleep(10)
        assert time.monotonic() - started < LEASE_SECONDS / 3 + 1
    finally:
        await redis.aclose()


async def test_a_sync_that_cannot_renew_its_lease_stops_while_the_lease_still_holds(stack):
    redis = Redis.from_url(stack.redis_url)
    lock = SyncLock(redis, "lease-test-unreachable", lease_seconds=LEASE_SECONDS, holder="job-a")
    assert await lock.acquire()
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2, socket_timeout=0.2)
    lock._redis = unreachable  # Redis is gone for this worker; the lease keeps running out meanwhile
    try:
        with pytest.raises(LeaseLost):
            async with lock.kept_alive():
                await asyncio.sleep(10)
        # stopped while the lease still held: no one else could have started meanwhile
        assert await redis.pttl(lock.key) > 0
        assert await redis.get(lock.key) == b"job-a"
    finally:
        await unreachable.aclose()
        await redis.aclose()


async def test_a_process_that_has_not_met_the_throttle_cannot_erase_it(stack):
    redis = Redis.from_url(stack.redis_url)
    try:
        throttled, unaware = SharedPacing(redis, "act_42"), SharedPacing(redis, "act_42")
        until = time.time() + 120
        await throttled.publish(PacingState(Usage(account_pct=100, present=True), Usage(), throttled_until=until))
        await unaware.publish(PacingState(Usage(account_pct=20, present=True), Usage()))
        state = await SharedPacing(redis, "act_42").load()
        assert state is not None
        assert state.usage.account_pct == 20  # the latest usage seen
        assert state.throttled_until == pytest.approx(until)  # but the throttle stands
        assert 120 <= await redis.ttl(PACING_PREFIX + "42") <= 900
    finally:
        await redis.aclose()

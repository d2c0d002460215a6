"""Real `adsvc worker` processes under real outages: Redis stopped for a minute (the worker stays up, reconnects,
and every queued job runs exactly once), and a worker SIGKILLed mid-backfill (another worker finishes the job
within two minutes, with exactly the sandbox's ground truth)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import aiohttp
from accounts.helpers import share_if_connected
from factories import TEST_PASSWORD, bearer, create_user, login, make_settings
from ground_truth import assert_matches_ground_truth
from redis.asyncio import Redis

from adsvc.app import create_app
from adsvc.collection.plan import account_today
from adsvc.keys import ARQ
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, FaultProfile

REDIS_OUTAGE_SECONDS = 60


async def _connect(client, db, settings, account_id: str) -> str:
    user = await create_user(db, settings)
    await share_if_connected(db, account_id, user.id)  # an earlier test of the module may have connected it
    token = await login(client, user.email)
    response = await client.post(
        "/api/v1/ad-accounts",
        json={"account_id": f"act_{account_id}", "access_token": SANDBOX_ACCESS_TOKEN},
        headers=bearer(token),
    )
    assert response.status in (200, 201), await response.text()
    return token


async def _statuses(db, job_id: str) -> list[str]:
    rows = await db.fetch("select status from sync_runs where job_id = $1 order by id", job_id)
    return [row["status"] for row in rows]


async def _wait_for(db, job_ids: list[str], *, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            statuses = [await _statuses(db, job_id) for job_id in job_ids]
            if all(status and status[-1] in ("succeeded", "failed") for status in statuses):
                return
            await asyncio.sleep(0.2)


async def _connect_syncs_done(db) -> None:
    """The connect's structure and insights syncs (queued by the connect, run by any worker) have succeeded."""
    async with asyncio.timeout(60):
        while await db.fetchval(
            "select count(distinct kind) from sync_runs where status = 'succeeded' and job_id like '%:connect:%'"
        ) < 2:  # fmt: skip
            await asyncio.sleep(0.2)


async def _app(aiohttp_client, own, graph_sandbox) -> tuple[Any, Any]:
    settings = make_settings(own.stack, facebook_graph_url=str(graph_sandbox.make_url("")).rstrip("/"))
    return await aiohttp_client(create_app(settings)), settings


async def test_worker_rides_out_a_minute_without_redis_and_runs_each_queued_job_once(
    aiohttp_client, own, own_db, fleet, graph_sandbox
):
    client, settings = await _app(aiohttp_client, own, graph_sandbox)
    account = next(iter(graph_sandbox.app[SANDBOX_STATE].data.accounts.values()))
    await _connect(client, own_db, settings, account.account_id)
    worker = await fleet.worker()
    await _connect_syncs_done(own_db)
    queue = client.app[ARQ]
    await queue.enqueue_job("sync_structure", account.account_id, _job_id="queued-before-outage", _defer_by=2)

    await own.stop_redis()
    stopped_at = time.monotonic()
    while time.monotonic() - stopped_at < REDIS_OUTAGE_SECONDS:
        assert worker.alive(), worker.log()
        await asyncio.sleep(1)
    await own.start_redis()

    await queue.enqueue_job("sync_structure", account.account_id, _job_id="queued-after-outage")
    await _wait_for(own_db, ["queued-before-outage", "queued-after-outage"], seconds=60)
    assert await _statuses(own_db, "queued-before-outage") == ["succeeded"]
    assert await _statuses(own_db, "queued-after-outage") == ["succeeded"]
    assert worker.alive()
    log = worker.log()
    assert 1 <= log.count("redis unavailable") <= 3, log
    assert "redis reachable again" in log
    assert "Traceback" not in log


async def test_two_webs_two_workers_one_killed_mid_backfill_the_other_finishes_exactly(
    own, own_db, fleet, graph_sandbox
):
    """Two web and two worker processes on one PostgreSQL and Redis, the default 90 s lease: the worker running a
    backfill is SIGKILLed half-way and the other one finishes the job within two minutes, exactly."""
    state = graph_sandbox.app[SANDBOX_STATE]
    account = list(state.data.accounts.values())[1]
    web1, web2 = await fleet.web(), await fleet.web()
    workers = [await fleet.worker(), await fleet.worker()]
    user = await create_user(own_db, make_settings(own.stack))
    await share_if_connected(own_db, account.account_id, user.id)
    redis = Redis.from_url(own.stack.redis_url, decode_responses=True)
    async with aiohttp.ClientSession() as http:
        credentials = {"email": user.email, "password": TEST_PASSWORD}
        signed_in = await http.post(web1.base_url + "/api/v1/auth/login", json=credentials)
        headers = bearer((await signed_in.json())["access_token"])
        connected = await http.post(
            web1.base_url + "/api/v1/ad-accounts",
            json={"account_id": f"act_{account.account_id}", "access_token": SANDBOX_ACCESS_TOKEN},
            headers=headers,
        )
        assert connected.status in (200, 201), await connected.text()
        await _connect_syncs_done(own_db)
        listed = await (await http.get(web2.base_url + "/api/v1/ad-accounts", headers=headers)).json()
        assert [item["id"] for item in listed["data"]] == [account.account_id]

        # slow report runs down so the kill lands mid-way
        state.faults.replace(FaultProfile.from_json({"running_at_100_polls": 15}))
        queued = await http.post(web2.base_url + f"/api/v1/ad-accounts/{account.account_id}/sync",
                                 json={"kind": "backfill", "days": 40}, headers=headers)  # fmt: skip
        assert queued.status == 202, await queued.text()
        job_id = (await queued.json())["job_id"]
        async with asyncio.timeout(60):
            while True:
                progress = await own_db.fetchval("select progress from sync_runs where job_id = $1", job_id)
                if progress is not None and 0 < progress < 1:
                    break
                await asyncio.sleep(0.05)
        holder = await redis.get(f"arq:in-progress:{job_id}")
        victim = next(child for child in workers if holder and holder.endswith(f"-{child.process.pid}"))
        victim.process.kill()
        await victim.process.wait()
        killed_at = time.monotonic()
        state.faults.replace(FaultProfile.from_json({}))

        await _wait_for(own_db, [job_id], seconds=150)
        took = time.monotonic() - killed_at
        print(f"\nSIGKILLed worker's backfill finished by the other worker {took:.1f} s after the kill")
        assert took < 120, took
        assert await _statuses(own_db, job_id) == ["abandoned", "succeeded"]
        survivor = next(child for child in workers if child is not victim)
        assert survivor.alive() and f"{job_id}:backfill_insights" in survivor.log()
        today = account_today(account.timezone_name)
        assert await assert_matches_ground_truth(own_db, state, account.id, today - timedelta(days=39), today) > 100
        status = await (await http.get(web1.base_url + "/status")).text()
        workers_section = status.split('id="workers-title"', 1)[-1][:600]
        assert "1 worker alive, 1 dead" in status, workers_section  # the public view: counts only
    await redis.aclose()


async def test_a_job_that_meets_a_postgres_outage_is_retried_not_failed(
    aiohttp_client, own, own_db, fleet, graph_sandbox
):
    client, settings = await _app(aiohttp_client, own, graph_sandbox)
    account = next(iter(graph_sandbox.app[SANDBOX_STATE].data.accounts.values()))
    await _connect(client, own_db, settings, account.account_id)
    worker = await fleet.worker()
    await _connect_syncs_done(own_db)
    await own_db.close()

    await own.stop_postgres()
    job = await client.app[ARQ].enqueue_job("sync_structure", account.account_id, _job_id="during-db-outage")
    assert job is not None
    async with asyncio.timeout(30):
        while "met a database outage" not in worker.log():
            await asyncio.sleep(0.2)
    await asyncio.sleep(6)  # a few retries' worth
    await own.start_postgres()

    result = await job.result(timeout=60)
    assert result["status"] == "succeeded"
    info = await job.result_info()
    log = worker.log()
    runs = log.count("→ during-db-outage:sync_structure")
    outage_retries = log.count("sync_structure (during-db-outage) met a database outage")
    assert outage_retries >= 2
    # the outage's retries gave their tries back (a wait for the account's sync lease, if any, counts as usual)
    assert info is not None and info.success and info.job_try == runs - outage_retries
    assert log.count("database unavailable") == 1, log
    assert "Traceback" not in log and "failed" not in log.replace("sync-failed", "")

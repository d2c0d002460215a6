"""The adsvc arq worker: start-up with real resources, its own heartbeat, and the status page reading it (alive
while it beats, dead once its beats stop, gone after a clean shutdown)."""

from __future__ import annotations

import asyncio
import time

from arq import Retry, func
from arq.connections import RedisSettings, create_pool
from factories import TEST_SECRET, TEST_TOKEN_KEY, bearer, create_user, login

from adsvc.keys import REDIS
from adsvc.status.workers import HEARTBEAT_PREFIX, HEARTBEAT_TTL_SECONDS, WorkerBeat, record_heartbeat
from jobs.runtime import AdsvcWorker
from jobs.worker import WorkerSettings


def _worker(stack, **overrides) -> AdsvcWorker:
    values = {
        "functions": WorkerSettings.functions,
        "cron_jobs": [],  # the schedulers would pick up accounts other tests connected
        "on_startup": WorkerSettings.on_startup,
        "on_shutdown": WorkerSettings.on_shutdown,
        "redis_settings": RedisSettings.from_dsn(stack.redis_url),
        "poll_delay": 0.05,
        "handle_signals": False,
        "lease_seconds": 6,
        **overrides,
    }
    return AdsvcWorker(**values)


async def test_worker_heartbeat_shows_alive_on_status_page_and_leaves_on_shutdown(
    client, db, settings, stack, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    monkeypatch.setenv("REDIS_URL", stack.redis_url)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", TEST_TOKEN_KEY)
    worker = _worker(stack)
    running = asyncio.create_task(worker.main())
    app_redis = client.server.app[REDIS]
    try:
        async with asyncio.timeout(10):
            while "worker_id" not in worker.ctx or not await app_redis.exists(HEARTBEAT_PREFIX + worker.worker_id):
                await asyncio.sleep(0.05)
        assert 0 < await app_redis.ttl(HEARTBEAT_PREFIX + worker.worker_id) <= HEARTBEAT_TTL_SECONDS
        admin = await create_user(db, settings, is_admin=True)  # worker ids, hosts and PIDs are for admins only
        html = await (await client.get("/status", headers=bearer(await login(client, admin.email)))).text()
        assert worker.worker_id in html
        assert ">alive<" in html and ">dead<" not in html
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await worker.close()  # runs on_shutdown
    assert await app_redis.exists(HEARTBEAT_PREFIX + worker.worker_id) == 0


async def test_worker_whose_beats_stopped_shows_dead(client, db, settings):
    now = time.time()
    beat = WorkerBeat(worker_id="gone-4242", host="gone", pid=4242, started_at=now - 600, beat_at=now - 120,
                      interval_seconds=15)  # fmt: skip
    await record_heartbeat(client.server.app[REDIS], beat)
    admin = await create_user(db, settings, is_admin=True)
    html = await (await client.get("/status", headers=bearer(await login(client, admin.email)))).text()
    row = html[html.index("gone-4242") :].split("</tr>")[0]
    assert ">dead<" in row and "120 s ago" in row
    public = await (await client.get("/status")).text()
    assert "0 workers alive, 1 dead" in public and "gone-4242" not in public


async def test_status_page_says_when_no_worker_reports(client):
    html = await (await client.get("/status")).text()
    assert "No worker has reported" in html


async def test_a_retried_job_runs_again_on_time_without_a_lease_left_behind(stack):
    """After a job asks to be retried, the worker's lease renewals must not put its in-progress key back (that would
    hold the retry back for a whole lease)."""
    started: list[float] = []

    async def flaky(ctx):
        started.append(time.monotonic())
        if ctx["job_try"] == 1:
            await asyncio.sleep(0.3)
            raise Retry(defer=1)
        return "done"

    # a finished task stays in the worker's task list until the next poll (2 s here), while renewals run every 1 s
    worker = AdsvcWorker(functions=[func(flaky, name="flaky")], redis_settings=RedisSettings.from_dsn(stack.redis_url),
                         poll_delay=2, handle_signals=False, lease_seconds=6)  # fmt: skip
    queue = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    job = await queue.enqueue_job("flaky", _job_id="flaky-retry")
    assert job is not None
    running = asyncio.create_task(worker.main())
    try:
        assert await job.result(timeout=20) == "done"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await worker.close()
        await queue.aclose()
    assert len(started) == 2
    assert started[1] - started[0] < 4, started  # the next poll after the 1 s defer, not after a 6 s lease

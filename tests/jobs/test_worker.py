"""The arq worker in burst mode: start-up with real resources, the heartbeat job, and the status page reading it."""

from __future__ import annotations

from arq.connections import RedisSettings
from arq.worker import Worker
from factories import TEST_SECRET, TEST_TOKEN_KEY, bearer, create_user, login

from adsvc.keys import REDIS
from adsvc.status.workers import HEARTBEAT_PREFIX, HEARTBEAT_TTL_SECONDS
from jobs.worker import WorkerSettings


async def test_worker_heartbeat_shows_on_status_page(client, db, settings, stack, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    monkeypatch.setenv("REDIS_URL", stack.redis_url)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", TEST_TOKEN_KEY)
    worker = Worker(
        functions=WorkerSettings.functions,
        # only the heartbeat: the sync schedulers would pick up accounts other tests connected
        cron_jobs=[job for job in WorkerSettings.cron_jobs if job.name == "cron:heartbeat"],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(stack.redis_url),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
    )
    try:
        await worker.main()
    except BaseException:
        await worker.close()
        raise
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    worker_id = worker.ctx["worker_id"]
    app_redis = client.server.app[REDIS]
    assert 0 < await app_redis.ttl(HEARTBEAT_PREFIX + worker_id) <= HEARTBEAT_TTL_SECONDS

    admin = await create_user(db, settings, is_admin=True)  # worker ids, hosts and PIDs are for admins only
    html = await (await client.get("/status", headers=bearer(await login(client, admin.email)))).text()
    assert worker_id in html
    assert "No worker has reported" not in html

    await worker.close()  # runs on_shutdown
    assert await app_redis.exists(HEARTBEAT_PREFIX + worker_id) == 0


async def test_status_page_says_when_no_worker_reports(client):
    html = await (await client.get("/status")).text()
    assert "No worker has reported" in html

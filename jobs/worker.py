"""arq WorkerSettings: which jobs run, on which schedule, against which Redis."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from arq import cron
from arq.connections import RedisSettings

from jobs.context import shutdown, startup
from jobs.maintenance import heartbeat


def redis_settings() -> RedisSettings:
    url = os.environ.get("REDIS_URL", "").strip()
    return RedisSettings.from_dsn(url) if url else RedisSettings()


class WorkerSettings:
    functions: ClassVar[list[Any]] = []
    cron_jobs: ClassVar[list[Any]] = [
        # run_at_startup so a fresh worker shows on the status page at once
        cron(heartbeat, second=0, run_at_startup=True, unique=False, timeout=30),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_jobs = 10
    job_timeout = 600
    health_check_interval = 30
    # The heartbeat's key names this worker; several workers on one Redis are expected.
    allow_abort_jobs = True

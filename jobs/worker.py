"""arq WorkerSettings: which jobs run, on which schedule, against which Redis."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from arq import cron, func
from arq.connections import RedisSettings

from jobs.collection import (
    SYNC_MAX_TRIES,
    backfill_insights,
    schedule_lookback_insights,
    schedule_recent_insights,
    schedule_structure_syncs,
    sync_insights,
    sync_structure,
)
from jobs.context import shutdown, startup
from jobs.maintenance import refresh_stale_campaign_metrics, sweep_stale_actions
from jobs.rules import RUN_MAX_TRIES, run_scheduled_rule, schedule_due_rules
from jobs.suggestions import generate_suggestions
from jobs.webhooks import WEBHOOK_FUNCTIONS, schedule_alert_checks


def redis_settings() -> RedisSettings:
    url = os.environ.get("REDIS_URL", "").strip()
    return RedisSettings.from_dsn(url) if url else RedisSettings()


def _every(minutes: int) -> set[int]:
    return set(range(0, 60, max(1, min(minutes, 60))))


class WorkerSettings:
    functions: ClassVar[list[Any]] = [
        func(sync_structure, max_tries=SYNC_MAX_TRIES, timeout=30 * 60),
        func(sync_insights, max_tries=SYNC_MAX_TRIES, timeout=2 * 60 * 60),
        func(backfill_insights, max_tries=SYNC_MAX_TRIES, timeout=6 * 60 * 60),
        func(generate_suggestions, max_tries=3, timeout=10 * 60),
        func(run_scheduled_rule, max_tries=RUN_MAX_TRIES, timeout=10 * 60),
        *WEBHOOK_FUNCTIONS,
    ]
    cron_jobs: ClassVar[list[Any]] = [
        cron(
            schedule_structure_syncs,
            minute=_every(int(os.environ.get("STRUCTURE_SYNC_MINUTES", "30"))),
            second=5,
            run_at_startup=True,
            timeout=60,
        ),
        cron(schedule_recent_insights, minute=7, second=0, timeout=60),
        cron(schedule_lookback_insights, hour=3, minute=17, second=0, timeout=60),
        cron(schedule_due_rules, second=30, timeout=60),
        cron(sweep_stale_actions, minute=_every(10), second=45, timeout=60),
        cron(schedule_alert_checks, hour={7, 19}, minute=23, second=0, timeout=60),
        # a day begins at :00, :15, :30 or :45 UTC in every timezone (until then the list computes entries live)
        cron(refresh_stale_campaign_metrics, minute={0, 15, 30, 45}, second=5, timeout=300),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_jobs = 4
    job_timeout = 600
    health_check_interval = 30
    allow_abort_jobs = True

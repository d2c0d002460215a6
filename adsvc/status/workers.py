"""Worker liveness in Redis: each arq worker writes a heartbeat key every few seconds, and arq its queue counters.

A worker whose beat is older than DEAD_AFTER_BEATS intervals is dead (SIGKILL, OOM, a lost machine): the status
page says so for an hour, then forgets it. A worker that stops cleanly removes its key at once."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

HEARTBEAT_PREFIX = "adsvc:worker-heartbeat:"
HEARTBEAT_TTL_SECONDS = 3600
DEAD_AFTER_BEATS = 3
# arq's default queue writes "<time> j_complete=.. j_failed=.. j_retried=.. j_ongoing=.. queued=.." here.
ARQ_HEALTH_CHECK_KEY = "arq:queue:health-check"


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    worker_id: str
    host: str
    pid: int
    started_at: float
    beat_at: float
    interval_seconds: float = 15.0

    def alive(self, now: float) -> bool:
        return now - self.beat_at <= max(DEAD_AFTER_BEATS * self.interval_seconds, 30.0)


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    workers: list[WorkerBeat]
    queue_counters: dict[str, int]

    def alive(self, now: float) -> list[WorkerBeat]:
        return [beat for beat in self.workers if beat.alive(now)]


async def record_heartbeat(redis: Redis, beat: WorkerBeat) -> None:
    await redis.set(HEARTBEAT_PREFIX + beat.worker_id, orjson.dumps(asdict(beat)), ex=HEARTBEAT_TTL_SECONDS)


async def forget_worker(redis: Redis, worker_id: str) -> None:
    """A worker that shuts down cleanly leaves the list at once instead of when its heartbeat expires."""
    await redis.delete(HEARTBEAT_PREFIX + worker_id)


def parse_queue_counters(health_check: str | bytes | None) -> dict[str, int]:
    if isinstance(health_check, bytes):
        health_check = health_check.decode(errors="replace")
    counters: dict[str, int] = {}
    for part in (health_check or "").split():
        name, sep, value = part.partition("=")
        if sep and value.isdigit():
            counters[name] = int(value)
    return counters


async def worker_status(redis: Redis, *, timeout: float = 2.0) -> WorkerStatus | None:
    """Workers that beat within the last hour (newest first; see WorkerBeat.alive) and the queue's counters; None
    when Redis cannot say."""
    try:
        async with asyncio.timeout(timeout):
            keys = [key async for key in redis.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100)]
            values = await redis.mget(keys) if keys else []
            health_check = await redis.get(ARQ_HEALTH_CHECK_KEY)
    except (RedisError, OSError, TimeoutError):
        return None
    beats = [WorkerBeat(**orjson.loads(value)) for value in values if value]
    beats.sort(key=lambda beat: beat.beat_at, reverse=True)
    return WorkerStatus(workers=beats, queue_counters=parse_queue_counters(health_check))

"""The report runs one step of a sync started, kept in Redis per job and step, so a retry of the job (after a
throttle) polls and pages the run Meta already has instead of asking for the same report again."""

from __future__ import annotations

from redis.asyncio import Redis

RUNS_PREFIX = "adsvc:sync-report-runs:"
# as long as the job's finished steps are kept; Meta keeps a run's results for longer than that
RUNS_TTL_SECONDS = 24 * 3600


class StepReportRuns:
    """A ReportRunMemory (adsvc.graph.client) for one step of one job: a Redis hash of report key -> run id."""

    def __init__(self, redis: Redis, job_id: str, step: str) -> None:
        self._redis = redis
        self.key = f"{RUNS_PREFIX}{job_id}:{step}"

    async def recall(self, key: str) -> str | None:
        run_id = await self._redis.hget(self.key, key)  # type: ignore[misc]  # redis-py types both clients
        if run_id is None:
            return None
        return run_id.decode() if isinstance(run_id, bytes) else str(run_id)

    async def remember(self, key: str, run_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.key, key, run_id)
            pipe.expire(self.key, RUNS_TTL_SECONDS)
            await pipe.execute()

    async def forget(self, key: str) -> None:
        await self._redis.hdel(self.key, key)  # type: ignore[misc]

    async def clear(self) -> None:
        """The step is committed: its runs are never needed again."""
        await self._redis.delete(self.key)

"""The arq worker adsvc runs: leased jobs, and patience with PostgreSQL and Redis outages.

arq marks a job taken with an in-progress key that lives as long as the longest job timeout (hours here), so a
worker that dies (SIGKILL, OOM, a lost machine) leaves its jobs untouchable until then. adsvc's worker turns that
key into a lease: it is written for `lease_seconds` (90 s by default) under the worker's name, and renewed every
sixth of that while the job runs. When a worker dies the lease runs out, and arq's own redelivery applies: the job is
still in the queue, the next poll of any worker takes it (as try n+1), and the job resumes from its last committed
step. At-least-once stays at-least-once; jobs are idempotent.

Outages: a PostgreSQL or Redis failure inside a job becomes arq's Retry (after 5 s, growing to 30 s) and does not
count as one of the job's tries. A Redis failure in the poll loop is logged once, waited out with a backoff, and
polling goes on; a job that finished while Redis was away keeps its lease and records its result when Redis is back
(so it is neither lost nor run twice). A Redis outage shorter than the lease minus one renewal interval (75 s by
default) cannot let another worker take a running job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from arq import Retry
from arq.constants import in_progress_key_prefix, retry_key_prefix
from arq.worker import Function, Worker, get_kwargs
from redis.exceptions import RedisError

from adsvc.outages import OUTAGES, REDIS, outage_of
from adsvc.status.workers import WorkerBeat, record_heartbeat

log = logging.getLogger("adsvc.worker")

DEFAULT_LEASE_SECONDS = 90
OUTAGE_RETRY_LADDER = (5, 10, 20, 30)
REDIS_BACKOFF_MAX_SECONDS = 10.0

# Renew the lease if it is still ours; take it back if it expired meanwhile (Redis was away longer than the lease);
# leave it if another worker holds it now. arq writes "1" when it takes a job; run_job writes our name over it.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
elseif not holder then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""

_DROP = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

T = TypeVar("T")


class OutageRetry(Retry):
    """A Retry caused by PostgreSQL or Redis being unreachable: it does not use up one of the job's tries."""


def _retrying_on_outage(worker: AdsvcWorker, name: str, coroutine: Callable[..., Awaitable[Any]]) -> Any:
    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        job_id = ctx.get("job_id", name)
        try:
            result = await coroutine(ctx, *args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            component = outage_of(exc)
            if component is None:
                raise
            attempt = worker.outage_attempts.get(job_id, 0)
            worker.outage_attempts[job_id] = attempt + 1
            defer = OUTAGE_RETRY_LADDER[min(attempt, len(OUTAGE_RETRY_LADDER) - 1)]
            worker.outage_retried.add(job_id)
            worker.outages.down(component, exc, where="jobs are retried")
            log.info("%s (%s) met a %s outage; retrying in %d s", name, job_id, component, defer)
            raise OutageRetry(defer=defer) from None
        worker.outage_attempts.pop(job_id, None)
        return result

    return run


class AdsvcWorker(Worker):
    def __init__(self, *args: Any, lease_seconds: int = DEFAULT_LEASE_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lease_seconds = lease_seconds
        # arq writes this TTL when it takes a job; the lease loop keeps it alive while the job runs
        self.in_progress_timeout_s = lease_seconds
        self.renew_every = max(1.0, lease_seconds / 6)
        self.outages = OUTAGES  # one per process: the pool's reconnects report to it too
        self.outage_attempts: dict[str, int] = {}
        self.outage_retried: set[str] = set()
        self._lease_task: asyncio.Task[None] | None = None
        self._redis_down_since: float | None = None
        # every job, cron or queued, retries on an outage (copies: the settings' objects stay as they are)
        self.cron_jobs = [
            dataclasses.replace(job, coroutine=_retrying_on_outage(self, job.name, job.coroutine))
            for job in self.cron_jobs
        ]
        self.functions = {
            name: dataclasses.replace(function, coroutine=_retrying_on_outage(self, name, function.coroutine))
            for name, function in self.functions.items()
            if isinstance(function, Function)
        }
        self.functions.update({job.name: job for job in self.cron_jobs})

    @property
    def worker_id(self) -> str:
        return str(self.ctx.get("worker_id", "adsvc-worker"))

    # ---- the lease ----------------------------------------------------------------------------------------------

    async def run_job(self, job_id: str, score: int) -> None:
        # arq's start_jobs has just taken the job (in-progress key "1" for lease_seconds): put our name on it
        await self.pool.set(in_progress_key_prefix + job_id, self.worker_id, xx=True, px=self.lease_seconds * 1000)
        await super().run_job(job_id, score)

    async def _renew_leases(self) -> None:
        # only jobs whose function is still running: once it returns, arq's finish_job deletes the key (or, for a
        # retry, leaves the job to its deferred score), and a renewal then would put back a key that blocks it
        for job_id in [job_id for job_id, task in list(self.job_tasks.items()) if not task.done()]:
            outcome = await self.pool.eval(  # type: ignore[misc]  # redis-py types eval for both sync and async clients
                _RENEW, 1, in_progress_key_prefix + job_id, self.worker_id, str(self.lease_seconds * 1000)
            )
            if outcome == 2 and job_id not in self.job_tasks:
                # the job ended while we renewed, and arq's finish may have deleted the key first: not ours to keep
                await self.pool.eval(_DROP, 1, in_progress_key_prefix + job_id, self.worker_id)  # type: ignore[misc]
            elif outcome == 2:
                log.warning("job %s: its lease ran out while Redis was away; taken back", job_id)
            elif outcome == 0:
                log.warning(
                    "job %s: its lease ran out while Redis was away and another worker runs it now; this run "
                    "finishes too (jobs are idempotent)",
                    job_id,
                )

    async def _beat(self) -> None:
        if "started_at" not in self.ctx:
            return
        beat = WorkerBeat(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.ctx["started_at"],
            beat_at=time.time(),
            interval_seconds=self.renew_every,
        )
        await record_heartbeat(self.pool, beat)

    async def _keep_leases(self) -> None:
        while True:
            try:
                await self._renew_leases()
                await self._beat()
            except (RedisError, OSError) as exc:
                self.outages.down(REDIS, exc, where="the worker keeps its jobs and retries")
            await asyncio.sleep(self.renew_every)

    # ---- riding out outages -------------------------------------------------------------------------------------

    async def _poll_iteration(self) -> None:
        if self._lease_task is None:
            self._lease_task = asyncio.create_task(self._keep_leases(), name="adsvc-leases")
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if self._redis_down_since is None:
                self._redis_down_since = now
            self.outages.down(REDIS, exc, where="the worker waits and polls again")
            waited = now - self._redis_down_since
            await asyncio.sleep(min(REDIS_BACKOFF_MAX_SECONDS, 0.5 + waited / 4))
            return
        if self._redis_down_since is not None:
            self._redis_down_since = None
            self.outages.up(REDIS)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except (RedisError, OSError):
            # arq took a slot (semaphore and counter) for the job it was taking when Redis failed: give it back
            self._release_sem_dec_counter_on_complete()
            raise

    async def _patiently(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry a Redis call until Redis answers: a finished job must record its end, or it would run again."""
        delay = 0.5
        while True:
            try:
                return await call()
            except (RedisError, OSError) as exc:
                self.outages.down(REDIS, exc, where=f"{what} waits for it")
                await asyncio.sleep(delay)
                delay = min(REDIS_BACKOFF_MAX_SECONDS, delay * 2)

    async def finish_job(self, job_id: str, *args: Any, **kwargs: Any) -> None:
        await self._patiently(f"job {job_id}", lambda: super(AdsvcWorker, self).finish_job(job_id, *args, **kwargs))
        if job_id in self.outage_retried:
            self.outage_retried.discard(job_id)
            # an outage's retry gives the try back: arq counted it when the job started
            await self._patiently(f"job {job_id}", lambda: self.pool.decr(retry_key_prefix + job_id))

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        await self._patiently(f"job {job_id}", lambda: super(AdsvcWorker, self).finish_failed_job(job_id, result_data))

    async def close(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
            await asyncio.gather(self._lease_task, return_exceptions=True)
        await super().close()


def run_worker(settings_cls: type, *, lease_seconds: int, **overrides: Any) -> None:
    """`adsvc worker`: arq's run_worker, with this module's worker class."""
    AdsvcWorker(**{**get_kwargs(settings_cls), **overrides}, lease_seconds=lease_seconds).run()

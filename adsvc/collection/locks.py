"""One sync per ad account at a time, across every worker: a Redis lease, renewed in the background while the
sync runs and named after the job holding it, so the same job redelivered after its worker died takes it back at
once while any other sync of the account waits for the lease to lapse. A sync that cannot prove it still holds the
lease (lost to another holder, or not renewed for two thirds of it) is stopped before the lease can lapse, so two
syncs of one account never run at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("adsvc.jobs")

LOCK_PREFIX = "adsvc:sync-lock:"

# Take the lease if free or already ours; release and renew only if we still own it (a lease that expired may
# belong to another worker now).
_ACQUIRE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class LeaseLost(Exception):
    """The sync was stopped: its lease is gone or could not be renewed in time, so another sync may take it."""


class SyncLock:
    def __init__(self, redis: Redis, account_id: str, *, lease_seconds: int, holder: str | None = None) -> None:
        self._redis = redis
        self.key = LOCK_PREFIX + account_id
        self._token = holder or os.urandom(16).hex()
        self._lease_ms = lease_seconds * 1000
        self.lost = False

    async def acquire(self) -> bool:
        acquired = self._redis.eval(_ACQUIRE, 1, self.key, self._token, str(self._lease_ms))
        return bool(await acquired)  # type: ignore[misc]  # redis-py types eval for both sync and async clients

    async def renew(self) -> bool:
        renewed = self._redis.eval(_RENEW, 1, self.key, self._token, str(self._lease_ms))
        if not await renewed:  # type: ignore[misc]
            self.lost = True
        return not self.lost

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self._token)  # type: ignore[misc]

    @contextlib.asynccontextmanager
    async def kept_alive(self) -> AsyncIterator[None]:
        """Renew the lease every third of it until the block ends (a report can poll Meta for minutes per step).

        When a renewal finds the lease taken, or two renewals in a row fail (Redis unreachable: the lease would lapse
        at the third), the block is cancelled and LeaseLost raised, a third of the lease before anyone else could
        take it."""
        owner = asyncio.current_task()
        interval = self._lease_ms / 3000

        async def renew_forever() -> None:
            renewed_at = time.monotonic()
            while True:
                await asyncio.sleep(interval)
                try:
                    async with asyncio.timeout(interval):
                        if await self.renew():
                            renewed_at = time.monotonic()
                            continue
                except (RedisError, OSError, TimeoutError) as exc:
                    log.warning("could not renew %s: %s", self.key, type(exc).__name__)
                    if time.monotonic() - renewed_at < 2 * interval - 0.05:
                        continue
                self.lost = True
                log.warning("lost %s; stopping the sync that held it", self.key)
                if owner is not None:
                    owner.cancel()
                return

        task = asyncio.create_task(renew_forever())
        try:
            yield
        except asyncio.CancelledError:
            # our own cancel (the lease is gone) becomes LeaseLost; a cancel from outside stays a cancel
            if self.lost and owner is not None and owner.uncancel() == 0:
                raise LeaseLost(f"lost {self.key}") from None
            raise
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

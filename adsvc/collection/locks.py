"""One sync per ad account at a time, across every worker: a Redis lease renewed while the sync makes progress."""

from __future__ import annotations

import os

from redis.asyncio import Redis

LOCK_PREFIX = "adsvc:sync-lock:"

# Release and renew only if we still own the lease (a lease that expired may belong to another worker now).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class SyncLock:
    def __init__(self, redis: Redis, account_id: str, *, lease_seconds: int) -> None:
        self._redis = redis
        self.key = LOCK_PREFIX + account_id
        self._token = os.urandom(16).hex()
        self._lease_ms = lease_seconds * 1000

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self.key, self._token, px=self._lease_ms, nx=True))

    async def renew(self) -> bool:
        renewed = self._redis.eval(_RENEW, 1, self.key, self._token, str(self._lease_ms))
        return bool(await renewed)  # type: ignore[misc]  # redis-py types eval for both sync and async clients

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self._token)  # type: ignore[misc]

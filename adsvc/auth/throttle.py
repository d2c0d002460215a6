"""Login throttling in Redis, shared by all processes: failed attempts counted per account and per client address.

Fixed windows: the first failure starts a window of `login_throttle_window_seconds`; reaching the limit within it
answers 429 with Retry-After set to what is left of the window. A successful login clears the account's counter.
"""

from __future__ import annotations

import asyncio
import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.auth.revocation import redis_unavailable
from adsvc.errors import TooManyRequests
from adsvc.settings import Settings

ACCOUNT_PREFIX = "adsvc:login-failures:account:"
ADDRESS_PREFIX = "adsvc:login-failures:address:"


def _account_key(email: str) -> str:
    # Hashed so Redis holds no email addresses.
    return ACCOUNT_PREFIX + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _address_key(address: str) -> str:
    return ADDRESS_PREFIX + address


async def check_login_allowed(redis: Redis, settings: Settings, *, email: str, address: str) -> None:
    account_key, address_key = _account_key(email), _address_key(address)
    try:
        async with asyncio.timeout(settings.redis_timeout_seconds):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.get(account_key)
                pipe.get(address_key)
                pipe.ttl(account_key)
                pipe.ttl(address_key)
                account_failures, address_failures, account_ttl, address_ttl = await pipe.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None
    if account_failures is not None and int(account_failures) >= settings.login_max_failures_per_account:
        raise TooManyRequests(
            "too many failed logins for this account, try again later", retry_after=max(1, account_ttl)
        )
    if address_failures is not None and int(address_failures) >= settings.login_max_failures_per_address:
        raise TooManyRequests(
            "too many failed logins from this address, try again later", retry_after=max(1, address_ttl)
        )


async def record_login_failure(redis: Redis, settings: Settings, *, email: str, address: str) -> None:
    window = settings.login_throttle_window_seconds
    try:
        async with asyncio.timeout(settings.redis_timeout_seconds):
            async with redis.pipeline(transaction=True) as pipe:
                for key in (_account_key(email), _address_key(address)):
                    pipe.set(key, 0, ex=window, nx=True)
                    pipe.incr(key)
                await pipe.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None


async def clear_account_failures(redis: Redis, settings: Settings, *, email: str) -> None:
    try:
        async with asyncio.timeout(settings.redis_timeout_seconds):
            await redis.delete(_account_key(email))
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None

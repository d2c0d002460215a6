"""Login throttling in Redis, shared by all processes: failed attempts counted per account and per client address.

Fixed windows (the counters of adsvc.ratelimit): the first failure starts a window of
`login_throttle_window_seconds`; reaching the limit within it answers 429 with Retry-After set to what is left of the
window. Only failures count, so a check and a count are separate steps. A successful login clears the account's
counter.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from adsvc.errors import TooManyRequests
from adsvc.ratelimit import bump, counts, forget
from adsvc.settings import Settings

ACCOUNT_PREFIX = "adsvc:login-failures:account:"
ADDRESS_PREFIX = "adsvc:login-failures:address:"


def _account_key(email: str) -> str:
    # Hashed so Redis holds no email addresses.
    return ACCOUNT_PREFIX + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _address_key(address: str) -> str:
    return ADDRESS_PREFIX + address


async def check_login_allowed(redis: Redis, settings: Settings, *, email: str, address: str) -> None:
    timeout = settings.redis_timeout_seconds
    (account_failures, account_ttl), (address_failures, address_ttl) = await counts(
        redis, [_account_key(email), _address_key(address)], timeout=timeout
    )
    if account_failures >= settings.login_max_failures_per_account:
        raise TooManyRequests(
            "too many failed logins for this account, try again later", retry_after=max(1, account_ttl)
        )
    if address_failures >= settings.login_max_failures_per_address:
        raise TooManyRequests(
            "too many failed logins from this address, try again later", retry_after=max(1, address_ttl)
        )


async def record_login_failure(redis: Redis, settings: Settings, *, email: str, address: str) -> None:
    await bump(
        redis, [_account_key(email), _address_key(address)], window_seconds=settings.login_throttle_window_seconds,
        timeout=settings.redis_timeout_seconds,
    )  # fmt: skip


async def clear_account_failures(redis: Redis, settings: Settings, *, email: str) -> None:
    await forget(redis, [_account_key(email)], timeout=settings.redis_timeout_seconds)

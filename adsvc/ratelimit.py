"""Fixed-window counters in Redis, shared by every process: the request limits on expensive and amplifying calls
(per user and per ad account, answered 429 with Retry-After) and the counters login throttling keeps.

A window starts with its first count and lasts `window_seconds`; Retry-After is what is left of the full window.
Taking a call is one Lua script, so two processes cannot both take the last call of a window, and a refused call
counts nowhere (a user at their limit does not use up the account's). If Redis cannot answer, the call is refused
with 503 (fail closed), as authentication is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.auth.revocation import redis_unavailable
from adsvc.errors import TooManyRequests
from adsvc.keys import REDIS, SETTINGS
from adsvc.requests import principal
from adsvc.settings import RateLimit

PREFIX = "adsvc:limit:"
_SAYS = {"user": "by you", "account": "on this ad account"}

# KEYS: the counters; ARGV: their limits, then the window. Returns 0 (taken: every counter incremented) or the
# 1-based index of the first full counter followed by its remaining seconds (nothing incremented).
_TAKE = """
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('get', key) or '0')
  if count >= tonumber(ARGV[i]) then
    return {i, redis.call('ttl', key)}
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('incr', key) == 1 then
    redis.call('expire', key, ARGV[#KEYS + 1])
  end
end
return {0, 0}
"""


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    limit: int
    scope: str  # "user" or "account"


@dataclass(frozen=True, slots=True)
class Full:
    counter: Counter
    retry_after: int


async def take(redis: Redis, counters: Sequence[Counter], *, window_seconds: int, timeout: float) -> Full | None:
    """Count one call on every counter, unless one of them is full (then count nothing and say which)."""
    if not counters:
        return None
    try:
        async with asyncio.timeout(timeout):
            index, ttl = await redis.eval(  # type: ignore[misc]
                _TAKE, len(counters), *(c.key for c in counters), *(str(c.limit) for c in counters),
                str(window_seconds),
            )  # fmt: skip
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None
    if int(index) == 0:
        return None
    # ttl -1 (no expiry) cannot happen with this script; a full window is the safe answer if it ever does
    return Full(counters[int(index) - 1], int(ttl) if int(ttl) > 0 else window_seconds)


async def counts(redis: Redis, keys: Sequence[str], *, timeout: float) -> list[tuple[int, int]]:
    """(count, seconds left) of each counter; (0, 0) for one not started."""
    try:
        async with asyncio.timeout(timeout):
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                    pipe.ttl(key)
                values: list[Any] = await pipe.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None
    return [(int(values[i] or 0), max(0, int(values[i + 1]))) for i in range(0, len(values), 2)]


async def bump(redis: Redis, keys: Sequence[str], *, window_seconds: int, timeout: float) -> None:
    """Count one on each counter, starting its window if it had none."""
    try:
        async with asyncio.timeout(timeout):
            async with redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.set(key, 0, ex=window_seconds, nx=True)
                    pipe.incr(key)
                await pipe.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None


async def forget(redis: Redis, keys: Sequence[str], *, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await redis.delete(*keys)
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None


# The Settings fields of the request limits; an endpoint declares its own (routing's `limit=`) for the OpenAPI text.
LimitName = Literal[
    "throttle_backtests", "throttle_previews", "throttle_rule_runs", "throttle_webhook_tests", "throttle_reconnects"
]


def what(name: LimitName) -> str:
    """`throttle_rule_runs` -> `rule runs`."""
    return name.removeprefix("throttle_").replace("_", " ")


def request_counters(name: LimitName, limit: RateLimit, *, user_id: int, account_id: str | None) -> list[Counter]:
    action = name.removeprefix("throttle_")
    counters = []
    if limit.per_user > 0:
        counters.append(Counter(f"{PREFIX}{action}:user:{user_id}", limit.per_user, "user"))
    if limit.per_account > 0 and account_id is not None:
        counters.append(Counter(f"{PREFIX}{action}:account:{account_id}", limit.per_account, "account"))
    return counters


def describe(name: LimitName, limit: RateLimit) -> str:
    """The sentence the OpenAPI document carries for a limited operation."""
    parts = [f"{n} per {scope}" for n, scope in ((limit.per_user, "user"), (limit.per_account, "ad account")) if n]
    if not parts:
        return f"Rate limit: none ({name.upper()} is 0,0)."
    return (
        f"Rate limit: at most {' and '.join(parts)} per {limit.window_seconds} s ({name.upper()}); "
        "over it the answer is 429 `rate_limited` with Retry-After (seconds until the window ends)."
    )


async def limit_calls(request: web.Request, name: LimitName, *, account_id: str | None) -> None:
    """Count this call for the caller and the account; 429 with Retry-After once either is at its limit for the
    window. Call it after the caller is known to be a member of the account (so a 404 comes first)."""
    settings = request.config_dict[SETTINGS]
    limit: RateLimit = getattr(settings, name)
    counters = request_counters(name, limit, user_id=principal(request).user_id, account_id=account_id)
    full = await take(
        request.config_dict[REDIS],
        counters,
        window_seconds=limit.window_seconds,
        timeout=settings.redis_timeout_seconds,
    )
    if full is not None:
        raise TooManyRequests(
            f"too many {what(name)} {_SAYS[full.counter.scope]}: at most {full.counter.limit} per "
            f"{limit.window_seconds} s; try again in {full.retry_after} s",
            retry_after=full.retry_after,
            code="rate_limited",
            details={"limit": name.removeprefix("throttle_"), "scope": full.counter.scope,
                     "max": full.counter.limit, "window_seconds": limit.window_seconds},
        )  # fmt: skip

"""Token revocation in Redis, shared by every process: a denylist of token ids and a per-user cut-off time.

The auth middleware reads both keys with one MGET on every authenticated request. If Redis cannot answer within its
timeout the request fails closed with 503: an unverifiable token is never accepted and never reported as invalid.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.auth.principal import Principal
from adsvc.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger("adsvc.auth")

JTI_PREFIX = "adsvc:auth:revoked-jti:"
USER_PREFIX = "adsvc:auth:revoked-before:"
RETRY_AFTER_SECONDS = 2


def redis_unavailable(exc: BaseException) -> ServiceUnavailable:
    log.warning("redis unavailable: %s", type(exc).__name__)
    return ServiceUnavailable(
        "authentication store unavailable, retry shortly",
        retry_after=RETRY_AFTER_SECONDS,
        code="auth_store_unavailable",
    )


async def check_not_revoked(redis: Redis, principal: Principal, *, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            jti_revoked, revoked_before = await redis.mget(
                JTI_PREFIX + principal.jti, USER_PREFIX + str(principal.user_id)
            )
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None
    if jti_revoked is not None:
        raise Unauthorized("token has been revoked")
    if revoked_before is not None and principal.issued_at < float(revoked_before):
        raise Unauthorized("token has been revoked")


async def revoke_token(redis: Redis, principal: Principal, *, timeout: float, now: float | None = None) -> None:
    """Deny one token until it would have expired anyway."""
    now = time.time() if now is None else now
    ttl = max(1, math.ceil(principal.expires_at - now))
    try:
        async with asyncio.timeout(timeout):
            await redis.set(JTI_PREFIX + principal.jti, "1", ex=ttl)
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None


async def revoke_user_tokens(
    redis: Redis, *, user_id: int, before: float, token_lifetime_seconds: int, timeout: float
) -> None:
    """Deny every token of a user issued before `before`; the key outlives the longest token still valid."""
    try:
        async with asyncio.timeout(timeout):
            await redis.set(USER_PREFIX + str(user_id), repr(before), ex=token_lifetime_seconds + 60)
    except (RedisError, OSError, TimeoutError) as exc:
        raise redis_unavailable(exc) from None

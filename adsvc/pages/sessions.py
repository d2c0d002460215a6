"""Server-side sessions of the pages, in Redis and shared by every process.

The cookie carries only a random id; Redis holds the session under a hash of it (a dump of Redis holds no usable
cookie), with the idle timeout as its TTL, refreshed by every request that reads it (GETEX, one round trip). The
absolute timeout is the sign-in time plus SESSION_ABSOLUTE_HOURS, checked on every read. A session is revoked with
the user's tokens: it is checked as a credential (`session:<hash>`) by the same per-user cut-off that a password
change, a reset or a disable sets, and sign-out deletes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, replace

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.auth.principal import Principal
from adsvc.auth.revocation import redis_unavailable

SESSION_PREFIX = "adsvc:session:"
COOKIE_NAME = "adsvc_session"


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    email: str
    is_admin: bool
    created_at: float
    csrf_token: str
    locale: str | None

    def with_locale(self, locale: str | None) -> Session:
        return replace(self, locale=locale)

    def principal(self, session_id: str, *, absolute_seconds: int) -> Principal:
        """The session as a credential: the auth checks and audit entries of the API apply to it unchanged."""
        return Principal(
            user_id=self.user_id,
            email=self.email,
            is_admin=self.is_admin,
            jti="session:" + _digest(session_id)[:32],
            issued_at=self.created_at,
            expires_at=int(self.created_at + absolute_seconds),
        )


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _key(session_id: str) -> str:
    return SESSION_PREFIX + _digest(session_id)


class SessionStore:
    def __init__(self, redis: Redis, *, idle_seconds: int, absolute_seconds: int, timeout: float) -> None:
        self._redis = redis
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._timeout = timeout

    async def create(
        self, *, user_id: int, email: str, is_admin: bool, locale: str | None, not_before: float = 0.0
    ) -> tuple[str, Session]:
        """A new session with a new id (never one the browser brought: no fixation) and a new CSRF token; it starts
        after `not_before` (a revocation cut-off just set must not end it)."""
        session_id = secrets.token_urlsafe(32)
        started = max(time.time(), not_before + 0.001)
        session = Session(user_id=user_id, email=email, is_admin=is_admin, created_at=started,
                          csrf_token=secrets.token_urlsafe(32), locale=locale)  # fmt: skip
        await self._write(session_id, session)
        return session_id, session

    async def load(self, session_id: str) -> Session | None:
        """The live session of this id, its idle timeout restarted; None when there is none or it has expired."""
        if not 20 <= len(session_id) <= 100:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._redis.getex(_key(session_id), ex=self.idle_seconds)
        except (RedisError, OSError, TimeoutError) as exc:
            raise redis_unavailable(exc) from None
        if raw is None:
            return None
        session = Session(**orjson.loads(raw))
        if time.time() >= session.created_at + self.absolute_seconds:
            await self.delete(session_id)
            return None
        return session

    async def update(self, session_id: str, session: Session) -> None:
        await self._write(session_id, session)

    async def delete(self, session_id: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.delete(_key(session_id))
        except (RedisError, OSError, TimeoutError) as exc:
            raise redis_unavailable(exc) from None

    async def _write(self, session_id: str, session: Session) -> None:
        left = session.created_at + self.absolute_seconds - time.time()
        ttl = max(1, int(min(self.idle_seconds, left)))
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.set(_key(session_id), orjson.dumps(asdict(session)), ex=ttl)
        except (RedisError, OSError, TimeoutError) as exc:
            raise redis_unavailable(exc) from None

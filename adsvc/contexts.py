"""One cleanup context per shared resource: create it, put it on its key, yield, close it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from adsvc import __version__
from adsvc.auth.passwords import PasswordHashing, default_hash_threads, password_hasher
from adsvc.auth.revocation import RevocationChecker
from adsvc.keys import DUMMY_PASSWORD_HASH, HTTP, PASSWORDS, PG, REDIS, REVOCATION, SETTINGS
from adsvc.settings import Settings


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON codecs on every pooled connection: jsonb and json come back as Python values."""
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            encoder=lambda value: orjson.dumps(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pg_pool(settings: Settings) -> asyncpg.Pool:
    assert settings.database_url
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        command_timeout=settings.db_timeout_seconds,
        init=init_connection,
        server_settings={"application_name": "adsvc"},
    )
    assert pool is not None
    return pool


def create_redis(settings: Settings) -> Redis:
    assert settings.redis_url
    # Short socket timeouts: a dead or stuck Redis must turn into a fast 503, not a hung request. One immediate
    # retry on a broken connection only, so the first request after Redis comes back reconnects and succeeds.
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        health_check_interval=0,
        decode_responses=True,
    )
    return client


async def pg_ctx(app: web.Application) -> AsyncIterator[None]:
    app[PG] = await create_pg_pool(app[SETTINGS])
    yield
    await app[PG].close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    app[REDIS] = create_redis(app[SETTINGS])
    app[REVOCATION] = RevocationChecker(app[REDIS], timeout=app[SETTINGS].redis_timeout_seconds)
    yield
    await app[REDIS].aclose()


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    app[HTTP] = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30, connect=5),
        headers={"User-Agent": f"adsvc/{__version__}"},
        raise_for_status=False,
    )
    yield
    await app[HTTP].close()


async def passwords_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    passwords = PasswordHashing(
        password_hasher(settings), threads=settings.password_hash_threads or default_hash_threads()
    )
    app[PASSWORDS] = passwords
    app[DUMMY_PASSWORD_HASH] = await passwords.hash(secrets.token_urlsafe(24))
    yield
    passwords.close()

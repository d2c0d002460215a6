"""One cleanup context per shared resource: create it, put it on its key, yield, close it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from adsvc import __version__
from adsvc.accounts.agents import AgentFactory
from adsvc.auth.passwords import PasswordHashing, default_hash_threads, password_hasher
from adsvc.auth.revocation import RevocationChecker
from adsvc.automation.replays import ReplayPool
from adsvc.crypto import TokenBox
from adsvc.graph.agent import FacebookAdsAgent
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.cache import AgentCache
from adsvc.graph.invalidation import listen_for_invalidations
from adsvc.keys import (
    AGENTS,
    ARQ,
    BREAKERS,
    DUMMY_PASSWORD_HASH,
    HTTP,
    METRICS,
    PASSWORDS,
    PG,
    REDIS,
    REPLAYS,
    REVOCATION,
    SESSIONS,
    SETTINGS,
    TOKEN_BOX,
)
from adsvc.metrics import Metrics
from adsvc.outages import connect_or_unreachable, quiet_pool_floor_retries
from adsvc.pages.sessions import SessionStore
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


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's release step: nothing to undo. asyncpg still rolls back a transaction left open; its default reset
    (advisory unlock all, CLOSE ALL, UNLISTEN *, RESET ALL) was one more round trip per query, for session state
    adsvc never leaves behind: locks and settings are transaction-scoped (pg_advisory_xact_lock, set_config(...,
    true)), temporary tables drop on commit, and nothing LISTENs or holds a cursor outside a transaction."""


async def create_pg_pool(settings: Settings) -> asyncpg.Pool:
    assert settings.database_url
    quiet_pool_floor_retries()
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        command_timeout=settings.db_timeout_seconds,
        # a stopped or unreachable PostgreSQL fails the request within this, not asyncpg's default of 60 s
        timeout=settings.db_timeout_seconds,
        connect=connect_or_unreachable,
        init=init_connection,
        reset=keep_session,
        # ingest stages up to ~50,000 rows in a temporary table per step: keep them in memory, not in temp files
        # UTC sessions: timestamps leave PostgreSQL (also as JSON) in one zone, whatever the server's default
        server_settings={"application_name": "adsvc", "temp_buffers": "64MB", "timezone": "UTC"},
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


def create_pubsub_redis(settings: Settings) -> Redis:
    """A client for long-lived subscriptions: no read timeout (silence is normal), keepalive pings instead."""
    assert settings.redis_url
    client: Redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=5, socket_keepalive=True, health_check_interval=30
    )
    return client


def create_agent_cache(
    settings: Settings,
    *,
    pg: asyncpg.Pool,
    session: aiohttp.ClientSession,
    breakers: BreakerRegistry,
    ttl_seconds: float,
    metrics: Metrics | None,
    interactive: bool,
    redis: Redis | None = None,
) -> AgentCache[FacebookAdsAgent]:
    """With `redis`, agents share their account's pacing state with every other process."""
    factory = AgentFactory(
        settings,
        pg=pg,
        box=TokenBox(settings.token_encryption_key, settings.token_encryption_previous_keys),
        session=session,
        breakers=breakers,
        interactive=interactive,
        redis=redis,
    )
    return AgentCache(ttl_seconds=ttl_seconds, create=factory, observer=metrics)


async def pg_ctx(app: web.Application) -> AsyncIterator[None]:
    app[PG] = await create_pg_pool(app[SETTINGS])
    yield
    await app[PG].close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    app[REDIS] = create_redis(app[SETTINGS])
    settings = app[SETTINGS]
    app[REVOCATION] = RevocationChecker(app[REDIS], timeout=settings.redis_timeout_seconds)
    app[SESSIONS] = SessionStore(
        app[REDIS],
        idle_seconds=settings.session_idle_minutes * 60,
        absolute_seconds=settings.session_absolute_hours * 3600,
        timeout=settings.redis_timeout_seconds,
    )
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


async def arq_ctx(app: web.Application) -> AsyncIterator[None]:
    """The job queue client. Built without arq's start-up ping so the web app starts (and /ready reports) while
    Redis is down; enqueueing then fails like any Redis call."""
    settings = app[SETTINGS]
    assert settings.redis_url
    app[ARQ] = ArqRedis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds * 4,
        socket_connect_timeout=settings.redis_timeout_seconds * 4,
    )
    yield
    await app[ARQ].aclose()


async def agents_ctx(app: web.Application) -> AsyncIterator[None]:
    """Breakers, the agent cache, and the listener that drops agents when any process asks."""
    settings = app[SETTINGS]
    app[TOKEN_BOX] = TokenBox(settings.token_encryption_key, settings.token_encryption_previous_keys)
    app[BREAKERS] = BreakerRegistry(settings.breaker_failure_threshold, settings.breaker_recovery_seconds)
    cache = create_agent_cache(
        settings,
        pg=app[PG],
        session=app[HTTP],
        breakers=app[BREAKERS],
        ttl_seconds=settings.agent_cache_ttl_seconds,
        metrics=app[METRICS],
        interactive=True,
        redis=app[REDIS],
    )
    app[AGENTS] = cache
    app[METRICS].watch(
        ages=lambda: [(key, age) for key in cache.keys() if (age := cache.age_seconds(key)) is not None],
        breakers=app[BREAKERS].snapshot,
    )
    subscriber = create_pubsub_redis(settings)
    listener = asyncio.ensure_future(listen_for_invalidations(subscriber, cache.invalidate))
    yield
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await subscriber.aclose()


async def replays_ctx(app: web.Application) -> AsyncIterator[None]:
    """The worker processes backtests replay in (started on the first backtest)."""
    settings = app[SETTINGS]
    app[REPLAYS] = ReplayPool(processes=settings.backtest_concurrency, queue_seconds=settings.backtest_queue_seconds)
    yield
    await app[REPLAYS].close()


async def passwords_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    passwords = PasswordHashing(
        password_hasher(settings), threads=settings.password_hash_threads or default_hash_threads()
    )
    app[PASSWORDS] = passwords
    app[DUMMY_PASSWORD_HASH] = await passwords.hash(secrets.token_urlsafe(24))
    yield
    passwords.close()

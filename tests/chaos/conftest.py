"""The chaos tests' own PostgreSQL and Redis: real embedded servers that a test may stop and start without
disturbing the session's shared ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
from factories import Stack, fresh_database

from adsvc.contexts import init_connection
from adsvc.embedded import EmbeddedPostgres, EmbeddedRedis


@dataclass
class OwnStack:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    stack: Stack

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.stop)

    async def start_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.start)

    async def stop_redis(self) -> None:
        await asyncio.to_thread(self.redis.stop)

    async def start_redis(self) -> None:
        # same port and data folder: redis-server saved its data on SIGTERM and loads it again
        await asyncio.to_thread(self.redis.start, reuse=False)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnStack]:
    data_dir = tmp_path_factory.mktemp("own-stack")
    postgres = EmbeddedPostgres(data_dir)
    redis = EmbeddedRedis.in_data_dir(data_dir)
    admin_url = postgres.start()
    redis_url = redis.start(reuse=False)
    try:
        database_url = fresh_database(admin_url)
        yield OwnStack(postgres, redis, Stack(database_url, redis_url, admin_url))
    finally:
        redis.stop()
        postgres.stop()


@pytest.fixture
async def own(own_stack: OwnStack) -> AsyncIterator[OwnStack]:
    """The module's servers, running again after each test whatever the test stopped."""
    yield own_stack
    if not own_stack.postgres.is_running():
        await own_stack.start_postgres()
    if own_stack.redis.process is None:
        await own_stack.start_redis()


@pytest.fixture
async def own_db(own: OwnStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(own.stack.database_url)
    await init_connection(conn)
    yield conn
    if not conn.is_closed():
        await conn.close()

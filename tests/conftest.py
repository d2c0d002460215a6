"""Test session: a real PostgreSQL and a real Redis (embedded, started once), or the servers named by
DATABASE_URL / REDIS_URL when both are set. Each test gets a fresh app on a clean Redis database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis as redis_sync
from aiohttp.test_utils import TestClient, TestServer
from factories import TEST_SECRET, TEST_TOKEN_KEY, Stack, fresh_database, make_settings

from adsvc.app import create_app
from adsvc.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from adsvc.sandbox import SandboxConfig, create_sandbox_app
from adsvc.settings import Settings


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    external_db, external_redis = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    if external_db and external_redis:
        admin_url, redis_url = external_db, external_redis
    else:
        data_dir = tmp_path_factory.mktemp("stack")
        postgres = EmbeddedPostgres(data_dir)
        redis = EmbeddedRedis.in_data_dir(data_dir)
        admin_url = postgres.start()
        redis_url = redis.start(reuse=False)
    database_url = fresh_database(admin_url)
    try:
        yield Stack(database_url=database_url, redis_url=redis_url, admin_database_url=admin_url)
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()


@pytest.fixture
def settings(stack: Stack) -> Settings:
    return make_settings(stack)


@pytest.fixture(autouse=True)
def clean_redis(stack: Stack) -> Iterator[None]:
    client = redis_sync.Redis.from_url(stack.redis_url)
    client.flushdb()
    yield
    client.close()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.database_url)
    from adsvc.contexts import init_connection

    await init_connection(conn)
    yield conn
    await conn.close()


TINY_SANDBOX = SandboxConfig(accounts=2, campaigns_per_account=3, adsets_per_campaign=2, ads_per_adset=2, days=40)


@pytest.fixture
async def graph_sandbox(aiohttp_server: Any) -> TestServer:
    """The sandbox Marketing API served in-process over real HTTP; its state is `server.app[SANDBOX_STATE]`."""
    return await aiohttp_server(create_sandbox_app(TINY_SANDBOX))


@pytest.fixture
async def other_process(stack: Stack, graph_sandbox: TestServer) -> AsyncIterator[str]:
    """A second adsvc web server: a separate OS process on the same PostgreSQL and Redis (and the sandbox as its
    Meta); yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "FACEBOOK_GRAPH_URL": str(graph_sandbox.make_url("")).rstrip("/"),
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8192",
        "ARGON2_PARALLELISM": "1",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "adsvc", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                if process.poll() is not None:
                    raise AssertionError(f"server exited: {process.stderr.read().decode()}")
                try:
                    async with session.get(base + "/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("second server did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()

"""The chaos tests' own PostgreSQL and Redis: real embedded servers that a test may stop and start without
disturbing the session's shared ones."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from factories import TEST_SECRET, TEST_TOKEN_KEY, Stack, fresh_database

from adsvc.contexts import init_connection
from adsvc.embedded import EmbeddedPostgres, EmbeddedRedis, free_port


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


@dataclass
class Child:
    role: str
    process: asyncio.subprocess.Process
    log_path: Path
    base_url: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.returncode is None


class Fleet:
    """Real `adsvc serve` and `adsvc worker` processes on one stack; stderr of each goes to a file."""

    def __init__(self, stack: Stack, graph_url: str, log_dir: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": stack.database_url,
            "REDIS_URL": stack.redis_url,
            "SECRET_KEY": TEST_SECRET,
            "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
            "FACEBOOK_GRAPH_URL": graph_url,
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "8192",
            "ARGON2_PARALLELISM": "1",
            "GRAPH_PACING_TIME_SCALE": "0.001",
            "SYNC_RETRY_BASE_SECONDS": "0.5",
            "GRAPH_POLL_INITIAL_SECONDS": "0.02",
            "GRAPH_POLL_MAX_SECONDS": "0.02",
            "LOG_LEVEL": "INFO",
        }
        self.log_dir = log_dir
        self.children: list[Child] = []

    async def _spawn(self, role: str, argv: list[str], **env: str) -> Child:
        log_path = self.log_dir / f"{role}-{len(self.children)}.log"
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "adsvc", *argv, env={**self.env, **env}, stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=log_file,
            )  # fmt: skip
        child = Child(role, process, log_path)
        self.children.append(child)
        return child

    async def web(self, **env: str) -> Child:
        port = free_port()
        child = await self._spawn("web", ["serve", "--host", "127.0.0.1", "--port", str(port)], **env)
        child.base_url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                if not child.alive():
                    raise AssertionError(f"web exited: {child.log()}")
                try:
                    async with session.get(child.base_url + "/health") as response:
                        if response.status == 200:
                            return child
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)

    async def worker(self, **env: str) -> Child:
        child = await self._spawn("worker", ["worker"], **env)
        async with asyncio.timeout(30):
            while "Starting worker" not in child.log():
                if not child.alive():
                    raise AssertionError(f"worker exited: {child.log()}")
                await asyncio.sleep(0.05)
        return child

    async def stop(self) -> None:
        for child in self.children:
            if child.alive():
                child.process.terminate()
        for child in self.children:
            try:
                async with asyncio.timeout(20):
                    await child.process.wait()
            except TimeoutError:
                child.process.kill()
                await child.process.wait()


@pytest.fixture
async def fleet(own: OwnStack, graph_sandbox: Any, tmp_path: Path) -> AsyncIterator[Fleet]:
    graph_url = str(graph_sandbox.make_url("")).rstrip("/")
    fleet = Fleet(own.stack, graph_url, tmp_path)
    yield fleet
    await fleet.stop()

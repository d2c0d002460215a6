"""Shared by the webhook tests: a local receiver that checks signatures (and the allow-list setting that lets
webhooks reach it), the arq worker in burst mode with the webhook jobs, and the environment it reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from arq.connections import RedisSettings
from arq.worker import Worker
from factories import TEST_SECRET, TEST_TOKEN_KEY, Stack

from adsvc.webhooks.config import LOOPBACK_NETWORKS
from adsvc.webhooks.events import verify
from jobs.context import shutdown, startup
from jobs.webhooks import WEBHOOK_FUNCTIONS

FAST_ENV = {
    "WEBHOOK_RETRY_BASE_SECONDS": "0.05",
    "WEBHOOK_RETRY_MAX_SECONDS": "0.2",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_MAX_ATTEMPTS": "4",
}


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> dict[str, str]:
    values = {
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        **FAST_ENV,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def run_webhook_worker(stack: Stack) -> Worker:
    """Every queued webhook job (and its retries) with the real arq worker, until the queue is empty."""
    worker = Worker(
        functions=WEBHOOK_FUNCTIONS,
        cron_jobs=[],
        on_startup=startup,
        on_shutdown=shutdown,
        redis_settings=RedisSettings.from_dsn(stack.redis_url),
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
        max_jobs=4,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool


@dataclass
class Receiver:
    """A webhook endpoint: answers the scripted statuses (after the scripted delays) in order, then 200 at once;
    checks every signature with `secret`."""

    statuses: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = self.secret is not None and verify(
            self.secret,
            int(request.headers["X-Adsvc-Timestamp"]),
            body,
            request.headers["X-Adsvc-Signature"],
            now=time.time(),
        )
        self.received.append(Received(headers=dict(request.headers), body=body, signature_ok=ok))
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"status": status}, status=status)


@pytest.fixture
def local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhooks may target loopback, where the tests' receivers listen (refused by default, as in production)."""
    monkeypatch.setenv("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", LOOPBACK_NETWORKS)


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Any], local_receivers: None) -> Receiver:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    hook.server = await aiohttp_server(app)
    return hook

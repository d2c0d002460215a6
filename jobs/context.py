"""Worker start-up and shutdown: the same settings and resources the web app uses, kept in arq's ctx."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from adsvc import __version__
from adsvc.contexts import create_agent_cache, create_pg_pool, create_pubsub_redis, create_redis
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.invalidation import listen_for_invalidations
from adsvc.settings import Settings
from adsvc.status.workers import forget_worker
from adsvc.webhooks.config import WebhookSettings
from adsvc.webhooks.targets import TargetGuard, guarded_session


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings.from_env()
    settings.check()
    ctx["settings"] = settings
    ctx["pg"] = await create_pg_pool(settings)
    ctx["app_redis"] = create_redis(settings)
    ctx["session"] = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=120, connect=10), headers={"User-Agent": f"adsvc-worker/{__version__}"}
    )
    # user-chosen URLs (webhooks) go through their own session, whose connector refuses internal addresses
    allowed = WebhookSettings.from_env().allowed_private_networks
    ctx["webhook_session"] = guarded_session(TargetGuard(allowed), user_agent=f"adsvc-webhooks/{__version__}")
    ctx["breakers"] = BreakerRegistry(settings.breaker_failure_threshold, settings.breaker_recovery_seconds)
    ctx["agents"] = create_agent_cache(
        settings,
        pg=ctx["pg"],
        session=ctx["session"],
        breakers=ctx["breakers"],
        ttl_seconds=settings.worker_agent_cache_ttl_seconds,
        metrics=None,
        interactive=False,
        redis=ctx["app_redis"],
    )
    ctx["pubsub_redis"] = create_pubsub_redis(settings)
    ctx["invalidation_listener"] = asyncio.ensure_future(
        listen_for_invalidations(ctx["pubsub_redis"], ctx["agents"].invalidate)
    )
    ctx["worker_id"] = f"{socket.gethostname()}-{os.getpid()}"
    ctx["started_at"] = time.time()


async def shutdown(ctx: dict[str, Any]) -> None:
    listener = ctx.get("invalidation_listener")
    if listener is not None:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    if "pubsub_redis" in ctx:
        await ctx["pubsub_redis"].aclose()
    for name in ("session", "webhook_session"):
        if name in ctx:
            await ctx[name].close()
    if "pg" in ctx:
        await ctx["pg"].close()
    if "app_redis" in ctx:
        with contextlib.suppress(RedisError, OSError):  # Redis gone at shutdown: the heartbeat simply expires
            await forget_worker(ctx["app_redis"], ctx["worker_id"])
        await ctx["app_redis"].aclose()

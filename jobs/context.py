"""Worker start-up and shutdown: the same settings and resources the web app uses, kept in arq's ctx."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

from redis.exceptions import RedisError

from adsvc.contexts import create_pg_pool, create_redis
from adsvc.settings import Settings
from adsvc.status.workers import forget_worker


async def startup(ctx: dict[str, Any]) -> None:
    settings = Settings.from_env()
    settings.check()
    ctx["settings"] = settings
    ctx["pg"] = await create_pg_pool(settings)
    ctx["app_redis"] = create_redis(settings)
    ctx["worker_id"] = f"{socket.gethostname()}-{os.getpid()}"
    ctx["started_at"] = time.time()


async def shutdown(ctx: dict[str, Any]) -> None:
    if "pg" in ctx:
        await ctx["pg"].close()
    if "app_redis" in ctx:
        with contextlib.suppress(RedisError, OSError):  # Redis gone at shutdown: the heartbeat simply expires
            await forget_worker(ctx["app_redis"], ctx["worker_id"])
        await ctx["app_redis"].aclose()

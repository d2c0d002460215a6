"""Agent cache invalidation across processes: a Redis channel every web and worker process listens on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.outages import OutageLog

CHANNEL = "adsvc:agent-cache:invalidate"
ALL = "*"

log = logging.getLogger("adsvc.graph")


async def publish_invalidation(redis: Redis, account_id: str | None) -> int:
    """Ask every process to drop the agent of one account (or all); returns how many processes listened."""
    receivers: int = await redis.publish(CHANNEL, account_id or ALL)
    return receivers


async def listen_for_invalidations(redis: Redis, invalidate: Callable[[str | None], int]) -> None:
    """Run until cancelled, reconnecting after Redis outages (a missed message only delays a drop to the TTL);
    an outage is logged when it begins and when the subscription is back, not at every reconnect attempt."""
    outages = OutageLog(log)
    while True:
        try:
            async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(CHANNEL)
                outages.up("agent cache invalidations (Redis)")
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        data = data.decode()
                    if isinstance(data, str):
                        invalidate(None if data == ALL else data)
        except (RedisError, OSError) as exc:
            outages.down("agent cache invalidations (Redis)", exc, where="reconnecting every 2 s")
            await asyncio.sleep(2)

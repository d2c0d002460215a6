"""The agent cache's logic on plain asyncio: single flight, TTL, invalidation, failures, stats."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from adsvc.graph.cache import AgentCache


@dataclass
class FakeAgent:
    key: str
    serial: int
    is_valid: bool = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(ttl=60.0, *, fail=False, delay=0.01):
    clock, created = Clock(), []

    async def create(key: str) -> FakeAgent:
        await asyncio.sleep(delay)
        if fail:
            raise RuntimeError("token rejected")
        created.append(key)
        return FakeAgent(key, len(created))

    return AgentCache(ttl_seconds=ttl, create=create, clock=clock), clock, created


async def test_hundred_concurrent_cold_gets_create_once():
    cache, _, created = _cache()
    agents = await asyncio.gather(*(cache.get("act_1") for _ in range(100)))
    assert created == ["act_1"]
    assert len({id(agent) for agent in agents}) == 1
    stats = cache.stats("act_1")
    assert stats["creation_count"] == 1 and stats["misses"] == 100 and stats["cached"] is True
    await cache.get("act_1")
    assert cache.stats("act_1")["hits"] == 1


async def test_ttl_expiry_recreates():
    cache, clock, created = _cache(ttl=60)
    first = await cache.get("a")
    clock.now += 59
    assert await cache.get("a") is first
    clock.now += 2
    second = await cache.get("a")
    assert second is not first and created == ["a", "a"]
    assert cache.stats("a")["cache_age_seconds"] == 0


async def test_invalidate_one_or_all():
    cache, _, created = _cache()
    await cache.get("a")
    await cache.get("b")
    assert cache.invalidate("a") == 1
    assert cache.invalidate("a") == 0
    await cache.get("a")
    assert created == ["a", "b", "a"]
    assert cache.invalidate() == 2


async def test_invalid_agent_is_recreated():
    cache, _, created = _cache()
    agent = await cache.get("a")
    agent.is_valid = False
    assert cache.stats("a")["status"] == "invalid"
    assert (await cache.get("a")) is not agent
    assert created == ["a", "a"]


async def test_failed_creation_reaches_every_waiter_and_is_not_cached():
    cache, _, _ = _cache(fail=True)
    results = await asyncio.gather(*(cache.get("a") for _ in range(10)), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert cache.stats("a")["status"] == "error" and cache.stats("a")["creation_count"] == 0
    assert cache.aggregate()["status"] == "degraded"


async def test_a_cancelled_waiter_does_not_cancel_the_creation():
    cache, _, created = _cache(delay=0.05)
    first = asyncio.ensure_future(cache.get("a"))
    second = asyncio.ensure_future(cache.get("a"))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).key == "a" and created == ["a"]


async def test_aggregate_sums_per_account():
    cache, _, _ = _cache()
    await cache.get("a")
    await cache.get("a")
    await cache.get("b")
    summary = cache.aggregate()
    assert summary["cached"] == 2 and summary["creation_count"] == 2 and summary["hits"] == 1
    assert summary["status"] == "healthy" and summary["cache_ttl_seconds"] == 60.0

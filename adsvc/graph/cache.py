"""The agent cache: one agent per ad account per process, created single-flight, kept for a TTL, observable.

Creating an agent costs a Graph round trip (token and account validation), so a hundred concurrent cold requests
must share ONE creation, and later requests must pay microseconds. Invalidation is by key or whole; other
processes learn of it through Redis (see adsvc.graph.invalidation).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


class Validity(Protocol):
    @property
    def is_valid(self) -> bool: ...


T = TypeVar("T", bound=Validity)


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    created_at: float
    created_wall: float
    creation_ms: float


class CacheObserver(Protocol):
    def on_hit(self, key: str) -> None: ...
    def on_miss(self, key: str) -> None: ...
    def on_creation(self, key: str, milliseconds: float) -> None: ...


class AgentCache(Generic[T]):
    def __init__(
        self,
        *,
        ttl_seconds: float,
        create: Callable[[str], Awaitable[T]],
        clock: Callable[[], float] = time.monotonic,
        observer: CacheObserver | None = None,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._create = create
        self._clock = clock
        self._observer = observer
        self._entries: dict[str, _Entry[T]] = {}
        self._pending: dict[str, asyncio.Task[_Entry[T]]] = {}
        self.hits: dict[str, int] = {}
        self.misses: dict[str, int] = {}
        self.creation_count: dict[str, int] = {}
        self.last_error: dict[str, str] = {}

    def _fresh(self, entry: _Entry[T] | None) -> bool:
        return entry is not None and entry.value.is_valid and self._clock() - entry.created_at < self.ttl_seconds

    async def get(self, key: str) -> T:
        entry = self._entries.get(key)
        if entry is not None and self._fresh(entry):
            self.hits[key] = self.hits.get(key, 0) + 1
            if self._observer:
                self._observer.on_hit(key)
            return entry.value
        self.misses[key] = self.misses.get(key, 0) + 1
        if self._observer:
            self._observer.on_miss(key)
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._build(key))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        # shield: a caller that gives up must not cancel the creation the others are waiting for
        return (await asyncio.shield(task)).value

    async def _build(self, key: str) -> _Entry[T]:
        started = time.perf_counter()
        try:
            value = await self._create(key)
        except BaseException as exc:
            self.last_error[key] = type(exc).__name__
            raise
        creation_ms = (time.perf_counter() - started) * 1000
        entry = _Entry(value=value, created_at=self._clock(), created_wall=time.time(), creation_ms=creation_ms)
        self._entries[key] = entry
        self.creation_count[key] = self.creation_count.get(key, 0) + 1
        self.last_error.pop(key, None)
        if self._observer:
            self._observer.on_creation(key, creation_ms)
        return entry

    def invalidate(self, key: str | None = None) -> int:
        """Drop one key (or all); returns how many cached agents were dropped."""
        if key is None:
            dropped = len(self._entries)
            self._entries.clear()
            return dropped
        return 1 if self._entries.pop(key, None) is not None else 0

    def peek(self, key: str) -> T | None:
        entry = self._entries.get(key)
        return entry.value if entry is not None and self._fresh(entry) else None

    def age_seconds(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return None if entry is None else self._clock() - entry.created_at

    def keys(self) -> set[str]:
        return set(self._entries) | set(self.creation_count) | set(self.misses)

    def stats(self, key: str) -> dict[str, Any]:
        entry = self._entries.get(key)
        cached = entry is not None and self._fresh(entry)
        if cached:
            status = "healthy"
        elif key in self.last_error:
            status = "error"
        elif entry is not None:
            status = "expired" if entry.value.is_valid else "invalid"
        else:
            status = "empty"
        return {
            "status": status,
            "cached": cached,
            "cache_age_seconds": None if entry is None else round(self._clock() - entry.created_at, 3),
            "cache_ttl_seconds": self.ttl_seconds,
            "is_valid": bool(entry is not None and entry.value.is_valid),
            "creation_count": self.creation_count.get(key, 0),
            "hits": self.hits.get(key, 0),
            "misses": self.misses.get(key, 0),
            "last_creation_time": None if entry is None else entry.created_wall,
            "last_creation_ms": None if entry is None else round(entry.creation_ms, 3),
            "last_error": self.last_error.get(key),
        }

    def aggregate(self) -> dict[str, Any]:
        per_key = [self.stats(key) for key in sorted(self.keys())]
        ages = [s["cache_age_seconds"] for s in per_key if s["cached"]]
        if not per_key:
            status = "empty"
        elif any(s["status"] in {"error", "invalid"} for s in per_key):
            status = "degraded"
        else:
            status = "healthy" if any(s["cached"] for s in per_key) else "empty"
        creation_times = [s["last_creation_time"] for s in per_key if s["last_creation_time"]]
        return {
            "status": status,
            "cached": sum(1 for s in per_key if s["cached"]),
            "cache_age_seconds": max(ages) if ages else None,
            "cache_ttl_seconds": self.ttl_seconds,
            "is_valid": bool(per_key) and all(s["is_valid"] for s in per_key if s["cached"]),
            "creation_count": sum(s["creation_count"] for s in per_key),
            "hits": sum(s["hits"] for s in per_key),
            "misses": sum(s["misses"] for s in per_key),
            "last_creation_time": max(creation_times) if creation_times else None,
        }

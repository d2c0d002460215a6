"""An ad account's pacing state (the last usage Meta reported, the time a throttle lifts) kept in Redis, so every
process and every newly created agent of the account paces from what any of them last saw."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.graph.usage import Usage

log = logging.getLogger("adsvc.graph")

PACING_PREFIX = "adsvc:graph-pacing:"
# Usage older than the longest pacing wait says nothing any more; a throttle keeps the key until it lifts.
PACING_TTL_SECONDS = 900
# An unchanged state is written again at most this often (so its age stays true), never once per call.
REFRESH_SECONDS = 30.0
BUCKET_PCT = 5.0

# Usage: last writer wins (every writer has just seen Meta's answer); throttled-until: the latest wins, so a process
# that has not met the throttle yet cannot erase another's.
_PUBLISH = """
redis.call('hset', KEYS[1], 'usage', ARGV[1], 'insights', ARGV[2])
local stored = tonumber(redis.call('hget', KEYS[1], 'until') or '0') or 0
local wanted = tonumber(ARGV[3])
if wanted > stored then
  redis.call('hset', KEYS[1], 'until', ARGV[3])
  stored = wanted
end
redis.call('expire', KEYS[1], math.max(tonumber(ARGV[4]), math.ceil(stored - tonumber(ARGV[5])) + 1))
return 1
"""


@dataclass(frozen=True, slots=True)
class PacingState:
    """What an account's agents share; every time is wall-clock (observed_at of both usages included)."""

    usage: Usage
    insights_usage: Usage
    throttled_until: float = 0.0

    def signature(self) -> tuple[float, float, float, int]:
        """What must change for a write to be worth it: the usage buckets, an announced block, the throttle."""
        insights = self.insights_usage.insights_pct
        return (
            math.floor(self.usage.max_pct / BUCKET_PCT),
            -1 if insights is None else math.floor(insights / BUCKET_PCT),
            round(max(self.usage.eta_seconds, self.insights_usage.eta_seconds)),
            round(self.throttled_until),
        )


def _encode_usage(usage: Usage) -> str:
    return orjson.dumps(dataclasses.asdict(usage)).decode()


_USAGE_FIELDS = frozenset(f.name for f in dataclasses.fields(Usage))


def _decode_usage(raw: Any) -> Usage | None:
    try:
        data = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    if not isinstance(data, dict) or set(data) - _USAGE_FIELDS:
        return None
    try:
        return Usage(**data)
    except TypeError:
        return None


def decode_state(fields: dict[Any, Any]) -> PacingState | None:
    """A state from the Redis hash, or None when there is none or it is unreadable (then nothing is adopted)."""
    values = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in fields.items()}
    usage = _decode_usage(values.get("usage"))
    insights = _decode_usage(values.get("insights"))
    if usage is None or insights is None:
        return None
    try:
        until = float(values.get("until") or 0)
    except (TypeError, ValueError):
        until = 0.0
    return PacingState(usage=usage, insights_usage=insights, throttled_until=until if math.isfinite(until) else 0.0)


class SharedPacing:
    """The Redis side of one account's pacing state; Redis trouble never fails a Graph call (pacing is advice)."""

    def __init__(self, redis: Redis, account_id: str, *, wall: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self.key = PACING_PREFIX + account_id.removeprefix("act_")
        self._wall = wall
        self._written: tuple[float, float, float, int] | None = None
        self._written_at = 0.0
        self.writes = 0
        self._failing = False

    async def load(self) -> PacingState | None:
        try:
            fields = await self._redis.hgetall(self.key)  # type: ignore[misc]  # redis-py types both clients
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None
        self._failing = False
        return decode_state(fields) if fields else None

    def wants(self, state: PacingState) -> bool:
        """Whether `state` is worth a write: something that matters changed, or the stored one is getting old."""
        if not state.usage.present and not state.insights_usage.present and not state.throttled_until:
            return False
        return state.signature() != self._written or self._wall() - self._written_at >= REFRESH_SECONDS

    async def publish(self, state: PacingState) -> None:
        if not self.wants(state):
            return
        now = self._wall()
        try:
            await self._redis.eval(  # type: ignore[misc]
                _PUBLISH,
                1,
                self.key,
                _encode_usage(state.usage),
                _encode_usage(state.insights_usage),
                repr(state.throttled_until),
                str(PACING_TTL_SECONDS),
                repr(now),
            )
        except (RedisError, OSError) as exc:
            self._failed("write", exc)
            return
        self._failing = False
        self._written = state.signature()
        self._written_at = now
        self.writes += 1

    def _failed(self, what: str, exc: BaseException) -> None:
        if not self._failing:
            log.warning("could not %s the shared pacing state %s: %s", what, self.key, type(exc).__name__)
        self._failing = True

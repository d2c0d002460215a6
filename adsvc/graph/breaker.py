"""Circuit breakers for upstream APIs: closed / open / half-open with one probe, plus a throttle block until an ETA."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from typing import Any

from adsvc.graph.errors import ErrorKind

Clock = Callable[[], float]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    THROTTLED = "throttled"


class CircuitOpen(Exception):
    """Refused without calling the upstream: it is failing (open), probing (half-open) or blocking us (throttled)."""

    def __init__(self, upstream: str, retry_after: float, *, state: BreakerState) -> None:
        self.upstream = upstream
        self.retry_after = max(0.0, retry_after)
        self.state = state
        super().__init__(f"{upstream} circuit {state.value}; retry after {self.retry_after:.1f}s")


class CircuitBreaker:
    """Counts consecutive outage failures of one upstream; opens at the threshold and lets one probe through later.

    Only outage-like failures (TRANSIENT: 5xx, network errors, timeouts) count: an auth or permission error proves the
    upstream answers. A throttle is not an outage either, but calling before its ETA only extends the block, so it
    refuses calls until then without touching the failure count.
    """

    __slots__ = (
        "_clock",
        "_failures",
        "_last_error",
        "_opened_at",
        "_probe_started",
        "_state",
        "_throttled_until",
        "failure_threshold",
        "name",
        "recovery_seconds",
    )

    def __init__(
        self, name: str, failure_threshold: int = 5, recovery_seconds: float = 30.0, clock: Clock = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_started: float | None = None
        self._throttled_until = 0.0
        self._last_error: ErrorKind | None = None

    @property
    def state(self) -> BreakerState:
        """The state a caller arriving now would meet."""
        now = self._clock()
        if self._state is BreakerState.OPEN:
            if self._opened_at is not None and now - self._opened_at >= self.recovery_seconds:
                return BreakerState.HALF_OPEN
            return BreakerState.OPEN
        if self._state is BreakerState.HALF_OPEN:
            return BreakerState.HALF_OPEN
        if self._throttled_until > now:
            return BreakerState.THROTTLED
        return BreakerState.CLOSED

    @property
    def failures(self) -> int:
        return self._failures

    def before_call(self) -> None:
        """Return if a call may go out now, else raise CircuitOpen at once (no I/O, no await)."""
        now = self._clock()
        if self._throttled_until > now:
            raise CircuitOpen(self.name, self._throttled_until - now, state=BreakerState.THROTTLED)
        if self._state is BreakerState.CLOSED:
            return
        opened_at = self._opened_at if self._opened_at is not None else now
        if self._state is BreakerState.OPEN:
            remaining = opened_at + self.recovery_seconds - now
            if remaining > 0:
                raise CircuitOpen(self.name, remaining, state=BreakerState.OPEN)
            self._state = BreakerState.HALF_OPEN
        # Half-open: exactly one probe; a probe that never reported (its task died) is replaced after a recovery period.
        if self._probe_started is not None and now - self._probe_started < self.recovery_seconds:
            remaining = self._probe_started + self.recovery_seconds - now
            raise CircuitOpen(self.name, remaining, state=BreakerState.HALF_OPEN)
        self._probe_started = now

    def record_success(self) -> None:
        """The upstream answered normally: close the circuit and forget past failures."""
        self._close()

    def record_failure(self, kind: ErrorKind) -> None:
        """Record a failed call; only TRANSIENT counts toward opening, other kinds prove the upstream answers."""
        self._last_error = kind
        if kind is not ErrorKind.TRANSIENT:
            if self._state is not BreakerState.CLOSED:
                self._close(keep_last_error=True)
            return
        now = self._clock()
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            # A failed probe reopens for a full recovery period.
            self._state = BreakerState.OPEN
            self._opened_at = now
            self._probe_started = None

    def record_throttle(self, wait_seconds: float) -> None:
        """Refuse calls for `wait_seconds` (Meta's ETA); the upstream answered, so an outage circuit closes."""
        self._last_error = ErrorKind.THROTTLE
        if self._state is not BreakerState.CLOSED:
            self._close(keep_last_error=True)
        self._throttled_until = max(self._throttled_until, self._clock() + max(0.0, wait_seconds))

    def release_probe(self) -> None:
        """The caller holding the half-open probe gave up without an answer (cancelled): let another probe go."""
        self._probe_started = None

    def _close(self, *, keep_last_error: bool = False) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = None
        self._probe_started = None
        if not keep_last_error:
            self._last_error = None

    def snapshot(self) -> dict[str, Any]:
        """State for status pages and metrics: state, failures, opened_at age, retry_after, last error kind."""
        now = self._clock()
        state = self.state
        retry_after = 0.0
        if state is BreakerState.OPEN and self._opened_at is not None:
            retry_after = self._opened_at + self.recovery_seconds - now
        elif state is BreakerState.HALF_OPEN and self._probe_started is not None:
            retry_after = self._probe_started + self.recovery_seconds - now
        retry_after = max(retry_after, self._throttled_until - now, 0.0)
        return {
            "name": self.name,
            "state": state.value,
            "failures": self._failures,
            "failure_threshold": self.failure_threshold,
            "opened_age_seconds": None if self._opened_at is None else now - self._opened_at,
            "retry_after_seconds": retry_after,
            "throttled": self._throttled_until > now,
            "probe_in_flight": self._probe_started is not None,
            "last_error": None if self._last_error is None else self._last_error.value,
        }


class BreakerRegistry:
    """One CircuitBreaker per (upstream, account id), created on first use with shared thresholds."""

    def __init__(
        self, failure_threshold: int = 5, recovery_seconds: float = 30.0, clock: Clock = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._breakers: dict[tuple[str, str | None], CircuitBreaker] = {}

    def get(self, upstream: str, account_id: str | None = None) -> CircuitBreaker:
        key = (upstream, account_id)
        breaker = self._breakers.get(key)
        if breaker is None:
            name = upstream if account_id is None else f"{upstream}:{account_id}"
            breaker = CircuitBreaker(name, self.failure_threshold, self.recovery_seconds, self._clock)
            self._breakers[key] = breaker
        return breaker

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every breaker's snapshot, for the status page and /health/agent-cache."""
        return [breaker.snapshot() for breaker in self._breakers.values()]

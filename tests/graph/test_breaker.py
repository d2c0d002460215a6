from __future__ import annotations

import asyncio
import time

import pytest

from adsvc.graph.breaker import BreakerRegistry, BreakerState, CircuitBreaker, CircuitOpen
from adsvc.graph.errors import ErrorKind


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def opened(clock: Clock, threshold: int = 3) -> CircuitBreaker:
    breaker = CircuitBreaker("meta", failure_threshold=threshold, recovery_seconds=30, clock=clock)
    for _ in range(threshold):
        breaker.before_call()
        breaker.record_failure(ErrorKind.TRANSIENT)
    return breaker


def test_opens_after_threshold_consecutive_transient_failures(clock: Clock) -> None:
    breaker = CircuitBreaker("meta", failure_threshold=3, recovery_seconds=30, clock=clock)
    breaker.record_failure(ErrorKind.TRANSIENT)
    breaker.record_failure(ErrorKind.TRANSIENT)
    breaker.record_success()
    breaker.record_failure(ErrorKind.TRANSIENT)
    breaker.record_failure(ErrorKind.TRANSIENT)
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 2
    breaker.record_failure(ErrorKind.TRANSIENT)
    assert breaker.state is BreakerState.OPEN
    clock.now = 10
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.upstream == "meta"
    assert refused.value.retry_after == pytest.approx(20)
    assert refused.value.state is BreakerState.OPEN


@pytest.mark.parametrize("kind", [ErrorKind.AUTH, ErrorKind.PERMANENT, ErrorKind.REDUCE_DATA, ErrorKind.TOO_MUCH_DATA])
def test_answers_that_are_not_outages_never_open_it(clock: Clock, kind: ErrorKind) -> None:
    breaker = CircuitBreaker("meta", failure_threshold=2, clock=clock)
    for _ in range(10):
        breaker.before_call()
        breaker.record_failure(kind)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["last_error"] == kind.value


def test_half_open_lets_exactly_one_probe_and_closes_on_success(clock: Clock) -> None:
    breaker = opened(clock)
    clock.now = 30
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    for _ in range(5):
        with pytest.raises(CircuitOpen) as refused:
            breaker.before_call()
        assert refused.value.state is BreakerState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 0
    breaker.before_call()


def test_failed_probe_reopens_for_a_full_recovery_period(clock: Clock) -> None:
    breaker = opened(clock)
    clock.now = 31
    breaker.before_call()
    breaker.record_failure(ErrorKind.TRANSIENT)
    assert breaker.state is BreakerState.OPEN
    clock.now = 60
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now = 61
    breaker.before_call()


def test_probe_answered_with_a_non_outage_error_closes_it(clock: Clock) -> None:
    breaker = opened(clock)
    clock.now = 30
    breaker.before_call()
    breaker.record_failure(ErrorKind.PERMANENT)
    assert breaker.state is BreakerState.CLOSED


def test_a_lost_probe_is_released_or_replaced(clock: Clock) -> None:
    breaker = opened(clock)
    clock.now = 30
    breaker.before_call()
    breaker.release_probe()
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    # A probe that never reports is replaced after a recovery period rather than blocking forever.
    clock.now = 61
    breaker.before_call()


async def test_concurrent_callers_in_half_open_get_one_probe(clock: Clock) -> None:
    breaker = opened(clock)
    clock.now = 30
    probe_may_finish = asyncio.Event()

    async def caller() -> str:
        try:
            breaker.before_call()
        except CircuitOpen:
            return "refused"
        await probe_may_finish.wait()
        breaker.record_success()
        return "called"

    tasks = [asyncio.create_task(caller()) for _ in range(100)]
    await asyncio.sleep(0)
    probe_may_finish.set()
    outcomes = await asyncio.gather(*tasks)
    assert outcomes.count("called") == 1 and outcomes.count("refused") == 99
    assert breaker.state is BreakerState.CLOSED


def test_throttle_blocks_until_the_eta_without_counting_as_an_outage(clock: Clock) -> None:
    breaker = CircuitBreaker("meta", failure_threshold=1, clock=clock)
    breaker.record_throttle(600)
    breaker.record_failure(ErrorKind.THROTTLE)
    assert breaker.state is BreakerState.THROTTLED and breaker.failures == 0
    clock.now = 100
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.state is BreakerState.THROTTLED
    assert refused.value.retry_after == pytest.approx(500)
    snapshot = breaker.snapshot()
    assert snapshot["state"] == "throttled" and snapshot["retry_after_seconds"] == pytest.approx(500)
    assert snapshot["last_error"] == "throttle"
    # A shorter throttle never shortens a longer block already announced.
    breaker.record_throttle(10)
    assert breaker.snapshot()["retry_after_seconds"] == pytest.approx(500)
    clock.now = 600
    breaker.before_call()
    assert breaker.state is BreakerState.CLOSED


def test_snapshot_reports_state_failures_age_and_retry_after(clock: Clock) -> None:
    breaker = CircuitBreaker("meta:1", failure_threshold=2, recovery_seconds=30, clock=clock)
    assert breaker.snapshot() == {
        "name": "meta:1",
        "state": "closed",
        "failures": 0,
        "failure_threshold": 2,
        "opened_age_seconds": None,
        "retry_after_seconds": 0.0,
        "throttled": False,
        "probe_in_flight": False,
        "last_error": None,
    }
    breaker.record_failure(ErrorKind.TRANSIENT)
    breaker.record_failure(ErrorKind.TRANSIENT)
    clock.now = 12
    snapshot = breaker.snapshot()
    assert snapshot["state"] == "open" and snapshot["failures"] == 2
    assert snapshot["opened_age_seconds"] == 12 and snapshot["retry_after_seconds"] == 18
    assert snapshot["last_error"] == "transient"


def test_open_breaker_refuses_fast() -> None:
    breaker = CircuitBreaker("meta", failure_threshold=1, recovery_seconds=3600)
    breaker.record_failure(ErrorKind.TRANSIENT)
    refused = 0
    started = time.perf_counter()
    for _ in range(10_000):
        try:
            breaker.before_call()
        except CircuitOpen:
            refused += 1
    elapsed = time.perf_counter() - started
    assert refused == 10_000
    # Loose on purpose (timing belongs to benchmarks): 10k refusals in a second is 100 us each at worst.
    assert elapsed < 1.0


def test_registry_shares_thresholds_and_keeps_one_breaker_per_account(clock: Clock) -> None:
    registry = BreakerRegistry(failure_threshold=2, recovery_seconds=5, clock=clock)
    first = registry.get("meta", "1")
    assert registry.get("meta", "1") is first
    assert registry.get("meta", "2") is not first and registry.get("notion") is not first
    assert (first.failure_threshold, first.recovery_seconds, first.name) == (2, 5, "meta:1")
    first.record_failure(ErrorKind.TRANSIENT)
    first.record_failure(ErrorKind.TRANSIENT)
    states = {s["name"]: s["state"] for s in registry.snapshot()}
    assert states == {"meta:1": "open", "meta:2": "closed", "notion": "closed"}
    assert len(registry) == 3 and {b.name for b in registry} == set(states)

"""The shared pacing state's encoding and its write policy (no Redis needed: the decisions are pure)."""

from __future__ import annotations

from adsvc.graph.pacing import PacingState, SharedPacing, decode_state
from adsvc.graph.usage import Usage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_unreadable_state_is_ignored_rather_than_adopted() -> None:
    assert decode_state({}) is None
    assert decode_state({b"usage": b"not json", b"insights": b"{}"}) is None
    assert decode_state({b"usage": b'{"app_pct": 1, "surprise": 2}', b"insights": b"{}"}) is None
    state = decode_state({b"usage": b'{"app_pct": 80.0, "present": true}', b"insights": b"{}", b"until": b"nan"})
    assert state is not None and state.usage.app_pct == 80 and state.throttled_until == 0


def test_a_write_is_wanted_only_when_a_bucket_or_the_throttle_changes_or_the_state_ages() -> None:
    clock = Clock()
    shared = SharedPacing(None, "act_1", wall=clock)  # type: ignore[arg-type]  # no I/O in these decisions
    assert not shared.wants(PacingState(Usage(), Usage()))  # nothing seen yet: nothing to say
    first = PacingState(Usage(app_pct=41, present=True), Usage())
    assert shared.wants(first)
    shared._written, shared._written_at = first.signature(), clock.now
    assert not shared.wants(PacingState(Usage(app_pct=44, present=True), Usage()))  # same 5% bucket
    assert shared.wants(PacingState(Usage(app_pct=46, present=True), Usage()))
    assert shared.wants(PacingState(Usage(app_pct=41, present=True), Usage(), throttled_until=clock.now + 60))
    clock.now += 31
    assert shared.wants(first)  # unchanged, but its age must stay true

"""Deterministic fault injection for the sandbox: a JSON-described profile and the per-account counters it drives."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adsvc.sandbox.errors import THROTTLE_CODES, GraphError, throttle, token_error, transient

PRESETS = ("none", "flaky", "throttled", "hostile")


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """What to break and how often; every decision is a hash of (seed, kind, account, that account's call number)."""

    seed: int = 0
    # Share of calls failing with code 1 (HTTP 500) or code 2 (HTTP 503), half each.
    transient_rate: float = 0.0
    # Share of calls starting a throttle block with one of `throttle_codes`; the block lasts `block_seconds`.
    throttle_rate: float = 0.0
    throttle_codes: tuple[int, ...] = (17, 613, 80000, 80004, 4)
    block_seconds: float = 60.0
    # False: throttles do not say when access comes back (estimated_time_to_regain_access 0 in every header) and
    # the usage headers say 100% while a block lasts, as the accounts of issue 9 answered.
    throttle_eta: bool = True
    # Share of calls answered normally but with usage headers at 100%: the budget just ran out, and the calls after
    # it are throttled (one of `throttle_codes`) for `block_seconds`.
    usage_full_rate: float = 0.0
    # When > 0, the N-th poll of every report run is answered with a throttle that starts a block: a throttle in
    # the middle of a sync step, after its report run was requested.
    throttle_report_poll: int = 0
    # After this many Graph calls every token fails with 190 and `token_error_subcode` (463 expired, 460 password).
    token_expires_after_calls: int | None = None
    token_error_subcode: int = 463
    # Async jobs at the ad level over more than this many days are refused with 100 / 1487534.
    max_async_days_ad_level: int | None = None
    # Sync insights calls asking for more than this many fields fail with code 1 "Please reduce the amount of data".
    max_sync_fields: int | None = None
    # Share of async jobs that stay at "Job Not Started" forever, and that end in "Job Failed".
    stuck_job_rate: float = 0.0
    failed_job_rate: float = 0.0
    # Every job reports "Job Running" at 100% for this many polls before "Job Completed".
    running_at_100_polls: int = 0
    # Share of batch entries answered with null (did not run).
    batch_null_rate: float = 0.0

    def __post_init__(self) -> None:
        rates = (
            "transient_rate",
            "throttle_rate",
            "stuck_job_rate",
            "failed_job_rate",
            "batch_null_rate",
            "usage_full_rate",
        )
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        unknown = set(self.throttle_codes) - set(THROTTLE_CODES)
        if unknown or not self.throttle_codes:
            raise ValueError(f"throttle_codes must be a non-empty subset of {THROTTLE_CODES}")
        if self.token_error_subcode not in (458, 460, 463):
            raise ValueError("token_error_subcode must be 458, 460 or 463")
        if self.block_seconds < 0 or self.running_at_100_polls < 0 or self.throttle_report_poll < 0:
            raise ValueError("block_seconds, running_at_100_polls and throttle_report_poll must not be negative")

    @classmethod
    def preset(cls, name: str) -> FaultProfile:
        if name == "none":
            return cls()
        if name == "flaky":
            return cls(seed=1, transient_rate=0.05, batch_null_rate=0.05, running_at_100_polls=2)
        if name == "throttled":
            return cls(seed=2, throttle_rate=0.02, block_seconds=5.0, running_at_100_polls=1)
        if name == "hostile":
            return cls(
                seed=3,
                transient_rate=0.08,
                throttle_rate=0.03,
                block_seconds=10.0,
                max_async_days_ad_level=90,
                max_sync_fields=12,
                stuck_job_rate=0.15,
                failed_job_rate=0.15,
                running_at_100_polls=3,
                batch_null_rate=0.1,
            )
        raise ValueError(f"unknown fault preset {name!r}; choose one of {', '.join(PRESETS)}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultProfile:
        """A profile from its JSON form; `{"preset": "flaky", ...}` starts from a preset and overrides keys."""
        values = dict(data)
        base = cls.preset(str(values.pop("preset"))) if "preset" in values else cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown fault profile keys: {', '.join(sorted(unknown))}")
        if "throttle_codes" in values:
            values["throttle_codes"] = tuple(int(code) for code in values["throttle_codes"])
        try:
            return dataclasses.replace(base, **values)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["throttle_codes"] = list(self.throttle_codes)
        return data

    def roll(self, kind: str, key: str, number: int) -> float:
        """A uniform number in [0, 1) fixed by the profile seed, the decision kind, a key and a counter."""
        digest = hashlib.blake2b(f"{self.seed}|{kind}|{key}|{number}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64


@dataclass(slots=True)
class JobFate:
    """What an async job will do, decided when it is created."""

    stuck: bool = False
    failed: bool = False
    running_at_100_polls: int = 0


@dataclass(slots=True)
class FaultInjector:
    """Applies a profile to the stream of calls: per-account counters, throttle blocks and token expiry."""

    profile: FaultProfile
    clock: Callable[[], float]
    calls: dict[str, int] = field(default_factory=dict)
    total_calls: int = 0
    # key -> (until, throttle code, whether the usage headers say 100% meanwhile)
    blocks: dict[str, tuple[float, int, bool]] = field(default_factory=dict)
    jobs: int = 0
    batches: int = 0

    def replace(self, profile: FaultProfile) -> None:
        self.profile = profile
        self.calls.clear()
        self.blocks.clear()
        self.total_calls = 0
        self.jobs = 0
        self.batches = 0

    def token_subcode(self) -> int | None:
        """The 190 subcode every token now fails with, once the profile's call budget is spent."""
        limit = self.profile.token_expires_after_calls
        if limit is not None and self.total_calls > limit:
            return self.profile.token_error_subcode
        return None

    def before_call(self, key: str) -> GraphError | None:
        """Count one call of an account (or "app") and say whether it fails, and how."""
        self.total_calls += 1
        if self.token_subcode() is not None:
            return token_error(self.token_subcode())
        block = self.blocks.get(key)
        now = self.clock()
        if block is not None:
            until, code, _ = block
            if now < until:
                return throttle(code, until - now)
            del self.blocks[key]
        number = self.calls.get(key, 0)
        self.calls[key] = number + 1
        profile = self.profile
        if profile.transient_rate and profile.roll("transient", key, number) < profile.transient_rate:
            return transient(1 if profile.roll("transient-code", key, number) < 0.5 else 2)
        if profile.throttle_rate and profile.roll("throttle", key, number) < profile.throttle_rate:
            return self._start_block(key, number)
        if profile.usage_full_rate and profile.roll("full", key, number) < profile.usage_full_rate:
            self._start_block(key, number, full=True)
        return None

    def _start_block(self, key: str, number: int, *, full: bool = False) -> GraphError:
        profile = self.profile
        codes = profile.throttle_codes
        code = codes[int(profile.roll("throttle-code", key, number) * len(codes))]
        self.blocks[key] = (self.clock() + profile.block_seconds, code, full or not profile.throttle_eta)
        return throttle(code, profile.block_seconds)

    def report_poll_throttle(self, key: str, poll: int) -> GraphError | None:
        """The throttle that answers poll number `poll` of a report run, if the profile puts one there."""
        if self.profile.throttle_report_poll and poll == self.profile.throttle_report_poll:
            return self._start_block(key, self.calls.get(key, 0))
        return None

    def usage_full(self, key: str) -> bool:
        """Whether the usage headers of an answer for `key` say 100% (a block with a full budget is on)."""
        block = self.blocks.get(key)
        return block is not None and block[2] and self.clock() < block[0]

    def blocked_seconds(self, key: str) -> float:
        block = self.blocks.get(key)
        return max(0.0, block[0] - self.clock()) if block else 0.0

    def new_job(self, account_id: str) -> JobFate:
        number = self.jobs
        self.jobs += 1
        profile = self.profile
        stuck = profile.stuck_job_rate > 0 and profile.roll("stuck", account_id, number) < profile.stuck_job_rate
        failed = (
            not stuck
            and profile.failed_job_rate > 0
            and profile.roll("failed", account_id, number) < profile.failed_job_rate
        )
        return JobFate(stuck=stuck, failed=failed, running_at_100_polls=profile.running_at_100_polls)

    def batch_nulls(self, size: int) -> list[bool]:
        """Which entries of the next batch do not run."""
        number = self.batches
        self.batches += 1
        rate = self.profile.batch_null_rate
        return [rate > 0 and self.profile.roll("batch", str(number), index) < rate for index in range(size)]

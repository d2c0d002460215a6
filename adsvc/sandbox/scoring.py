"""Meta's per-ad-account rate-limit score model and the usage headers it produces; no I/O, injectable clock."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

READ_COST = 1
WRITE_COST = 3


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    max_score: int
    decay_seconds: float
    block_seconds: float


TIERS = {
    "development": Tier("development_access", 60, 300.0, 300.0),
    "standard": Tier("standard_access", 9000, 300.0, 60.0),
}
# The app as a whole may spend this many accounts' worth of points; x-app-usage reports its share.
APP_ACCOUNTS_WORTH = 4


@dataclass(slots=True)
class _Bucket:
    score: float = 0.0
    at: float = 0.0
    blocked_until: float = 0.0


@dataclass(slots=True)
class ScoreBoard:
    """A leaky bucket per ad account: reads cost 1, writes 3; the full score drains in `decay_seconds`.

    A call that would push the score past the tier's maximum is refused and blocks the account for the tier's block
    time: 17 / 2446079 for reads, 613 / 1487742 for writes.
    """

    tier_key: str
    clock: Callable[[], float]
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    @property
    def tier(self) -> Tier:
        return TIERS[self.tier_key]

    def _drained(self, key: str) -> _Bucket:
        bucket = self.buckets.setdefault(key, _Bucket(at=self.clock()))
        now = self.clock()
        rate = self.tier.max_score / self.tier.decay_seconds
        if key == "app":
            rate *= APP_ACCOUNTS_WORTH
        bucket.score = max(0.0, bucket.score - (now - bucket.at) * rate)
        bucket.at = now
        return bucket

    def charge(self, account_id: str | None, *, write: bool) -> tuple[int, float] | None:
        """Spend one call's points; returns (error code, seconds blocked) when the call is refused."""
        self._drained("app").score += WRITE_COST if write else READ_COST
        if account_id is None:
            return None
        bucket = self._drained(account_id)
        now = self.clock()
        code = 613 if write else 17
        if now < bucket.blocked_until:
            return code, bucket.blocked_until - now
        cost = WRITE_COST if write else READ_COST
        if bucket.score + cost > self.tier.max_score:
            bucket.blocked_until = now + self.tier.block_seconds
            return code, self.tier.block_seconds
        bucket.score += cost
        return None

    def blocked_seconds(self, account_id: str) -> float:
        bucket = self.buckets.get(account_id)
        return max(0.0, bucket.blocked_until - self.clock()) if bucket else 0.0

    def utilisation(self, key: str) -> float:
        """Percent of the allowance in use, 0..100."""
        bucket = self._drained(key)
        allowance = self.tier.max_score * (APP_ACCOUNTS_WORTH if key == "app" else 1)
        return min(100.0, round(bucket.score * 100 / allowance, 2))

    def headers(
        self,
        account_id: str | None,
        *,
        insights: bool,
        extra_block_seconds: float = 0.0,
        full: bool = False,
        announce_eta: bool = True,
    ) -> dict[str, str]:
        """The usage headers Meta sends on every response (errors included) for a call of this account; `full` says
        100% whatever the score, `announce_eta=False` leaves estimated_time_to_regain_access at 0."""
        app_pct = self.utilisation("app")
        app = round(app_pct)
        headers = {"x-app-usage": _json({"call_count": app, "total_time": app, "total_cputime": app})}
        if account_id is None:
            return headers
        pct = 100.0 if full else self.utilisation(account_id)
        bucket = self._drained(account_id)
        reset = math.ceil(bucket.score / (self.tier.max_score / self.tier.decay_seconds))
        tier = self.tier.name
        headers["x-ad-account-usage"] = _json(
            {"acc_id_util_pct": pct, "reset_time_duration": reset, "ads_api_access_tier": tier}
        )
        blocked = max(self.blocked_seconds(account_id), extra_block_seconds) if announce_eta else 0.0
        headers["x-business-use-case-usage"] = _json(
            {
                account_id: [
                    {
                        "type": "ads_insights" if insights else "ads_management",
                        "call_count": round(pct),
                        "total_cputime": round(pct / 2),
                        "total_time": round(pct / 2),
                        "estimated_time_to_regain_access": regain_minutes(blocked),
                        "ads_api_access_tier": tier,
                    }
                ]
            }
        )
        if insights:
            headers["x-fb-ads-insights-throttle"] = _json(
                {"app_id_util_pct": app_pct, "acc_id_util_pct": pct, "ads_api_access_tier": tier}
            )
        return headers


def regain_minutes(seconds: float) -> int | float:
    """Meta's `estimated_time_to_regain_access`, in minutes: whole minutes, or a fraction for sub-minute blocks.

    Real blocks last minutes; the fraction exists so tests with second-long blocks need not wait a minute.
    """
    if seconds <= 0:
        return 0
    if seconds >= 60:
        return math.ceil(seconds / 60)
    return math.ceil(seconds / 60 * 100) / 100


def _json(value: object) -> str:
    return orjson.dumps(value).decode()

"""Graph API rate-limit usage headers parsed into a Usage, and the Pacer policy that slows calls down before a block."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

APP_USAGE = "x-app-usage"
AD_ACCOUNT_USAGE = "x-ad-account-usage"
BUSINESS_USAGE = "x-business-use-case-usage"
INSIGHTS_THROTTLE = "x-fb-ads-insights-throttle"
USAGE_HEADERS = (APP_USAGE, AD_ACCOUNT_USAGE, BUSINESS_USAGE, INSIGHTS_THROTTLE)


def account_key(account_id: str | None) -> str | None:
    """The bare numeric id Meta uses as the key of x-business-use-case-usage (no `act_` prefix)."""
    if account_id is None:
        return None
    return account_id.removeprefix("act_")


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _json_object(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        # A malformed usage header must never fail the call that carried it.
        return None


def lower_headers(headers: Mapping[str, str] | Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Header names lower-cased; accepts a mapping or a batch entry's `[{"name": .., "value": ..}]` list."""
    if isinstance(headers, Mapping):
        return {str(name).lower(): str(value) for name, value in headers.items()}
    result: dict[str, str] = {}
    for item in headers:
        name, value = item.get("name"), item.get("value")
        if isinstance(name, str) and value is not None:
            result[name.lower()] = str(value)
    return result


@dataclass(frozen=True, slots=True)
class Usage:
    """What one response said about our rate-limit budgets; percentages are 0..100 (Meta may report more)."""

    app_pct: float = 0.0
    account_pct: float = 0.0
    account_reset_seconds: float = 0.0
    business_pct: float = 0.0
    eta_seconds: float = 0.0
    insights_app_pct: float | None = None
    insights_account_pct: float | None = None
    tier: str | None = None
    present: bool = False
    observed_at: float = 0.0

    @property
    def max_pct(self) -> float:
        """The fullest of the general budgets (app, ad account, business use case)."""
        return max(self.app_pct, self.account_pct, self.business_pct)

    @property
    def insights_pct(self) -> float | None:
        """The larger of the two insights throttle percentages, None when the header was absent."""
        values = [v for v in (self.insights_app_pct, self.insights_account_pct) if v is not None]
        return max(values) if values else None


def parse_usage(
    headers: Mapping[str, str] | Iterable[Mapping[str, Any]], *, account_id: str | None, observed_at: float = 0.0
) -> Usage:
    """Read the four usage headers; business-use-case entries count only for `account_id` when it is present there."""
    lowered = lower_headers(headers)
    present = any(name in lowered for name in USAGE_HEADERS)

    app_pct = 0.0
    app = _json_object(lowered.get(APP_USAGE))
    if isinstance(app, dict):
        app_pct = max((_number(app.get(k)) for k in ("call_count", "total_time", "total_cputime")), default=0.0)

    account_pct = reset_seconds = 0.0
    tier: str | None = None
    account = _json_object(lowered.get(AD_ACCOUNT_USAGE))
    if isinstance(account, dict):
        account_pct = _number(account.get("acc_id_util_pct"))
        reset_seconds = _number(account.get("reset_time_duration"))
        tier = account.get("ads_api_access_tier") or tier

    business_pct = eta_minutes = 0.0
    business = _json_object(lowered.get(BUSINESS_USAGE))
    if isinstance(business, dict):
        key = account_key(account_id)
        # Entries of other businesses/accounts only matter when ours is not listed: then be conservative.
        groups = [business[key]] if key is not None and key in business else list(business.values())
        for entries in groups:
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                business_pct = max(
                    business_pct, *(_number(entry.get(k)) for k in ("call_count", "total_time", "total_cputime"))
                )
                eta_minutes = max(eta_minutes, _number(entry.get("estimated_time_to_regain_access")))
                tier = tier or entry.get("ads_api_access_tier")

    insights_app: float | None = None
    insights_account: float | None = None
    insights = _json_object(lowered.get(INSIGHTS_THROTTLE))
    if isinstance(insights, dict):
        insights_app = _number(insights.get("app_id_util_pct"))
        insights_account = _number(insights.get("acc_id_util_pct"))
        tier = tier or insights.get("ads_api_access_tier")

    return Usage(
        app_pct=app_pct,
        account_pct=account_pct,
        account_reset_seconds=reset_seconds,
        business_pct=business_pct,
        # estimated_time_to_regain_access is in MINUTES.
        eta_seconds=eta_minutes * 60.0,
        insights_app_pct=insights_app,
        insights_account_pct=insights_account,
        tier=tier if isinstance(tier, str) else None,
        present=present,
        observed_at=observed_at,
    )


# (percent, seconds to wait after seeing it): linear between points. Airbyte's public connector sleeps >= 2 min at 85%
# and >= 10 min at 95% of the insights throttle; general budgets get a gentler start because they decay over 300 s.
GENERAL_CURVE: tuple[tuple[float, float], ...] = ((75.0, 0.0), (85.0, 60.0), (95.0, 600.0), (100.0, 900.0))
INSIGHTS_CURVE: tuple[tuple[float, float], ...] = ((75.0, 0.0), (85.0, 120.0), (95.0, 600.0), (100.0, 900.0))


def _interpolate(curve: tuple[tuple[float, float], ...], pct: float) -> float:
    if pct < curve[0][0]:
        return 0.0
    for (p0, s0), (p1, s1) in itertools.pairwise(curve):
        if pct < p1:
            return s0 + (s1 - s0) * (pct - p0) / (p1 - p0)
    return curve[-1][1]


@dataclass(frozen=True, slots=True)
class Pacer:
    """How long to wait before the next call given the last Usage seen; `time_scale` shrinks every wait (tests)."""

    time_scale: float = 1.0
    async_job_max_pct: float = 90.0
    general_curve: tuple[tuple[float, float], ...] = GENERAL_CURVE
    insights_curve: tuple[tuple[float, float], ...] = INSIGHTS_CURVE

    def required_delay(self, usage: Usage, *, insights: bool = False) -> float:
        """Seconds (scaled) that should separate the observation of `usage` from the next call.

        A budget at 100% whose headers give no time to regain access is estimated by the curve's end (900 s) or the
        ad account's own reset time, whichever is longer.
        """
        seconds = _interpolate(self.general_curve, usage.max_pct)
        if insights and usage.insights_pct is not None:
            seconds = max(seconds, _interpolate(self.insights_curve, usage.insights_pct))
        if usage.max_pct >= 100.0:
            seconds = max(seconds, usage.account_reset_seconds)
        # An announced block is exact: calling before it ends only extends it.
        seconds = max(seconds, usage.eta_seconds)
        return seconds * self.time_scale

    def estimated_wait(self, seconds: float) -> float:
        """An estimated (not announced) wait, scaled like every pacing wait."""
        return seconds * self.time_scale

    def delay(self, usage: Usage, *, now: float, insights: bool = False) -> float:
        """Seconds still to wait at `now`; time already spent since the observation counts towards the wait."""
        if not usage.present:
            return 0.0
        return max(0.0, self.required_delay(usage, insights=insights) - (now - usage.observed_at))

    def may_start_async_job(self, usage: Usage) -> bool:
        """Start a new async report run only while the larger insights throttle percentage is below the limit."""
        pct = usage.insights_pct
        return pct is None or pct < self.async_job_max_pct

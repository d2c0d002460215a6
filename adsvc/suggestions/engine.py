"""The suggestions engine: from one account's campaign metrics over a period, the changes worth proposing. No I/O.

Rules (thresholds in `Thresholds`; the defaults are the older service's):
- pause_underperformer: an ACTIVE campaign that spent at least `min_spend` with CTR below `ctr_threshold` (%), or
  with conversions and a CPA above `cpa_threshold` (account currency).
- raise_budget: an ACTIVE campaign with a daily budget, at least `min_spend`, CTR >= `excellent_ctr_factor` x
  `ctr_threshold`, and (when it has conversions) CPA within `cpa_threshold`: +`budget_step_percent` %.
- lower_budget: an ACTIVE underperformer (as above) with a daily budget: -`budget_step_percent` %, at most
  `max_budget_cuts` per account and run, the worst first.
- reallocation: one plan per account moving `reallocation_percent` % of the underperformers' daily budgets to the
  excellent campaigns, shared in proportion to their spend; integer minor units that add up exactly.
- creative_fatigue: an ACTIVE campaign whose daily frequency rises while its CTR falls over the period (second half
  against the first, both slopes agreeing), with minimums on days, impressions and the size of both moves.

Budget suggestions are made only for campaigns with a daily budget: a lifetime budget is spent over the schedule
(a daily percentage of it means nothing to Meta), and with ad-set budgets the campaign has no budget to change
(the ad sets each hold their own).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from adsvc.campaigns.metrics import Totals, derive
from adsvc.campaigns.periods import resolve_period

PAUSE = "pause_underperformer"
RAISE = "raise_budget"
LOWER = "lower_budget"
REALLOCATE = "reallocation"
FATIGUE = "creative_fatigue"
KINDS = (PAUSE, RAISE, LOWER, REALLOCATE, FATIGUE)

ACTIVE = "ACTIVE"
_RATIO = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Thresholds:
    ctr_threshold: Decimal = Decimal("1.0")  # percent: clicks per 100 impressions
    cpa_threshold: Decimal = Decimal("50")  # account currency per conversion
    min_spend: Decimal = Decimal("20")  # account currency over the period, before any verdict
    excellent_ctr_factor: Decimal = Decimal("1.5")
    budget_step_percent: int = 20
    max_budget_cuts: int = 5
    reallocation_percent: int = 50
    fatigue_min_days: int = 6
    fatigue_min_impressions: int = 1000  # in each half of the period
    fatigue_min_frequency_rise: Decimal = Decimal("0.10")  # relative: +10 %
    fatigue_min_ctr_drop: Decimal = Decimal("0.15")  # relative: -15 %


@dataclass(frozen=True, slots=True)
class DayPoint:
    date: date
    impressions: int
    clicks: int
    frequency: Decimal | None


@dataclass(frozen=True, slots=True)
class CampaignPerformance:
    campaign_id: str
    name: str
    effective_status: str
    daily_budget: int | None  # minor units of the account currency
    lifetime_budget: int | None
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal
    conversion_value: Decimal
    days: tuple[DayPoint, ...] = ()


@dataclass(frozen=True, slots=True)
class Draft:
    object_type: str
    object_id: str
    kind: str
    rationale: str
    evidence: dict[str, Any]
    proposal: dict[str, Any]
    since: date
    until: date


@dataclass(frozen=True, slots=True)
class _Verdict:
    campaign: CampaignPerformance
    ctr: Decimal | None
    cpa: Decimal | None
    roas: Decimal | None
    under: bool
    excellent: bool
    severity: Decimal  # 0..1: how far below the thresholds; orders the budget cuts
    reasons: list[str] = field(default_factory=list)


def suggestion_period(today: date) -> tuple[date, date]:
    """The period suggestions judge: the account's last 7 complete days (today is still filling in)."""
    return resolve_period(today=today, preset="last_7d", since=None, until=None)


def _text(value: Decimal | int | None) -> str | None:
    return None if value is None else str(value)


def _money(value: Decimal, currency: str) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} {currency}"


def _minor(amount: int, currency: str) -> str:
    return _money(Decimal(amount) / 100, currency)


def _judge(campaign: CampaignPerformance, thresholds: Thresholds, currency: str) -> _Verdict:
    derived = derive(
        Totals(
            spend=campaign.spend,
            impressions=campaign.impressions,
            clicks=campaign.clicks,
            inline_link_clicks=0,
            conversions=campaign.conversions,
            conversion_value=campaign.conversion_value,
        )
    )
    ctr, cpa = derived.ctr, derived.cpa
    if campaign.spend < thresholds.min_spend:
        return _Verdict(campaign, ctr, cpa, derived.roas, under=False, excellent=False, severity=Decimal(0))
    reasons = []
    severity = Decimal(0)
    low_ctr = ctr is not None and ctr < thresholds.ctr_threshold
    high_cpa = cpa is not None and cpa > thresholds.cpa_threshold
    if low_ctr:
        assert ctr is not None
        reasons.append(f"CTR {ctr.quantize(Decimal('0.01'))}% is below {thresholds.ctr_threshold}%")
        severity = max(severity, 1 - ctr / thresholds.ctr_threshold)
    if high_cpa:
        assert cpa is not None
        reasons.append(f"CPA {_money(cpa, currency)} is above {_money(thresholds.cpa_threshold, currency)}")
        severity = max(severity, 1 - thresholds.cpa_threshold / cpa)
    excellent = (
        not (low_ctr or high_cpa)
        and ctr is not None
        and ctr >= thresholds.ctr_threshold * thresholds.excellent_ctr_factor
        and (cpa is None or cpa <= thresholds.cpa_threshold)
    )
    return _Verdict(
        campaign,
        ctr,
        cpa,
        derived.roas,
        under=low_ctr or high_cpa,
        excellent=excellent,
        severity=severity.quantize(_RATIO, rounding=ROUND_HALF_UP),
        reasons=reasons,
    )


def _evidence(verdict: _Verdict, thresholds: Thresholds, currency: str) -> dict[str, Any]:
    campaign = verdict.campaign
    return {
        "campaign_name": campaign.name,
        "currency": currency,
        "spend": _text(campaign.spend),
        "impressions": campaign.impressions,
        "clicks": campaign.clicks,
        "conversions": _text(campaign.conversions),
        "conversion_value": _text(campaign.conversion_value),
        "ctr": _text(verdict.ctr),
        "cpa": _text(verdict.cpa),
        "roas": _text(verdict.roas),
        "daily_budget": campaign.daily_budget,
        "ctr_threshold": _text(thresholds.ctr_threshold),
        "cpa_threshold": _text(thresholds.cpa_threshold),
        "min_spend": _text(thresholds.min_spend),
    }


def _period_text(since: date, until: date) -> str:
    return f"from {since.isoformat()} to {until.isoformat()}"


def _step(budget: int, percent: int) -> int:
    """The whole minor units a percentage of a budget comes to (rounded down: never more than asked)."""
    return budget * percent // 100


def split_proportionally(total: int, weights: Sequence[Decimal]) -> list[int]:
    """Integer shares of `total` in proportion to `weights` that add up to exactly `total` (largest remainders;
    ties go to the earlier weight, so the result is deterministic)."""
    if total < 0:
        raise ValueError("total must not be negative")
    weight_sum = sum(weights, Decimal(0))
    if not weights or weight_sum <= 0:
        raise ValueError("weights must add up to more than zero")
    exact = [Decimal(total) * weight / weight_sum for weight in weights]
    shares = [int(value) for value in exact]  # floors: every value is >= 0
    left = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda index: (-(exact[index] - shares[index]), index))
    for index in by_remainder[:left]:
        shares[index] += 1
    return shares


def _slope(values: Sequence[Decimal]) -> Decimal:
    """Least-squares slope per day of an evenly spaced series."""
    n = len(values)
    mean_x = Decimal(n - 1) / 2
    mean_y = sum(values, Decimal(0)) / n
    numerator = sum(((Decimal(i) - mean_x) * (y - mean_y) for i, y in enumerate(values)), Decimal(0))
    denominator = sum(((Decimal(i) - mean_x) ** 2 for i in range(n)), Decimal(0))
    return numerator / denominator if denominator else Decimal(0)


def _fatigue(campaign: CampaignPerformance, thresholds: Thresholds, since: date, until: date) -> Draft | None:
    days = sorted(
        (day for day in campaign.days if day.impressions > 0 and day.frequency is not None), key=lambda d: d.date
    )
    if len(days) < thresholds.fatigue_min_days:
        return None
    half = len(days) // 2
    first, second = days[:half], days[-half:]  # an odd middle day belongs to neither half
    impressions = [sum(day.impressions for day in part) for part in (first, second)]
    if min(impressions) < thresholds.fatigue_min_impressions:
        return None
    clicks = [sum(day.clicks for day in part) for part in (first, second)]
    ctr = [Decimal(c) * 100 / i for c, i in zip(clicks, impressions, strict=True)]
    frequency = [sum((day.frequency or Decimal(0) for day in part), Decimal(0)) / len(part) for part in (first, second)]
    if ctr[0] <= 0 or frequency[0] <= 0:
        return None
    frequency_rise = frequency[1] / frequency[0] - 1
    ctr_drop = 1 - ctr[1] / ctr[0]
    daily_ctr = [Decimal(day.clicks) * 100 / day.impressions for day in days]
    daily_frequency = [day.frequency or Decimal(0) for day in days]
    frequency_slope, ctr_slope = _slope(daily_frequency), _slope(daily_ctr)
    if not (
        frequency_rise >= thresholds.fatigue_min_frequency_rise
        and ctr_drop >= thresholds.fatigue_min_ctr_drop
        and frequency_slope > 0
        and ctr_slope < 0
    ):
        return None

    def q(value: Decimal) -> str:
        return str(value.quantize(_RATIO, rounding=ROUND_HALF_UP))

    return Draft(
        object_type="campaign",
        object_id=campaign.campaign_id,
        kind=FATIGUE,
        rationale=(
            f"Campaign '{campaign.name}' shows creative fatigue {_period_text(since, until)}: average daily "
            f"frequency rose {q(frequency_rise * 100)}% ({q(frequency[0])} -> {q(frequency[1])}) while CTR fell "
            f"{q(ctr_drop * 100)}% ({q(ctr[0])}% -> {q(ctr[1])}%); refresh its creatives or widen its audience."
        ),
        evidence={
            "campaign_name": campaign.name,
            "days": len(days),
            "first_half": {
                "since": first[0].date.isoformat(),
                "until": first[-1].date.isoformat(),
                "impressions": impressions[0],
                "clicks": clicks[0],
                "ctr": q(ctr[0]),
                "frequency": q(frequency[0]),
            },
            "second_half": {
                "since": second[0].date.isoformat(),
                "until": second[-1].date.isoformat(),
                "impressions": impressions[1],
                "clicks": clicks[1],
                "ctr": q(ctr[1]),
                "frequency": q(frequency[1]),
            },
            "frequency_rise": q(frequency_rise),
            "ctr_drop": q(ctr_drop),
            "frequency_slope_per_day": q(frequency_slope),
            "ctr_slope_per_day": q(ctr_slope),
        },
        proposal={"action": "refresh_creatives"},
        since=since,
        until=until,
    )


def suggest(
    *,
    account_id: str,
    currency: str,
    campaigns: Iterable[CampaignPerformance],
    since: date,
    until: date,
    thresholds: Thresholds | None = None,
    kinds: Collection[str] = KINDS,
) -> list[Draft]:
    """Every suggestion of the requested kinds for one account's campaigns over [since, until]."""
    thresholds = thresholds or Thresholds()
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown suggestion kinds: {sorted(unknown)}")
    active = sorted((c for c in campaigns if c.effective_status == ACTIVE), key=lambda c: c.campaign_id)
    verdicts = [_judge(campaign, thresholds, currency) for campaign in active]
    under = [v for v in verdicts if v.under]
    excellent = [v for v in verdicts if v.excellent]
    period = _period_text(since, until)
    drafts: list[Draft] = []

    if PAUSE in kinds:
        for verdict in under:
            campaign = verdict.campaign
            drafts.append(
                Draft(
                    object_type="campaign",
                    object_id=campaign.campaign_id,
                    kind=PAUSE,
                    rationale=(
                        f"Pause campaign '{campaign.name}': {' and '.join(verdict.reasons)} after spending "
                        f"{_money(campaign.spend, currency)} {period}."
                    ),
                    evidence=_evidence(verdict, thresholds, currency),
                    proposal={"action": "pause"},
                    since=since,
                    until=until,
                )
            )

    if RAISE in kinds:
        for verdict in excellent:
            budget = verdict.campaign.daily_budget
            if not budget:
                continue
            target = budget + _step(budget, thresholds.budget_step_percent)
            ctr = verdict.ctr
            assert ctr is not None
            why = f"CTR {ctr.quantize(Decimal('0.01'))}% is at least {thresholds.excellent_ctr_factor} x the "
            why += f"{thresholds.ctr_threshold}% threshold"
            if verdict.cpa is not None:
                why += (
                    f" and CPA {_money(verdict.cpa, currency)} is within {_money(thresholds.cpa_threshold, currency)}"
                )
            drafts.append(
                Draft(
                    object_type="campaign",
                    object_id=verdict.campaign.campaign_id,
                    kind=RAISE,
                    rationale=(
                        f"Raise the daily budget of campaign '{verdict.campaign.name}' by "
                        f"{thresholds.budget_step_percent}% ({_minor(budget, currency)} -> "
                        f"{_minor(target, currency)}): {why} {period}."
                    ),
                    evidence=_evidence(verdict, thresholds, currency),
                    proposal={"action": "set_daily_budget", "from": budget, "to": target, "currency": currency},
                    since=since,
                    until=until,
                )
            )

    if LOWER in kinds:
        cuttable = [
            v
            for v in under
            if v.campaign.daily_budget and _step(v.campaign.daily_budget, thresholds.budget_step_percent)
        ]
        # the worst first: the furthest below its thresholds, then the biggest spender
        cuttable.sort(key=lambda v: (-v.severity, -v.campaign.spend, v.campaign.campaign_id))
        for rank, verdict in enumerate(cuttable[: thresholds.max_budget_cuts], start=1):
            budget = verdict.campaign.daily_budget
            assert budget is not None
            target = budget - _step(budget, thresholds.budget_step_percent)
            evidence = _evidence(verdict, thresholds, currency)
            evidence.update(severity=str(verdict.severity), rank=rank, candidates=len(cuttable),
                            max_budget_cuts=thresholds.max_budget_cuts)  # fmt: skip
            drafts.append(
                Draft(
                    object_type="campaign",
                    object_id=verdict.campaign.campaign_id,
                    kind=LOWER,
                    rationale=(
                        f"Lower the daily budget of campaign '{verdict.campaign.name}' by "
                        f"{thresholds.budget_step_percent}% ({_minor(budget, currency)} -> "
                        f"{_minor(target, currency)}): {' and '.join(verdict.reasons)} {period}."
                    ),
                    evidence=evidence,
                    proposal={"action": "set_daily_budget", "from": budget, "to": target, "currency": currency},
                    since=since,
                    until=until,
                )
            )

    if REALLOCATE in kinds:
        plan = _reallocation(account_id, currency, under, excellent, thresholds, since, until)
        if plan is not None:
            drafts.append(plan)

    if FATIGUE in kinds:
        for campaign in active:
            draft = _fatigue(campaign, thresholds, since, until)
            if draft is not None:
                drafts.append(draft)
    return drafts


def _reallocation(
    account_id: str,
    currency: str,
    under: Sequence[_Verdict],
    excellent: Sequence[_Verdict],
    thresholds: Thresholds,
    since: date,
    until: date,
) -> Draft | None:
    sources = [
        (v, _step(v.campaign.daily_budget, thresholds.reallocation_percent))
        for v in under
        if v.campaign.daily_budget and _step(v.campaign.daily_budget, thresholds.reallocation_percent) > 0
    ]
    destinations = [v for v in excellent if v.campaign.daily_budget]
    if not sources or not destinations:
        return None
    total = sum(amount for _, amount in sources)
    shares = split_proportionally(total, [v.campaign.spend for v in destinations])
    source_rows = [
        {"campaign_id": v.campaign.campaign_id, "name": v.campaign.name, "from": v.campaign.daily_budget,
         "to": (v.campaign.daily_budget or 0) - amount, "amount": amount, "ctr": _text(v.ctr), "cpa": _text(v.cpa),
         "spend": _text(v.campaign.spend)}
        for v, amount in sources
    ]  # fmt: skip
    destination_rows = [
        {"campaign_id": v.campaign.campaign_id, "name": v.campaign.name, "from": v.campaign.daily_budget,
         "to": (v.campaign.daily_budget or 0) + share, "amount": share, "ctr": _text(v.ctr), "cpa": _text(v.cpa),
         "spend": _text(v.campaign.spend)}
        for v, share in zip(destinations, shares, strict=True)
    ]  # fmt: skip
    return Draft(
        object_type="account",
        object_id=account_id,
        kind=REALLOCATE,
        rationale=(
            f"Move {thresholds.reallocation_percent}% of the daily budgets of {len(sources)} underperforming "
            f"campaign(s) ({_minor(total, currency)} a day) to {len(destinations)} excellent one(s), shared in "
            f"proportion to their spend {_period_text(since, until)}."
        ),
        evidence={
            "currency": currency,
            "underperformers": len(sources),
            "excellent": len(destinations),
            "ctr_threshold": _text(thresholds.ctr_threshold),
            "cpa_threshold": _text(thresholds.cpa_threshold),
            "min_spend": _text(thresholds.min_spend),
            "reallocation_percent": thresholds.reallocation_percent,
        },
        proposal={
            "action": "reallocate_daily_budgets",
            "currency": currency,
            "total": total,
            "sources": source_rows,
            "destinations": destination_rows,
        },
        since=since,
        until=until,
    )

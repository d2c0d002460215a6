"""Derived metrics from stored totals: CTR, CPC, CPM, CPA, ROAS, frequency. No I/O.

Every ratio is computed from sums of its parts (never averaged), and is None when its denominator is zero. Reach
and frequency are not additive, so totals over several days or objects carry neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

_MONEY = Decimal("0.0001")
_RATIO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Totals:
    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal
    conversion_value: Decimal
    reach: int | None = None


@dataclass(frozen=True, slots=True)
class Derived:
    ctr: Decimal | None
    cpc: Decimal | None
    cpm: Decimal | None
    cpa: Decimal | None
    roas: Decimal | None
    frequency: Decimal | None


def _div(numerator: Decimal, denominator: Decimal | int, quantum: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(quantum, rounding=ROUND_HALF_UP)


def derive(totals: Totals) -> Derived:
    return Derived(
        ctr=_div(Decimal(totals.clicks) * 100, totals.impressions, _RATIO),
        cpc=_div(totals.spend, totals.clicks, _MONEY),
        cpm=_div(totals.spend * 1000, totals.impressions, _MONEY),
        cpa=_div(totals.spend, totals.conversions, _MONEY),
        roas=_div(totals.conversion_value, totals.spend, _RATIO),
        frequency=_div(Decimal(totals.impressions), totals.reach, _RATIO) if totals.reach else None,
    )

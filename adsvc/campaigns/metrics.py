"""Derived metrics from stored totals: CTR, CPC, CPM, CPA, ROAS, frequency. No I/O.

Every ratio is computed from sums of its parts (never averaged), and is None when its denominator is zero. Reach
and frequency are not additive, so totals over several days or objects carry neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

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


class HasTotals(Protocol):
    @property
    def spend(self) -> Decimal: ...
    @property
    def impressions(self) -> int: ...
    @property
    def clicks(self) -> int: ...
    @property
    def inline_link_clicks(self) -> int: ...
    @property
    def conversions(self) -> Decimal: ...
    @property
    def conversion_value(self) -> Decimal: ...


def totals_of(row: HasTotals) -> Totals:
    """The additive parts of any stored row or aggregate (never its reach: that does not add up)."""
    return Totals(
        spend=row.spend,
        impressions=row.impressions,
        clicks=row.clicks,
        inline_link_clicks=row.inline_link_clicks,
        conversions=row.conversions,
        conversion_value=row.conversion_value,
    )


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

"""Derived metrics from stored totals: CTR, CPC, CPM, CPA, ROAS, frequency. No I/O.

Every ratio is computed from sums of its parts (never averaged), and is None when its denominator is zero. Reach
and frequency are not additive, so totals over several days or objects carry neither.
"""

from __future__ import annotations

from collections.abc import Callable
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


_RATIOS: dict[str, Callable[[Totals], Decimal | None]] = {
    "ctr": lambda t: _div(Decimal(t.clicks) * 100, t.impressions, _RATIO),
    "cpc": lambda t: _div(t.spend, t.clicks, _MONEY),
    "cpm": lambda t: _div(t.spend * 1000, t.impressions, _MONEY),
    "cpa": lambda t: _div(t.spend, t.conversions, _MONEY),
    "roas": lambda t: _div(t.conversion_value, t.spend, _RATIO),
}
RATIO_NAMES = frozenset(_RATIOS)


def derived(name: str, totals: Totals) -> Decimal | None:
    """One derived ratio (ctr, cpc, cpm, cpa or roas), exactly as `derive` computes it."""
    return _RATIOS[name](totals)


def derive(totals: Totals) -> Derived:
    return Derived(
        ctr=derived("ctr", totals),
        cpc=derived("cpc", totals),
        cpm=derived("cpm", totals),
        cpa=derived("cpa", totals),
        roas=derived("roas", totals),
        frequency=_div(Decimal(totals.impressions), totals.reach, _RATIO) if totals.reach else None,
    )

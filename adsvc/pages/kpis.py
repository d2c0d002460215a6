"""KPI cards of the dashboard and campaign pages: each metric's value, the previous period's, the change in percent
and in units, and whether that change is good news, by the metric's polarity. No I/O.

Polarity: spend is neutral (more spend is neither good nor bad by itself); costs (CPC, CPM, CPA) are better down;
volumes and returns (impressions, reach, clicks, CTR, conversions, conversion value, ROAS) are better up; frequency
is neutral (a little more is reach working, a lot more is fatigue: the number alone does not say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from adsvc.analytics.engine import percent_change
from adsvc.pages.charts import Kind, ValueFormat
from adsvc.pages.i18n import Formatter

Polarity = Literal["up", "down", "neutral"]
Verdict = Literal["good", "bad", "neutral"]
Direction = Literal["up", "down", "flat"]


def _(text: str) -> str:
    """Marks a text for the catalog (tests/pages/test_translations.py); the template translates it when shown."""
    return text


@dataclass(frozen=True, slots=True)
class KpiDef:
    metric: str
    label: str
    kind: Kind
    polarity: Polarity


KPIS: tuple[KpiDef, ...] = (
    KpiDef("spend", _("Spend"), "money", "neutral"),
    KpiDef("impressions", _("Impressions"), "count", "up"),
    KpiDef("reach", _("Reach"), "count", "up"),
    KpiDef("frequency", _("Frequency"), "ratio", "neutral"),
    KpiDef("clicks", _("Clicks"), "count", "up"),
    KpiDef("ctr", _("CTR"), "percent", "up"),
    KpiDef("cpc", _("CPC"), "money", "down"),
    KpiDef("cpm", _("CPM"), "money", "down"),
    KpiDef("conversions", _("Conversions"), "count", "up"),
    KpiDef("cpa", _("CPA"), "money", "down"),
    KpiDef("conversion_value", _("Conversion value"), "money", "up"),
    KpiDef("roas", _("ROAS"), "ratio", "up"),
)
# reach and frequency do not add up across days or accounts: shown only for one account on one day
DAY_ONLY = frozenset({"reach", "frequency"})


@dataclass(frozen=True, slots=True)
class Kpi:
    metric: str
    label: str
    kind: Kind
    polarity: Polarity
    current: Decimal | None
    previous: Decimal | None
    change_pct: Decimal | None
    delta: Decimal | None
    direction: Direction | None
    verdict: Verdict


def verdict_of(polarity: Polarity, delta: Decimal | None) -> Verdict:
    if delta is None or delta == 0 or polarity == "neutral":
        return "neutral"
    if polarity == "up":
        return "good" if delta > 0 else "bad"
    return "good" if delta < 0 else "bad"


def _decimal(value: Decimal | int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def kpi(
    definition: KpiDef,
    current: Decimal | int | None,
    previous: Decimal | int | None,
    change_pct: Decimal | None = None,
) -> Kpi:
    """One card; `change_pct` as the API computed it, or (reach, frequency: the API has none) computed here by the
    same rule."""
    now, before = _decimal(current), _decimal(previous)
    delta = now - before if now is not None and before is not None else None
    if change_pct is None:
        change_pct = percent_change(now, before)
    direction: Direction | None = None
    if delta is not None:
        direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return Kpi(
        metric=definition.metric,
        label=definition.label,
        kind=definition.kind,
        polarity=definition.polarity,
        current=now,
        previous=before,
        change_pct=change_pct,
        delta=delta,
        direction=direction,
        verdict=verdict_of(definition.polarity, delta),
    )


def kpis(
    current: Mapping[str, Decimal | int | None],
    previous: Mapping[str, Decimal | int | None],
    change_pct: Mapping[str, Decimal | None],
    *,
    with_reach: bool,
) -> list[Kpi]:
    """The cards in their order; reach and frequency only `with_reach` (one account, one day)."""
    return [
        kpi(
            definition,
            current.get(definition.metric),
            previous.get(definition.metric),
            change_pct.get(definition.metric),
        )
        for definition in KPIS
        if with_reach or definition.metric not in DAY_ONLY
    ]


DataState = Literal["enough", "little", "none"]


def data_state(*, spend: Decimal, impressions: int, minimum_spend: Decimal) -> DataState:
    """ "none": nothing delivered in the period; "little": some, but less spend than `minimum_spend` (one target CPA:
    too little for its ratios to mean anything); else "enough"."""
    if spend <= 0 and impressions <= 0:
        return "none"
    if spend < minimum_spend:
        return "little"
    return "enough"


def days_of(since: date, until: date) -> list[date]:
    return [date.fromordinal(day) for day in range(since.toordinal(), until.toordinal() + 1)]


@dataclass(frozen=True, slots=True)
class Ranked:
    """A campaign in the top or bottom list of a page."""

    campaign_id: str
    name: str
    currency: str
    spend: Decimal
    conversions: Decimal
    cpa: Decimal | None
    roas: Decimal | None
    score: Decimal
    rating: str | None


def top_and_bottom(candidates: Sequence[Ranked], count: int) -> tuple[list[Ranked], list[Ranked]]:
    """The best and the worst campaigns of a list ranked best first: `count` each, or half each of a shorter list
    (the best half gets the middle one), never one campaign in both lists; the worst list starts with the worst."""
    shown = min(count, (len(candidates) + 1) // 2)
    top = list(candidates[:shown])
    rest = candidates[shown:]
    bottom = list(reversed(rest[-count:]))
    return top, bottom


# ---- the words and numbers a card shows ----------------------------------------------------------------------------

MINUS = "\u2212"


def value_text(fmt: Formatter, kind: Kind, value: Decimal | None, currency: str) -> str:
    """A metric's value the way the locale writes it; a count with a fraction (conversions) keeps two places."""
    places = None
    if kind == "count" and value is not None and value != value.to_integral_value():
        places = 2
    return ValueFormat(kind, currency).format(fmt, value, places)


def signed(text: str, value: Decimal) -> str:
    return ("+" if value > 0 else MINUS if value < 0 else "") + text


@dataclass(frozen=True, slots=True)
class KpiCard:
    kpi: Kpi
    value: str
    previous: str
    change_pct: str | None
    delta: str | None


def card(fmt: Formatter, item: Kpi, currency: str) -> KpiCard:
    change = None
    if item.change_pct is not None:
        change = signed(fmt.percent(abs(item.change_pct), 1), item.change_pct)
    delta = None
    if item.delta is not None:
        delta = signed(value_text(fmt, item.kind, abs(item.delta), currency), item.delta)
    return KpiCard(kpi=item, value=value_text(fmt, item.kind, item.current, currency),
                   previous=value_text(fmt, item.kind, item.previous, currency), change_pct=change,
                   delta=delta)  # fmt: skip

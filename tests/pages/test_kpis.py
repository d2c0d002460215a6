"""KPI cards without a server: polarity verdicts, signed changes per locale, the data states and the best and worst
lists of adsvc.pages.kpis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adsvc.pages.i18n import Formatter
from adsvc.pages.kpis import KPIS, Ranked, card, data_state, kpi, kpis, top_and_bottom, verdict_of

BY_METRIC = {definition.metric: definition for definition in KPIS}


@pytest.mark.parametrize(
    ("metric", "current", "previous", "verdict"),
    [("spend", 120, 100, "neutral"), ("spend", 80, 100, "neutral"), ("cpa", "20", "50", "good"),
     ("cpa", "60", "50", "bad"), ("cpc", "1.2", "1.0", "bad"), ("cpm", "9", "10", "good"),
     ("roas", "3", "2", "good"), ("roas", "1", "2", "bad"), ("ctr", "1.5", "2", "bad"),
     ("conversions", 5, 4, "good"), ("frequency", "2", "1.5", "neutral"), ("roas", "2", "2", "neutral"),
     ("cpa", None, "50", "neutral")],
)  # fmt: skip
def test_the_verdict_follows_the_metrics_polarity(metric, current, previous, verdict):
    value = None if current is None else Decimal(current)
    item = kpi(BY_METRIC[metric], value, Decimal(previous))
    assert item.verdict == verdict
    assert verdict_of(BY_METRIC[metric].polarity, item.delta) == verdict


def test_changes_are_signed_in_percent_and_in_money_per_locale():
    item = kpi(BY_METRIC["cpa"], Decimal("20"), Decimal("50"), Decimal("-60.00"))
    shown = card(Formatter("pt_BR"), item, "BRL")
    assert shown.value == "R$\xa020,00" and shown.previous == "R$\xa050,00"
    assert shown.change_pct == "\u221260,0%" and shown.delta == "\u2212R$\xa030,00"
    assert item.direction == "down"
    up = card(Formatter("en"), kpi(BY_METRIC["clicks"], 1500, 1000), "USD")
    assert up.change_pct == "+50.0%" and up.delta == "+500" and up.value == "1,500"


def test_the_change_is_the_apis_when_given_and_missing_without_a_previous_value():
    assert kpi(BY_METRIC["spend"], Decimal(3), Decimal(2), Decimal("50.00")).change_pct == Decimal("50.00")
    assert kpi(BY_METRIC["reach"], 300, 200).change_pct == Decimal("50.00")
    nothing = kpi(BY_METRIC["roas"], Decimal(2), None)
    assert nothing.change_pct is None and nothing.delta is None and nothing.direction is None


def test_reach_and_frequency_only_when_asked():
    current = {"spend": Decimal(1), "reach": 10, "frequency": Decimal(2)}
    assert "reach" not in [k.metric for k in kpis(current, current, {}, with_reach=False)]
    assert {"reach", "frequency"} <= {k.metric for k in kpis(current, current, {}, with_reach=True)}


def test_data_state_none_little_enough():
    assert data_state(spend=Decimal(0), impressions=0, minimum_spend=Decimal(50)) == "none"
    assert data_state(spend=Decimal("49.99"), impressions=10, minimum_spend=Decimal(50)) == "little"
    assert data_state(spend=Decimal(0), impressions=10, minimum_spend=Decimal(50)) == "little"
    assert data_state(spend=Decimal(50), impressions=10, minimum_spend=Decimal(50)) == "enough"


def ranked(n: int) -> list[Ranked]:
    return [Ranked(campaign_id=str(i), name=str(i), currency="USD", spend=Decimal(100), conversions=Decimal(1),
                   cpa=None, roas=None, score=Decimal(100 - i), rating=None) for i in range(n)]  # fmt: skip


@pytest.mark.parametrize(
    ("n", "top", "bottom"),
    [(0, [], []), (1, ["0"], []), (3, ["0", "1"], ["2"]), (12, ["0", "1", "2", "3", "4"], ["11", "10", "9", "8", "7"])],
)
def test_best_and_worst_never_share_a_campaign(n, top, bottom):
    best, worst = top_and_bottom(ranked(n), 5)
    assert [r.campaign_id for r in best] == top and [r.campaign_id for r in worst] == bottom

"""The suggestions engine on synthetic metrics, without a database: each kind fires at its thresholds and not
just short of them; budgets move in whole minor units; a reallocation adds up exactly; fatigue needs both moves."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from adsvc.suggestions.engine import (
    FATIGUE,
    KINDS,
    LOWER,
    PAUSE,
    RAISE,
    REALLOCATE,
    CampaignPerformance,
    DayPoint,
    Thresholds,
    split_proportionally,
    suggest,
    suggestion_period,
)

SINCE, UNTIL = date(2024, 5, 3), date(2024, 5, 9)


def campaign(
    campaign_id: str,
    *,
    spend: str = "100",
    impressions: int = 10_000,
    clicks: int = 100,
    conversions: str = "0",
    value: str = "0",
    daily_budget: int | None = 10_000,
    lifetime_budget: int | None = None,
    status: str = "ACTIVE",
    days: tuple[DayPoint, ...] = (),
) -> CampaignPerformance:
    return CampaignPerformance(
        campaign_id=campaign_id,
        name=f"Campaign {campaign_id}",
        effective_status=status,
        daily_budget=daily_budget,
        lifetime_budget=lifetime_budget,
        spend=Decimal(spend),
        impressions=impressions,
        clicks=clicks,
        conversions=Decimal(conversions),
        conversion_value=Decimal(value),
        days=days,
    )


def run(*campaigns: CampaignPerformance, kinds=KINDS, thresholds: Thresholds | None = None):
    return suggest(
        account_id="123", currency="BRL", campaigns=campaigns, since=SINCE, until=UNTIL, thresholds=thresholds,
        kinds=kinds,
    )  # fmt: skip


def of_kind(drafts, kind: str) -> dict[str, object]:
    return {draft.object_id: draft for draft in drafts if draft.kind == kind}


def test_pause_fires_below_the_ctr_threshold_and_not_at_it():
    drafts = run(
        campaign("low", clicks=99),  # CTR 0.99 %
        campaign("at", clicks=100),  # CTR 1.00 %: not below
        kinds={PAUSE},
    )
    assert set(of_kind(drafts, PAUSE)) == {"low"}
    draft = of_kind(drafts, PAUSE)["low"]
    assert draft.proposal == {"action": "pause"}
    assert draft.object_type == "campaign"
    assert (draft.since, draft.until) == (SINCE, UNTIL)
    assert draft.evidence["ctr"] == "0.990000" and draft.evidence["spend"] == "100"
    assert "CTR 0.99% is below 1.0%" in draft.rationale and "100.00 BRL" in draft.rationale


def test_pause_fires_above_the_cpa_threshold_only_with_conversions():
    drafts = run(
        campaign("dear", spend="100.50", clicks=300, conversions="2"),  # CPA 50.25
        campaign("at", spend="100", clicks=300, conversions="2"),  # CPA 50.00: not above
        campaign("none", spend="500", clicks=300, conversions="0"),  # no CPA at all
        kinds={PAUSE},
    )
    assert set(of_kind(drafts, PAUSE)) == {"dear"}
    assert "CPA 50.25 BRL is above 50.00 BRL" in of_kind(drafts, PAUSE)["dear"].rationale


def test_nothing_is_judged_below_the_minimum_spend():
    drafts = run(campaign("small", spend="19.99", clicks=1), campaign("enough", spend="20", clicks=1))
    assert set(of_kind(drafts, PAUSE)) == {"enough"}
    assert set(of_kind(drafts, LOWER)) == {"enough"}
    assert {d.object_id for d in drafts if d.object_id == "small"} == set()
    custom = run(campaign("small", spend="19.99", clicks=1), thresholds=Thresholds(min_spend=Decimal(10)))
    assert set(of_kind(custom, PAUSE)) == {"small"}


def test_only_active_campaigns_get_suggestions():
    drafts = run(
        *(campaign(status, clicks=10, status=status) for status in ("PAUSED", "ARCHIVED", "CAMPAIGN_PAUSED")),
        *(campaign(f"star-{status}", clicks=300, status=status) for status in ("PAUSED", "DELETED")),
    )
    assert drafts == []


def test_raise_fires_at_one_and_a_half_times_the_ctr_threshold():
    drafts = run(
        campaign("at", clicks=150, conversions="2"),  # CTR 1.50 %, CPA 50.00: within
        campaign("below", clicks=149, conversions="2"),  # CTR 1.49 %
        campaign("dear", spend="100.02", clicks=300, conversions="2"),  # CPA 50.01: not within
        campaign("no-conversions", clicks=200),  # CPA does not apply without conversions
        kinds={RAISE},
    )
    assert set(of_kind(drafts, RAISE)) == {"at", "no-conversions"}
    assert of_kind(drafts, RAISE)["at"].proposal == {
        "action": "set_daily_budget", "from": 10_000, "to": 12_000, "currency": "BRL"
    }  # fmt: skip
    assert "100.00 BRL -> 120.00 BRL" in of_kind(drafts, RAISE)["at"].rationale


def test_thresholds_are_inputs():
    thresholds = Thresholds(ctr_threshold=Decimal(2), cpa_threshold=Decimal(10), budget_step_percent=10)
    drafts = run(campaign("c", clicks=300), campaign("d", clicks=150), thresholds=thresholds)
    assert of_kind(drafts, RAISE)["c"].proposal["to"] == 11_000  # CTR 3.0 >= 1.5 x 2
    assert of_kind(drafts, LOWER)["d"].proposal["to"] == 9_000  # CTR 1.5 < 2
    assert "d" in of_kind(drafts, PAUSE) and "c" not in of_kind(drafts, PAUSE)


def test_no_budget_suggestion_without_a_daily_budget():
    drafts = run(
        campaign("lifetime-star", clicks=300, daily_budget=None, lifetime_budget=500_000),
        campaign("adset-budgets-star", clicks=300, daily_budget=None),
        campaign("lifetime-poor", clicks=10, daily_budget=None, lifetime_budget=500_000),
    )
    assert {(d.object_id, d.kind) for d in drafts} == {("lifetime-poor", PAUSE)}


def test_budget_changes_are_whole_minor_units():
    drafts = run(campaign("odd-star", clicks=300, daily_budget=1_234), campaign("odd-poor", clicks=10,
                                                                                daily_budget=999))  # fmt: skip
    assert of_kind(drafts, RAISE)["odd-star"].proposal["to"] == 1_234 + 246
    assert of_kind(drafts, LOWER)["odd-poor"].proposal["to"] == 999 - 199


def test_at_most_five_budget_cuts_the_worst_first():
    poor = [campaign(f"p{n}", clicks=10 + n * 10) for n in range(8)]  # CTR 0.1 % .. 0.8 %
    drafts = run(*reversed(poor), kinds={LOWER})
    cuts = of_kind(drafts, LOWER)
    assert set(cuts) == {"p0", "p1", "p2", "p3", "p4"}
    assert [d.object_id for d in drafts] == ["p0", "p1", "p2", "p3", "p4"]
    assert [cuts[f"p{n}"].evidence["rank"] for n in range(5)] == [1, 2, 3, 4, 5]
    assert all(d.evidence["candidates"] == 8 for d in drafts)
    assert all(d.proposal == {"action": "set_daily_budget", "from": 10_000, "to": 8_000, "currency": "BRL"}
               for d in drafts)  # fmt: skip
    # the CPA counts as well: 4x the threshold (severity 0.75) ranks between CTRs at 20 % and 30 % of theirs
    dear = campaign("dear", spend="400", clicks=200, conversions="2")  # CPA 200
    assert [d.object_id for d in run(dear, *poor, kinds={LOWER})][:4] == ["p0", "p1", "dear", "p2"]
    assert len(run(*poor, kinds={LOWER}, thresholds=Thresholds(max_budget_cuts=2))) == 2


def test_reallocation_moves_half_the_underperformers_budgets_exactly():
    drafts = run(
        campaign("p1", clicks=10, daily_budget=3_333),
        campaign("p2", clicks=20, daily_budget=1_001),
        campaign("p3", clicks=30, daily_budget=777),
        campaign("p4", clicks=30, daily_budget=None),  # nothing to move
        campaign("s1", spend="100", clicks=300, daily_budget=5_000),
        campaign("s2", spend="200", clicks=300, daily_budget=7_000),
        campaign("s3", spend="300", clicks=900, daily_budget=9_000),
        campaign("s4", spend="300", clicks=900, daily_budget=None),  # cannot receive
        kinds={REALLOCATE},
    )
    assert len(drafts) == 1
    plan = drafts[0]
    assert (plan.object_type, plan.object_id) == ("account", "123")
    proposal = plan.proposal
    assert proposal["currency"] == "BRL" and proposal["action"] == "reallocate_daily_budgets"
    assert [(s["campaign_id"], s["amount"]) for s in proposal["sources"]] == [("p1", 1_666), ("p2", 500), ("p3", 388)]
    total = 1_666 + 500 + 388
    assert proposal["total"] == total
    amounts = {d["campaign_id"]: d["amount"] for d in proposal["destinations"]}
    assert set(amounts) == {"s1", "s2", "s3"}
    assert sum(amounts.values()) == total
    assert amounts == {"s1": 426, "s2": 851, "s3": 1_277}  # 1/6, 2/6, 3/6 of 2554, largest remainders
    for row in proposal["sources"]:
        assert row["to"] == row["from"] - row["amount"]
    for row in proposal["destinations"]:
        assert row["to"] == row["from"] + row["amount"]


def test_reallocation_needs_sources_and_destinations():
    assert run(campaign("p", clicks=10), kinds={REALLOCATE}) == []
    assert run(campaign("s", clicks=300), kinds={REALLOCATE}) == []
    assert run(campaign("p", clicks=10, daily_budget=1), campaign("s", clicks=300), kinds={REALLOCATE}) == []


def test_reallocation_adds_up_on_random_accounts():
    rng = random.Random(4)
    for _ in range(300):
        campaigns = [
            campaign(f"c{n}", spend=str(rng.randint(20, 9_999)), clicks=rng.choice((5, 50, 99, 160, 400)),
                     daily_budget=rng.randint(1, 10**7))
            for n in range(rng.randint(2, 12))
        ]  # fmt: skip
        for plan in run(*campaigns, kinds={REALLOCATE}):
            sources, destinations = plan.proposal["sources"], plan.proposal["destinations"]
            assert sum(s["amount"] for s in sources) == plan.proposal["total"]
            assert sum(d["amount"] for d in destinations) == plan.proposal["total"]
            assert all(isinstance(d["amount"], int) and d["amount"] >= 0 for d in destinations)
            assert all(s["amount"] == s["from"] * 50 // 100 for s in sources)


def test_split_proportionally():
    assert split_proportionally(10, [Decimal(1), Decimal(1), Decimal(1)]) == [4, 3, 3]
    assert split_proportionally(0, [Decimal(1), Decimal(2)]) == [0, 0]
    assert split_proportionally(7, [Decimal("0.5")]) == [7]
    with pytest.raises(ValueError):
        split_proportionally(5, [Decimal(0)])


def series(frequencies: list[str], ctrs_per_mille: list[int], impressions: int = 1_000) -> tuple[DayPoint, ...]:
    return tuple(
        DayPoint(date=SINCE + timedelta(days=n), impressions=impressions, clicks=impressions * ctr // 1000,
                 frequency=Decimal(frequency))
        for n, (frequency, ctr) in enumerate(zip(frequencies, ctrs_per_mille, strict=True))
    )  # fmt: skip


def test_fatigue_fires_when_frequency_rises_while_ctr_falls():
    days = series(["1.2", "1.3", "1.4", "1.6", "1.7", "1.8", "1.9"], [20, 19, 18, 16, 15, 14, 13])
    drafts = run(campaign("tired", clicks=150, days=days), kinds={FATIGUE})
    assert set(of_kind(drafts, FATIGUE)) == {"tired"}
    draft = drafts[0]
    assert draft.proposal == {"action": "refresh_creatives"}
    assert draft.evidence["first_half"]["ctr"] == "1.9000" and draft.evidence["second_half"]["ctr"] == "1.4000"
    assert draft.evidence["first_half"]["frequency"] == "1.3000"
    assert draft.evidence["second_half"]["frequency"] == "1.8000"
    assert Decimal(draft.evidence["frequency_slope_per_day"]) > 0 > Decimal(draft.evidence["ctr_slope_per_day"])
    assert "creative fatigue" in draft.rationale


@pytest.mark.parametrize(
    ("frequencies", "ctrs", "impressions", "why"),
    [
        (["1.2"] * 7, [20, 19, 18, 16, 15, 14, 13], 1_000, "frequency flat"),
        (["1.2", "1.3", "1.4", "1.6", "1.7", "1.8", "1.9"], [20] * 7, 1_000, "CTR flat"),
        (["1.2", "1.3", "1.4", "1.6", "1.7", "1.8", "1.9"], [20, 20, 19, 19, 19, 18, 18], 1_000, "CTR drop < 15 %"),
        (["1.2", "1.2", "1.25", "1.3", "1.3", "1.3", "1.3"], [20, 19, 18, 16, 15, 14, 13], 1_000, "rise < 10 %"),
        (["1.2", "1.3", "1.4", "1.6", "1.7"], [20, 19, 18, 16, 15], 1_000, "fewer than 6 days"),
        (["1.2", "1.3", "1.4", "1.6", "1.7", "1.8", "1.9"], [20, 19, 18, 16, 15, 14, 13], 300, "few impressions"),
    ],
)
def test_fatigue_does_not_fire(frequencies, ctrs, impressions, why):
    days = series(frequencies, ctrs, impressions)
    assert run(campaign("c", clicks=150, days=days), kinds={FATIGUE}) == [], why


def test_kinds_select_the_rules():
    star, poor = campaign("s", clicks=300), campaign("p", clicks=10)
    assert {d.kind for d in run(star, poor)} == {PAUSE, RAISE, LOWER, REALLOCATE}
    assert {d.kind for d in run(star, poor, kinds={PAUSE})} == {PAUSE}
    with pytest.raises(ValueError):
        run(star, kinds={"launch_rocket"})


def test_the_period_is_the_last_seven_complete_days():
    assert suggestion_period(date(2024, 5, 10)) == (SINCE, UNTIL)

"""The rule evaluator, the spec's validation, the schedule and the replay on synthetic series, without a database."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from adsvc.automation.planner import Refusal
from adsvc.automation.rules import (
    DailyTotals,
    Judge,
    RuleObject,
    Series,
    budget_target,
    decide,
    next_run_at,
    replay,
    window_range,
)
from adsvc.automation.schemas import BudgetRuleAction, DailySchedule, IntervalSchedule, RuleIn, RuleSpec
from adsvc.campaigns.periods import resolve_period

TODAY = date(2026, 3, 20)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def spec(**overrides: Any) -> RuleSpec:
    body: dict[str, Any] = {
        "scope": {"level": "campaign"},
        "conditions": {"all": [{"metric": "ctr", "window": "last_7d", "operator": "lt", "value": 1.0}]},
        "action": {"type": "pause"},
    }
    body.update(overrides)
    return RuleSpec.model_validate(body)


def campaign(object_id: str = "1", *, status: str = "ACTIVE", budget: int | None = 10_000) -> RuleObject:
    return RuleObject("campaign", object_id, f"Campaign {object_id}", status, budget)


def day(object_id: str, when: date, *, spend: str = "10", impressions: int = 1000, clicks: int = 20,
        conversions: str = "1", value: str = "30") -> DailyTotals:  # fmt: skip
    return DailyTotals(object_id, when, Decimal(spend), impressions, clicks, Decimal(conversions), Decimal(value))


def series(*rows: DailyTotals, start: date = TODAY - timedelta(days=40), end: date = TODAY) -> dict[str, Series]:
    return Series.build(rows, start=start, end=end)


def days_before(n: int) -> date:
    return TODAY - timedelta(days=n)


def test_windows_are_metas_presets_relative_to_the_accounts_today():
    assert window_range("today", TODAY) == (TODAY, TODAY)
    assert window_range("yesterday", TODAY) == (days_before(1), days_before(1))
    assert window_range("last_3d", TODAY) == (days_before(3), days_before(1))
    assert window_range("last_7d", TODAY) == (days_before(7), days_before(1))
    assert window_range("last_30d", TODAY) == (days_before(30), days_before(1))
    # the same days as the reporting API's presets of the same name
    for preset in ("today", "yesterday", "last_7d", "last_14d", "last_30d"):
        assert window_range(preset, TODAY) == resolve_period(today=TODAY, preset=preset, since=None, until=None)


def test_window_sums_include_exactly_their_days_and_ratios_come_from_sums():
    rows = [day("1", days_before(n), impressions=1000, clicks=n) for n in range(0, 10)]  # clicks = days ago
    data = series(*rows)
    totals = data["1"].totals(*window_range("last_7d", TODAY))
    assert (totals.impressions, totals.clicks) == (7000, sum(range(1, 8)))
    verdict = Judge(spec())(campaign(), data["1"], TODAY)
    [check] = verdict.checks
    # CTR = 28 clicks / 7000 impressions = 0.4 %, not an average of daily CTRs
    assert check.value == Decimal("0.400000") and check.passed and verdict.matched
    assert (check.since, check.until) == (days_before(7), days_before(1))
    assert verdict.spend == Decimal(70)


def test_and_or_groups_and_the_reason_names_what_held():
    rows = [day("1", days_before(n), spend="20", clicks=5, conversions="0.2") for n in range(1, 8)]
    data = series(*rows)
    cpa_high = {"metric": "cpa", "window": "last_7d", "operator": "gt", "value": 50}
    ctr_low = {"metric": "ctr", "window": "last_7d", "operator": "lt", "value": 1.0}
    spend_big = {"metric": "spend", "window": "yesterday", "operator": "gte", "value": 100}
    # CTR 0.5 % (true), CPA 140/1.4 = 100 (true), yesterday's spend 20 (false)
    assert Judge(spec(conditions={"all": [ctr_low, cpa_high]}))(campaign(), data["1"], TODAY).matched
    assert not Judge(spec(conditions={"all": [ctr_low, spend_big]}))(campaign(), data["1"], TODAY).matched
    verdict = Judge(spec(conditions={"any": [spend_big, {"all": [ctr_low, cpa_high]}]}))(campaign(), data["1"], TODAY)
    assert verdict.matched
    assert verdict.why == "(ctr last_7d 0.5 < 1 and cpa last_7d 100 > 50)"
    assert [c.passed for c in verdict.checks] == [False, True, True]


def test_a_ratio_without_a_denominator_has_no_value_and_never_matches():
    data = series(*[day("1", days_before(n), conversions="0") for n in range(1, 8)])
    verdict = Judge(spec(conditions={"all": [{"metric": "cpa", "operator": "gt", "value": 0}]}))(
        campaign(), data["1"], TODAY
    )
    assert verdict.checks[0].value is None and not verdict.matched
    # an object with no rows at all: no impressions, so no CTR either
    assert not Judge(spec())(campaign("2"), data.get("2"), TODAY).matched


def test_min_spend_is_measured_over_the_longest_window_and_blocks_a_verdict():
    rows = [day("1", days_before(n), spend="3", clicks=1) for n in range(1, 15)]
    data = series(*rows)
    rule = spec(
        min_spend=40,
        conditions={"all": [{"metric": "ctr", "window": "yesterday", "operator": "lt", "value": 1.0},
                            {"metric": "ctr", "window": "last_14d", "operator": "lt", "value": 1.0}]},
    )  # fmt: skip
    verdict = Judge(rule)(campaign(), data["1"], TODAY)
    assert verdict.spend == Decimal(42) and verdict.matched  # 14 days x 3 >= 40
    stricter = Judge(spec(min_spend=50, conditions=rule.conditions.model_dump()))(campaign(), data["1"], TODAY)
    assert not stricter.matched and stricter.why == "spend 42 is below the minimum 50"


def test_budget_targets_round_half_up_in_minor_units_and_respect_caps_and_metas_floor():
    assert budget_target(BudgetRuleAction(type="change_budget", percent=15), 10_001) == 11_501  # 11501.15
    assert budget_target(BudgetRuleAction(type="change_budget", percent=-20), 10_000) == 8_000
    assert budget_target(BudgetRuleAction(type="change_budget", percent=50, max_budget=12_000), 10_000) == 12_000
    assert budget_target(BudgetRuleAction(type="change_budget", percent=-50, min_budget=7_000), 10_000) == 7_000
    assert budget_target(BudgetRuleAction(type="change_budget", percent=-90), 500) == 100  # Meta's floor
    assert budget_target(BudgetRuleAction(type="change_budget", amount=25_000, max_budget=20_000), 1_000) == 20_000


def test_decide_makes_the_step_or_refuses_with_a_reason():
    data = series(*[day("1", days_before(n), clicks=1) for n in range(1, 8)])
    rule = spec(action={"type": "change_budget", "percent": -20, "min_budget": 9_000}, cooldown_minutes=60)
    verdict = Judge(rule)(campaign(budget=10_000), data["1"], TODAY)
    step = decide(rule, verdict, cooled_until=None, now=NOW)
    assert step is not None and (step.field, step.target, step.why) == ("daily_budget", "9000", verdict.why)
    at_floor = Judge(rule)(campaign(budget=9_000), data["1"], TODAY)
    with pytest.raises(Refusal) as refused:
        decide(rule, at_floor, cooled_until=None, now=NOW)
    assert refused.value.code == "no_change"
    with pytest.raises(Refusal) as refused:
        decide(rule, verdict, cooled_until=NOW + timedelta(minutes=1), now=NOW)
    assert refused.value.code == "cooldown"
    assert decide(rule, verdict, cooled_until=NOW, now=NOW) is not None  # the cooldown is over at its end
    no_budget = Judge(rule)(campaign(budget=None), data["1"], TODAY)
    with pytest.raises(Refusal) as refused:
        decide(rule, no_budget, cooled_until=None, now=NOW)
    assert refused.value.code == "no_daily_budget"
    notify = spec(action={"type": "notify"})
    assert decide(notify, Judge(notify)(campaign(), data["1"], TODAY), cooled_until=None, now=NOW) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"conditions": {"all": [], "any": None}}, "at least 1 item"),
        (
            {
                "conditions": {
                    "all": [{"metric": "ctr", "operator": "lt", "value": 1}],
                    "any": [{"metric": "ctr", "operator": "lt", "value": 1}],
                }
            },
            "exactly one of 'all' or 'any'",
        ),
        ({"conditions": {"all": [{"metric": "reach", "operator": "lt", "value": 1}]}}, "literal_error"),
        ({"conditions": {"all": [{"metric": "ctr", "operator": "lt", "value": -1}]}}, "greater than or equal"),
        ({"conditions": {"all": [{"metric": "ctr", "operator": "lt", "value": 1, "window": "last_9d"}]}}, "window"),
        ({"action": {"type": "change_budget"}}, "exactly one of 'percent' or 'amount'"),
        ({"action": {"type": "change_budget", "percent": 10, "amount": 500}}, "exactly one of"),
        ({"action": {"type": "change_budget", "percent": 10, "min_budget": 900, "max_budget": 500}}, "min_budget"),
        ({"action": {"type": "delete"}}, "union_tag_invalid"),
        ({"scope": {"level": "account"}}, "account-level rule can only notify"),
        ({"scope": {"level": "ad"}, "action": {"type": "change_budget", "percent": 5}}, "ads have no budget"),
        ({"schedule": {"type": "interval", "every_minutes": 5}}, "greater than or equal to 15"),
        ({"schedule": {"type": "daily", "at": "25:00"}}, "pattern"),
        ({"cooldown_minutes": -1}, "greater than or equal"),
        ({"surprise": 1}, "extra_forbidden"),
    ],
)
def test_invalid_specs_are_refused_with_the_reason(change: dict[str, Any], message: str):
    with pytest.raises(ValidationError) as invalid:
        spec(**change)
    assert message in str(invalid.value)


def test_conditions_nest_at_most_four_deep_and_twenty_in_all():
    leaf = {"metric": "ctr", "operator": "lt", "value": 1}
    deep: dict[str, Any] = {"all": [leaf]}
    for _ in range(4):
        deep = {"any": [deep]}
    with pytest.raises(ValidationError, match="at most 4 groups deep"):
        spec(conditions=deep)
    with pytest.raises(ValidationError, match="at most 20 conditions"):
        spec(conditions={"all": [{"any": [leaf] * 11}, {"any": [leaf] * 10}]})
    RuleIn.model_validate({**spec().model_dump(), "account_id": "act_1", "name": "ok"})


def test_interval_schedules_stay_on_their_grid_and_skip_missed_slots():
    every_hour = IntervalSchedule(type="interval", every_minutes=60)
    assert next_run_at(every_hour, timezone_name="UTC", now=NOW) == NOW + timedelta(hours=1)
    previous = NOW - timedelta(minutes=10)
    assert next_run_at(every_hour, timezone_name="UTC", now=NOW, previous=previous) == previous + timedelta(hours=1)
    # a worker that was down for five hours resumes at the next slot on the grid, not five slots at once
    long_ago = NOW - timedelta(hours=5, minutes=10)
    assert next_run_at(every_hour, timezone_name="UTC", now=NOW, previous=long_ago) == NOW + timedelta(minutes=50)


def test_daily_schedules_are_in_the_accounts_timezone_and_honour_weekdays():
    at_nine = DailySchedule(type="daily", at="09:00")
    # 12:00 UTC is 09:00 in Sao Paulo (UTC-3): the 09:00 slot just passed, so tomorrow's
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    assert next_run_at(at_nine, timezone_name="America/Sao_Paulo", now=now) == datetime(2026, 3, 21, 12, 0, tzinfo=UTC)
    assert next_run_at(at_nine, timezone_name="Asia/Tokyo", now=now) == datetime(2026, 3, 21, 0, 0, tzinfo=UTC)
    mondays = DailySchedule(type="daily", at="09:00", weekdays=[1])  # 2026-03-20 is a Friday
    assert next_run_at(mondays, timezone_name="UTC", now=now) == datetime(2026, 3, 23, 9, 0, tzinfo=UTC)


def test_replay_pauses_once_carries_state_forward_and_counts_what_pausing_saves():
    start = TODAY - timedelta(days=20)
    # campaign 1 is poor from day 10 on; campaign 2 is always fine
    rows = [day("1", start + timedelta(days=n), clicks=2 if n >= 10 else 30) for n in range(21)]
    rows += [day("2", start + timedelta(days=n), clicks=30) for n in range(21)]
    data = series(*rows, start=start - timedelta(days=30))
    rule = spec(conditions={"all": [{"metric": "ctr", "window": "last_3d", "operator": "lt", "value": 1.0}]})
    result = replay(rule, [campaign("1"), campaign("2")], data, since=start, until=TODAY)
    acted = [(d.date, a.object.object_id, a.before, a.after) for d in result.days for a in d.actions]
    # last_3d of day 13 is days 10-12: the first window entirely poor (CTR 0.2 %); days 11 and 12 mix (CTR >= 1.0)
    assert acted == [(start + timedelta(days=13), "1", "ACTIVE", "PAUSED")]
    [pause] = [a for d in result.days for a in d.actions]
    assert pause.spend_after == Decimal(10 * (20 - 13))  # the real spend of days 14..20
    assert len(result.days) == 21 and all(d.matched == 0 for d in result.days if d.date < start + timedelta(days=13))


def test_replay_budget_changes_compound_and_wait_out_the_cooldown():
    start = TODAY - timedelta(days=9)
    rows = [day("1", start + timedelta(days=n - 5), clicks=50) for n in range(15)]
    data = series(*rows, start=start - timedelta(days=30))
    rule = spec(
        conditions={"all": [{"metric": "ctr", "window": "yesterday", "operator": "gt", "value": 2}]},
        action={"type": "change_budget", "percent": 10, "max_budget": 14_000},
        cooldown_minutes=2 * 24 * 60,
    )
    result = replay(rule, [campaign("1", budget=10_000)], data, since=start, until=TODAY)
    changes = [((d.date - start).days, a.before, a.after) for d in result.days for a in d.actions]
    # every other day (two-day cooldown), +10 % each time, capped at 14,000 and then no change to make
    assert changes == [(0, "10000", "11000"), (2, "11000", "12100"), (4, "12100", "13310"), (6, "13310", "14000")]


def test_the_replays_fast_check_agrees_with_the_explained_verdict():
    """`Judge.matches` (what a replay asks of every object-day) and the full verdict never disagree."""
    rng = random.Random(7)
    metrics = ["spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "cpa", "roas"]
    windows = ["today", "yesterday", "last_3d", "last_7d", "last_14d"]
    start = TODAY - timedelta(days=60)
    rows = [
        day(str(obj), start + timedelta(days=n), spend=str(rng.randint(0, 40)), impressions=rng.choice([0, 500, 2000]),
            clicks=rng.randint(0, 40), conversions=str(rng.choice([0, 0, 1, 2])), value=str(rng.randint(0, 200)))
        for obj in range(12) for n in range(61) if rng.random() > 0.1
    ]  # fmt: skip
    data = series(*rows, start=start)
    for _ in range(40):
        leaves = [
            {"metric": rng.choice(metrics), "window": rng.choice(windows), "operator": rng.choice(["lt", "gte"]),
             "value": rng.choice([0.5, 1, 2, 20, 50, 800])}
            for _ in range(4)
        ]  # fmt: skip
        rule = spec(conditions={"any": [{"all": leaves[:2]}, {"all": leaves[2:]}]}, min_spend=rng.choice([0, 30]))
        judge = Judge(rule)
        for obj in range(12):
            for offset in range(0, 30, 3):
                when = TODAY - timedelta(days=offset)
                assert judge.matches(data.get(str(obj)), when) == judge(campaign(), data.get(str(obj)), when).matched

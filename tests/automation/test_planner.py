"""The planner on synthetic objects, without a database: exact plans, refusals, and the 4-per-hour budget limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adsvc.automation.planner import (
    Refusal,
    Step,
    StoredObject,
    budget_free_at,
    plan_step,
    revert_step,
    steps_from_proposal,
)

NOW = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)


def campaign(status: str = "ACTIVE", daily_budget: int | None = 10_000) -> StoredObject:
    return StoredObject("campaign", "111", "9", status, daily_budget, None, "BRL")


def plan(step: Step, stored: StoredObject | None, recent: list[datetime] | None = None):  # type: ignore[no-untyped-def]
    return plan_step(step, stored, recent_budget_changes=recent or [], now=NOW)


def test_pause_proposal_plans_active_to_paused_with_the_rationale():
    [step] = steps_from_proposal(
        object_type="campaign", object_id="111", kind="pause_underperformer", proposal={"action": "pause"},
        rationale="CTR 0.3% below 1.0%",
    )  # fmt: skip
    result = plan(step, campaign())
    assert (result.field, result.before, result.after, result.why) == (
        "status",
        "ACTIVE",
        "PAUSED",
        "CTR 0.3% below 1.0%",
    )
    assert result.currency == "BRL" and result.account_id == "9"


def test_pausing_a_paused_campaign_is_refused_as_no_change():
    [step] = steps_from_proposal(
        object_type="campaign", object_id="111", kind="x", proposal={"action": "pause"}, rationale=""
    )
    with pytest.raises(Refusal) as refused:
        plan(step, campaign(status="PAUSED"))
    assert refused.value.code == "no_change"


def test_archived_objects_cannot_be_switched():
    step = Step("campaign", "111", "status", "ACTIVE", "")
    with pytest.raises(Refusal) as refused:
        plan(step, campaign(status="ARCHIVED"))
    assert refused.value.code == "not_applicable"


def test_budget_plan_and_its_refusals():
    proposal = {"action": "set_daily_budget", "from": 10_000, "to": 12_000, "currency": "BRL"}
    [step] = steps_from_proposal(
        object_type="campaign", object_id="111", kind="raise_budget", proposal=proposal, rationale="r"
    )
    result = plan(step, campaign())
    assert (result.field, result.before, result.after) == ("daily_budget", "10000", "12000")
    for stored, code in (
        (campaign(daily_budget=None), "no_daily_budget"),
        (campaign(daily_budget=12_000), "no_change"),
    ):
        with pytest.raises(Refusal) as refused:
            plan(step, stored)
        assert refused.value.code == code
    with pytest.raises(Refusal) as refused:
        plan(Step("campaign", "111", "daily_budget", "50", ""), campaign())
    assert refused.value.code == "invalid_proposal"


def test_missing_or_other_type_object_is_refused():
    with pytest.raises(Refusal) as refused:
        plan(Step("adset", "111", "status", "PAUSED", ""), campaign())
    assert refused.value.code == "object_not_found"
    with pytest.raises(Refusal):
        plan(Step("campaign", "111", "status", "PAUSED", ""), None)


def test_fifth_budget_change_in_an_hour_is_refused_with_when_it_frees_up():
    step = Step("campaign", "111", "daily_budget", "12000", "")
    recent = [NOW - timedelta(minutes=m) for m in (50, 30, 20, 5)]
    with pytest.raises(Refusal) as refused:
        plan(step, campaign(), recent)
    assert refused.value.code == "budget_change_limit"
    assert refused.value.retry_at == NOW + timedelta(minutes=10)  # the 50-minute-old change ages out first
    # three in the hour, or four with one older than an hour: allowed
    assert plan(step, campaign(), recent[1:]).after == "12000"
    assert plan(step, campaign(), [NOW - timedelta(minutes=61), *recent[1:]]).after == "12000"
    # a status change is not a budget change
    assert plan(Step("campaign", "111", "status", "PAUSED", ""), campaign(), recent).after == "PAUSED"


def test_budget_free_at_with_more_than_four_changes_waits_for_enough_to_age_out():
    recent = [NOW - timedelta(minutes=m) for m in (55, 40, 30, 20, 10)]
    assert budget_free_at(recent, NOW) == NOW + timedelta(minutes=20)  # two must age out: 55 and 40
    assert budget_free_at(recent[:3], NOW) is None


def test_reallocation_becomes_cuts_then_raises_and_fatigue_is_not_applicable():
    proposal = {
        "action": "reallocate_daily_budgets",
        "sources": [{"campaign_id": "1", "from": 10_000, "to": 5_000}],
        "destinations": [{"campaign_id": "2", "from": 20_000, "to": 25_000}],
    }
    steps = steps_from_proposal(
        object_type="account", object_id="9", kind="reallocation", proposal=proposal, rationale="r"
    )
    assert [(s.object_type, s.object_id, s.field, s.target) for s in steps] == [
        ("campaign", "1", "daily_budget", "5000"), ("campaign", "2", "daily_budget", "25000")
    ]  # fmt: skip
    with pytest.raises(Refusal) as refused:
        steps_from_proposal(object_type="campaign", object_id="1", kind="creative_fatigue",
                            proposal={"action": "refresh_creatives"}, rationale="")  # fmt: skip
    assert refused.value.code == "not_applicable"
    with pytest.raises(Refusal):
        steps_from_proposal(object_type="campaign", object_id="1", kind="raise_budget",
                            proposal={"action": "set_daily_budget", "to": "lots"}, rationale="")  # fmt: skip


def test_revert_step_restores_the_before_value():
    step = revert_step(object_type="campaign", object_id="111", field="status", before_value="ACTIVE", action_id=7)
    assert plan(step, campaign(status="PAUSED")).after == "ACTIVE"
    with pytest.raises(Refusal):
        revert_step(object_type="campaign", object_id="111", field="status", before_value=None, action_id=7)

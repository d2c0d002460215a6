"""The generated world: deterministic, exactly aggregated, restated only where Meta restates, timezone-true."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sandbox.helpers import SMALL, TODAY

from adsvc.sandbox.data import ADDITIVE, COLUMNS, REACH, InsightsQuery, SandboxConfig, SandboxData, attribution_split

WINDOW = (TODAY - timedelta(days=SMALL.days), TODAY - timedelta(days=1))
ADDITIVE_NAMES = ("impressions", "clicks", "inline_link_clicks", "spend")


@pytest.fixture(scope="module")
def data() -> SandboxData:
    return SandboxData(SMALL)


def _everything(data: SandboxData) -> tuple[Any, ...]:
    accounts = sorted(data.accounts)
    objects = [data.objects(a, kind) for a in accounts for kind in ("campaign", "adset", "ad")]
    truth = [data.ground_truth_insights(a, "ad", *WINDOW) for a in accounts]
    return accounts, objects, truth


def test_same_seed_gives_identical_data(data: SandboxData) -> None:
    assert _everything(SandboxData(SMALL)) == _everything(data)


def test_different_seed_gives_different_data(data: SandboxData) -> None:
    other = SandboxData(dataclasses.replace(SMALL, seed=12))
    assert set(other.accounts).isdisjoint(data.accounts)
    mine, theirs = _everything(data)[2], _everything(other)[2]
    assert [[r["impressions"] for r in rows] for rows in mine] != [[r["impressions"] for r in rows] for rows in theirs]


def test_today_defaults_to_the_utc_date() -> None:
    assert SandboxConfig().today == datetime.now(UTC).date()


def test_accounts_differ_in_currency_and_timezone(data: SandboxData) -> None:
    accounts = list(data.accounts.values())
    assert {a.currency for a in accounts} == {"BRL", "USD", "EUR"}
    assert {a.timezone_name for a in accounts} == {"America/Sao_Paulo", "America/Los_Angeles", "Europe/Berlin"}
    assert len({a.timezone_offset_hours_utc for a in accounts}) == 3
    for account in accounts:
        assert account.id == f"act_{account.account_id}" and len(account.account_id) == 15


def test_every_status_and_parent_derived_effective_status_occur(data: SandboxData) -> None:
    account = next(iter(data.accounts))
    campaigns = data.objects(account, "campaign")
    assert {c["status"] for c in campaigns} >= {"ACTIVE", "PAUSED", "ARCHIVED", "DELETED"}
    everything = SandboxData(dataclasses.replace(SMALL, campaigns_per_account=40))
    effective = {everything.effective_status(o) for o in everything.nodes.values() if o.kind == "ad"}
    assert {"CAMPAIGN_PAUSED", "ADSET_PAUSED", "ARCHIVED", "DELETED", "ACTIVE"} <= effective
    for obj in everything.nodes.values():
        if obj.kind == "adset" and everything.effective_status(obj) == "CAMPAIGN_PAUSED":
            assert obj.status == "ACTIVE" and everything.parent(obj, "campaign").status == "PAUSED"


def test_objects_have_graph_shaped_fields(data: SandboxData) -> None:
    account = next(iter(data.accounts))
    offset = data.accounts[account].tz
    for kind in ("campaign", "adset", "ad"):
        for obj in data.objects(account, kind):
            parsed = datetime.strptime(obj["updated_time"], "%Y-%m-%dT%H:%M:%S%z")
            assert parsed.utcoffset() == parsed.astimezone(offset).utcoffset()
            assert obj["account_id"] == account
    adsets = data.objects(account, "adset")
    assert any(a.get("daily_budget", "").isdigit() for a in adsets)


def test_some_campaigns_clearly_underperform_and_some_excel(data: SandboxData) -> None:
    ctr = {}
    for account in data.accounts:
        for row in data.ground_truth_insights(account, "campaign", *WINDOW):
            clicks, impressions = ctr.get(row["campaign_id"], (0, 0))
            ctr[row["campaign_id"]] = (clicks + row["clicks"], impressions + row["impressions"])
    rates = sorted(c / i for c, i in ctr.values() if i > 10_000)
    assert rates[0] < 0.005 and rates[-1] > 0.02


def _sum_by(rows: list[dict[str, Any]], key: str) -> dict[tuple[str, date], dict[str, Any]]:
    sums: dict[tuple[str, date], dict[str, Any]] = {}
    for row in rows:
        target = sums.setdefault((row[key], row["date_start"]), defaultdict(int))
        for name in ADDITIVE_NAMES:
            target[name] += row[name]
        for kind in ("actions", "action_values"):
            bucket = target.setdefault(kind, defaultdict(int))
            for action, value in row[kind].items():
                bucket[action] += value
        target["reaches"] = [*target.get("reaches", []), row["reach"]]
    return sums


@pytest.mark.parametrize(
    ("child", "parent", "key"),
    [("ad", "adset", "adset_id"), ("adset", "campaign", "campaign_id"), ("campaign", "account", "account_id")],
)
def test_levels_aggregate_children_exactly_and_reach_overlaps(
    data: SandboxData, child: str, parent: str, key: str
) -> None:
    strict = 0
    for account in data.accounts:
        sums = _sum_by(data.ground_truth_insights(account, child, *WINDOW), key)
        parents = data.ground_truth_insights(account, parent, *WINDOW)
        assert len(parents) == len(sums)
        for row in parents:
            expected = sums[(row[key], row["date_start"])]
            for name in ADDITIVE_NAMES:
                assert row[name] == expected[name], name
            assert row["actions"] == {k: v for k, v in expected["actions"].items() if v}
            assert row["action_values"] == {k: v for k, v in expected["action_values"].items() if v}
            reaches = expected["reaches"]
            assert max(reaches) <= row["reach"] <= sum(reaches)
            if len(reaches) > 1:
                assert row["reach"] < sum(reaches)
                strict += 1
            assert row["frequency"] == (Decimal(row["impressions"]) / row["reach"]).quantize(Decimal("0.000001"))
    assert strict > 10


def test_reach_over_several_days_is_below_the_sum_of_daily_reach(data: SandboxData) -> None:
    ad = next(o for o in data.nodes.values() if o.kind == "ad" and o.last_day - o.first_day > 10)
    since, until = ad.first_day, ad.first_day + 9
    daily = [data.totals(ad.id, day, day, 0) for day in range(since, until + 1)]
    period = data.totals(ad.id, since, until, 0)
    assert period is not None and all(daily)
    assert max(d[REACH] for d in daily if d) <= period[REACH] < sum(d[REACH] for d in daily if d)
    for column in ADDITIVE:
        assert period[column] == sum(d[column] for d in daily if d), COLUMNS[column]


def test_restatement_changes_only_the_last_28_days_and_only_upwards() -> None:
    data = SandboxData(SMALL)
    account = next(iter(data.accounts))
    before = {(r["ad_id"], r["date_start"]): r for r in data.ground_truth_insights(account, "ad", *WINDOW)}
    assert data.restate() == 1
    after = {(r["ad_id"], r["date_start"]): r for r in data.ground_truth_insights(account, "ad", *WINDOW)}
    assert before.keys() == after.keys()
    cutoff = TODAY - timedelta(days=28)
    changed = 0
    for key, old in before.items():
        new = after[key]
        if key[1] < cutoff:
            assert new == old
            continue
        for name in ("impressions", "clicks", "spend", "reach"):
            assert new[name] == old[name]
        for kind in ("actions", "action_values"):
            for action, value in old[kind].items():
                assert new[kind][action] >= value
        changed += new != old
    assert changed > 0
    # Converging: a later version moves less than the first restatement did.
    data.restate()
    third = {(r["ad_id"], r["date_start"]): r for r in data.ground_truth_insights(account, "ad", *WINDOW)}
    assert sum(third[k] != after[k] for k in after) <= changed


def test_daily_rows_are_dated_in_the_account_timezone(data: SandboxData) -> None:
    differs = 0
    for account in data.accounts:
        first_rows: dict[str, date] = {}
        for row in data.ground_truth_insights(account, "campaign", *WINDOW):
            first_rows.setdefault(row["campaign_id"], row["date_start"])
        for campaign in data.objects(account, "campaign"):
            start = datetime.strptime(campaign["start_time"], "%Y-%m-%dT%H:%M:%S%z")
            if start.date() < WINDOW[0] or campaign["id"] not in first_rows:
                continue
            # The first day with delivery is the local date of start_time, not its UTC date.
            assert first_rows[campaign["id"]] == start.date()
            differs += start.astimezone(UTC).date() != start.date()
    assert differs > 0


def test_attribution_windows_are_consistent_with_the_default_value() -> None:
    for value in (0, 1, 7, 250, 10_000):
        for seed in range(20):
            split = attribution_split(value, True, seed)
            assert split["7d_click"] + split["1d_view"] == value
            assert split["1d_click"] <= split["7d_click"] <= split["28d_click"]
    assert attribution_split(9, False, 1) == {"1d_click": 9, "7d_click": 9, "28d_click": 9, "1d_view": 0}


def test_breakdown_rows_add_up_to_the_unbroken_row(data: SandboxData) -> None:
    account = next(iter(data.accounts))
    campaigns = tuple(sorted(o.id for o in data.by_account[account]["campaign"]))
    since, until = WINDOW[1].toordinal() - 6, WINDOW[1].toordinal()
    query = InsightsQuery(account, "campaign", campaigns, ((since, until),), ("impressions", "spend", "reach"))
    split = dataclasses.replace(query, breakdowns=("age", "gender"))
    plain = {row["campaign_id"]: row for row in data.insights_rows(query, data.insights_keys(query))}
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in data.insights_rows(split, data.insights_keys(split)):
        assert row["age"] and row["gender"]
        assert int(row["reach"]) <= int(row["impressions"])
        sums[row["campaign_id"]][0] += int(row["impressions"])
        sums[row["campaign_id"]][1] += round(float(row["spend"]) * 100)
    assert {k: [int(v["impressions"]), round(float(v["spend"]) * 100)] for k, v in plain.items()} == dict(sums)

"""Trends: a synthetic series with known anomalies (a spike, a drop, a day without delivery), moving averages and
growth recomputed here, a synced sandbox series against the ground truth, tenancy and validation."""

from __future__ import annotations

import statistics
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from accounts.helpers import connect_ok, new_caller, sandbox_accounts, sandbox_state
from analytics.synthetic import Day, insert_campaign, insert_days, synthetic_account

from adsvc.collection.plan import account_today

URL = "/api/v1/analytics/trends"
WEEK = (100, 104, 98, 102, 97, 110, 95)  # spend through a week: noise a campaign's spend really has


async def get(client, caller, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(URL, params=params, headers=caller.headers)
    return response.status, await response.json()


@pytest.fixture
async def series(client, db, settings) -> dict[str, Any]:
    """60 days ending yesterday (UTC): no data on the first 5 (before the account's first stored day), no delivery
    on day 40, a drop on day 47 and a spike on day 54; the campaign's rows are the account's."""
    caller = await new_caller(client, db, settings)
    account_id = await synthetic_account(db, user_id=caller.user.id, currency="EUR")
    campaign_id = f"{account_id}1"
    await insert_campaign(db, account_id=account_id, campaign_id=campaign_id)
    yesterday = account_today("UTC") - timedelta(1)
    spend: dict[int, Decimal] = {i: Decimal(WEEK[i % 7]) for i in range(5, 60) if i != 40}
    spend[47], spend[54] = Decimal(20), Decimal(300)
    days = [Day(yesterday - timedelta(59 - i), value, 10000, 150, Decimal(2), value * 3) for i, value in spend.items()]
    for level, object_id in (("account", account_id), ("campaign", campaign_id)):
        await insert_days(db, account_id=account_id, level=level, object_id=object_id, campaign_id=campaign_id,
                          days=days)  # fmt: skip
    full = [spend.get(i, Decimal(0)) if i >= 5 else None for i in range(60)]
    return {"caller": caller, "account_id": account_id, "campaign_id": campaign_id, "yesterday": yesterday,
            "spend": full}  # fmt: skip


async def test_known_spike_drop_and_gap_are_the_only_anomalies(client, series):
    status, body = await get(client, series["caller"], account_id=series["account_id"])
    assert status == 200, body
    yesterday = series["yesterday"]
    assert body["until"] == yesterday.isoformat() and len(body["series"]) == 30
    flagged = {point["date"]: point["anomaly"] for point in body["series"] if point["anomaly"]}
    day = lambda i: (yesterday - timedelta(59 - i)).isoformat()  # noqa: E731
    assert flagged == {day(40): "low", day(47): "low", day(54): "high"}
    assert body["anomalies"] == 3
    # the spike's score from the median and MAD of the 14 days before it, computed here independently
    window = series["spend"][40:54]
    median = statistics.median(window)
    mad = statistics.median([abs(v - median) for v in window])
    spike = next(point for point in body["series"] if point["date"] == day(54))
    assert Decimal(spike["baseline"]) == median
    assert Decimal(spike["anomaly_score"]) == (Decimal("0.6745") * (300 - median) / mad).quantize(Decimal("0.01"))
    assert Decimal(spike["value"]) == 300 and Decimal(spike["spend"]) == 300


async def test_moving_averages_and_growth_from_the_stored_days(client, series):
    status, body = await get(client, series["caller"], account_id=series["account_id"], days="60")
    assert status == 200, body
    spend = series["spend"]
    points = body["series"]
    assert [point["covered"] for point in points] == [value is not None for value in spend]
    assert points[0]["spend"] is None and points[40]["spend"] == "0" and points[40]["ctr"] is None
    for index, point in enumerate(points):
        for window in (7, 14, 30):
            values = spend[index + 1 - window : index + 1] if index + 1 >= window else [None]
            expected = None if None in values else (sum(values) / window).quantize(Decimal("0.000001"))
            actual = point[f"ma_{window}"]
            assert (None if actual is None else Decimal(actual)) == expected, (index, window)
    growth = {g["window_days"]: g for g in body["growth"]}
    assert Decimal(growth[7]["current"]) == sum(spend[53:60])
    assert Decimal(growth[7]["previous"]) == sum(spend[46:53])
    change = (sum(spend[53:60]) - sum(spend[46:53])) * 100 / sum(spend[46:53])
    assert Decimal(growth[7]["change_pct"]) == change.quantize(Decimal("0.01"))
    assert growth[30]["previous"] is None  # days 0-4 are not covered


async def test_ratio_metrics_of_a_campaign(client, series):
    status, body = await get(client, series["caller"], campaign_id=series["campaign_id"], metric="roas",
                             account_id=f"act_{series['account_id']}")  # fmt: skip
    assert status == 200, body
    assert body["campaign_id"] == series["campaign_id"] and body["metric"] == "roas"
    delivered = [point for point in body["series"] if point["impressions"]]
    assert all(Decimal(point["roas"]) == Decimal(point["value"]) == 3 for point in delivered)
    assert all(Decimal(point["ctr"]) == Decimal("1.5") for point in delivered)
    gap = next(point for point in body["series"] if point["covered"] and not point["impressions"])
    assert gap["value"] is None and gap["anomaly"] is None  # no spend, no ROAS: nothing to judge
    assert {Decimal(point["ma_7"]) for point in body["series"] if point["ma_7"] is not None} == {Decimal(3)}


async def test_a_synced_series_equals_the_ground_truth(client, db, settings, graph_sandbox, ensure_synced):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    status, body = await get(client, caller, account_id=account.account_id, metric="ctr", days="14")
    assert status == 200, body
    today = account_today(account.timezone_name)
    truth = sandbox_state(graph_sandbox).data.ground_truth_insights(account.id, "account", today - timedelta(14),
                                                                    today - timedelta(1))  # fmt: skip
    assert [point["date"] for point in body["series"]] == [row["date_start"].isoformat() for row in truth]
    for point, row in zip(body["series"], truth, strict=True):
        assert point["covered"] and point["impressions"] == row["impressions"]
        assert Decimal(point["spend"]) == row["spend"]
        exact = Decimal(row["clicks"]) * 100 / row["impressions"]
        assert abs(Decimal(point["value"]) - exact) <= Decimal("0.0000005")


async def test_another_users_account_or_campaign_is_404(client, db, settings, series):
    stranger = await new_caller(client, db, settings)
    for params in ({"account_id": series["account_id"]}, {"campaign_id": series["campaign_id"]},
                   {"campaign_id": "999999"}, {"account_id": "999999999"}):  # fmt: skip
        status, body = await get(client, stranger, **params)
        assert status == 404 and body["error"]["code"] == "not_found", params
    # the caller's own campaign under an account it does not belong to
    other = await synthetic_account(db, user_id=series["caller"].user.id, currency="EUR")
    status, _ = await get(client, series["caller"], campaign_id=series["campaign_id"], account_id=other)
    assert status == 404


@pytest.mark.parametrize(
    "params",
    [{}, {"metric": "reach"}, {"days": "6"}, {"days": "91"}, {"anomaly_threshold": "0.5"}, {"campaign_id": "a b"}],
)
async def test_invalid_parameters_are_422(client, db, settings, params):
    caller = await new_caller(client, db, settings)
    account_id = await synthetic_account(db, user_id=caller.user.id, currency="EUR")
    status, body = await get(client, caller, **({"account_id": account_id} if params else {}), **params)
    assert status == 422, body

"""Campaign detail (structure counts), campaign insights and ad performance, from data a burst worker synced from
the sandbox, compared with the sandbox's ground truth for the same objects and period."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from accounts.helpers import connect_ok, expect_metrics, new_caller, sandbox_accounts, sandbox_state

from adsvc.collection.plan import account_today


@pytest.fixture
async def synced(client, db, settings, graph_sandbox, ensure_synced) -> dict[str, Any]:
    """A fresh member of the sandbox's first account, synced; the account's today; and the sandbox data."""
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    return {"caller": caller, "account": account, "today": account_today(account.timezone_name),
            "data": sandbox_state(graph_sandbox).data}  # fmt: skip


def expect_matches_ground_truth(body: dict[str, Any], truth: list[dict[str, Any]]) -> None:
    """Daily rows equal the sandbox's rows (reach and frequency per day); totals are their sums, with ratios from
    the sums and neither reach nor frequency."""
    assert [day["date"] for day in body["days"]] == [row["date_start"].isoformat() for row in truth]
    for day, row in zip(body["days"], truth, strict=True):
        assert day["impressions"] == row["impressions"]
        assert day["clicks"] == row["clicks"]
        assert day["inline_link_clicks"] == row["inline_link_clicks"]
        assert Decimal(day["spend"]) == row["spend"]
        assert day["reach"] == row["reach"]
        assert abs(Decimal(day["frequency"]) - row["frequency"]) <= Decimal("0.000001")
        assert Decimal(day["conversions"]) == row["conversions"]
        assert Decimal(day["conversion_value"]) == row["conversion_value"]
    sums = {
        "spend": sum((row["spend"] for row in truth), Decimal(0)),
        "impressions": sum(row["impressions"] for row in truth),
        "clicks": sum(row["clicks"] for row in truth),
        "inline_link_clicks": sum(row["inline_link_clicks"] for row in truth),
        "conversions": sum((row["conversions"] for row in truth), Decimal(0)),
        "conversion_value": sum((row["conversion_value"] for row in truth), Decimal(0)),
    }
    expect_metrics(body["totals"], sums)
    assert "reach" not in body["totals"] and "frequency" not in body["totals"]


def campaign_truth(synced: dict[str, Any], campaign_id: str, since: date, until: date) -> list[dict[str, Any]]:
    rows = synced["data"].ground_truth_insights(synced["account"].id, "campaign", since, until)
    return [row for row in rows if row["campaign_id"] == campaign_id]


def campaign_ids(synced: dict[str, Any]) -> list[str]:
    return sorted(c["id"] for c in synced["data"].objects(synced["account"].id, "campaign"))


async def test_campaign_detail_counts_its_adsets_and_ads_and_active_ones(client, synced):
    data, account = synced["data"], synced["account"]
    adsets, ads = data.objects(account.id, "adset"), data.objects(account.id, "ad")
    for campaign_id in campaign_ids(synced):
        response = await client.get(f"/api/v1/campaigns/{campaign_id}", headers=synced["caller"].headers)
        assert response.status == 200
        body = await response.json()
        assert body["id"] == campaign_id and body["account_id"] == account.account_id
        assert body["currency"] == account.currency
        mine = [a for a in adsets if a["campaign_id"] == campaign_id]
        my_ads = [a for a in ads if a["campaign_id"] == campaign_id]
        assert body["adsets"] == len(mine) > 0
        assert body["active_adsets"] == sum(a["effective_status"] == "ACTIVE" for a in mine)
        assert body["ads"] == len(my_ads) > 0
        assert body["active_ads"] == sum(a["effective_status"] == "ACTIVE" for a in my_ads)


async def test_campaign_insights_for_since_until_equal_the_ground_truth(client, synced):
    today = synced["today"]
    since, until = today - timedelta(days=12), today - timedelta(days=2)
    delivered = 0
    for campaign_id in campaign_ids(synced):
        response = await client.get(
            f"/api/v1/campaigns/{campaign_id}/insights",
            params={"since": since.isoformat(), "until": until.isoformat()},
            headers=synced["caller"].headers,
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        assert (body["object_id"], body["level"], body["currency"]) == (campaign_id, "campaign",
                                                                        synced["account"].currency)  # fmt: skip
        assert (body["since"], body["until"]) == (since.isoformat(), until.isoformat())
        truth = campaign_truth(synced, campaign_id, since, until)
        expect_matches_ground_truth(body, truth)
        delivered += len(truth)
    assert delivered > 0


@pytest.mark.parametrize(
    ("preset", "days_back"),
    [("last_7d", (7, 1)), ("yesterday", (1, 1)), ("last_14d", (14, 1)), ("last_28d", (28, 1)), ("today", (0, 0)),
     (None, (7, 1))],
)  # fmt: skip
async def test_campaign_insights_for_a_date_preset_cover_the_accounts_days_and_equal_the_ground_truth(
    client, synced, preset, days_back
):
    today = synced["today"]
    since, until = today - timedelta(days=days_back[0]), today - timedelta(days=days_back[1])
    campaign_id = campaign_ids(synced)[0]  # the sandbox's "star" campaign: active, delivering every day
    params = {"date_preset": preset} if preset else {}
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/insights", params=params,
                                headers=synced["caller"].headers)  # fmt: skip
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["since"], body["until"]) == (since.isoformat(), until.isoformat())
    truth = campaign_truth(synced, campaign_id, since, until)
    if preset != "today":
        assert truth  # the check below compares real days
    expect_matches_ground_truth(body, truth)


async def test_this_month_runs_from_the_first_to_the_accounts_today(client, synced):
    campaign_id = campaign_ids(synced)[0]
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/insights", params={"date_preset": "this_month"},
                                headers=synced["caller"].headers)  # fmt: skip
    body = await response.json()
    assert (body["since"], body["until"]) == (synced["today"].replace(day=1).isoformat(), synced["today"].isoformat())


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2024-05-10", "until": "2024-05-09"},  # until before since
        {"date_preset": "last_7d", "since": "2024-05-01"},
        {"date_preset": "yesterday", "until": "2024-05-01"},
        {"date_preset": "last_7d", "since": "2024-05-01", "until": "2024-05-02"},
        {"since": "2024-05-01"},  # since and until go together
        {"date_preset": "last_century"},
    ],
)
async def test_inconsistent_periods_are_422(client, synced, params):
    campaign_id = campaign_ids(synced)[0]
    for path, extra in ((f"/api/v1/campaigns/{campaign_id}/insights", {}),
                        ("/api/v1/metrics/ad-performance", {"ad_id": first_ad(synced)})):  # fmt: skip
        response = await client.get(path, params={**extra, **params}, headers=synced["caller"].headers)
        assert response.status == 422, (path, params, await response.text())
        assert (await response.json())["error"]["code"] == "validation_failed"


def first_ad(synced: dict[str, Any]) -> str:
    ads = synced["data"].objects(synced["account"].id, "ad")
    return sorted(ad["id"] for ad in ads if ad["campaign_id"] == campaign_ids(synced)[0])[0]


async def test_ad_performance_returns_the_ads_daily_rows_and_totals(client, synced):
    today = synced["today"]
    since, until = today - timedelta(days=9), today - timedelta(days=1)
    rows = synced["data"].ground_truth_insights(synced["account"].id, "ad", since, until)
    ad_id = max({row["ad_id"] for row in rows}, key=lambda ad: (sum(row["ad_id"] == ad for row in rows), ad))
    truth = [row for row in rows if row["ad_id"] == ad_id]
    assert len(truth) > 1

    response = await client.get("/api/v1/metrics/ad-performance",
                                params={"ad_id": ad_id, "since": since.isoformat(), "until": until.isoformat()},
                                headers=synced["caller"].headers)  # fmt: skip
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["object_id"], body["level"], body["currency"]) == (ad_id, "ad", synced["account"].currency)
    expect_matches_ground_truth(body, truth)

    yesterday = await client.get("/api/v1/metrics/ad-performance", params={"ad_id": ad_id, "date_preset": "yesterday"},
                                 headers=synced["caller"].headers)  # fmt: skip
    assert [day["date"] for day in (await yesterday.json())["days"]] == [
        row["date_start"].isoformat() for row in truth if row["date_start"] == today - timedelta(days=1)
    ]

    unknown = await client.get("/api/v1/metrics/ad-performance", params={"ad_id": "1"},
                               headers=synced["caller"].headers)  # fmt: skip
    assert unknown.status == 404
    missing = await client.get("/api/v1/metrics/ad-performance", headers=synced["caller"].headers)
    assert missing.status == 422

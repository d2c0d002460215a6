"""The performance ranking: scores recomputed here from the sandbox's ground-truth sums, benchmarks per account
(set by owners and managers, audited) and per request, reach and frequency only for one-day periods."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from accounts.helpers import connect_ok, expect_metrics, new_caller, sandbox_accounts, sandbox_state
from analytics.synthetic import Day, by_campaign, insert_campaign, insert_days, synthetic_account

from adsvc.collection.plan import account_today

URL = "/api/v1/analytics/performance"

# the older service's labels (kept in `rating`) and the stable codes beside them (`rating_code`)
RATING_CODES = {"Excelente": "excellent", "Bom": "good", "Regular": "fair", "Ruim": "poor", None: None}


@pytest.fixture
async def synced(client, db, settings, graph_sandbox, ensure_synced) -> dict[str, Any]:
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    return {"caller": caller, "account": account, "today": account_today(account.timezone_name),
            "data": sandbox_state(graph_sandbox).data}  # fmt: skip


def expected_score(
    s: dict[str, Any], ctr_b: Decimal, cpa_b: Decimal, roas_b: Decimal
) -> tuple[Decimal | None, str | None]:
    """The older service's score, written out again: weighted mean of the parts that apply, each capped at 100."""
    parts = []
    if s["impressions"]:
        parts.append((Decimal("0.3"), min(Decimal(100), Decimal(s["clicks"]) * 100 / s["impressions"] / ctr_b * 100)))
    if s["conversions"] > 0:
        cpa = s["spend"] / s["conversions"]
        parts.append((Decimal("0.4"), Decimal(100) if cpa == 0 else min(Decimal(100), cpa_b / cpa * 100)))
    if s["spend"] > 0 and s["conversion_value"] > 0:
        parts.append((Decimal("0.3"), min(Decimal(100), s["conversion_value"] / s["spend"] / roas_b * 100)))
    if not parts:
        return None, None
    score = (sum(w * v for w, v in parts) / sum(w for w, _ in parts)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    rating = "Excelente" if score >= 80 else "Bom" if score >= 60 else "Regular" if score >= 40 else "Ruim"
    return score, rating


async def get(client, caller, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(URL, params=params, headers=caller.headers)
    return response.status, await response.json()


def check_ranking(body: dict[str, Any], truth: dict[str, dict[str, Any]], benchmarks: tuple[Decimal, ...]) -> None:
    expected = {campaign_id: expected_score(s, *benchmarks) for campaign_id, s in truth.items()}
    assert {row["campaign_id"] for row in body["campaigns"]} == set(truth)
    for row in body["campaigns"]:
        score, rating = expected[row["campaign_id"]]
        assert (None if row["score"] is None else Decimal(row["score"])) == score, row
        assert row["rating"] == rating
        assert row["rating_code"] == RATING_CODES[rating]
        expect_metrics(row["metrics"], truth[row["campaign_id"]])
        assert row["metrics"]["reach"] is None and row["metrics"]["frequency"] is None
    scores = [Decimal(row["score"]) for row in body["campaigns"] if row["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    assert [row["rank"] for row in body["campaigns"]] == list(range(1, len(body["campaigns"]) + 1))


async def test_scores_match_the_ground_truth_with_default_benchmarks(client, synced):
    account, today = synced["account"], synced["today"]
    status, body = await get(client, synced["caller"], account_id=account.account_id, date_preset="last_14d")
    assert status == 200, body
    [used] = body["accounts"]
    assert used["benchmarks"]["sources"] == {"ctr": "default", "cpa": "default", "roas": "default"}
    assert body["weights"] == {"ctr": "0.3", "cpa": "0.4", "roas": "0.3"}
    truth = by_campaign(synced["data"].ground_truth_insights(account.id, "campaign", today - timedelta(14),
                                                             today - timedelta(1)))  # fmt: skip
    check_ranking(body, truth, (Decimal("2.0"), Decimal("50"), Decimal("2.5")))
    # ROAS really comes from action values: conversion_value / spend
    with_roas = [row for row in body["campaigns"] if any(p["metric"] == "roas" for p in row["parts"])]
    assert with_roas
    for row in with_roas:
        part = next(p for p in row["parts"] if p["metric"] == "roas")
        s = truth[row["campaign_id"]]
        assert Decimal(part["value"]) == (s["conversion_value"] / s["spend"]).quantize(Decimal("0.000001"),
                                                                                        ROUND_HALF_UP)  # fmt: skip


async def test_request_benchmarks_override_the_defaults(client, synced):
    account, today = synced["account"], synced["today"]
    # strict benchmarks keep every part below its cap, so the ratios themselves are checked
    status, body = await get(client, synced["caller"], account_id=account.account_id, ctr_benchmark="9.5",
                             cpa_benchmark="0.5", roas_benchmark="40")  # fmt: skip
    assert status == 200, body
    assert body["accounts"][0]["benchmarks"]["sources"] == {"ctr": "request", "cpa": "request", "roas": "request"}
    truth = by_campaign(synced["data"].ground_truth_insights(account.id, "campaign", today - timedelta(7),
                                                             today - timedelta(1)))  # fmt: skip
    check_ranking(body, truth, (Decimal("9.5"), Decimal("0.5"), Decimal("40")))
    assert all(Decimal(part["subscore"]) < 100 for row in body["campaigns"] for part in row["parts"])


async def test_campaigns_are_ranked_by_score_with_unscorable_ones_last(client, db, settings):
    caller = await new_caller(client, db, settings)
    account_id = await synthetic_account(db, user_id=caller.user.id, currency="EUR")
    yesterday = account_today("UTC") - timedelta(1)
    days = {
        "b": Day(yesterday, Decimal("10"), 10000, 100),  # CTR 1 % alone: 50
        "a": Day(yesterday, Decimal("100"), 10000, 300, Decimal(4), Decimal(500)),  # all capped: 100
        "c": Day(yesterday, Decimal("0"), 0, 0),  # nothing delivered: no score
        "d": Day(yesterday, Decimal("500"), 20000, 300, Decimal(5)),  # CTR 75, CPA 50: 60.71
    }
    for suffix, day in days.items():
        campaign_id = f"{account_id}{suffix}"
        await insert_campaign(db, account_id=account_id, campaign_id=campaign_id)
        await insert_days(db, account_id=account_id, level="campaign", object_id=campaign_id,
                          campaign_id=campaign_id, days=[day])  # fmt: skip
    status, body = await get(client, caller, account_id=account_id, date_preset="yesterday")
    assert status == 200, body
    ranking = [(row["campaign_id"][-1], row["score"], row["rating"], row["rating_code"]) for row in body["campaigns"]]
    assert ranking == [("a", "100.00", "Excelente", "excellent"), ("d", "60.71", "Bom", "good"),
                       ("b", "50.00", "Regular", "fair"), ("c", None, None, None)]  # fmt: skip
    assert body["campaigns"][3]["skipped"] == {"ctr": "no impressions", "cpa": "no conversions", "roas": "no spend"}
    assert body["truncated"] is False
    status, body = await get(client, caller, account_id=account_id, date_preset="yesterday", limit="2")
    assert [row["campaign_id"][-1] for row in body["campaigns"]] == ["a", "d"] and body["truncated"] is True


async def test_frequency_and_reach_only_for_a_single_day(client, synced):
    account, today = synced["account"], synced["today"]
    status, body = await get(client, synced["caller"], account_id=account.account_id, date_preset="yesterday")
    assert status == 200, body
    rows = synced["data"].ground_truth_insights(account.id, "campaign", today - timedelta(1), today - timedelta(1))
    truth = {row["campaign_id"]: row for row in rows}
    assert {row["campaign_id"] for row in body["campaigns"]} == set(truth)
    for row in body["campaigns"]:
        assert row["metrics"]["reach"] == truth[row["campaign_id"]]["reach"]
        frequency = truth[row["campaign_id"]]["frequency"]
        assert abs(Decimal(row["metrics"]["frequency"]) - frequency) <= Decimal("0.000001")


async def insert_scored_account(db, user_id: int, role: str = "owner") -> tuple[str, str]:
    """A EUR account with one campaign: CTR 1 %, CPA 20, ROAS 3 yesterday."""
    account_id = await synthetic_account(db, user_id=user_id, currency="EUR", role=role)
    campaign_id = f"{account_id}1"
    await insert_campaign(db, account_id=account_id, campaign_id=campaign_id)
    day = Day(account_today("UTC") - timedelta(1), Decimal("100"), 10000, 100, Decimal(5), Decimal(300))
    await insert_days(db, account_id=account_id, level="campaign", object_id=campaign_id, campaign_id=campaign_id,
                      days=[day])  # fmt: skip
    return account_id, campaign_id


async def test_account_benchmarks_are_set_by_owners_audited_and_used(client, db, settings):
    owner = await new_caller(client, db, settings)
    account_id, _ = await insert_scored_account(db, owner.user.id)
    url = f"/api/v1/analytics/benchmarks/act_{account_id}"
    response = await client.get(url, headers=owner.headers)
    assert (await response.json())["source"] == "default"

    body = {"ctr_benchmark": "0.5", "cpa_benchmark": "40", "roas_benchmark": "6"}
    response = await client.put(url, json=body, headers={**owner.headers, "X-Request-ID": "bench-put-1"})
    assert response.status == 200, await response.text()
    saved = await response.json()
    assert saved["source"] == "account" and saved["updated_by"] == owner.user.id
    assert Decimal(saved["cpa_benchmark"]) == 40
    [entry] = await db.fetch("select actor_id, action, target_id, before, after from audit_log where request_id = $1",
                             "bench-put-1")  # fmt: skip
    assert entry["action"] == "analytics.benchmarks.update" and entry["actor_id"] == owner.user.id
    assert entry["target_id"] == account_id and entry["before"] is None
    assert {k: Decimal(v) for k, v in entry["after"].items()} == {k: Decimal(v) for k, v in body.items()}

    # CTR 1 % / 0.5 -> 100; CPA 20 vs 40 -> 100; ROAS 3 / 6 -> 50: (30 + 40 + 15) / 1.0 = 85
    status, ranking = await get(client, owner, account_id=account_id, date_preset="yesterday")
    assert status == 200
    assert ranking["accounts"][0]["benchmarks"]["sources"] == {"ctr": "account", "cpa": "account", "roas": "account"}
    [row] = ranking["campaigns"]
    assert (row["score"], row["rating"]) == ("85.00", "Excelente")
    # one override on top of the account's settings: ROAS 3 / 2 -> 100 -> 100
    status, ranking = await get(client, owner, account_id=account_id, date_preset="yesterday", roas_benchmark="2")
    assert ranking["accounts"][0]["benchmarks"]["sources"]["roas"] == "request"
    assert ranking["campaigns"][0]["score"] == "100.00"

    headers = {**owner.headers, "X-Request-ID": "bench-put-2"}
    response = await client.put(url, json={**body, "cpa_benchmark": "80"}, headers=headers)
    assert response.status == 200
    before = await db.fetchval("select before from audit_log where request_id = 'bench-put-2'")
    assert Decimal(before["cpa_benchmark"]) == 40


async def test_benchmarks_need_an_owner_or_manager_and_membership(client, db, settings):
    analyst = await new_caller(client, db, settings)
    account_id, _ = await insert_scored_account(db, analyst.user.id, role="analyst")
    body = {"ctr_benchmark": "1", "cpa_benchmark": "10", "roas_benchmark": "2"}
    url = f"/api/v1/analytics/benchmarks/{account_id}"
    response = await client.put(url, json=body, headers=analyst.headers)
    assert response.status == 403
    assert (await client.get(url, headers=analyst.headers)).status == 200  # reading is fine
    stranger = await new_caller(client, db, settings)
    for method in ("GET", "PUT"):
        response = await client.request(method, url, json=body, headers=stranger.headers)
        assert response.status == 404, method
    assert (await get(client, stranger, account_id=account_id))[0] == 404
    assert await db.fetchval("select count(*) from account_benchmarks where account_id = $1", account_id) == 0


@pytest.mark.parametrize(
    "body",
    [{"ctr_benchmark": "0", "cpa_benchmark": "10", "roas_benchmark": "2"},
     {"ctr_benchmark": "1", "cpa_benchmark": "-5", "roas_benchmark": "2"},
     {"ctr_benchmark": "1", "cpa_benchmark": "10"},
     {"ctr_benchmark": "1", "cpa_benchmark": "10", "roas_benchmark": "2", "weight": "1"},
     {"ctr_benchmark": "1.0000001", "cpa_benchmark": "10", "roas_benchmark": "2"},
     {"ctr_benchmark": "NaN", "cpa_benchmark": "10", "roas_benchmark": "2"}],
)  # fmt: skip
async def test_invalid_benchmarks_are_422(client, db, settings, body):
    owner = await new_caller(client, db, settings)
    account_id, _ = await insert_scored_account(db, owner.user.id)
    response = await client.put(f"/api/v1/analytics/benchmarks/{account_id}", json=body, headers=owner.headers)
    assert response.status == 422, await response.text()


@pytest.mark.parametrize(
    "params",
    [{"ctr_benchmark": "0"}, {"cpa_benchmark": "abc"}, {"roas_benchmark": "-1"}, {"limit": "0"},
     {"until": "0"}, {"until": "2025-01-01"}],
)  # fmt: skip
async def test_invalid_query_is_422_even_without_accounts(client, db, settings, params):
    caller = await new_caller(client, db, settings)
    status, body = await get(client, caller, **params)
    assert status == 422, body

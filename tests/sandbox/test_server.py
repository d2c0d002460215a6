"""The sandbox Graph server over HTTP: paging, filters, insights, report runs, batch, updates and tokens."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sandbox.helpers import (
    ALL_STATUSES,
    SMALL,
    TODAY,
    FakeClock,
    account_ids,
    assert_row_matches,
    follow_pages,
    graph_get,
    state_of,
    with_token,
)

from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, FaultProfile
from adsvc.sandbox.data import HIDDEN_STATUSES

MakeSandbox = Callable[..., Awaitable[TestClient]]
INSIGHT_FIELDS = "campaign_id,adset_id,ad_id,ad_name,impressions,clicks,spend,reach,frequency,actions,action_values"


def _visible_ids(client: TestClient, account: str, kind: str) -> list[str]:
    return [
        o["id"] for o in state_of(client).data.objects(account, kind) if o["effective_status"] not in HIDDEN_STATUSES
    ]


async def test_me_and_adaccounts_list_every_account(sandbox: TestClient) -> None:
    status, me, _ = await graph_get(sandbox, "me", fields="id,name")
    assert status == 200 and set(me) == {"id", "name"}
    rows = await follow_pages(sandbox, "me/adaccounts", fields="id,account_id,currency,timezone_name", limit=2)
    assert [row["id"] for row in rows] == account_ids(sandbox)
    assert {row["currency"] for row in rows} == {"BRL", "USD", "EUR"}


async def test_account_node_and_nodes_read_with_and_without_trailing_slash(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[1]
    status, body, _ = await graph_get(sandbox, account, fields="name,currency,timezone_name,timezone_offset_hours_utc")
    assert status == 200 and body["currency"] == "USD" and body["timezone_offset_hours_utc"] == -8
    campaign = state_of(sandbox).data.objects(account, "campaign")[0]
    for path in (campaign["id"], campaign["id"] + "/"):
        status, body, _ = await graph_get(sandbox, path, fields="id,name,status,effective_status,objective")
        assert status == 200
        assert body == {k: campaign[k] for k in ("id", "name", "status", "effective_status", "objective")}
    status, body, _ = await graph_get(sandbox, campaign["id"])
    assert body == {"id": campaign["id"]}


async def test_edge_paging_walks_every_page_once_and_next_is_absent_on_the_last(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(dataclasses.replace(SMALL, campaigns_per_account=12))
    account = account_ids(client)[0]
    expected = _visible_ids(client, account, "ad")
    status, first, _ = await graph_get(client, f"{account}/ads", fields="id", limit=7)
    assert "previous" not in first["paging"] and "next" in first["paging"]
    assert set(first["paging"]["cursors"]) == {"before", "after"}
    rows = await follow_pages(client, f"{account}/ads", fields="id,name,adset_id", limit=7)
    assert [row["id"] for row in rows] == expected
    assert len(expected) > 21
    # The SDK's way: pass the `after` cursor back; the last page has cursors but no `next`.
    after, seen, pages = None, [], 0
    while True:
        params = {"fields": "id", "limit": 7, **({"after": after} if after else {})}
        status, body, _ = await graph_get(client, f"{account}/ads", **params)
        assert status == 200
        seen += [row["id"] for row in body["data"]]
        pages += 1
        if pages > 1:
            assert "previous" in body["paging"]
        if "next" not in body["paging"]:
            break
        after = body["paging"]["cursors"]["after"]
    assert seen == expected and pages == -(-len(expected) // 7)
    # `before` walks back to the previous page.
    _status, back, _ = await graph_get(
        client, f"{account}/ads", fields="id", limit=7, before=body["paging"]["cursors"]["before"]
    )
    assert [row["id"] for row in back["data"]] == expected[(pages - 2) * 7 : (pages - 1) * 7]


async def test_default_edges_hide_archived_and_deleted_but_filters_include_them(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    everything = state_of(sandbox).data.objects(account, "campaign")
    default = await follow_pages(sandbox, f"{account}/campaigns", fields="id,effective_status", limit=3)
    assert [row["id"] for row in default] == _visible_ids(sandbox, account, "campaign")
    assert not {row["effective_status"] for row in default} & HIDDEN_STATUSES
    filtering = json.dumps([{"field": "campaign.effective_status", "operator": "IN", "value": ALL_STATUSES}])
    rows = await follow_pages(sandbox, f"{account}/campaigns", fields="id", filtering=filtering)
    assert [row["id"] for row in rows] == [c["id"] for c in everything]
    rows = await follow_pages(sandbox, f"{account}/campaigns", fields="id,status", effective_status='["DELETED"]')
    assert rows and {row["status"] for row in rows} == {"DELETED"}
    deleted = rows[0]["id"]
    status, body, _ = await graph_get(sandbox, deleted, fields="status")
    assert status == 200 and body["status"] == "DELETED"


async def test_parent_edges_and_id_filters(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    data = state_of(sandbox).data
    campaign = next(c for c in data.objects(account, "campaign") if c["effective_status"] == "ACTIVE")
    adsets = await follow_pages(
        sandbox, f"{campaign['id']}/adsets", fields="id,campaign_id", effective_status=json.dumps(ALL_STATUSES)
    )
    assert {row["campaign_id"] for row in adsets} == {campaign["id"]} and len(adsets) == SMALL.adsets_per_campaign
    ads = await follow_pages(
        sandbox, f"{adsets[0]['id']}/ads", fields="id,adset_id", effective_status=json.dumps(ALL_STATUSES)
    )
    assert {row["adset_id"] for row in ads} == {adsets[0]["id"]} and len(ads) == SMALL.ads_per_adset
    filtering = json.dumps(
        [
            {"field": "campaign.id", "operator": "IN", "value": [campaign["id"]]},
            {"field": "adset.effective_status", "operator": "IN", "value": ALL_STATUSES},
        ]
    )
    rows = await follow_pages(sandbox, f"{account}/adsets", fields="id", filtering=filtering)
    assert sorted(row["id"] for row in rows) == sorted(row["id"] for row in adsets)


async def test_updated_time_filter_returns_only_newer_objects(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    data = state_of(sandbox).data
    objects = [data.nodes[o["id"]] for o in data.objects(account, "campaign")]
    threshold = sorted(o.updated_time for o in objects)[len(objects) // 2]
    filtering = json.dumps(
        [
            {"field": "campaign.updated_time", "operator": "GREATER_THAN", "value": threshold},
            {"field": "campaign.effective_status", "operator": "IN", "value": ALL_STATUSES},
        ]
    )
    rows = await follow_pages(sandbox, f"{account}/campaigns", fields="id,updated_time", filtering=filtering)
    assert sorted(row["id"] for row in rows) == sorted(o.id for o in objects if o.updated_time > threshold)
    assert 0 < len(rows) < len(objects)


async def test_summary_carries_the_total_count(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    status, body, _ = await graph_get(sandbox, f"{account}/ads", fields="id", limit=2, summary="true")
    assert status == 200
    assert body["summary"] == {"total_count": len(_visible_ids(sandbox, account, "ad"))}
    status, body, _ = await graph_get(sandbox, f"{account}/ads", fields="id", limit=2)
    assert "summary" not in body


async def test_unknown_fields_objects_and_edges_are_graph_errors(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    status, body, _ = await graph_get(sandbox, f"{account}/campaigns", fields="id,colour")
    assert status == 400 and body["error"]["code"] == 100 and "colour" in body["error"]["message"]
    assert body["error"]["fbtrace_id"] and body["error"]["type"] == "OAuthException"
    status, body, _ = await graph_get(sandbox, "999999999")
    assert status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (100, 33)
    status, body, _ = await graph_get(sandbox, f"{account}/widgets")
    assert status == 400 and body["error"]["code"] == 2500
    status, body, _ = await graph_get(sandbox, f"{account}/insights", fields="spend,bogus_metric")
    assert status == 400 and body["error"]["code"] == 100


async def _sync_insights(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    return await follow_pages(client, path, **params)


async def test_sync_insights_are_numeric_strings_equal_to_ground_truth(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[2]
    data = state_of(sandbox).data
    since, until = TODAY - timedelta(days=12), TODAY - timedelta(days=1)
    rows = await _sync_insights(
        sandbox,
        f"{account}/insights",
        level="ad",
        fields=INSIGHT_FIELDS,
        time_increment=1,
        limit=40,
        time_range=json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        filtering=json.dumps([{"field": "ad.effective_status", "operator": "IN", "value": ALL_STATUSES}]),
    )
    truth = {
        (t["ad_id"], t["date_start"].isoformat()): t for t in data.ground_truth_insights(account, "ad", since, until)
    }
    assert len(rows) == len(truth) > 40
    assert len({(row["ad_id"], row["date_start"]) for row in rows}) == len(rows)
    for row in rows:
        assert row["date_start"] == row["date_stop"]
        assert isinstance(row["impressions"], str) and isinstance(row["spend"], str)
        float(row["frequency"])
        assert_row_matches(row, truth[(row["ad_id"], row["date_start"])])
    # Default: archived and deleted ads are left out of insights too.
    default = await _sync_insights(
        sandbox,
        f"{account}/insights",
        level="ad",
        fields="ad_id",
        time_increment=1,
        limit=200,
        time_range=json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
    )
    hidden = {o.id for o in data.nodes.values() if o.kind == "ad" and data.effective_status(o) in HIDDEN_STATUSES}
    assert default and not {row["ad_id"] for row in default} & hidden
    assert len(default) < len(rows)


async def test_insights_presets_increments_and_node_edges(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    data = state_of(sandbox).data
    status, body, headers = await graph_get(
        sandbox, f"{account}/insights", date_preset="yesterday", fields="spend,impressions"
    )
    assert status == 200 and body["data"][0]["date_start"] == (TODAY - timedelta(days=1)).isoformat()
    assert "x-fb-ads-insights-throttle" in headers
    truth = data.ground_truth_insights(account, "account", TODAY - timedelta(days=1), TODAY - timedelta(days=1))[0]
    assert_row_matches(body["data"][0], truth | {"actions": {}, "action_values": {}})
    status, body, _ = await graph_get(sandbox, f"{account}/insights", date_preset="last_7d", fields="impressions")
    row = body["data"][0]
    assert (row["date_start"], row["date_stop"]) == (
        (TODAY - timedelta(days=7)).isoformat(),
        (TODAY - timedelta(days=1)).isoformat(),
    )
    week = data.ground_truth_insights(account, "account", TODAY - timedelta(days=7), TODAY - timedelta(days=1))
    assert int(row["impressions"]) == sum(t["impressions"] for t in week)
    status, body, _ = await graph_get(sandbox, f"{account}/insights", date_preset="today", fields="impressions")
    assert body["data"] == []
    status, body, _ = await graph_get(
        sandbox, f"{account}/insights", date_preset="last_28d", time_increment=7, fields="impressions"
    )
    assert [r["date_start"] for r in body["data"]] == [
        (TODAY - timedelta(days=28 - 7 * i)).isoformat() for i in range(4)
    ]
    campaign = next(
        o
        for o in data.by_account[account.removeprefix("act_")]["campaign"]
        if data.has_data(o.id, data.today - 7, data.today - 1)
    )
    rows = await follow_pages(
        sandbox,
        f"{campaign.id}/insights",
        level="adset",
        date_preset="last_7d",
        fields="adset_id,spend",
        filtering=json.dumps([{"field": "adset.effective_status", "operator": "IN", "value": ALL_STATUSES}]),
    )
    assert rows and {r["campaign_id"] for r in rows} == {campaign.id}
    status, body, _ = await graph_get(
        sandbox, f"{account}/insights", time_range=json.dumps({"since": "2022-01-01", "until": "2022-01-31"})
    )
    assert status == 400 and body["error"]["code"] == 3018


async def test_insights_attribution_windows_and_breakdowns(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    status, body, _ = await graph_get(
        sandbox,
        f"{account}/insights",
        date_preset="last_30d",
        fields="actions,action_values",
        action_attribution_windows=json.dumps(["1d_click", "7d_click", "28d_click", "1d_view", "7d_view", "28d_view"]),
    )
    assert status == 200
    actions = body["data"][0]["actions"]
    assert actions
    for element in actions:
        assert set(element) == {"action_type", "value", "1d_click", "7d_click", "28d_click", "1d_view"}
        assert int(element["value"]) == int(element["7d_click"]) + int(element["1d_view"])
        assert int(element["1d_click"]) <= int(element["7d_click"]) <= int(element["28d_click"])
    status, body, _ = await graph_get(
        sandbox, f"{account}/insights", date_preset="last_7d", fields="impressions", breakdowns='["gender"]'
    )
    assert {row["gender"] for row in body["data"]} <= {"female", "male", "unknown"} and len(body["data"]) >= 2
    status, body, _ = await graph_get(sandbox, f"{account}/insights", breakdowns='["dma"]')
    assert status == 400 and body["error"]["code"] == 100


async def _poll(client: TestClient, run_id: str) -> dict[str, Any]:
    status, body, _ = await graph_get(client, f"{run_id}/")
    assert status == 200, body
    return body


async def test_async_report_run_goes_through_every_status_and_pages_results(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(running_at_100_polls=2))
    account = account_ids(client)[1]
    since, until = TODAY - timedelta(days=20), TODAY - timedelta(days=1)
    form = with_token(
        level="campaign",
        fields='["campaign_id","impressions","spend","reach","actions","action_values","clicks"]',
        time_range=json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
        time_increment="1",
        filtering=json.dumps([{"field": "campaign.effective_status", "operator": "IN", "value": ALL_STATUSES}]),
    )
    async with client.post(f"/v26.0/{account}/insights", data=form) as response:
        assert response.status == 200
        run_id = (await response.json())["report_run_id"]
    status, body, _ = await graph_get(client, f"{run_id}/insights")
    assert status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (2601, 1815107)
    seen = []
    while True:
        body = await _poll(client, run_id)
        seen.append((body["async_status"], body["async_percent_completion"]))
        assert body["account_id"] == account.removeprefix("act_")
        if body["async_status"] == "Job Completed":
            break
        if seen[-1] == ("Job Running", 100):
            status, early, _ = await graph_get(client, f"{run_id}/insights")
            assert status == 400 and early["error"]["code"] == 2601
    assert seen == [
        ("Job Not Started", 0),
        ("Job Started", 0),
        ("Job Running", 30),
        ("Job Running", 65),
        ("Job Running", 90),
        ("Job Running", 100),
        ("Job Running", 100),
        ("Job Completed", 100),
    ]
    assert (body["date_start"], body["date_stop"]) == (since.isoformat(), until.isoformat()) and body[
        "time_completed"
    ] > 0
    # Restating after the run was created does not change its results: it reads the version it started with.
    truth = {
        (t["campaign_id"], t["date_start"].isoformat()): t
        for t in state_of(client).data.ground_truth_insights(account, "campaign", since, until)
    }
    state_of(client).data.restate()
    rows = await follow_pages(client, f"{run_id}/insights", limit=25)
    assert len(rows) == len(truth) > 25
    for row in rows:
        assert_row_matches(row, truth[(row["campaign_id"], row["date_start"])])


async def test_batch_answers_in_order_with_headers_and_counts_each_entry(make_sandbox: MakeSandbox) -> None:
    profile = FaultProfile(seed=6, batch_null_rate=0.3)
    client = await make_sandbox(faults=profile)
    account = account_ids(client)[0]
    campaigns = _visible_ids(client, account, "campaign")
    batch = [{"method": "GET", "relative_url": f"{cid}/?fields=id,name"} for cid in campaigns[:5]]
    batch += [
        {"method": "GET", "relative_url": f"{account}/campaigns?fields=id&limit=2"},
        {"method": "GET", "relative_url": "123456/?fields=id"},
        {"method": "POST", "relative_url": f"{campaigns[0]}/", "body": "status=PAUSED"},
    ] * 2
    expected_nulls = [profile.roll("batch", "0", i) < 0.3 for i in range(len(batch))]
    assert any(expected_nulls) and not all(expected_nulls)
    async with client.post(
        "/v26.0/", data={"access_token": SANDBOX_ACCESS_TOKEN, "batch": json.dumps(batch)}
    ) as response:
        assert response.status == 200
        answers = await response.json()
    assert [answer is None for answer in answers] == expected_nulls
    for entry, answer in zip(batch, answers, strict=True):
        if answer is None:
            continue
        body = json.loads(answer["body"])
        names = {header["name"].lower() for header in answer["headers"]}
        assert "x-business-use-case-usage" in names or "123456" in entry["relative_url"]
        if "123456" in entry["relative_url"]:
            assert answer["code"] == 400 and body["error"]["code"] == 100
        elif entry["method"] == "POST":
            assert answer["code"] == 200 and body == {"success": True}
        elif "campaigns?" in entry["relative_url"]:
            assert len(body["data"]) == 2 and body["paging"]["next"].startswith("http")
        else:
            assert answer["code"] == 200 and body["id"] in entry["relative_url"]
    stats = state_of(client).stats.to_json()
    assert stats["graph_calls"] == expected_nulls.count(False) and stats["batch_requests"] == 1
    # Without a version prefix too, and without headers when asked.
    async with client.post(
        "/", data={"access_token": SANDBOX_ACCESS_TOKEN, "include_headers": "false", "batch": json.dumps(batch[:1])}
    ) as response:
        answers = await response.json()
    assert answers[0] is None or "headers" not in answers[0]


async def test_batch_refuses_more_than_50_entries(sandbox: TestClient) -> None:
    batch = [{"method": "GET", "relative_url": "me"}] * 51
    async with sandbox.post(
        "/v26.0/", data={"access_token": SANDBOX_ACCESS_TOKEN, "batch": json.dumps(batch)}
    ) as response:
        body = await response.json()
    assert response.status == 400 and body["error"]["code"] == 100 and "50" in body["error"]["message"]
    assert "x-app-usage" in response.headers


async def test_updates_are_visible_in_later_reads_and_bump_updated_time(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    data = state_of(sandbox).data
    adset = next(
        o
        for o in data.by_account[account.removeprefix("act_")]["adset"]
        if o.daily_budget and data.effective_status(o) == "ACTIVE"
    )
    before = adset.updated_time
    async with sandbox.post(f"/v26.0/{adset.id}/", data=with_token(status="PAUSED", daily_budget="12300")) as response:
        assert response.status == 200 and await response.json() == {"success": True}
    _status, body, _ = await graph_get(sandbox, adset.id, fields="status,daily_budget,updated_time,effective_status")
    assert (body["status"], body["daily_budget"], body["effective_status"]) == ("PAUSED", "12300", "PAUSED")
    assert data.nodes[adset.id].updated_time > before
    filtering = json.dumps(
        [{"field": "adset.updated_time", "operator": "GREATER_THAN", "value": data.latest_generated_time}]
    )
    rows = await follow_pages(
        sandbox, f"{account}/adsets", fields="id", filtering=filtering, effective_status=json.dumps(ALL_STATUSES)
    )
    assert [row["id"] for row in rows] == [adset.id]
    for ad_id in adset.children:
        assert data.effective_status(data.nodes[ad_id]) in ("ADSET_PAUSED", "PAUSED", *HIDDEN_STATUSES)
    async with sandbox.post(f"/v26.0/{adset.id}/", data=with_token(status="SLEEPING")) as response:
        assert response.status == 400 and (await response.json())["error"]["code"] == 100
    async with sandbox.delete(f"/v26.0/{adset.id}/", params=with_token()) as response:
        assert response.status == 200
    assert data.nodes[adset.id].status == "DELETED"


async def test_fifth_budget_change_within_an_hour_is_refused_for_an_hour(make_sandbox: MakeSandbox) -> None:
    clock = FakeClock()
    client = await make_sandbox(clock=clock)
    data = state_of(client).data
    adset = next(o for o in data.nodes.values() if o.kind == "adset" and o.daily_budget)
    for n in range(4):
        async with client.post(f"/v26.0/{adset.id}/", data=with_token(daily_budget=str(10000 + n * 100))) as response:
            assert response.status == 200
        clock.advance(60)
    async with client.post(f"/v26.0/{adset.id}/", data=with_token(daily_budget="20000")) as response:
        body = await response.json()
    assert response.status == 400 and body["error"]["code"] == 17 and "budget" in body["error"]["message"]
    assert data.nodes[adset.id].daily_budget == 10300
    clock.advance(1800)
    async with client.post(f"/v26.0/{adset.id}/", data=with_token(daily_budget="20000")) as response:
        assert response.status == 400
    async with client.post(f"/v26.0/{adset.id}/", data=with_token(status="PAUSED")) as response:
        assert response.status == 200
    clock.advance(1801)
    async with client.post(f"/v26.0/{adset.id}/", data=with_token(daily_budget="20000")) as response:
        assert response.status == 200
    assert data.nodes[adset.id].daily_budget == 20000


async def test_tokens_in_query_form_or_bearer_and_bad_ones_are_190(sandbox: TestClient) -> None:
    campaign = _visible_ids(sandbox, account_ids(sandbox)[0], "campaign")[0]
    async with sandbox.get(
        f"/v26.0/{campaign}", headers={"Authorization": f"Bearer {SANDBOX_ACCESS_TOKEN}"}
    ) as response:
        assert response.status == 200
    async with sandbox.post(
        f"/v26.0/{campaign}/", data={"access_token": SANDBOX_ACCESS_TOKEN, "name": "Renamed"}
    ) as response:
        assert response.status == 200
    for params in ({}, {"access_token": "nope"}):
        async with sandbox.get(f"/v26.0/{campaign}", params=params) as response:
            body = await response.json()
        assert response.status == 400 and body["error"]["code"] == 190 and body["error"]["type"] == "OAuthException"
        assert "x-app-usage" in response.headers
    async with sandbox.post("/_sandbox/expire-token", json={"subcode": 460}) as response:
        assert response.status == 200
    _status, body, _ = await graph_get(sandbox, campaign)
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (190, 460)


async def test_appsecret_proof_must_match_when_sent(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(app_secret="s3cret", access_tokens=["token-a", "token-b"])
    good = hmac.new(b"s3cret", b"token-a", hashlib.sha256).hexdigest()
    async with client.get("/v26.0/me", params={"access_token": "token-a", "appsecret_proof": good}) as response:
        assert response.status == 200
    async with client.get("/v26.0/me", params={"access_token": "token-b"}) as response:
        assert response.status == 200
    async with client.get("/v26.0/me", params={"access_token": "token-b", "appsecret_proof": good}) as response:
        body = await response.json()
    assert response.status == 400 and body["error"]["code"] == 100 and "appsecret_proof" in body["error"]["message"]


async def test_control_api(sandbox: TestClient) -> None:
    async with sandbox.get("/_sandbox/accounts") as response:
        accounts = await response.json()
    assert [a["id"] for a in accounts["data"]] == account_ids(sandbox) and accounts["today"] == TODAY.isoformat()
    account = accounts["data"][0]["account_id"]
    query = {"account_id": account, "level": "campaign", "since": "2026-02-20", "until": "2026-02-28"}
    async with sandbox.get("/_sandbox/ground-truth", params=query) as response:
        truth = await response.json()
    assert truth["data"] and all(
        isinstance(row["spend"], str) and isinstance(row["impressions"], str) for row in truth["data"]
    )
    await graph_get(sandbox, f"act_{account}/campaigns")
    await graph_get(sandbox, "me")
    async with sandbox.get("/_sandbox/stats") as response:
        stats = await response.json()
    assert stats["by_account_kind"][account] == {"campaigns": 1} and stats["by_account"]["app"] == 1
    async with sandbox.post("/_sandbox/restate") as response:
        assert (await response.json())["restatement_version"] == 1
    async with sandbox.post("/_sandbox/faults", json={"preset": "flaky"}) as response:
        assert (await response.json()) == FaultProfile.preset("flaky").to_json()
    async with sandbox.post("/_sandbox/faults", json={"volcano_rate": 1}) as response:
        assert response.status == 400
    async with sandbox.post("/_sandbox/reset") as response:
        assert response.status == 200
    state = state_of(sandbox)
    assert state.data.restatement_version == 0 and state.stats.graph_calls == 0
    assert state.faults.profile == FaultProfile()
    async with sandbox.get("/_sandbox/objects", params={"account_id": account, "kind": "ad"}) as response:
        assert len((await response.json())["data"]) == SMALL.campaigns_per_account * 4


@pytest.mark.parametrize("prefix", ["/v26.0/", "/v25.0/", "/"])
async def test_any_version_prefix_is_served(sandbox: TestClient, prefix: str) -> None:
    async with sandbox.get(f"{prefix}me", params=with_token()) as response:
        assert response.status == 200 and response.headers["facebook-api-version"].startswith("v")


def test_small_config_window() -> None:
    assert SMALL.today == date(2026, 3, 1)

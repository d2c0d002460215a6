"""The per-account score model: usage headers on every response and quota blocks when the score runs over."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient
from sandbox.helpers import SMALL, FakeClock, account_ids, graph_get, with_token

from adsvc.sandbox.scoring import ScoreBoard, regain_minutes

MakeSandbox = Callable[..., Awaitable[TestClient]]
DEVELOPMENT = dataclasses.replace(SMALL, tier="development")


async def test_usage_headers_on_success_and_error(sandbox: TestClient) -> None:
    account = account_ids(sandbox)[0]
    status, _, headers = await graph_get(sandbox, f"{account}/campaigns")
    assert status == 200
    app = json.loads(headers["x-app-usage"])
    assert set(app) == {"call_count", "total_time", "total_cputime"}
    usage = json.loads(headers["x-ad-account-usage"])
    assert usage["ads_api_access_tier"] == "standard_access" and usage["acc_id_util_pct"] > 0
    buc = json.loads(headers["x-business-use-case-usage"])[account.removeprefix("act_")][0]
    assert buc["type"] == "ads_management" and buc["estimated_time_to_regain_access"] == 0
    assert "x-fb-ads-insights-throttle" not in headers
    status, _, headers = await graph_get(sandbox, f"{account}/campaigns", fields="no_such_field")
    assert status == 400 and "x-business-use-case-usage" in headers and "x-ad-account-usage" in headers
    _, _, headers = await graph_get(sandbox, f"{account}/insights")
    throttle = json.loads(headers["x-fb-ads-insights-throttle"])
    assert set(throttle) == {"app_id_util_pct", "acc_id_util_pct", "ads_api_access_tier"}
    assert json.loads(headers["x-business-use-case-usage"])[account.removeprefix("act_")][0]["type"] == "ads_insights"


async def test_development_tier_blocks_reads_past_60_points_for_300_seconds(make_sandbox: MakeSandbox) -> None:
    clock = FakeClock()
    client = await make_sandbox(DEVELOPMENT, clock=clock)
    account, other = account_ids(client)[:2]
    for _ in range(60):
        status, _, headers = await graph_get(client, account)
        assert status == 200
    assert json.loads(headers["x-ad-account-usage"])["acc_id_util_pct"] == 100
    status, body, headers = await graph_get(client, account)
    assert status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (17, 2446079)
    buc = json.loads(headers["x-business-use-case-usage"])[account.removeprefix("act_")][0]
    assert buc["estimated_time_to_regain_access"] == 5 and buc["ads_api_access_tier"] == "development_access"
    assert (await graph_get(client, other))[0] == 200
    clock.advance(299)
    assert (await graph_get(client, account))[0] == 400
    clock.advance(2)
    assert (await graph_get(client, account))[0] == 200


async def test_writes_cost_three_points_and_are_refused_with_613(make_sandbox: MakeSandbox) -> None:
    clock = FakeClock()
    client = await make_sandbox(DEVELOPMENT, clock=clock)
    account = account_ids(client)[0]
    campaign = (await graph_get(client, f"{account}/campaigns"))[1]["data"][0]["id"]
    for n in range(19):
        async with client.post(f"/v26.0/{campaign}/", data=with_token(name=f"Rename {n}")) as response:
            assert response.status == 200
    async with client.post(f"/v26.0/{campaign}/", data=with_token(name="One too many")) as response:
        body = await response.json()
    assert response.status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (613, 1487742)


def test_score_drains_linearly_over_the_decay_time() -> None:
    clock = FakeClock()
    board = ScoreBoard("standard", clock)
    for _ in range(3000):
        assert board.charge("1", write=True) is None
    assert board.charge("1", write=False) == (17, 60.0)
    clock.advance(60)
    assert board.utilisation("1") == 80.0
    assert board.charge("1", write=False) is None
    assert (
        regain_minutes(0) == 0 and regain_minutes(3600) == 60 and regain_minutes(90) == 2 and regain_minutes(6) == 0.1
    )

"""Every fault a profile can inject, each seen on the wire as Meta would send it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sandbox.helpers import TODAY, FakeClock, account_ids, graph_get, with_token

from adsvc.sandbox import FaultProfile
from adsvc.sandbox.faults import PRESETS

MakeSandbox = Callable[..., Awaitable[TestClient]]


def _buc(headers: Any, account: str) -> dict[str, Any]:
    usage = json.loads(headers["x-business-use-case-usage"])
    return usage[account.removeprefix("act_")][0]


async def test_transient_errors_are_code_1_with_500_and_code_2_with_503(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(transient_rate=1.0))
    account = account_ids(client)[0]
    seen = set()
    for _ in range(12):
        status, body, headers = await graph_get(client, f"{account}/campaigns")
        seen.add((status, body["error"]["code"]))
        assert body["error"]["is_transient"] is True and "x-ad-account-usage" in headers
    assert seen == {(500, 1), (503, 2)}


async def test_transient_rate_is_deterministic_per_account_call_counter(make_sandbox: MakeSandbox) -> None:
    outcomes = []
    for _ in range(2):
        client = await make_sandbox(faults=FaultProfile(seed=4, transient_rate=0.3))
        account = account_ids(client)[0]
        outcomes.append([(await graph_get(client, f"{account}/ads"))[0] for _ in range(20)])
    assert outcomes[0] == outcomes[1] and {200, 500, 503} >= set(outcomes[0]) and 200 in outcomes[0]
    assert len(set(outcomes[0])) > 1


@pytest.mark.parametrize(
    ("code", "subcode"), [(4, None), (17, 2446079), (613, 1487742), (80000, 2446079), (80004, 2446079)]
)
async def test_throttles_block_for_the_announced_time(
    make_sandbox: MakeSandbox, code: int, subcode: int | None
) -> None:
    clock = FakeClock()
    client = await make_sandbox(
        faults=FaultProfile(throttle_rate=1.0, throttle_codes=(code,), block_seconds=3), clock=clock
    )
    account = account_ids(client)[0]
    status, body, headers = await graph_get(client, f"{account}/campaigns")
    assert status == 400 and body["error"]["code"] == code and body["error"].get("error_subcode") == subcode
    assert _buc(headers, account)["estimated_time_to_regain_access"] == 0.05
    clock.advance(2)
    status, body, headers = await graph_get(client, f"{account}/campaigns")
    assert body["error"]["code"] == code and _buc(headers, account)["estimated_time_to_regain_access"] == 0.02
    # Other accounts are not blocked by this account's throttle (they roll their own dice).
    async with client.post("/_sandbox/faults", json={"preset": "none"}) as response:
        assert response.status == 200
    status, body, _ = await graph_get(client, f"{account}/campaigns")
    assert status == 200


async def test_minute_blocks_are_announced_in_minutes(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(throttle_rate=1.0, throttle_codes=(17,), block_seconds=600))
    account = account_ids(client)[0]
    _, _, headers = await graph_get(client, account)
    assert _buc(headers, account)["estimated_time_to_regain_access"] == 10


@pytest.mark.parametrize("subcode", [463, 460])
async def test_token_expires_after_n_calls(make_sandbox: MakeSandbox, subcode: int) -> None:
    client = await make_sandbox(faults=FaultProfile(token_expires_after_calls=3, token_error_subcode=subcode))
    statuses = [(await graph_get(client, "me"))[:2] for _ in range(5)]
    assert [s for s, _ in statuses] == [200, 200, 200, 400, 400]
    assert statuses[-1][1]["error"]["code"] == 190 and statuses[-1][1]["error"]["error_subcode"] == subcode


async def _post_insights(client: TestClient, account: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with client.post(f"/v26.0/{account}/insights", data=with_token(**params)) as response:
        return response.status, await response.json()


def _range(days: int) -> str:
    return json.dumps(
        {"since": (TODAY - timedelta(days=days)).isoformat(), "until": (TODAY - timedelta(days=1)).isoformat()}
    )


async def test_too_much_data_for_long_ad_level_async_jobs(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(max_async_days_ad_level=30))
    account = account_ids(client)[0]
    status, body = await _post_insights(client, account, level="ad", time_range=_range(31), time_increment=1)
    assert status == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == (100, 1487534)
    assert (await _post_insights(client, account, level="ad", time_range=_range(30)))[0] == 200
    assert (await _post_insights(client, account, level="campaign", time_range=_range(60)))[0] == 200


async def test_wide_sync_field_lists_must_be_reduced(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(max_sync_fields=3))
    account = account_ids(client)[0]
    status, body, _ = await graph_get(client, f"{account}/insights", fields="spend,impressions,clicks,reach")
    assert status == 500 and body["error"]["code"] == 1
    assert "Please reduce the amount of data you're asking for" in body["error"]["message"]
    status, body, _ = await graph_get(client, f"{account}/insights", fields="spend,impressions,clicks")
    assert status == 200


async def _statuses(client: TestClient, run_id: str, polls: int) -> list[tuple[str, int]]:
    seen = []
    for _ in range(polls):
        _, body, _ = await graph_get(client, f"{run_id}/")
        seen.append((body["async_status"], body["async_percent_completion"]))
    return seen


async def test_stuck_jobs_never_start(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(stuck_job_rate=1.0))
    account = account_ids(client)[0]
    _, body = await _post_insights(client, account, level="campaign")
    assert set(await _statuses(client, body["report_run_id"], 15)) == {("Job Not Started", 0)}


async def test_failed_jobs_report_their_error(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(failed_job_rate=1.0))
    account = account_ids(client)[0]
    _, created = await _post_insights(client, account, level="campaign")
    run_id = created["report_run_id"]
    assert (await _statuses(client, run_id, 5))[-1][0] == "Job Failed"
    _, body, _ = await graph_get(client, f"{run_id}/")
    assert {"error_code", "error_message", "error_subcode"} <= body.keys()
    status, body, _ = await graph_get(client, f"{run_id}/insights")
    assert status == 400 and body["error"]["code"] == 2601


async def test_running_at_100_lasts_k_polls(make_sandbox: MakeSandbox) -> None:
    client = await make_sandbox(faults=FaultProfile(running_at_100_polls=4))
    account = account_ids(client)[0]
    _, created = await _post_insights(client, account, level="account")
    seen = await _statuses(client, created["report_run_id"], 10)
    assert seen.count(("Job Running", 100)) == 4 and seen[-1] == ("Job Completed", 100)


def test_presets_and_json_profiles() -> None:
    for name in PRESETS:
        profile = FaultProfile.preset(name)
        assert FaultProfile.from_json(profile.to_json()) == profile
    assert FaultProfile.preset("none") == FaultProfile()
    hostile = FaultProfile.preset("hostile")
    assert hostile.transient_rate and hostile.stuck_job_rate and hostile.max_sync_fields and hostile.batch_null_rate
    tweaked = FaultProfile.from_json({"preset": "flaky", "block_seconds": 1.5, "throttle_codes": [17]})
    assert tweaked.block_seconds == 1.5 and tweaked.throttle_codes == (17,) and tweaked.transient_rate > 0
    for bad in ({"preset": "apocalypse"}, {"transient_rate": 2}, {"throttle_codes": [999]}, {"nonsense": 1}):
        with pytest.raises(ValueError):
            FaultProfile.from_json(bad)

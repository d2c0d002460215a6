"""The official facebook-business SDK, unmodified, against the sandbox: paging, async reports, batch and updates.

The SDK is blocking (requests), so every SDK call runs in a thread while the sandbox serves on the test's loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.campaign import Campaign
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from sandbox.helpers import ALL_STATUSES, SMALL, TODAY, assert_row_matches

from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, SandboxState, create_sandbox_app
from adsvc.sandbox.data import HIDDEN_STATUSES

APP_SECRET = "sandbox-app-secret"
CONFIG = dataclasses.replace(SMALL, campaigns_per_account=16)


@pytest.fixture
def restore_default_api() -> Iterator[None]:
    # FacebookAdsApi.init installs a process-wide default api; put the previous one back.
    previous = FacebookAdsApi.get_default_api()
    yield
    FacebookAdsApi.set_default_api(previous)


@pytest.fixture
async def served(aiohttp_server: Any, restore_default_api: None) -> tuple[FacebookAdsApi, SandboxState]:
    app = create_sandbox_app(CONFIG, app_secret=APP_SECRET)
    server: TestServer = await aiohttp_server(app)
    api = FacebookAdsApi.init("1234567890", APP_SECRET, SANDBOX_ACCESS_TOKEN, crash_log=False, api_version="v26.0")
    # The instance attribute points this api (only) at the sandbox; the class default stays Meta's.
    api._session.GRAPH = str(server.make_url("")).rstrip("/")
    return api, app[SANDBOX_STATE]


def _first_account(state: SandboxState) -> str:
    return next(iter(state.data.accounts.values())).id


async def test_sdk_pages_through_campaigns(served: tuple[FacebookAdsApi, SandboxState]) -> None:
    api, state = served
    account = _first_account(state)
    expected = [
        c["id"] for c in state.data.objects(account, "campaign") if c["effective_status"] not in HIDDEN_STATUSES
    ]

    def fetch() -> list[dict[str, Any]]:
        cursor = AdAccount(account, api=api).get_campaigns(
            fields=[Campaign.Field.id, Campaign.Field.name, Campaign.Field.effective_status], params={"limit": 5}
        )
        rows = [campaign.export_all_data() for campaign in cursor]
        assert cursor.total() == len(expected)
        return rows

    rows = await asyncio.to_thread(fetch)
    assert [row["id"] for row in rows] == expected
    assert len(expected) > 10
    assert state.stats.by_kind["campaigns"] == -(-len(expected) // 5) >= 3


async def test_sdk_async_report_polled_to_completion_matches_ground_truth(
    served: tuple[FacebookAdsApi, SandboxState],
) -> None:
    api, state = served
    account = _first_account(state)
    since, until = TODAY - timedelta(days=14), TODAY - timedelta(days=1)
    params = {
        "level": "adset",
        "fields": ["adset_id", "campaign_id", "impressions", "clicks", "spend", "reach", "actions", "action_values"],
        "time_range": {"since": since.isoformat(), "until": until.isoformat()},
        "time_increment": 1,
        "filtering": [{"field": "adset.effective_status", "operator": "IN", "value": ALL_STATUSES}],
    }

    def run_report() -> tuple[list[str], list[dict[str, Any]]]:
        job = AdAccount(account, api=api).get_insights(is_async=True, params=params)
        assert isinstance(job, AdReportRun)
        statuses = []
        for _ in range(30):
            job.api_get()
            statuses.append(job[AdReportRun.Field.async_status])
            if statuses[-1] == "Job Completed":
                break
        rows = [row.export_all_data() for row in job.get_result(params={"limit": 20})]
        return statuses, rows

    statuses, rows = await asyncio.to_thread(run_report)
    assert statuses[0] == "Job Not Started" and statuses[-1] == "Job Completed" and "Job Running" in statuses
    truth = {
        (t["adset_id"], t["date_start"].isoformat()): t
        for t in state.data.ground_truth_insights(account, "adset", since, until)
    }
    assert len(rows) == len(truth) > 20
    for row in rows:
        assert_row_matches(row, truth[(row["adset_id"], row["date_start"])])


async def test_sdk_batch_and_update(served: tuple[FacebookAdsApi, SandboxState]) -> None:
    api, state = served
    account = _first_account(state)
    active = [c["id"] for c in state.data.objects(account, "campaign") if c["effective_status"] == "ACTIVE"]

    def batch_then_update() -> tuple[list[Any], list[Any], str]:
        batch = api.new_batch()
        answers: list[Any] = []
        failures: list[Any] = []
        for campaign_id in active[:3]:
            Campaign(campaign_id, api=api).api_get(
                fields=[Campaign.Field.name, Campaign.Field.status],
                batch=batch,
                success=lambda response: answers.append(response.json()),
                failure=lambda response: failures.append(response.json()),
            )
        Campaign("404404404", api=api).api_get(
            fields=["name"], batch=batch, failure=lambda r: failures.append(r.error())
        )
        assert batch.execute() is None
        Campaign(active[0], api=api).api_update(params={Campaign.Field.status: Campaign.Status.paused})
        after = Campaign(active[0], api=api).api_get(fields=[Campaign.Field.status])
        return answers, failures, after[Campaign.Field.status]

    answers, failures, status_after = await asyncio.to_thread(batch_then_update)
    assert [a["id"] for a in answers] == active[:3] and all(a["status"] == "ACTIVE" for a in answers)
    assert len(failures) == 1 and isinstance(failures[0], FacebookRequestError)
    assert failures[0].api_error_code() == 100 and failures[0].api_error_subcode() == 33
    assert status_after == "PAUSED"
    assert state.data.nodes[active[0]].status == "PAUSED"


# The SDK warns client-side about a field it does not know before sending it; that warning is the point here.
@pytest.mark.filterwarnings("ignore:campaigns does not allow field no_such_field:UserWarning")
async def test_sdk_raises_graph_errors_it_can_classify(served: tuple[FacebookAdsApi, SandboxState]) -> None:
    api, state = served
    account = _first_account(state)

    def bad_calls() -> list[FacebookRequestError]:
        caught = []
        for call in (
            lambda: AdAccount(account, api=api).get_campaigns(fields=["no_such_field"]),
            lambda: AdAccount(account, api=api).get_insights(
                params={"time_range": {"since": "2020-01-01", "until": "2020-01-02"}}
            ),
        ):
            with pytest.raises(FacebookRequestError) as info:
                call()
            caught.append(info.value)
        return caught

    unknown_field, too_old = await asyncio.to_thread(bad_calls)
    assert unknown_field.api_error_code() == 100 and unknown_field.http_status() == 400
    assert too_old.api_error_code() == 3018

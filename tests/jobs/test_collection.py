"""Collection end to end: connect a sandbox account through the API, run the arq worker in burst mode against the
sandbox over real HTTP, and compare what PostgreSQL holds with the sandbox's ground truth."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from arq.connections import RedisSettings
from arq.worker import Worker
from factories import TEST_SECRET, TEST_TOKEN_KEY, bearer, create_user, login, make_settings

from adsvc.app import create_app
from adsvc.collection.plan import account_today, lookback_window
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE
from jobs.worker import WorkerSettings

LEVELS = ("account", "campaign", "adset", "ad")
FAST = {
    "GRAPH_POLL_INITIAL_SECONDS": "0.01",
    "GRAPH_POLL_MAX_SECONDS": "0.05",
    "GRAPH_PACING_TIME_SCALE": "0.001",
    "SYNC_RETRY_BASE_SECONDS": "0.05",
    "SYNC_LOCK_SECONDS": "5",
}


def graph_url(server: Any) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def worker_env(monkeypatch, stack, graph_sandbox):
    values = {
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        "FACEBOOK_GRAPH_URL": graph_url(graph_sandbox),
        **FAST,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def run_worker_burst(stack) -> Worker:
    worker = Worker(
        functions=WorkerSettings.functions,
        cron_jobs=[],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(stack.redis_url),
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
        max_jobs=4,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


async def connect(client, db, settings, account_id: str) -> tuple[Any, str]:
    user = await create_user(db, settings)
    token = await login(client, user.email)
    response = await client.post(
        "/api/v1/ad-accounts",
        json={"account_id": f"act_{account_id}", "access_token": SANDBOX_ACCESS_TOKEN},
        headers=bearer(token),
    )
    assert response.status in (200, 201), await response.text()
    return user, token


def _expected_key(row: dict[str, Any], level: str) -> tuple[str, date]:
    object_id = str(row[f"{level}_id"] if level != "account" else row["account_id"]).removeprefix("act_")
    return object_id, row["date_start"]


async def assert_matches_ground_truth(db, sandbox_state, account_id: str, since: date, until: date) -> int:
    compared = 0
    for level in LEVELS:
        truth = sandbox_state.data.ground_truth_insights(account_id, level, since, until)
        stored = await db.fetch(
            """select object_id, date, impressions, clicks, inline_link_clicks, reach, spend, actions, conversions
               from insights_daily where account_id = $1 and level = $2 and date between $3 and $4""",
            account_id.removeprefix("act_"),
            level,
            since,
            until,
        )
        by_key = {(row["object_id"], row["date"]): row for row in stored}
        assert len(by_key) == len(truth), (level, len(by_key), len(truth))
        for expected in truth:
            row = by_key[_expected_key(expected, level)]
            assert row["impressions"] == expected["impressions"], (level, expected)
            assert row["clicks"] == expected["clicks"]
            assert row["inline_link_clicks"] == expected["inline_link_clicks"]
            assert row["reach"] == expected["reach"]
            assert row["spend"] == expected["spend"]
            actions = {key: Decimal(value) for key, value in row["actions"].items()}
            assert actions == {key: Decimal(value) for key, value in expected["actions"].items()}, (level, expected)
            purchases_and_leads = expected["actions"].get("purchase", 0) + expected["actions"].get("lead", 0)
            assert row["conversions"] == purchases_and_leads
            compared += 1
    return compared


async def test_connect_then_sync_matches_ground_truth(aiohttp_client, db, stack, graph_sandbox, worker_env):
    settings = make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))
    client = await aiohttp_client(create_app(settings))
    state = graph_sandbox.app[SANDBOX_STATE]
    account = next(iter(state.data.accounts.values()))
    account_id = account.account_id
    await connect(client, db, settings, account_id)

    worker = await run_worker_burst(stack)
    assert worker.jobs_failed == 0

    runs = await db.fetch("select kind, status, graph_calls, rows_written from sync_runs where account_id = $1",
                          account_id)  # fmt: skip
    assert {run["kind"] for run in runs} == {"structure", "insights"}
    assert all(run["status"] == "succeeded" and run["graph_calls"] > 0 for run in runs)

    # every object of every status, archived and deleted included
    for kind, table in (("campaign", "campaigns"), ("adset", "adsets"), ("ad", "ads")):
        truth = {obj["id"] for obj in state.data.objects(account.id, kind)}
        stored = {row["id"] for row in await db.fetch(f"select id from {table} where account_id = $1", account_id)}
        assert stored == truth, kind
    statuses = {row["status"] for row in await db.fetch("select status from campaigns where account_id = $1",
                                                         account_id)}  # fmt: skip
    assert {"ARCHIVED", "DELETED"} & statuses

    window = lookback_window(account_today(account.timezone_name), settings.insights_lookback_days)
    compared = await assert_matches_ground_truth(db, state, account.id, window.since, window.until)
    assert compared > 100

"""GraphClient end to end against the sandbox Marketing API served in-process (fake clock shared by both sides)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adsvc.graph.breaker import BreakerState, CircuitBreaker, CircuitOpen
from adsvc.graph.client import BatchRequest, GraphClient, act, time_range
from adsvc.graph.errors import ErrorKind, GraphError
from adsvc.graph.usage import Pacer
from adsvc.sandbox.data import SandboxConfig
from adsvc.sandbox.server import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, create_sandbox_app

APP_SECRET = "sandbox-app-secret-for-proofs"
TODAY = dt.date(2026, 3, 1)
SINCE, UNTIL = dt.date(2026, 2, 1), dt.date(2026, 2, 28)
CONFIG = SandboxConfig(
    accounts=1, campaigns_per_account=3, adsets_per_campaign=2, ads_per_adset=2, days=30, today=TODAY,
)  # fmt: skip
AD_STATUSES = [
    "ACTIVE", "PAUSED", "DELETED", "ARCHIVED", "IN_PROCESS", "WITH_ISSUES", "CAMPAIGN_PAUSED", "ADSET_PAUSED",
    "DISAPPROVED", "PENDING_REVIEW", "PENDING_BILLING_INFO", "PREAPPROVED",
]  # fmt: skip
# Without an explicit status filter Meta (and the sandbox) leave archived and deleted ads out of insights.
ALL_ADS = [{"field": "ad.effective_status", "operator": "IN", "value": AD_STATUSES}]
METRICS = ["spend", "impressions", "clicks", "reach", "ctr", "cpm"]


class FakeTime:
    """One clock for the sandbox (throttle blocks, score decay) and the client (pacing, polling, breaker)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def sandbox(aiohttp_server: Any, fake_time: FakeTime) -> TestServer:
    app = create_sandbox_app(CONFIG, app_secret=APP_SECRET, clock=fake_time)
    server: TestServer = await aiohttp_server(app)
    return server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def account_id(sandbox: TestServer) -> str:
    return next(iter(sandbox.app[SANDBOX_STATE].data.accounts))


@pytest.fixture
def breaker(fake_time: FakeTime) -> CircuitBreaker:
    return CircuitBreaker("meta", failure_threshold=3, recovery_seconds=30, clock=fake_time)


def make_client(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str, **overrides: Any
) -> GraphClient:
    options: dict[str, Any] = {
        "session": session,
        "access_token": SANDBOX_ACCESS_TOKEN,
        "app_secret": APP_SECRET,
        "account_id": account_id,
        "base_url": str(sandbox.make_url("/")),
        "retry_start_seconds": 0.001,
        "retry_max_seconds": 0.004,
        "poll_initial": 1.0,
        "poll_max": 4.0,
        "stuck_job_timeout": 20.0,
        "sleep": fake_time.sleep,
        "clock": fake_time,
    }
    options.update(overrides)
    return GraphClient(**options)


@pytest.fixture
def client(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str, breaker: CircuitBreaker
) -> GraphClient:
    return make_client(sandbox, session, fake_time, account_id, breaker=breaker)


async def set_faults(session: aiohttp.ClientSession, sandbox: TestServer, profile: dict[str, Any]) -> None:
    async with session.post(sandbox.make_url("/_sandbox/faults"), json=profile) as response:
        assert response.status == 200, await response.text()


async def control(session: aiohttp.ClientSession, sandbox: TestServer, path: str, **query: str) -> Any:
    async with session.get(sandbox.make_url(path), params=query) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def graph_calls(session: aiohttp.ClientSession, sandbox: TestServer) -> int:
    stats = await control(session, sandbox, "/_sandbox/stats")
    return int(stats["graph_calls"])


async def ground_truth(session: aiohttp.ClientSession, sandbox: TestServer, account_id: str) -> dict[Any, Any]:
    body = await control(
        session, sandbox, "/_sandbox/ground-truth", account_id=account_id, level="ad",
        since=SINCE.isoformat(), until=UNTIL.isoformat(),
    )  # fmt: skip
    return {(row["ad_id"], row["date_start"]): _metrics(row) for row in body["data"]}


def _metrics(row: dict[str, Any]) -> dict[str, Decimal]:
    return {name: Decimal(row[name]) for name in METRICS if name in row}


def by_key(rows: list[dict[str, Any]]) -> dict[Any, Any]:
    keyed = {(row["ad_id"], row["date_start"]): _metrics(row) for row in rows}
    assert len(keyed) == len(rows), "a row came back twice"
    assert all(row["date_start"] == row["date_stop"] for row in rows)
    return keyed


def daily_ad_params() -> dict[str, Any]:
    return {
        "level": "ad",
        "fields": ["ad_id", *METRICS],
        "time_range": time_range(SINCE, UNTIL),
        "time_increment": 1,
        "filtering": ALL_ADS,
    }


# ---- objects and paging -------------------------------------------------------------------------------------------


async def test_paging_reads_every_object_in_one_call_per_page(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    statuses = ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED"]
    campaigns = await client.fetch_all(
        f"{act(account_id)}/campaigns", {"fields": ["id", "name", "effective_status"], "effective_status": statuses},
        page_size=1,
    )  # fmt: skip
    truth = await control(session, sandbox, "/_sandbox/objects", account_id=account_id, kind="campaign")
    assert sorted(c["id"] for c in campaigns) == sorted(c["id"] for c in truth["data"]) and len(campaigns) == 3
    # Three pages of one: three calls; the end is the missing `next`, not a short page.
    assert client.calls == 3 == await graph_calls(session, sandbox)

    ads = await client.fetch_all(
        f"{act(account_id)}/ads", {"fields": ["id", "name"], "filtering": ALL_ADS}, page_size=5
    )
    truth = await control(session, sandbox, "/_sandbox/objects", account_id=account_id, kind="ad")
    assert sorted(a["id"] for a in ads) == sorted(a["id"] for a in truth["data"]) and len(ads) == 12
    assert client.calls == 3 + 3 == await graph_calls(session, sandbox)


async def test_a_short_page_with_a_next_link_is_not_the_end(
    aiohttp_server: Any, session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    # Meta caps `limit` per edge and may answer fewer rows than asked mid-way; only a missing `next` ends an edge.
    capped = dataclasses.replace(CONFIG, default_page_size=5, max_page_size=5)
    server: TestServer = await aiohttp_server(create_sandbox_app(capped, app_secret=APP_SECRET, clock=fake_time))
    account_id = next(iter(server.app[SANDBOX_STATE].data.accounts))
    client = make_client(server, session, fake_time, account_id)
    ads = await client.fetch_all(f"{act(account_id)}/ads", {"fields": ["id"], "filtering": ALL_ADS}, page_size=10)
    assert len({ad["id"] for ad in ads}) == 12 and client.calls == 3


async def test_validate_is_one_round_trip_reading_the_account(client: GraphClient, account_id: str) -> None:
    account = await client.validate()
    assert account["id"] == act(account_id)
    assert account["currency"] == "BRL" and account["timezone_name"] == "America/Sao_Paulo"
    assert isinstance(account["account_status"], int) or account["account_status"] == "1"
    assert client.calls == 1
    assert client.usage.present and client.usage.max_pct < 75


async def test_transient_errors_are_retried_until_the_answer_arrives(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str, breaker: CircuitBreaker
) -> None:
    await set_faults(session, sandbox, {"seed": 11, "transient_rate": 0.3})
    ads = await client.fetch_all(f"{act(account_id)}/ads", {"fields": ["id"], "filtering": ALL_ADS}, page_size=1)
    assert len({a["id"] for a in ads}) == 12 == len(ads)
    assert client.retries > 0
    assert client.calls == 12 + client.retries == await graph_calls(session, sandbox)
    assert breaker.state is BreakerState.CLOSED


async def test_an_outage_opens_the_breaker_and_then_calls_fail_fast(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str, breaker: CircuitBreaker
) -> None:
    await set_faults(session, sandbox, {"transient_rate": 1.0})
    for _ in range(3):
        with pytest.raises(GraphError) as failed:
            await client.get(act(account_id), {"fields": ["id"]})
        assert failed.value.kind is ErrorKind.TRANSIENT and failed.value.code in (1, 2)
    assert breaker.state is BreakerState.OPEN
    seen = await graph_calls(session, sandbox)
    assert seen == 3 * 4  # three calls, each tried once and retried three times
    with pytest.raises(CircuitOpen) as refused:
        await client.get(act(account_id), {"fields": ["id"]})
    assert refused.value.retry_after == pytest.approx(30)
    assert await graph_calls(session, sandbox) == seen


async def test_writes_are_never_retried(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    ads = await control(session, sandbox, "/_sandbox/objects", account_id=account_id, kind="ad")
    await set_faults(session, sandbox, {"transient_rate": 1.0})
    with pytest.raises(GraphError) as failed:
        await client.post(f"{ads['data'][0]['id']}/", {"status": "PAUSED"})
    assert failed.value.kind is ErrorKind.TRANSIENT
    assert client.calls == 1 == await graph_calls(session, sandbox) and client.retries == 0


async def test_a_cancelled_probe_lets_the_next_caller_probe(
    client: GraphClient, account_id: str, breaker: CircuitBreaker, fake_time: FakeTime
) -> None:
    for _ in range(3):
        breaker.record_failure(ErrorKind.TRANSIENT)
    fake_time.now += 30
    probe = asyncio.create_task(client.get(act(account_id), {"fields": ["id"]}))
    await asyncio.sleep(0)
    assert breaker.snapshot()["probe_in_flight"]
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert not breaker.snapshot()["probe_in_flight"]
    assert (await client.get(act(account_id), {"fields": ["id"]}))["id"] == act(account_id)
    assert breaker.state is BreakerState.CLOSED


async def test_expired_token_is_an_auth_error_and_no_outage(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str, breaker: CircuitBreaker
) -> None:
    async with session.post(sandbox.make_url("/_sandbox/expire-token"), json={"subcode": 463}) as response:
        assert response.status == 200
    with pytest.raises(GraphError) as failed:
        await client.validate()
    assert (failed.value.kind, failed.value.code, failed.value.subcode) == (ErrorKind.AUTH, 190, 463)
    assert client.calls == 1 and breaker.state is BreakerState.CLOSED


async def test_wrong_token_is_auth_and_the_token_never_reaches_logs_or_errors(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    good = make_client(sandbox, session, fake_time, account_id)
    await set_faults(session, sandbox, {"seed": 5, "transient_rate": 0.3})
    # Paging links carry the token (as Meta's do); the client must drop it and send its own header.
    await good.fetch_all(f"{act(account_id)}/ads", {"fields": ["id"], "filtering": ALL_ADS}, page_size=2)
    wrong_token = "EAAwrongtoken0123456789abcdefABCDEF"
    bad = make_client(sandbox, session, fake_time, account_id, access_token=wrong_token)
    with pytest.raises(GraphError) as failed:
        await bad.validate()
    assert failed.value.kind is ErrorKind.AUTH and failed.value.code == 190
    texts = [caplog.text, str(failed.value), repr(failed.value), str(failed.value.as_dict())]
    for text in texts:
        assert SANDBOX_ACCESS_TOKEN not in text and wrong_token not in text
    # The sandbox's own access log shows every URL we sent: none carried a token.
    assert "access_token" not in caplog.text


# ---- rate limits --------------------------------------------------------------------------------------------------


async def test_throttle_raises_with_the_eta_and_blocks_until_it(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str,
    breaker: CircuitBreaker, fake_time: FakeTime,
) -> None:  # fmt: skip
    await set_faults(session, sandbox, {"throttle_rate": 1.0, "throttle_codes": [17], "block_seconds": 600})
    with pytest.raises(GraphError) as failed:
        await client.get(act(account_id), {"fields": ["id"]})
    error = failed.value
    assert (error.kind, error.code, error.subcode) == (ErrorKind.THROTTLE, 17, 2446079)
    # 600 s announced as 10 minutes in x-business-use-case-usage; never retried inside the client.
    assert error.retry_after == 600
    assert client.calls == 1 == await graph_calls(session, sandbox)
    assert breaker.state is BreakerState.THROTTLED and breaker.failures == 0
    fake_time.now += 100
    with pytest.raises(CircuitOpen) as refused:
        await client.get(act(account_id), {"fields": ["id"]})
    assert refused.value.state is BreakerState.THROTTLED and refused.value.retry_after == pytest.approx(500)
    assert await graph_calls(session, sandbox) == 1
    await set_faults(session, sandbox, {})
    fake_time.now += 501
    assert (await client.get(act(account_id), {"fields": ["id"]}))["id"] == act(account_id)
    assert breaker.state is BreakerState.CLOSED


async def development_tier(aiohttp_server: Any, fake_time: FakeTime) -> tuple[TestServer, str]:
    """A sandbox on the development tier: 60 points per account, decaying over 300 s, then a 300 s block."""
    config = dataclasses.replace(CONFIG, tier="development")
    server: TestServer = await aiohttp_server(create_sandbox_app(config, app_secret=APP_SECRET, clock=fake_time))
    return server, next(iter(server.app[SANDBOX_STATE].data.accounts))


async def test_pacer_slows_down_before_the_score_model_blocks(
    aiohttp_server: Any, session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    sandbox, account_id = await development_tier(aiohttp_server, fake_time)
    client = make_client(sandbox, session, fake_time, account_id, pacer=Pacer())
    for _ in range(120):
        await client.get(act(account_id), {"fields": ["id"]})
    # 120 reads on a 60-point budget went through without a single 17 block, because the client waited first.
    assert client.calls == 120 == await graph_calls(session, sandbox)
    assert client.usage.max_pct < 85
    assert sum(fake_time.slept) > 200


async def test_pacer_refuses_live_calls_that_would_wait_too_long(
    aiohttp_server: Any, session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    sandbox, account_id = await development_tier(aiohttp_server, fake_time)
    client = make_client(sandbox, session, fake_time, account_id, pacer=Pacer(), max_pace_wait=5.0)
    with pytest.raises(GraphError) as paced:
        for _ in range(60):
            await client.get(act(account_id), {"fields": ["id"]})
    assert paced.value.kind is ErrorKind.THROTTLE and paced.value.code is None
    assert paced.value.retry_after is not None and paced.value.retry_after > 5
    assert client.calls == await graph_calls(session, sandbox) < 60


# ---- batch --------------------------------------------------------------------------------------------------------


async def test_batch_retries_null_entries_and_answers_in_order(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str
) -> None:
    client = make_client(sandbox, session, fake_time, account_id, batch_null_retries=8)
    ads = await control(session, sandbox, "/_sandbox/objects", account_id=account_id, kind="ad")
    ids = [ad["id"] for ad in ads["data"]] * 6  # 72 entries: two chunks
    await set_faults(session, sandbox, {"seed": 3, "batch_null_rate": 0.3})
    before = await graph_calls(session, sandbox)
    results = await client.batch([BatchRequest.get(f"{ad_id}/", {"fields": ["id", "status"]}) for ad_id in ids])
    assert [r.error for r in results if not r.ok] == []
    assert [r.body["id"] for r in results] == ids
    assert all(r.ok and r.status == 200 and r.usage.present for r in results)
    assert client.retries > 0
    # Entries that ran are the calls, as Meta counts them.
    assert client.calls == await graph_calls(session, sandbox) - before >= 72


async def test_batch_null_retries_are_bounded(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    await set_faults(session, sandbox, {"batch_null_rate": 1.0})
    results = await client.batch([BatchRequest.get(act(account_id)), BatchRequest.post("123/", {"status": "PAUSED"})])
    assert [r.error.kind if r.error else None for r in results] == [ErrorKind.TRANSIENT, ErrorKind.TRANSIENT]
    stats = await control(session, sandbox, "/_sandbox/stats")
    # The read was asked 1 + 3 times; the write only once, since a timed-out write may have been applied.
    assert stats["batch_requests"] == 4 and client.calls == 0 == stats["graph_calls"]


async def test_batch_entry_errors_are_classified_one_by_one(client: GraphClient, account_id: str) -> None:
    results = await client.batch(
        [
            BatchRequest.get(act(account_id), {"fields": ["id"]}),
            BatchRequest.get("999999/"),
            BatchRequest.get(act(account_id), {"fields": ["no_such_field"]}),
        ]
    )
    assert results[0].ok and results[0].body["id"] == act(account_id)
    assert results[1].error is not None and (results[1].error.code, results[1].error.subcode) == (100, 33)
    assert results[2].error is not None and results[2].error.kind is ErrorKind.PERMANENT
    assert client.calls == 3


# ---- insights -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "split"),
    [
        ({}, False),
        ({"running_at_100_polls": 4}, False),
        ({"preset": "flaky"}, False),
        ({"seed": 5, "stuck_job_rate": 0.3}, True),
        ({"seed": 7, "failed_job_rate": 0.1}, True),
        ({"max_async_days_ad_level": 6}, True),
    ],
    ids=["clean", "running-at-100", "flaky", "stuck", "failed", "too-much-data"],
)
async def test_async_insights_equal_ground_truth_through_faults(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str,
    profile: dict[str, Any], split: bool,
) -> None:  # fmt: skip
    truth = await ground_truth(session, sandbox, account_id)
    await set_faults(session, sandbox, profile)
    rows = [row async for row in client.async_insights(account_id, daily_ad_params(), page_size=50)]
    assert by_key(rows) == truth
    assert (client.report_runs > 1) is split


async def test_async_insights_without_splitting_raise_the_jobs_error(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    await set_faults(session, sandbox, {"failed_job_rate": 1.0})
    with pytest.raises(GraphError) as failed:
        async for _ in client.async_insights(account_id, daily_ad_params(), split_on_failure=False):
            pass
    assert "Job Failed" in str(failed.value) and client.report_runs == 1
    # A job that died of an unknown error (code 1) is worth rescheduling.
    assert failed.value.kind is ErrorKind.TRANSIENT


async def test_results_fetched_too_early_keep_polling(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str
) -> None:
    class TrustsFirstPoll(GraphClient):
        """Acts as if Meta had said Job Completed on the first poll, as it sometimes does."""

        lied = False

        async def _wait_for_run(self, run_id: str) -> dict[str, Any]:
            if not self.lied:
                self.lied = True
                return {}
            return await super()._wait_for_run(run_id)

    client = TrustsFirstPoll(
        session=session, access_token=SANDBOX_ACCESS_TOKEN, account_id=account_id, base_url=str(sandbox.make_url("/")),
        retry_start_seconds=0.001, retry_max_seconds=0.002, max_retries=1, poll_initial=1, sleep=fake_time.sleep,
        clock=fake_time,
    )  # fmt: skip
    truth = await ground_truth(session, sandbox, account_id)
    rows = [row async for row in client.async_insights(account_id, daily_ad_params())]
    assert by_key(rows) == truth and client.report_runs == 1
    assert client.retries >= 1  # the 2601 answers


async def test_sync_insights_page_and_equal_ground_truth(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    truth = await ground_truth(session, sandbox, account_id)
    rows = await client.insights(act(account_id), {**daily_ad_params(), "limit": 100})
    assert by_key(rows) == truth
    assert client.calls == -(-len(truth) // 100)
    assert client.insights_usage.insights_pct is not None


async def test_reduce_data_shrinks_the_page_then_the_field_list(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    truth = await ground_truth(session, sandbox, account_id)
    await set_faults(session, sandbox, {"max_sync_fields": 4})
    rows = await client.insights(act(account_id), daily_ad_params())
    assert by_key(rows) == truth
    assert all(set(METRICS) <= row.keys() for row in rows)
    # limit 500, 250, 125, 62, 31, 25 refused; then two field halves of one page each.
    assert client.calls == 6 + 2


async def test_a_failing_single_day_splits_by_campaign_then_bisects_ids(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    day = dt.date(2026, 2, 14)
    body = await control(
        session, sandbox, "/_sandbox/ground-truth", account_id=account_id, level="ad",
        since=day.isoformat(), until=day.isoformat(),
    )  # fmt: skip
    truth = {(row["ad_id"], row["date_start"]): _metrics(row) for row in body["data"]}
    # Seed 7 fails the first job and the third: one day cannot be halved, so campaigns are listed and bisected.
    await set_faults(session, sandbox, {"seed": 7, "failed_job_rate": 0.1})
    params = {**daily_ad_params(), "time_range": time_range(day, day)}
    rows = [row async for row in client.async_insights(account_id, params)]
    assert by_key(rows) == truth and len(truth) > 0
    runs = list(sandbox.app[SANDBOX_STATE].report_runs.values())
    scoped = [set(run.query.object_ids) for run in runs[1:]]
    everything = set(runs[0].query.object_ids)
    assert len(runs) >= 3 and all(ids < everything for ids in scoped)
    # The jobs that completed never overlap, and cover every ad that had data that day.
    done = [ad for run in runs if run.completed for ad in run.query.object_ids]
    assert len(done) == len(set(done)) and {ad for ad, _ in truth} <= set(done)


# ---- throttles in the middle of a report (issue 9) ------------------------------------------------------------------


class DictRuns:
    """A ReportRunMemory in a dict: what a job keeps in Redis between its tries."""

    def __init__(self) -> None:
        self.runs: dict[str, str] = {}

    async def recall(self, key: str) -> str | None:
        return self.runs.get(key)

    async def remember(self, key: str, run_id: str) -> None:
        self.runs[key] = run_id

    async def forget(self, key: str) -> None:
        self.runs.pop(key, None)


async def test_a_throttle_mid_report_is_resumed_by_paging_the_same_run(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str, fake_time: FakeTime
) -> None:
    state = sandbox.app[SANDBOX_STATE]
    truth = await ground_truth(session, sandbox, account_id)
    await set_faults(session, sandbox, {"throttle_report_poll": 2, "throttle_eta": False, "throttle_codes": [80004],
                                        "block_seconds": 30, "running_at_100_polls": 2})  # fmt: skip
    runs = DictRuns()
    with pytest.raises(GraphError) as throttled:
        async for _ in client.async_insights(account_id, daily_ad_params(), runs=runs):
            pass
    assert throttled.value.kind is ErrorKind.THROTTLE and state.report_run_counter == 1
    fake_time.now += 61  # the block (30 s) and the breaker's hold (80004 without ETA: 60 s) are over
    rows = [row async for row in client.async_insights(account_id, daily_ad_params(), runs=runs)]
    assert by_key(rows) == truth
    # the run Meta already had was polled and paged: no second POST
    assert state.report_run_counter == 1 and client.report_runs == 1 and client.resumed_report_runs == 1


async def test_a_remembered_run_meta_no_longer_has_is_asked_for_again(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    state = sandbox.app[SANDBOX_STATE]
    truth = await ground_truth(session, sandbox, account_id)
    runs = DictRuns()
    rows = [row async for row in client.async_insights(account_id, daily_ad_params(), runs=runs)]
    assert by_key(rows) == truth and state.report_run_counter == 1
    state.report_runs.clear()  # Meta expired it
    rows = [row async for row in client.async_insights(account_id, daily_ad_params(), runs=runs)]
    assert by_key(rows) == truth and state.report_run_counter == 2 and client.resumed_report_runs == 0


async def test_a_failed_remembered_run_is_forgotten_and_split_anew(
    client: GraphClient, session: aiohttp.ClientSession, sandbox: TestServer, account_id: str
) -> None:
    truth = await ground_truth(session, sandbox, account_id)
    await set_faults(session, sandbox, {"failed_job_rate": 1.0})
    runs = DictRuns()
    with pytest.raises(GraphError):
        async for _ in client.async_insights(account_id, daily_ad_params(), runs=runs, split_on_failure=False):
            pass
    assert runs.runs == {}  # never reused: its retry asks anew
    await set_faults(session, sandbox, {})
    rows = [row async for row in client.async_insights(account_id, daily_ad_params(), runs=runs)]
    assert by_key(rows) == truth and client.resumed_report_runs == 0


async def test_a_throttle_without_eta_is_estimated_and_scaled_like_pacing(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str, breaker: CircuitBreaker
) -> None:
    client = make_client(sandbox, session, fake_time, account_id, breaker=breaker, pacer=Pacer(time_scale=0.01))
    await set_faults(session, sandbox, {"throttle_rate": 1.0, "throttle_codes": [17], "throttle_eta": False})
    with pytest.raises(GraphError) as throttled:
        await client.validate()
    # 17 without an ETA, its usage headers at 100%: the longer of the quota block (300 s) and the full budget's
    # estimate (900 s), scaled like every pacing wait
    assert throttled.value.kind is ErrorKind.THROTTLE and throttled.value.retry_after == pytest.approx(9.0)
    assert client.throttled_until == pytest.approx(fake_time.now + 9.0)
    with pytest.raises(CircuitOpen):
        await client.validate()


async def test_usage_at_100_percent_without_eta_makes_a_worker_client_give_the_wait_back(
    sandbox: TestServer, session: aiohttp.ClientSession, fake_time: FakeTime, account_id: str
) -> None:
    state = sandbox.app[SANDBOX_STATE]
    client = make_client(sandbox, session, fake_time, account_id, pacer=Pacer(), max_pace_wait=60.0)
    await set_faults(session, sandbox, {"usage_full_rate": 1.0, "throttle_eta": False, "block_seconds": 600})
    await client.validate()  # answered, but the budget is now spent and no ETA is given
    assert client.usage.max_pct == 100 and client.usage.eta_seconds == 0
    calls = state.stats.graph_calls
    with pytest.raises(GraphError) as paced:
        await client.validate()
    # not a 900 s sleep inside the caller: THROTTLE at once, with the estimate to reschedule for
    assert paced.value.kind is ErrorKind.THROTTLE and paced.value.retry_after == pytest.approx(900)
    assert fake_time.slept == [] and state.stats.graph_calls == calls

"""generate_suggestions end to end: a sandbox account connected through the API and synced by the real arq worker,
then the suggestions job run by a burst worker over the stored data."""

from __future__ import annotations

from typing import Any

from accounts.helpers import Caller, connect_ok, new_caller, sandbox_accounts, sandbox_state
from aiohttp.test_utils import TestClient
from arq import func
from arq.connections import RedisSettings
from arq.worker import Worker

from adsvc.app import create_app
from adsvc.keys import ARQ, PG
from jobs.suggestions import generate_suggestions
from jobs.worker import WorkerSettings

FUNCTIONS = [*WorkerSettings.functions, func(generate_suggestions, max_tries=3, timeout=120)]


async def run_burst(stack: Any) -> None:
    worker = Worker(
        functions=FUNCTIONS,
        cron_jobs=[],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(stack.redis_url),
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
        max_jobs=1,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_failed == 0


async def synced_account(
    client: TestClient, db: Any, settings: Any, stack: Any, graph_sandbox: Any
) -> tuple[Caller, str]:
    """A new owner of the sandbox account, synced once per test session (the sandbox is deterministic); the
    account starts with no suggestions."""
    account_id = sandbox_accounts(graph_sandbox)[0].account_id
    caller = await new_caller(client, db, settings)
    if await db.fetchval("select last_insights_sync_at from ad_accounts where id = $1", account_id) is None:
        await connect_ok(client, caller, account_id)
        await run_burst(stack)
    await db.execute(
        """insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'owner')
           on conflict (account_id, user_id) do update set role = 'owner'""",
        account_id,
        caller.user.id,
    )
    await db.execute("delete from suggestions where account_id = $1", account_id)
    return caller, account_id


async def run_job(client: TestClient, stack: Any, account_id: str, tag: str) -> dict[str, Any]:
    job = await client.app[ARQ].enqueue_job("generate_suggestions", account_id, _job_id=f"suggestions-{tag}")
    assert job is not None
    await run_burst(stack)
    result: dict[str, Any] = await job.result(timeout=5)
    return result


async def open_suggestions(db: Any, account_id: str) -> dict[tuple[str, str], Any]:
    rows = await db.fetch(
        """select id, object_type, object_id, kind, status, evidence, proposal, rationale, updated_at, expires_at
           from suggestions where account_id = $1 and status = 'open'""",
        account_id,
    )
    return {(row["object_id"], row["kind"]): row for row in rows}


async def test_suggestions_appear_for_the_sandbox_underperformers_and_a_second_run_changes_nothing(
    aiohttp_client, db, stack, settings, graph_sandbox, worker_env
):
    client = await aiohttp_client(create_app(settings))
    _, account_id = await synced_account(client, db, settings, stack, graph_sandbox)
    campaigns = {row["id"]: row for row in await db.fetch(
        "select id, effective_status, daily_budget from campaigns where account_id = $1", account_id)}  # fmt: skip
    quality = {obj.id: ("poor", "normal", "star")[obj.params[0]]
               for obj in sandbox_state(graph_sandbox).data.by_account[account_id]["campaign"]}  # fmt: skip
    active = {cid for cid, row in campaigns.items() if row["effective_status"] == "ACTIVE"}
    poor = {cid for cid in active if quality[cid] == "poor"}
    star = {cid for cid in active if quality[cid] == "star"}
    assert poor and star, "the sandbox config no longer holds both extremes among its active campaigns"

    first = await run_job(client, stack, account_id, "first")
    assert first["inserted"] == first["drafts"] > 0 and first["expired"] == 0
    stored = await open_suggestions(db, account_id)
    assert len(stored) == first["inserted"]
    for cid in poor:
        pause = stored[(cid, "pause_underperformer")]
        assert pause["proposal"] == {"action": "pause"}
        assert float(pause["evidence"]["ctr"]) < 1.0 and float(pause["evidence"]["spend"]) >= 20
        assert pause["rationale"].startswith("Pause campaign")
        if campaigns[cid]["daily_budget"]:
            lower = stored[(cid, "lower_budget")]["proposal"]
            assert lower["from"] == campaigns[cid]["daily_budget"]
            assert lower["to"] == lower["from"] - lower["from"] * 20 // 100
    for cid in star:
        assert (cid, "pause_underperformer") not in stored
        if campaigns[cid]["daily_budget"]:
            raise_ = stored[(cid, "raise_budget")]["proposal"]
            assert raise_["to"] == raise_["from"] + raise_["from"] * 20 // 100
    assert all(object_id in active or object_id == account_id for object_id, _ in stored)
    plan = stored[(account_id, "reallocation")]["proposal"]
    sources = {s["campaign_id"] for s in plan["sources"]}
    destinations = {d["campaign_id"] for d in plan["destinations"]}
    assert {cid for cid in poor if campaigns[cid]["daily_budget"]} <= sources
    assert {cid for cid in star if campaigns[cid]["daily_budget"]} <= destinations
    assert sum(d["amount"] for d in plan["destinations"]) == plan["total"] == sum(s["amount"] for s in plan["sources"])

    second = await run_job(client, stack, account_id, "second")
    assert (second["inserted"], second["refreshed"], second["expired"]) == (0, 0, 0)
    assert second["unchanged"] == first["drafts"]
    again = await open_suggestions(db, account_id)
    assert {key: dict(row) for key, row in again.items()} == {key: dict(row) for key, row in stored.items()}


async def test_a_dismissed_suggestion_is_not_recreated_and_one_that_stops_holding_expires(
    aiohttp_client, db, stack, settings, graph_sandbox, worker_env
):
    client = await aiohttp_client(create_app(settings))
    caller, account_id = await synced_account(client, db, settings, stack, graph_sandbox)
    await run_job(client, stack, account_id, "before")
    stored = await open_suggestions(db, account_id)
    (pause_key, pause), *_ = sorted(
        ((key, row) for key, row in stored.items() if key[1] == "pause_underperformer"), key=lambda item: item[0]
    )
    response = await client.post(f"/api/v1/suggestions/{pause['id']}/dismiss", headers=caller.headers)
    assert response.status == 200, await response.text()

    raised = sorted(key for key in stored if key[1] == "raise_budget")
    assert raised, "no raise_budget suggestion to make stale"
    star_id = raised[0][0]
    await db.execute("update campaigns set effective_status = 'PAUSED' where id = $1", star_id)
    try:
        result = await run_job(client, stack, account_id, "after")
    finally:
        await db.execute("update campaigns set effective_status = 'ACTIVE' where id = $1", star_id)
    assert result["suppressed"] == 1 and result["inserted"] == 0
    assert result["expired"] >= 1
    now_open = await open_suggestions(db, account_id)
    assert pause_key not in now_open
    assert await db.fetchval("select status from suggestions where id = $1", pause["id"]) == "dismissed"
    assert await db.fetchval(
        "select count(*) from suggestions where object_id = $1 and kind = $2", *pause_key) == 1  # fmt: skip
    assert (star_id, "raise_budget") not in now_open
    assert await db.fetchval("select status from suggestions where id = $1", stored[raised[0]]["id"]) == "expired"
    assert not any(object_id == star_id for object_id, _ in now_open)


async def test_a_missing_account_is_skipped(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    result = await generate_suggestions({"pg": client.app[PG]}, "999999999999999999")
    assert result == {"account_id": "999999999999999999", "skipped": "no such account"}

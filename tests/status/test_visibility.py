"""The public ops pages show component health to anyone; account names and ids, worker hosts and PIDs and error
texts only to an administrator (a plain user's token, a bad token or none at all get the public view)."""

from __future__ import annotations

import time

import pytest
from accounts.helpers import connect_ok, graph_url, new_caller, sandbox_accounts
from factories import bearer, make_settings

from adsvc.app import create_app
from adsvc.collection.queries import finish_run, start_run
from adsvc.graph.errors import ErrorKind
from adsvc.keys import AGENTS, BREAKERS, REDIS
from adsvc.status.workers import WorkerBeat, record_heartbeat

WORKER_HOST = "worker-host-7f3a.internal"
WORKER_PID = 48213
ERROR_TEXT = "upstream said: quota exhausted for app 99127"


@pytest.fixture
async def ops(aiohttp_client, db, stack, graph_sandbox):
    """An app with something private to show: a connected account with a cached agent, a tripped breaker, a failed
    sync with an error text, and a worker heartbeat. Returns the client, the account, a member and an admin."""
    settings = make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))
    client = await aiohttp_client(create_app(settings))
    account = sandbox_accounts(graph_sandbox)[0]
    member = await new_caller(client, db, settings)
    admin = await new_caller(client, db, settings, is_admin=True)
    await connect_ok(client, member, account.account_id)
    app = client.server.app
    await app[AGENTS].get(account.account_id)
    breaker = app[BREAKERS].get("meta", account.account_id)
    for _ in range(settings.breaker_failure_threshold):
        breaker.record_failure(ErrorKind.TRANSIENT)
    run_id = await start_run(db, account_id=account.account_id, kind="insights", job_id=None, since=None, until=None)
    await finish_run(db, run_id=run_id, status="failed", error_kind="transient", error=ERROR_TEXT)
    now = time.time()
    await record_heartbeat(app[REDIS], WorkerBeat(worker_id="w-visibility", host=WORKER_HOST, pid=WORKER_PID,
                                                  started_at=now - 5, beat_at=now))  # fmt: skip
    return client, account, member, admin


def _private_bits(account) -> list[str]:
    return [account.name, account.account_id, WORKER_HOST, str(WORKER_PID), ERROR_TEXT, "w-visibility"]


@pytest.mark.parametrize("who", ["anonymous", "member", "bad token"])
async def test_status_page_shows_others_component_health_only(ops, who):
    client, account, member, _ = ops
    headers = {"anonymous": {}, "member": member.headers, "bad token": bearer("not-a-token")}[who]
    response = await client.get("/status", headers=headers)
    assert response.status == 200
    html = await response.text()
    for component in ("Database", "Redis", "Migrations", "Workers"):
        assert component in html
    assert "1 worker alive." in html and "circuit breakers not closed: 1" in html
    assert "PostgreSQL" not in html  # no server versions either
    for private in _private_bits(account):
        assert private not in html, private
    assert "shown to administrators only" in html


async def test_status_page_shows_an_admin_every_detail(ops):
    client, account, _, admin = ops
    html = await (await client.get("/status", headers=admin.headers)).text()
    for private in _private_bits(account):
        assert private in html, private
    assert "shown to administrators only" not in html


@pytest.mark.parametrize("who", ["anonymous", "member", "bad token"])
async def test_agent_cache_health_shows_others_the_aggregate_only(ops, who):
    client, account, member, _ = ops
    headers = {"anonymous": {}, "member": member.headers, "bad token": bearer("not-a-token")}[who]
    response = await client.get("/health/agent-cache", headers=headers)
    assert response.status == 200
    body = await response.json()
    assert (body["status"], body["cached"], body["creation_count"], body["breakers_open"]) == ("healthy", 1, 1, 1)
    assert body["accounts"] is None and body["breakers"] is None
    text = await response.text()
    for private in _private_bits(account):
        assert private not in text, private


async def test_agent_cache_health_shows_an_admin_accounts_and_breakers(ops):
    client, account, _, admin = ops
    body = await (await client.get("/health/agent-cache", headers=admin.headers)).json()
    assert body["accounts"][account.account_id]["cached"] is True
    breaker = next(b for b in body["breakers"] if b["name"] == f"meta:{account.account_id}")
    assert (breaker["state"], breaker["last_error"]) == ("open", "transient")


async def test_a_demoted_admins_token_no_longer_shows_detail(ops, db):
    client, _, _, admin = ops
    await db.execute("update users set is_admin = false where id = $1", admin.user.id)
    body = await (await client.get("/health/agent-cache", headers=admin.headers)).json()
    assert body["accounts"] is None


async def test_metrics_stay_scrapeable_anonymously(ops):
    client = ops[0]
    response = await client.get("/metrics")
    assert response.status == 200 and "facebook_agent_cache_hits_total" in await response.text()

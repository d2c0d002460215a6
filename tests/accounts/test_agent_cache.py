"""The agent cache of a real app against the sandbox: observable on /health/agent-cache, dropped by the audited
admin endpoint, and single-flight (100 concurrent cold requests cost ONE creation and ONE account read at Meta)."""

from __future__ import annotations

import asyncio

from accounts.helpers import connect_ok, new_caller, sandbox_accounts, sandbox_state

from adsvc.keys import AGENTS


async def cache_health(client, headers: dict[str, str] | None = None) -> dict:
    """The public aggregate; with an admin's headers, per account and breakers too."""
    response = await client.get("/health/agent-cache", headers=headers or {})
    assert response.status == 200
    return await response.json()


async def test_agent_cache_health_shows_age_ttl_hits_and_misses(client, db, settings, graph_sandbox):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings, is_admin=True)
    await connect_ok(client, caller, account.account_id)
    cold = await cache_health(client)
    assert (cold["status"], cold["cached"], cold["creation_count"], cold["hits"]) == ("empty", 0, 0, 0)

    agents = client.server.app[AGENTS]
    first = await agents.get(account.account_id)
    second = await agents.get(account.account_id)
    assert first is second

    health = await cache_health(client, caller.headers)
    assert health["status"] == "healthy"
    assert health["cached"] == 1
    assert 0 <= health["cache_age_seconds"] < settings.agent_cache_ttl_seconds
    assert health["cache_ttl_seconds"] == settings.agent_cache_ttl_seconds
    assert health["is_valid"] is True
    assert (health["creation_count"], health["hits"], health["misses"]) == (1, 1, 1)
    assert health["last_creation_time"] is not None
    per_account = health["accounts"][account.account_id]
    assert (per_account["status"], per_account["cached"], per_account["creation_count"]) == ("healthy", True, 1)


async def test_admin_invalidation_drops_cached_agents_and_is_audited(client, db, settings, graph_sandbox):
    account = sandbox_accounts(graph_sandbox)[0]
    member = await new_caller(client, db, settings)
    admin = await new_caller(client, db, settings, is_admin=True)
    await connect_ok(client, member, account.account_id)
    agents = client.server.app[AGENTS]
    await agents.get(account.account_id)

    refused = await client.post("/api/v1/admin/agent-cache/invalidate", json={}, headers=member.headers)
    assert refused.status == 403
    assert (await cache_health(client))["cached"] == 1

    response = await client.post("/api/v1/admin/agent-cache/invalidate", json={}, headers=admin.headers)
    assert response.status == 200
    body = await response.json()
    assert body["dropped_here"] == 1
    assert body["processes_notified"] >= 1  # this app's own listener at least
    health = await cache_health(client)
    assert (health["cached"], health["cache_age_seconds"]) == (0, None)
    assert agents.peek(account.account_id) is None

    await agents.get(account.account_id)  # the next request builds a new one
    assert (await cache_health(client))["creation_count"] == 2
    one = await client.post("/api/v1/admin/agent-cache/invalidate", json={"account_id": account.id},
                            headers=admin.headers)  # fmt: skip
    assert (await one.json())["dropped_here"] == 1

    audited = await db.fetch(
        "select actor_id, target_type, target_id, details from audit_log "
        "where action = 'agent_cache.invalidate' and actor_id = any($1::bigint[]) order by id",
        [member.user.id, admin.user.id],
    )
    assert [(row["actor_id"], row["target_type"], row["target_id"]) for row in audited] == [
        (admin.user.id, "agent_cache", None),
        (admin.user.id, "ad_account", account.account_id),
    ]
    assert audited[0]["details"]["dropped_here"] == 1


async def test_hundred_concurrent_cold_requests_create_one_agent_with_one_account_read(
    client, db, settings, graph_sandbox
):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    stats = sandbox_state(graph_sandbox).stats
    reads_before = stats.by_account_kind.get(account.account_id, {}).get("account", 0)
    calls_before = stats.graph_calls
    agents = client.server.app[AGENTS]

    built = await asyncio.gather(*(agents.get(account.account_id) for _ in range(100)))

    assert len({id(agent) for agent in built}) == 1
    assert agents.stats(account.account_id)["creation_count"] == 1
    assert (await cache_health(client))["creation_count"] == 1
    response = await client.session.get(graph_sandbox.make_url("/_sandbox/stats"))
    seen = await response.json()
    assert seen["by_account_kind"][account.account_id]["account"] - reads_before == 1
    assert seen["graph_calls"] - calls_before == 1

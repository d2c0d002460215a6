"""Tenancy: another user's account, campaigns and ads answer 404 (exactly as a nonexistent id does) on every
endpoint that takes an id, and lists never include them."""

from __future__ import annotations

from accounts.helpers import connect_ok, insert_account_with_objects, new_caller, sandbox_accounts


async def test_another_users_account_campaigns_and_ads_answer_404_everywhere(
    client, db, settings, graph_sandbox, ensure_synced
):
    mine = sandbox_accounts(graph_sandbox)[0]
    alice = await new_caller(client, db, settings)
    bob = await new_caller(client, db, settings)
    await connect_ok(client, alice, mine.account_id)
    await ensure_synced(mine.account_id)
    # Bob's account is written straight to SQL: syncing the sandbox's other account here would add sync runs
    # that tests/jobs counts for that account
    theirs = await insert_account_with_objects(db, user_id=bob.user.id)

    def requests(account: str, campaign: str, ad: str) -> list[tuple[str, str, dict | None]]:
        return [
            ("GET", f"/api/v1/ad-accounts/{account}", None),
            ("GET", f"/api/v1/ad-accounts/act_{account}", None),
            ("POST", f"/api/v1/ad-accounts/{account}/sync", {"kind": "structure"}),
            ("GET", f"/api/v1/ad-accounts/{account}/sync-runs", None),
            ("GET", f"/api/v1/campaigns/{campaign}", None),
            ("GET", f"/api/v1/campaigns/{campaign}/insights", None),
            ("GET", f"/api/v1/metrics/ad-performance?ad_id={ad}", None),
        ]

    async def call(caller, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        response = await client.request(method, path, json=body, headers=caller.headers)
        return response.status, await response.json()

    theirs_requests = requests(theirs.account_id, theirs.campaign_id, theirs.ad_id)
    # the ids are real: their member gets answers ...
    for method, path, body in theirs_requests:
        status, _ = await call(bob, method, path, body)
        assert status in (200, 202), (method, path, status)
    # ... and to anyone else they are indistinguishable from ids that do not exist
    missing_requests = requests("999999999999999", "1", "1")
    for (method, path, body), (_, missing_path, _) in zip(theirs_requests, missing_requests, strict=True):
        status, error = await call(alice, method, path, body)
        missing_status, missing_error = await call(alice, method, missing_path, body)
        assert status == missing_status == 404, (method, path, status)
        assert error["error"]["code"] == missing_error["error"]["code"] == "not_found"
        assert error["error"]["message"] == missing_error["error"]["message"]

    async def listed_campaigns(caller, **params: str) -> set[str]:
        response = await client.get("/api/v1/campaigns", params={"limit": "200", **params}, headers=caller.headers)
        assert response.status == 200
        return {row["id"] for row in (await response.json())["data"]}

    my_campaigns = {
        row["id"] for row in await db.fetch("select id from campaigns where account_id = $1", mine.account_id)
    }
    assert my_campaigns
    assert await listed_campaigns(alice) == my_campaigns
    assert await listed_campaigns(alice, account_id=theirs.account_id) == set()
    assert await listed_campaigns(alice, account_id=f"act_{theirs.account_id}") == set()
    assert await listed_campaigns(alice, q="Synthetic") == set()
    assert await listed_campaigns(bob) == {theirs.campaign_id}

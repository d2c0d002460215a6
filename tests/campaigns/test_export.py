"""The BI export: API keys made by an admin (shown once, never listed, audited), and GET /api/v1/metrics/export
with X-API-Key returning one row per campaign per day of the key owner's accounts only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from accounts.helpers import (
    Caller,
    connect_ok,
    insert_account_with_objects,
    new_caller,
    sandbox_accounts,
    sandbox_state,
)

from adsvc.collection.plan import account_today

EXPORT = "/api/v1/metrics/export"


async def create_key(client, admin: Caller, user_id: int, name: str = "bi") -> dict[str, Any]:
    response = await client.post("/api/v1/admin/api-keys", json={"user_id": user_id, "name": name},
                                 headers=admin.headers)  # fmt: skip
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def period(days_back_from: int, days_back_to: int, today) -> dict[str, str]:
    return {"date_from": (today - timedelta(days=days_back_from)).isoformat(),
            "date_until": (today - timedelta(days=days_back_to)).isoformat()}  # fmt: skip


async def test_api_key_is_in_the_create_response_only_and_never_listed(client, db, settings):
    admin = await new_caller(client, db, settings, is_admin=True)
    member = await new_caller(client, db, settings)

    created = await create_key(client, admin, member.user.id)

    assert created["key"].startswith(created["prefix"]) and len(created["key"]) > len(created["prefix"]) + 20
    assert created["user_id"] == member.user.id and created["revoked_at"] is None
    listed = await client.get("/api/v1/admin/api-keys", headers=admin.headers)
    assert listed.status == 200
    text = await listed.text()
    assert created["key"] not in text
    mine = [key for key in (await listed.json())["data"] if key["id"] == created["id"]]
    assert len(mine) == 1 and "key" not in mine[0]
    assert mine[0]["prefix"] == created["prefix"]
    stored = await db.fetchrow("select * from api_keys where id = $1", created["id"])
    assert created["key"].encode() not in b"".join(str(value).encode() for value in stored.values())

    refused = await client.post("/api/v1/admin/api-keys", json={"user_id": member.user.id, "name": "x"},
                                headers=member.headers)  # fmt: skip
    assert refused.status == 403


async def test_export_has_one_row_per_campaign_per_day_of_the_key_owners_accounts_only(
    client, db, settings, graph_sandbox, ensure_synced
):
    mine = sandbox_accounts(graph_sandbox)[0]
    admin = await new_caller(client, db, settings, is_admin=True)
    member = await new_caller(client, db, settings)
    other = await new_caller(client, db, settings)
    await connect_ok(client, member, mine.account_id)
    await ensure_synced(mine.account_id)
    # another user's account with campaign rows on every day of the period: the export must leave them out
    theirs = await insert_account_with_objects(db, user_id=other.user.id)
    key = await create_key(client, admin, member.user.id)
    today = account_today(mine.timezone_name)
    since, until = today - timedelta(days=27), today - timedelta(days=1)
    data = sandbox_state(graph_sandbox).data

    response = await client.get(EXPORT, params=period(27, 1, today), headers={"X-API-Key": key["key"]})

    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["truncated"] is False
    truth = data.ground_truth_insights(mine.id, "campaign", since, until)
    assert truth
    rows = body["rows"]
    assert {row["account_id"] for row in rows} == {mine.account_id}
    other_key = await create_key(client, admin, other.user.id)
    theirs_only = await client.get(EXPORT, params=period(27, 1, today), headers={"X-API-Key": other_key["key"]})
    assert {(row["account_id"], row["campaign_id"]) for row in (await theirs_only.json())["rows"]} == {
        (theirs.account_id, theirs.campaign_id)
    }
    assert sorted((row["campaign_id"], row["date"]) for row in rows) == sorted(
        (t["campaign_id"], t["date_start"].isoformat()) for t in truth
    )  # every campaign-day once: nothing missing, nothing doubled, nothing of another account
    by_key = {(row["campaign_id"], row["date"]): row for row in rows}
    names = {c["id"]: c["name"] for c in data.objects(mine.id, "campaign")}
    for t in truth:
        row = by_key[(t["campaign_id"], t["date_start"].isoformat())]
        assert (row["impressions"], row["clicks"], row["reach"]) == (t["impressions"], t["clicks"], t["reach"])
        assert Decimal(row["spend"]) == t["spend"]
        assert row["campaign_name"] == names[t["campaign_id"]]
        assert row["currency"] == mine.currency

    listed = await client.get("/api/v1/admin/api-keys", headers=admin.headers)
    used = next(k for k in (await listed.json())["data"] if k["id"] == key["id"])
    assert used["last_used_at"] is not None

    backwards = await client.get(EXPORT, params=period(1, 27, today), headers={"X-API-Key": key["key"]})
    assert backwards.status == 422


async def test_export_refuses_bearer_tokens_unknown_and_revoked_keys_and_disabled_users(client, db, settings):
    admin = await new_caller(client, db, settings, is_admin=True)
    member = await new_caller(client, db, settings)
    leaver = await new_caller(client, db, settings)
    params = {"date_from": "2024-05-01", "date_until": "2024-05-02"}

    async def export_status(headers: dict[str, str]) -> int:
        response = await client.get(EXPORT, params=params, headers=headers)
        if response.status == 401:
            assert (await response.json())["error"]["code"] == "unauthorized"
        return response.status

    assert await export_status(member.headers) == 401  # a bearer token is not an API key
    assert await export_status({}) == 401
    assert await export_status({"X-API-Key": "adsvc_00000000_" + "x" * 43}) == 401

    key = await create_key(client, admin, member.user.id)
    assert await export_status({"X-API-Key": key["key"]}) == 200
    revoked = await client.post(f"/api/v1/admin/api-keys/{key['id']}/revoke", headers=admin.headers)
    assert revoked.status == 200 and (await revoked.json())["revoked_at"] is not None
    assert await export_status({"X-API-Key": key["key"]}) == 401

    leavers_key = await create_key(client, admin, leaver.user.id)
    assert await export_status({"X-API-Key": leavers_key["key"]}) == 200
    disabled = await client.post(f"/api/v1/admin/users/{leaver.user.id}/disable", headers=admin.headers)
    assert disabled.status == 200
    assert await export_status({"X-API-Key": leavers_key["key"]}) == 401

    audited = await db.fetch(
        "select action, target_id, after::text as after from audit_log "
        "where actor_id = $1 and action like 'api_key.%' order by id",
        admin.user.id,
    )
    assert [(row["action"], row["target_id"]) for row in audited] == [
        ("api_key.create", str(key["id"])),
        ("api_key.revoke", str(key["id"])),
        ("api_key.create", str(leavers_key["id"])),
    ]
    assert all(key["key"] not in row["after"] and leavers_key["key"] not in row["after"] for row in audited)

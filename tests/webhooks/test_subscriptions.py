"""Subscriptions CRUD: the secret shown once, URL and event validation (SSRF refusals), tenancy, audit."""

from __future__ import annotations

import pytest
from accounts.helpers import insert_account, new_caller


@pytest.fixture
async def owner(client, db, settings):
    caller = await new_caller(client, db, settings)
    account_id = await insert_account(db, user_id=caller.user.id)
    return caller, account_id


async def _create(client, caller, **fields):
    body = {"url": "https://93.184.215.14/hook", "events": ["alert.ctr_drop"], **fields}
    return await client.post("/api/v1/webhooks", json=body, headers=caller.headers)


async def test_create_shows_the_secret_once_and_crud_round_trips(client, db, owner):
    caller, account_id = owner
    events = ["sync.failed", "sync.failed", "alert.spend_spike"]
    created = await _create(client, caller, account_id=f"act_{account_id}", events=events)
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert body["account_id"] == account_id and body["format"] == "json" and body["active"] is True
    assert body["events"] == ["sync.failed", "alert.spend_spike"]  # duplicates dropped, order kept
    stored = await db.fetchval("select secret_ciphertext from webhooks where id = $1", body["id"])
    assert body["secret"].encode() not in stored  # encrypted at rest

    one = await (await client.get(f"/api/v1/webhooks/{body['id']}", headers=caller.headers)).json()
    assert "secret" not in one and one["url"] == "https://93.184.215.14/hook"
    listed = await (await client.get("/api/v1/webhooks", headers=caller.headers)).json()
    assert [item["id"] for item in listed["data"]] == [body["id"]]
    assert all("secret" not in item for item in listed["data"])

    patched = await client.patch(
        f"/api/v1/webhooks/{body['id']}",
        json={"events": ["test"], "format": "slack", "active": False, "account_id": None},
        headers=caller.headers,
    )
    assert patched.status == 200, await patched.text()
    after = await patched.json()
    assert (after["events"], after["format"], after["active"], after["account_id"]) == (["test"], "slack", False, None)
    assert after["url"] == body["url"]  # untouched fields keep their values

    deleted = await client.delete(f"/api/v1/webhooks/{body['id']}", headers=caller.headers)
    assert deleted.status == 200 and (await deleted.json())["deleted"] is True
    assert (await client.get(f"/api/v1/webhooks/{body['id']}", headers=caller.headers)).status == 404

    audit = "select action from audit_log where target_type = 'webhook' and target_id = $1 order by id"
    actions = [row["action"] for row in await db.fetch(audit, str(body["id"]))]
    assert actions == ["webhook.create", "webhook.update", "webhook.delete"]
    audited = await db.fetch("select before, after from audit_log where target_id = $1", str(body["id"]))
    assert all(body["secret"] not in str(dict(row)) for row in audited)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://127.0.0.1/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://10.0.0.5/hook", "not allowed"),
        ("http://169.254.169.254/latest/meta-data", "not allowed"),  # cloud metadata
        ("http://[::ffff:192.168.1.1]/hook", "not allowed"),  # IPv4-mapped IPv6 is still private
        ("http://0.0.0.0:8000/hook", "not allowed"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
    ],
)
async def test_unsafe_urls_are_refused(client, owner, url, why):
    caller, _ = owner
    response = await _create(client, caller, url=url)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert why in error["message"] and error["details"][0]["loc"] == ["body", "url"]


async def test_allow_list_setting_decides_which_private_networks_are_reachable(client, owner, monkeypatch):
    caller, _ = owner
    monkeypatch.setenv("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", "10.20.0.0/16")
    assert (await _create(client, caller, url="http://10.20.3.4/hook")).status == 201
    assert (await _create(client, caller, url="http://127.0.0.1/hook")).status == 422  # loopback no longer allowed
    assert (await _create(client, caller, url="http://10.21.0.1/hook")).status == 422


@pytest.mark.parametrize(
    "fields",
    [
        {"events": []},
        {"events": ["alert.unknown"]},
        {"format": "xml"},
        {"secret": "mine"},  # the server makes secrets
        {"account_id": "not-an-account"},
    ],
)
async def test_invalid_bodies_are_422(client, owner, fields):
    caller, _ = owner
    assert (await _create(client, caller, **fields)).status == 422


async def test_tenancy_other_users_see_nothing_and_cannot_subscribe_to_foreign_accounts(client, db, settings, owner):
    caller, account_id = owner
    created = await (await _create(client, caller, account_id=account_id)).json()
    stranger = await new_caller(client, db, settings)
    webhook = f"/api/v1/webhooks/{created['id']}"
    assert (await client.get(webhook, headers=stranger.headers)).status == 404
    assert (await client.patch(webhook, json={"active": False}, headers=stranger.headers)).status == 404
    assert (await client.delete(webhook, headers=stranger.headers)).status == 404
    assert (await client.post(webhook + "/test", headers=stranger.headers)).status == 404
    assert (await client.get(webhook + "/deliveries", headers=stranger.headers)).status == 404
    assert (await (await client.get("/api/v1/webhooks", headers=stranger.headers)).json())["data"] == []
    # someone else's account and a made-up one get the same answer
    foreign = await _create(client, stranger, account_id=account_id)
    unknown = await _create(client, stranger, account_id="123456789")
    assert foreign.status == unknown.status == 404
    foreign_error, unknown_error = (await foreign.json())["error"], (await unknown.json())["error"]
    assert (foreign_error["message"], foreign_error["details"]) == (unknown_error["message"], unknown_error["details"])
    assert (await client.get("/api/v1/webhooks")).status == 401
    assert await db.fetchval("select active from webhooks where id = $1", created["id"]) is True


async def test_list_filters_by_account_including_all_account_subscriptions(client, db, owner):
    caller, account_id = owner
    other_account = await insert_account(db, user_id=caller.user.id)
    scoped = await (await _create(client, caller, account_id=account_id)).json()
    everywhere = await (await _create(client, caller)).json()
    await _create(client, caller, account_id=other_account)
    listed = await (await client.get(f"/api/v1/webhooks?account_id=act_{account_id}", headers=caller.headers)).json()
    assert {item["id"] for item in listed["data"]} == {scoped["id"], everywhere["id"]}


async def test_patch_refuses_null_for_required_fields_and_unsafe_urls(client, owner):
    caller, _ = owner
    created = await (await _create(client, caller)).json()
    path = f"/api/v1/webhooks/{created['id']}"
    assert (await client.patch(path, json={"events": None}, headers=caller.headers)).status == 422
    assert (await client.patch(path, json={"url": "http://10.1.1.1/x"}, headers=caller.headers)).status == 422
    assert (await client.patch(path, json={"url": "gopher://127.0.0.1/x"}, headers=caller.headers)).status == 422

"""The ad accounts API against the sandbox as Meta: membership-scoped lists, connecting (the token validated, stored
encrypted, never echoed), detail with campaign counts, queuing syncs in arq, and the sync runs a worker records."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from typing import Any

import pytest
from accounts.helpers import (
    FreshAccount,
    connect,
    connect_ok,
    insert_account,
    new_caller,
    run_worker_burst,
    sandbox_accounts,
    sandbox_state,
)
from aiohttp.test_utils import TestClient
from arq.jobs import Job
from factories import TEST_TOKEN_KEY

from adsvc.crypto import TokenBox
from adsvc.keys import ARQ
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN

ARQ_QUEUE = "arq:queue"


@pytest.fixture
def fresh(fresh_account: FreshAccount) -> tuple[str, TestClient]:
    return fresh_account.account_id, fresh_account.client


async def audit_rows_as_text(db: Any, *, account_id: str, user_ids: list[int]) -> list[tuple[str, str]]:
    rows = await db.fetch(
        """select action, row_to_json(a)::text as text from audit_log a
           where target_id = $1 or actor_id = any($2::bigint[]) order by id""",
        account_id,
        user_ids,
    )
    return [(row["action"], row["text"]) for row in rows]


async def queued_job_ids(client: TestClient) -> list[str]:
    return [member.decode() for member in await client.server.app[ARQ].zrange(ARQ_QUEUE, 0, -1)]


async def test_list_shows_only_accounts_the_caller_is_a_member_of(client, db, settings, graph_sandbox):
    first, second = sandbox_accounts(graph_sandbox)
    alice = await new_caller(client, db, settings)
    bob = await new_caller(client, db, settings)
    nobody = await new_caller(client, db, settings)
    await connect_ok(client, alice, first.account_id)
    await connect_ok(client, bob, second.account_id)
    watched = await insert_account(db, user_id=alice.user.id, role="viewer")

    async def listed(caller) -> dict[str, str]:
        response = await client.get("/api/v1/ad-accounts", headers=caller.headers)
        assert response.status == 200
        return {account["id"]: account["role"] for account in (await response.json())["data"]}

    alice_sees = await listed(alice)
    assert set(alice_sees) == {first.account_id, watched}
    assert alice_sees[watched] == "viewer"
    assert set(await listed(bob)) == {second.account_id}
    assert await listed(nobody) == {}


async def test_connect_creates_with_201_its_owners_and_managers_reconnect_with_200_and_nothing_holds_the_token(
    fresh, db, settings
):
    account_id, client = fresh
    owner = await new_caller(client, db, settings)
    colleague = await new_caller(client, db, settings)
    bodies: list[str] = []

    response = await connect(client, owner, account_id)
    bodies.append(await response.text())
    assert response.status == 201, bodies[-1]
    created = await response.json()
    assert created["id"] == account_id
    assert created["role"] == "owner"
    assert created["token_status"] == "valid"
    assert created["name"] and re.fullmatch(r"[A-Z]{3}", created["currency"]) and created["timezone_name"]
    assert created["connected_at"] and created["token_checked_at"]
    assert not {"access_token", "token", "token_ciphertext"} & set(created)

    again = await connect(client, owner, account_id)
    bodies.append(await again.text())
    assert again.status == 200
    assert (await again.json())["role"] == "owner"  # reconnecting does not demote the owner

    shared = await client.post(
        f"/api/v1/ad-accounts/{account_id}/members",
        json={"email": colleague.user.email, "role": "manager"},
        headers=owner.headers,
    )
    assert shared.status == 201, await shared.text()
    rotated = await connect(client, colleague, account_id)
    bodies.append(await rotated.text())
    assert rotated.status == 200
    assert (await rotated.json())["role"] == "manager"

    for caller in (owner, colleague):
        for path in ("/api/v1/ad-accounts", f"/api/v1/ad-accounts/{account_id}"):
            response = await client.get(path, headers=caller.headers)
            assert response.status == 200
            bodies.append(await response.text())
    assert all(SANDBOX_ACCESS_TOKEN not in body for body in bodies)

    audit = await audit_rows_as_text(db, account_id=account_id, user_ids=[owner.user.id, colleague.user.id])
    actions = [action for action, _ in audit]
    assert actions.count("ad_account.connect") == 1
    assert actions.count("ad_account.token_rotate") == 2
    assert all(SANDBOX_ACCESS_TOKEN not in text for _, text in audit)


async def test_connect_stores_the_token_encrypted_and_readable_with_the_token_key(fresh, db, settings):
    account_id, client = fresh
    owner = await new_caller(client, db, settings)
    assert (await connect(client, owner, account_id)).status == 201

    row = await db.fetchrow("select token_ciphertext, connected_by from ad_accounts where id = $1", account_id)
    ciphertext = bytes(row["token_ciphertext"])
    assert SANDBOX_ACCESS_TOKEN.encode() not in ciphertext
    assert TokenBox(TEST_TOKEN_KEY).open(ciphertext) == SANDBOX_ACCESS_TOKEN
    assert row["connected_by"] == owner.user.id


async def test_connect_with_a_token_meta_rejects_is_422_meta_token_rejected_and_stores_nothing(fresh, db, settings):
    account_id, client = fresh
    caller = await new_caller(client, db, settings)
    wrong = "EAAB-not-the-sandbox-token-" + secrets.token_hex(8)

    response = await connect(client, caller, account_id, access_token=wrong)

    text = await response.text()
    assert response.status == 422, text
    assert (await response.json())["error"]["code"] == "meta_token_rejected"
    assert wrong not in text
    assert await db.fetchval("select count(*) from ad_accounts where id = $1", account_id) == 0
    listed = await client.get("/api/v1/ad-accounts", headers=caller.headers)
    assert (await listed.json())["data"] == []


async def test_connect_to_an_account_the_token_cannot_see_is_422_and_stores_nothing(client, db, settings):
    caller = await new_caller(client, db, settings)
    unknown = "123456789"  # the sandbox has no such account

    response = await connect(client, caller, unknown)

    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["code"] == "meta_refused"
    assert await db.fetchval("select count(*) from ad_accounts where id = $1", unknown) == 0


async def test_detail_counts_campaigns_by_effective_status(client, db, settings, graph_sandbox, ensure_synced):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    truth = Counter(c["effective_status"] for c in sandbox_state(graph_sandbox).data.objects(account.id, "campaign"))

    for ref in (account.account_id, account.id):  # with and without act_
        response = await client.get(f"/api/v1/ad-accounts/{ref}", headers=caller.headers)
        assert response.status == 200
        body = await response.json()
        assert body["id"] == account.account_id
        assert body["campaigns"] == {"total": sum(truth.values()), "by_effective_status": dict(truth)}
        assert body["running_syncs"] == 0
        assert body["last_structure_sync_at"] and body["last_insights_sync_at"]


async def test_sync_trigger_queues_one_arq_job_per_account_kind_and_minute(client, db, settings, graph_sandbox):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    redis = client.server.app[ARQ]

    for _ in range(2):  # a second attempt only if a minute boundary fell between the two clicks
        first = await client.post(f"/api/v1/ad-accounts/act_{account.account_id}/sync", json={"kind": "structure"},
                                  headers=caller.headers)  # fmt: skip
        second = await client.post(f"/api/v1/ad-accounts/{account.account_id}/sync", json={"kind": "structure"},
                                   headers=caller.headers)  # fmt: skip
        assert first.status == second.status == 202
        queued, repeated = await first.json(), await second.json()
        if queued["job_id"] == repeated["job_id"]:
            break
    assert queued["kind"] == "structure" and queued["queued"] is True
    assert repeated["queued"] is False  # a double click queues one sync
    job_id = queued["job_id"]
    assert re.fullmatch(rf"sync-structure:{account.account_id}:\d+", job_id)

    assert await redis.zscore(ARQ_QUEUE, job_id) is not None
    assert await redis.exists(f"arq:job:{job_id}") == 1
    info = await Job(job_id, redis).info()
    assert info is not None
    assert (info.function, tuple(info.args)) == ("sync_structure", (account.account_id,))

    audited = await db.fetch(
        "select details from audit_log where action = 'ad_account.sync' and actor_id = $1 order by id", caller.user.id
    )
    assert [row["details"]["job_id"] for row in audited] == [job_id, job_id]
    assert [row["details"]["queued"] for row in audited] == [True, False]


async def test_days_is_for_backfill_only(client, db, settings, graph_sandbox):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    path = f"/api/v1/ad-accounts/{account.account_id}/sync"

    for kind in ("insights", "structure"):
        response = await client.post(path, json={"kind": kind, "days": 10}, headers=caller.headers)
        assert response.status == 422, kind
        assert (await response.json())["error"]["details"][0]["loc"] == ["body", "days"]
    assert not [job for job in await queued_job_ids(client) if re.fullmatch(r"sync-\w+:\d+:\d+", job)]

    response = await client.post(path, json={"kind": "backfill", "days": 10}, headers=caller.headers)
    assert response.status == 202
    job_id = (await response.json())["job_id"]
    info = await Job(job_id, client.server.app[ARQ]).info()
    assert info is not None
    assert (info.function, tuple(info.args)) == ("backfill_insights", (account.account_id, 10))


@pytest.mark.parametrize("role", ["viewer", "analyst"])
async def test_viewers_and_analysts_cannot_trigger_a_sync(client, db, settings, graph_sandbox, role):
    account = sandbox_accounts(graph_sandbox)[0]
    owner = await new_caller(client, db, settings)
    await connect_ok(client, owner, account.account_id)
    member = await new_caller(client, db, settings)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)",
                     account.account_id, member.user.id, role)  # fmt: skip

    detail = await client.get(f"/api/v1/ad-accounts/{account.account_id}", headers=member.headers)
    assert detail.status == 200  # a member: it can see the account ...
    assert (await detail.json())["role"] == role
    response = await client.post(f"/api/v1/ad-accounts/{account.account_id}/sync", json={}, headers=member.headers)
    assert response.status == 403  # ... but not start a sync
    assert (await response.json())["error"]["code"] == "forbidden"
    assert not [job for job in await queued_job_ids(client) if re.fullmatch(r"sync-insights:\d+:\d+", job)]

    await db.execute("update ad_account_members set role = 'manager' where account_id = $1 and user_id = $2",
                     account.account_id, member.user.id)  # fmt: skip
    promoted = await client.post(f"/api/v1/ad-accounts/{account.account_id}/sync", json={}, headers=member.headers)
    assert promoted.status == 202


async def test_sync_runs_after_a_worker_run_are_succeeded_with_graph_calls_and_page_by_before_id(
    client, db, settings, stack, graph_sandbox, worker_env
):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    before = await db.fetchval("select coalesce(max(id), 0) from sync_runs where account_id = $1", account.account_id)
    await connect_ok(client, caller, account.account_id)  # queues a structure and an insights sync

    await run_worker_burst(stack)

    response = await client.get(f"/api/v1/ad-accounts/{account.account_id}/sync-runs", headers=caller.headers)
    assert response.status == 200
    new_runs = [run for run in (await response.json())["data"] if run["id"] > before]
    assert sorted(run["kind"] for run in new_runs) == ["insights", "structure"]
    for run in new_runs:
        assert run["status"] == "succeeded", run
        assert run["graph_calls"] > 0
        assert run["finished_at"] and run["error"] is None
        assert run["rows_written"] + run["objects_written"] > 0

    expected = [row["id"] for row in await db.fetch(
        "select id from sync_runs where account_id = $1 order by id desc", account.account_id)]  # fmt: skip
    assert len(expected) >= 2
    for limit in (1, 2, len(expected)):
        walked: list[int] = []
        query: dict[str, Any] = {"limit": limit}
        while True:
            page = await client.get(f"/api/v1/ad-accounts/{account.account_id}/sync-runs", params=query,
                                    headers=caller.headers)  # fmt: skip
            assert page.status == 200
            body = await page.json()
            assert 1 <= len(body["data"]) <= limit
            walked.extend(run["id"] for run in body["data"])
            if body["next_before_id"] is None:
                break
            assert body["next_before_id"] == body["data"][-1]["id"]
            query = {"limit": limit, "before_id": body["next_before_id"]}
        assert walked == expected, limit


async def test_reconnect_after_the_connect_sync_ran_queues_a_new_sync(
    client, db, settings, stack, graph_sandbox, worker_env
):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await run_worker_burst(stack)  # the syncs the first connect queued are done (arq keeps their results)
    assert not await queued_job_ids(client)

    again = await connect(client, caller, account.account_id)  # e.g. a fresh token after the old one expired

    assert again.status == 200
    queued = await queued_job_ids(client)
    assert {job.split(":")[0] for job in queued} == {"sync-structure", "sync-insights"}
    assert all(job.split(":")[1] == account.account_id for job in queued)

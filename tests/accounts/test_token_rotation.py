"""Connecting an account that is already connected: its owners and managers replace the stored token (cached agents
dropped in every process, audited); anyone else gets 409 `ask_an_owner` and nothing changes. `adsvc
connect-account` goes through the same code, so the same holds for it."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp
import pytest
from accounts.helpers import Caller, FreshAccount, connect, connect_ok, new_caller, sandbox_accounts
from factories import TEST_SECRET, TEST_TOKEN_KEY, bearer

from adsvc.graph.invalidation import CHANNEL
from adsvc.keys import AGENTS, ARQ, REDIS
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN

ARQ_QUEUE = "arq:queue"


async def stored_token(db: Any, account_id: str) -> bytes:
    return bytes(await db.fetchval("select token_ciphertext from ad_accounts where id = $1", account_id))


async def roles(db: Any, account_id: str) -> dict[int, str]:
    rows = await db.fetch("select user_id, role from ad_account_members where account_id = $1", account_id)
    return {row["user_id"]: row["role"] for row in rows}


async def queued(client: Any) -> set[str]:
    return {member.decode() for member in await client.server.app[ARQ].zrange(ARQ_QUEUE, 0, -1)}


async def rotation_audit(db: Any, account_id: str) -> list[Any]:
    return await db.fetch(
        """select actor_id, actor_label, outcome, details from audit_log
           where action = 'ad_account.token_rotate' and target_id = $1 order by id""",
        account_id,
    )


async def listening(client: Any, *, subscribers: int = 1) -> None:
    """Wait until this app's invalidation listener has subscribed (it starts with the app), counting `subscribers`
    on the channel in all."""
    redis = client.server.app[REDIS]  # decodes responses: channel names come back as str
    for _ in range(200):
        if dict(await redis.pubsub_numsub(CHANNEL)).get(CHANNEL, 0) >= subscribers:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the app's invalidation listener never subscribed")


async def dropped(client: Any, account_id: str, *, within: float = 5.0) -> bool:
    agents = client.server.app[AGENTS]
    for _ in range(int(within / 0.02)):
        if agents.peek(account_id) is None:
            return True
        await asyncio.sleep(0.02)
    return False


async def owned(fresh: FreshAccount, db: Any) -> Caller:
    owner = await new_caller(fresh.client, db, fresh.settings)
    response = await connect(fresh.client, owner, fresh.account_id)
    assert response.status == 201, await response.text()
    return owner


@pytest.mark.parametrize("role", [None, "viewer", "analyst"])
async def test_anyone_but_an_owner_or_manager_gets_409_ask_an_owner_and_nothing_changes(fresh_account, db, role):
    client, account_id = fresh_account.client, fresh_account.account_id
    owner = await owned(fresh_account, db)
    other = await new_caller(client, db, fresh_account.settings)
    if role is not None:
        await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)",
                         account_id, other.user.id, role)  # fmt: skip
    agent = await client.server.app[AGENTS].get(account_id)
    token, members, jobs = await stored_token(db, account_id), await roles(db, account_id), await queued(client)

    response = await connect(client, other, account_id)

    body = await response.json()
    assert response.status == 409, body
    assert body["error"]["code"] == "ask_an_owner"
    assert "ask one of its owners" in body["error"]["message"]
    assert await stored_token(db, account_id) == token  # every seal differs: a replaced token would show
    assert await roles(db, account_id) == members
    assert await queued(client) == jobs
    assert client.server.app[AGENTS].peek(account_id) is agent
    (refusal,) = await rotation_audit(db, account_id)
    assert (refusal["actor_id"], refusal["outcome"]) == (other.user.id, "failure")
    assert refusal["details"] == {"reason": "not_owner_or_manager", "role": role}
    assert owner.user.id in members


@pytest.mark.parametrize("role", ["owner", "manager"])
async def test_an_owner_or_manager_replaces_the_token_drops_the_cached_agent_and_it_is_audited(fresh_account, db, role):
    client, account_id = fresh_account.client, fresh_account.account_id
    owner = await owned(fresh_account, db)
    caller = owner
    if role == "manager":
        caller = await new_caller(client, db, fresh_account.settings)
        await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'manager')",
                         account_id, caller.user.id)  # fmt: skip
    await db.execute("update ad_accounts set token_status = 'expired', token_error = 'gone' where id = $1", account_id)
    agents = client.server.app[AGENTS]
    await agents.get(account_id)
    token, members = await stored_token(db, account_id), await roles(db, account_id)

    response = await connect(client, caller, account_id)

    body = await response.json()
    assert response.status == 200, body
    assert (body["role"], body["token_status"], body["token_error"]) == (role, "valid", None)
    assert await stored_token(db, account_id) != token
    assert await roles(db, account_id) == members  # no membership created or changed
    assert agents.peek(account_id) is None
    (rotation,) = await rotation_audit(db, account_id)
    assert (rotation["actor_id"], rotation["outcome"], rotation["details"]) == (caller.user.id, "success",
                                                                                {"role": role})  # fmt: skip
    assert {job.split(":")[0] for job in await queued(client) if f":{account_id}:connect:" in job} == {
        "sync-structure",
        "sync-insights",
    }


@pytest.mark.slow
async def test_a_token_replaced_through_another_web_process_drops_the_agent_cached_in_this_one(
    client, db, settings, graph_sandbox, other_process
):
    account_id = sandbox_accounts(graph_sandbox)[0].account_id
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account_id)
    agents = client.server.app[AGENTS]
    await agents.get(account_id)
    await listening(client, subscribers=2)  # this app's listener and the other process's
    assert agents.peek(account_id) is not None

    body = {"account_id": account_id, "access_token": SANDBOX_ACCESS_TOKEN}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{other_process}/api/v1/ad-accounts", json=body, headers=bearer(caller.token)) as response,
    ):
        assert response.status == 200, await response.text()

    assert await dropped(client, account_id)


# ---- adsvc connect-account ------------------------------------------------------------------------------------


async def run_connect_cli(fresh: FreshAccount, stack: Any, email: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url, "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY, "FACEBOOK_GRAPH_URL": fresh.graph_url,
        "FACEBOOK_AD_ACCOUNT_ID": f"act_{fresh.account_id}", "FACEBOOK_ACCESS_TOKEN": SANDBOX_ACCESS_TOKEN,
    }  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adsvc", "connect-account", "--owner", email, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_connect_account_command_uses_the_older_services_variables_and_makes_the_user_owner(
    fresh_account, stack, db
):
    owner = await new_caller(fresh_account.client, db, fresh_account.settings)

    code, stdout, stderr = await run_connect_cli(fresh_account, stack, owner.user.email)

    assert code == 0, stderr
    assert f"act_{fresh_account.account_id}" in stdout
    assert await roles(db, fresh_account.account_id) == {owner.user.id: "owner"}
    assert SANDBOX_ACCESS_TOKEN.encode() not in await stored_token(db, fresh_account.account_id)
    audited = await db.fetchrow(
        "select actor_id, actor_label from audit_log where action = 'ad_account.connect' and target_id = $1",
        fresh_account.account_id,
    )
    assert (audited["actor_id"], audited["actor_label"]) == (owner.user.id, "cli")


async def test_connect_account_command_for_a_non_manager_of_a_connected_account_fails_and_changes_nothing(
    fresh_account, stack, db
):
    await owned(fresh_account, db)
    viewer = await new_caller(fresh_account.client, db, fresh_account.settings)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'viewer')",
                     fresh_account.account_id, viewer.user.id)  # fmt: skip
    token, members = await stored_token(db, fresh_account.account_id), await roles(db, fresh_account.account_id)
    jobs = await queued(fresh_account.client)

    code, stdout, stderr = await run_connect_cli(fresh_account, stack, viewer.user.email)

    assert code == 2, stdout
    assert "ask one of its owners" in stderr
    assert SANDBOX_ACCESS_TOKEN not in stderr + stdout
    assert await stored_token(db, fresh_account.account_id) == token
    assert await roles(db, fresh_account.account_id) == members
    assert await queued(fresh_account.client) == jobs


async def test_connect_account_command_replacing_a_token_drops_the_agent_a_running_app_has_cached(
    fresh_account, stack, db
):
    client = fresh_account.client
    owner = await owned(fresh_account, db)
    agents = client.server.app[AGENTS]
    await agents.get(fresh_account.account_id)
    await listening(client)
    token = await stored_token(db, fresh_account.account_id)

    code, stdout, stderr = await run_connect_cli(fresh_account, stack, owner.user.email)

    assert code == 0, stderr
    assert "with a new token" in stdout
    assert await stored_token(db, fresh_account.account_id) != token
    assert await dropped(client, fresh_account.account_id)
    (rotation,) = await rotation_audit(db, fresh_account.account_id)
    assert (rotation["actor_id"], rotation["actor_label"], rotation["outcome"]) == (owner.user.id, "cli", "success")

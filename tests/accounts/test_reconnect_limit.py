"""Reconnecting an already-connected account is limited per user and per account (each one validates a token with
Meta and queues two syncs); a first connection is not."""

from __future__ import annotations

import secrets
from typing import Any

from accounts.helpers import connect, graph_url, new_caller, sandbox_accounts
from factories import make_settings

from adsvc.app import create_app
from adsvc.keys import ARQ
from adsvc.sandbox import SandboxConfig, create_sandbox_app
from adsvc.settings import RateLimit


async def _fresh_app(aiohttp_server: Any, aiohttp_client: Any, stack: Any, accounts: int, limit: RateLimit) -> Any:
    config = SandboxConfig(seed=secrets.randbelow(10**9), accounts=accounts, campaigns_per_account=1,
                           adsets_per_campaign=1, ads_per_adset=1, days=3)  # fmt: skip
    server = await aiohttp_server(create_sandbox_app(config))
    client = await aiohttp_client(
        create_app(make_settings(stack, facebook_graph_url=graph_url(server), throttle_reconnects=limit))
    )
    return client, [account.account_id for account in sandbox_accounts(server)]


async def test_reconnects_are_limited_per_user_and_per_account_and_a_first_connect_is_not(
    aiohttp_server, aiohttp_client, stack, db, settings
):
    client, (first, second) = await _fresh_app(aiohttp_server, aiohttp_client, stack, 2, RateLimit(2, 3, 600))
    alice, bob = [await new_caller(client, db, settings) for _ in range(2)]
    try:
        assert (await connect(client, alice, first)).status == 201  # not counted: the account was not connected
        for _ in range(2):
            assert (await connect(client, alice, first)).status == 200
        jobs = await client.app[ARQ].zcard("arq:queue")
        refused = await connect(client, alice, first)
        assert refused.status == 429 and 0 < int(refused.headers["Retry-After"]) <= 600
        body = await refused.json()
        assert body["error"]["code"] == "rate_limited" and body["error"]["details"]["scope"] == "user"
        assert await client.app[ARQ].zcard("arq:queue") == jobs  # nothing validated, nothing queued

        # Alice's first connection of another account is not a reconnect
        assert (await connect(client, alice, second)).status == 201
        # Bob's first call on `first` is the account's third: not refused for Alice's sake; his next one is
        assert (await connect(client, bob, first)).status != 429
        limited = await connect(client, bob, first)
        assert limited.status == 429 and (await limited.json())["error"]["details"]["scope"] == "account"
    finally:
        await db.execute("update ad_accounts set token_status = 'invalid' where id = any($1)", [first, second])

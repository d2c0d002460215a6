"""Request limits on expensive and amplifying calls: per user and per ad account, in Redis (so every process sees
the same counts), answered 429 with Retry-After; refused calls count nowhere; other tenants get their 404 first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from accounts.helpers import Caller, insert_account, new_caller
from aiohttp.test_utils import TestClient
from factories import make_settings
from redis.asyncio import Redis

from adsvc.app import create_app
from adsvc.embedded import free_port
from adsvc.errors import ServiceUnavailable
from adsvc.keys import REPLAYS
from adsvc.ratelimit import Counter, take
from adsvc.settings import ConfigError, RateLimit, Settings

RULES = "/api/v1/automation/rules"
LIMITED = ("preview", "backtest", "run", "webhook-test")


async def _app(aiohttp_client: Any, stack: Any, **limits: Any) -> tuple[TestClient, Settings]:
    settings = make_settings(stack, **limits)
    return await aiohttp_client(create_app(settings)), settings


async def _rule(client: TestClient, caller: Caller, account_id: str) -> int:
    body = {
        "account_id": account_id,
        "name": "Pause low CTR",
        "scope": {"level": "campaign"},
        "conditions": {"all": [{"metric": "ctr", "window": "last_7d", "operator": "lt", "value": 1}]},
        "action": {"type": "pause"},
    }
    response = await client.post(RULES, json=body, headers=caller.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def _webhook(client: TestClient, caller: Caller, account_id: str) -> int:
    body = {"url": "https://93.184.215.14/hook", "events": ["test"], "account_id": account_id}
    response = await client.post("/api/v1/webhooks", json=body, headers=caller.headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


class Target:
    """One limited endpoint on one account, as one caller reaches it."""

    def __init__(self, kind: str, client: TestClient, caller: Caller, path: str) -> None:
        self.kind, self.client, self.caller, self.path = kind, client, caller, path

    @classmethod
    async def make(cls, kind: str, client: TestClient, caller: Caller, account_id: str) -> Target:
        if kind == "webhook-test":
            return cls(kind, client, caller, f"/api/v1/webhooks/{await _webhook(client, caller, account_id)}/test")
        return cls(kind, client, caller, f"{RULES}/{await _rule(client, caller, account_id)}/{kind}")

    async def call(self, caller: Caller | None = None, client: TestClient | None = None) -> Any:
        kwargs = {"json": {}} if self.kind == "backtest" else {}
        return await (client or self.client).post(self.path, headers=(caller or self.caller).headers, **kwargs)


async def _limited(response: Any, *, scope: str, window: int) -> None:
    assert response.status == 429, await response.text()
    assert 0 < int(response.headers["Retry-After"]) <= window
    error = (await response.json())["error"]
    assert error["code"] == "rate_limited" and error["details"]["scope"] == scope
    assert f"try again in {response.headers['Retry-After']} s" in error["message"]


def _limits(per_user: int, per_account: int, window: int = 60) -> dict[str, RateLimit]:
    limit = RateLimit(per_user, per_account, window)
    return {name: limit for name in ("throttle_previews", "throttle_backtests", "throttle_rule_runs",
                                     "throttle_webhook_tests")}  # fmt: skip


@pytest.mark.parametrize("kind", LIMITED)
async def test_a_user_over_their_limit_gets_429_with_retry_after_and_other_users_do_not(
    aiohttp_client, stack, db, kind
):
    client, settings = await _app(aiohttp_client, stack, **_limits(2, 10))
    alice, bob, carol = [await new_caller(client, db, settings) for _ in range(3)]
    shared = await insert_account(db, user_id=alice.user.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'owner')",
                     shared, bob.user.id)  # fmt: skip
    elsewhere = await insert_account(db, user_id=carol.user.id)

    target = await Target.make(kind, client, alice, shared)
    for _ in range(2):
        assert (await target.call()).status != 429
    await _limited(await target.call(), scope="user", window=60)

    # Bob, on the same account, and Carol, on another, are not limited by Alice's calls
    bobs = target if kind != "webhook-test" else await Target.make(kind, client, bob, shared)
    assert (await bobs.call(bob)).status != 429
    carols = await Target.make(kind, client, carol, elsewhere)
    assert (await carols.call()).status != 429


@pytest.mark.parametrize("kind", LIMITED)
async def test_an_accounts_limit_is_shared_by_its_members(aiohttp_client, stack, db, kind):
    client, settings = await _app(aiohttp_client, stack, **_limits(10, 2))
    alice, bob, carol = [await new_caller(client, db, settings) for _ in range(3)]
    shared = await insert_account(db, user_id=alice.user.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'owner')",
                     shared, bob.user.id)  # fmt: skip
    alices = await Target.make(kind, client, alice, shared)
    bobs = alices if kind != "webhook-test" else await Target.make(kind, client, bob, shared)
    assert (await alices.call()).status != 429
    assert (await bobs.call(bob)).status != 429
    await _limited(await alices.call(), scope="account", window=60)
    await _limited(await bobs.call(bob), scope="account", window=60)
    carols = await Target.make(kind, client, carol, await insert_account(db, user_id=carol.user.id))
    assert (await carols.call()).status != 429


async def test_limits_hold_across_processes(aiohttp_client, stack, db):
    first, settings = await _app(aiohttp_client, stack, **_limits(2, 10))
    second, _ = await _app(aiohttp_client, stack, **_limits(2, 10))
    alice = await new_caller(first, db, settings)
    target = await Target.make("preview", first, alice, await insert_account(db, user_id=alice.user.id))
    assert (await target.call()).status == 200
    assert (await target.call(client=second)).status == 200
    await _limited(await target.call(), scope="user", window=60)
    await _limited(await target.call(client=second), scope="user", window=60)


async def test_a_refused_call_counts_nowhere(aiohttp_client, stack, db):
    client, settings = await _app(aiohttp_client, stack, **_limits(1, 2))
    alice, bob = [await new_caller(client, db, settings) for _ in range(2)]
    shared = await insert_account(db, user_id=alice.user.id)
    await db.execute("insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'owner')",
                     shared, bob.user.id)  # fmt: skip
    target = await Target.make("backtest", client, alice, shared)
    assert (await target.call()).status == 200
    for _ in range(5):
        await _limited(await target.call(), scope="user", window=60)
    assert (await target.call(bob)).status == 200  # Alice's refused calls did not use up the account's two


async def test_another_tenant_gets_404_and_uses_up_nothing(aiohttp_client, stack, db):
    client, settings = await _app(aiohttp_client, stack, **_limits(1, 1))
    alice, mallory = [await new_caller(client, db, settings) for _ in range(2)]
    target = await Target.make("preview", client, alice, await insert_account(db, user_id=alice.user.id))
    for _ in range(3):
        assert (await target.call(mallory)).status == 404
    assert (await target.call()).status == 200


async def test_retry_after_is_what_is_left_of_the_window(aiohttp_client, stack, db):
    client, settings = await _app(aiohttp_client, stack, **_limits(1, 5, window=3))
    alice = await new_caller(client, db, settings)
    target = await Target.make("preview", client, alice, await insert_account(db, user_id=alice.user.id))
    assert (await target.call()).status == 200
    refused = await target.call()
    await _limited(refused, scope="user", window=3)
    await asyncio.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert (await target.call()).status == 200  # a new window


async def test_backtests_beyond_the_process_slots_wait_then_answer_503(aiohttp_client, stack, db):
    client, settings = await _app(aiohttp_client, stack, backtest_concurrency=1, backtest_queue_seconds=0.2)
    alice = await new_caller(client, db, settings)
    target = await Target.make("backtest", client, alice, await insert_account(db, user_id=alice.user.id))
    async with client.app[REPLAYS].slot():  # a backtest in progress
        busy = await target.call()
        assert busy.status == 503 and int(busy.headers["Retry-After"]) > 0
        assert (await busy.json())["error"]["code"] == "backtests_busy"
    assert (await target.call()).status == 200


async def test_redis_down_refuses_with_503_not_an_unlimited_call():
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    try:
        with pytest.raises(ServiceUnavailable):
            await take(redis, [Counter("adsvc:limit:x:user:1", 1, "user")], window_seconds=60, timeout=0.5)
    finally:
        await redis.aclose()


def test_limits_are_read_from_the_environment_and_validated():
    settings = Settings.from_env({"THROTTLE_BACKTESTS": "3,4/30", "THROTTLE_RECONNECTS": " 0, 2 / 600 "})
    assert settings.throttle_backtests == RateLimit(3, 4, 30)
    assert settings.throttle_reconnects == RateLimit(0, 2, 600)
    assert Settings.from_env({}).throttle_previews == RateLimit(30, 60, 60)
    for bad in ("3", "3,4", "a,b/60", "3,4/0", "-1,4/60", "3/4/60"):
        with pytest.raises(ConfigError, match="THROTTLE_RULE_RUNS"):
            Settings.from_env({"THROTTLE_RULE_RUNS": bad})


async def test_the_openapi_document_states_each_limit_and_its_429(aiohttp_client, stack):
    client, _ = await _app(aiohttp_client, stack, throttle_backtests=RateLimit(3, 7, 90))
    document = await (await client.get("/api/openapi.json")).json()
    limited = {
        ("/api/v1/automation/rules/{rule_id}/backtest", "post"): "THROTTLE_BACKTESTS",
        ("/api/v1/automation/rules/{rule_id}/preview", "post"): "THROTTLE_PREVIEWS",
        ("/api/v1/automation/rules/{rule_id}/run", "post"): "THROTTLE_RULE_RUNS",
        ("/api/v1/webhooks/{webhook_id}/test", "post"): "THROTTLE_WEBHOOK_TESTS",
        ("/api/v1/ad-accounts", "post"): "THROTTLE_RECONNECTS",
    }
    for (path, method), setting in limited.items():
        operation = document["paths"][path][method]
        assert setting in operation["description"] and "429" in operation["description"]
        assert "Retry-After" in operation["responses"]["429"]["headers"]
    backtest = document["paths"]["/api/v1/automation/rules/{rule_id}/backtest"]["post"]["description"]
    assert "at most 3 per user and 7 per ad account per 90 s" in backtest

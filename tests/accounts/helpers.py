"""Shared by tests/accounts and tests/campaigns: users, connecting sandbox accounts through the API, the arq worker
in burst mode, synthetic accounts written straight to SQL, and independent checks of derived ratios."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from arq.connections import RedisSettings
from arq.worker import Worker
from factories import TEST_SECRET, TEST_TOKEN_KEY, Stack, bearer, create_user, login, make_settings

from adsvc.app import create_app
from adsvc.auth.queries import User
from adsvc.collection.conversions import DEFAULT_RULE
from adsvc.collection.plan import account_today
from adsvc.keys import PG
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, SandboxConfig, SandboxState, create_sandbox_app
from adsvc.sandbox.data import AdAccount
from adsvc.settings import Settings
from jobs.worker import WorkerSettings

FAST_WORKER_ENV = {
    "GRAPH_POLL_INITIAL_SECONDS": "0.01",
    "GRAPH_POLL_MAX_SECONDS": "0.05",
    "GRAPH_PACING_TIME_SCALE": "0.001",
    "SYNC_RETRY_BASE_SECONDS": "0.05",
    "SYNC_LOCK_SECONDS": "5",
}


def graph_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def sandbox_state(server: TestServer) -> SandboxState:
    return server.app[SANDBOX_STATE]


def sandbox_accounts(server: TestServer) -> list[AdAccount]:
    """The sandbox's accounts in generation order (the same ids in every test: the sandbox is deterministic)."""
    return sorted(sandbox_state(server).data.accounts.values(), key=lambda account: account.index)


@dataclass(frozen=True)
class Caller:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


async def new_caller(
    client: TestClient, db: asyncpg.Connection, settings: Settings, *, is_admin: bool = False
) -> Caller:
    user = await create_user(db, settings, is_admin=is_admin)
    return Caller(user=user, token=await login(client, user.email))


async def connect(
    client: TestClient, caller: Caller, account_id: str, *, access_token: str = SANDBOX_ACCESS_TOKEN
) -> Any:
    """POST /api/v1/ad-accounts as `caller`; returns the response (the caller checks the status)."""
    return await client.post(
        "/api/v1/ad-accounts",
        json={"account_id": f"act_{account_id}", "access_token": access_token},
        headers=caller.headers,
    )


async def share_if_connected(db: Any, account_id: str, user_id: int, role: str = "manager") -> None:
    """Make the user a member of the account if an earlier test of the session connected it (sandbox ids are the
    same in every test), as an owner would through the members API: only owners and managers may connect an account
    that is already connected."""
    await db.execute(
        """insert into ad_account_members (account_id, user_id, role) select id, $2, $3 from ad_accounts where id = $1
           on conflict (account_id, user_id) do nothing""",
        account_id,
        user_id,
        role,
    )


async def connect_ok(client: TestClient, caller: Caller, account_id: str) -> dict[str, Any]:
    """Connect as `caller`: the account is created with them as its owner, or (connected by an earlier test) shared
    with them as a manager first, and its token replaced."""
    await share_if_connected(client.server.app[PG], account_id, caller.user.id)
    response = await connect(client, caller, account_id)
    assert response.status in (200, 201), await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def run_worker_burst(stack: Stack) -> Worker:
    """Run every queued job once with the real arq worker (its settings come from the environment: worker_env)."""
    worker = Worker(
        functions=WorkerSettings.functions,
        cron_jobs=[],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(stack.redis_url),
        burst=True,
        poll_delay=0.02,
        handle_signals=False,
        max_jobs=1,  # one job at a time: no lease contention between the syncs of one account
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_failed == 0
    return worker


# ---- fixtures (re-exported by the conftest.py of tests/accounts and tests/campaigns) ---------------------------


@pytest.fixture
def settings(stack: Stack, graph_sandbox: TestServer) -> Settings:
    """The suite's settings with the in-process sandbox as Meta, so `client` talks to it over real HTTP."""
    return make_settings(stack, facebook_graph_url=graph_url(graph_sandbox))


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, stack: Stack, graph_sandbox: TestServer) -> dict[str, str]:
    """The environment the arq worker reads its settings from: this session's stack and the sandbox."""
    values = {
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "SECRET_KEY": TEST_SECRET,
        "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
        "FACEBOOK_GRAPH_URL": graph_url(graph_sandbox),
        **FAST_WORKER_ENV,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@dataclass(frozen=True)
class FreshAccount:
    account_id: str
    client: TestClient
    settings: Settings
    sandbox: TestServer

    @property
    def graph_url(self) -> str:
        return graph_url(self.sandbox)


@pytest.fixture
async def fresh_account(
    aiohttp_server: Any, aiohttp_client: Any, stack: Stack, db: asyncpg.Connection
) -> AsyncIterator[FreshAccount]:
    """An app whose Meta is a sandbox with a random seed: its one account id has never been connected in this
    session's database, so connecting it creates the account (201). Afterwards the account's token is marked
    invalid, so a scheduled sync in a later test of the session skips an account whose sandbox is gone."""
    config = SandboxConfig(seed=secrets.randbelow(10**9), accounts=1, campaigns_per_account=1,
                           adsets_per_campaign=1, ads_per_adset=1, days=3)  # fmt: skip
    server = await aiohttp_server(create_sandbox_app(config))
    settings = make_settings(stack, facebook_graph_url=graph_url(server))
    client = await aiohttp_client(create_app(settings))
    (account,) = sandbox_accounts(server)
    yield FreshAccount(account_id=account.account_id, client=client, settings=settings, sandbox=server)
    await db.execute("update ad_accounts set token_status = 'invalid' where id = $1", account.account_id)


# Accounts whose structure and lookback window of insights a burst worker run wrote during the current module.
# The sandbox is deterministic and no test here restates it, so once synced in a module, the stored rows stay
# equal to the ground truth for the rest of the module; each module syncs afresh (another module may have
# restated its own sandbox and synced that into the shared database).
_SYNCED: dict[str, set[str]] = {}


@pytest.fixture
def ensure_synced(request: pytest.FixtureRequest, stack: Stack, worker_env: dict[str, str]) -> Any:
    """`await ensure_synced(*account_ids)` after connecting those accounts in this test (connecting queues their
    sync jobs): runs the burst worker unless this module already synced all of them."""

    async def ensure(*account_ids: str) -> None:
        done = _SYNCED.setdefault(request.module.__name__, set())
        if not set(account_ids) <= done:
            await run_worker_burst(stack)
            done.update(account_ids)

    return ensure


def new_account_id() -> str:
    """A numeric account id no sandbox generates (sandbox ids have 15 digits; these have 18)."""
    return str(900_000_000_000_000_000 + secrets.randbelow(10**17))


async def insert_account(
    db: asyncpg.Connection, *, user_id: int, role: str = "owner", timezone_name: str = "UTC", currency: str = "USD"
) -> str:
    """A synthetic ad account written straight to SQL, with `user_id` as a member; returns its id."""
    account_id = new_account_id()
    await db.execute(
        # token_status invalid: a scheduled sync in a later test of the session must not pick this account up
        """insert into ad_accounts (id, name, currency, timezone_name, token_ciphertext, token_status)
           values ($1, $2, $3, $4, 'not a real ciphertext', 'invalid')""",
        account_id,
        f"Synthetic {account_id}",
        currency,
        timezone_name,
    )
    await db.execute(
        "insert into ad_account_members (account_id, user_id, role) values ($1, $2, $3)", account_id, user_id, role
    )
    return account_id


@dataclass(frozen=True)
class SyntheticObjects:
    account_id: str
    campaign_id: str
    adset_id: str
    ad_id: str


async def insert_account_with_objects(db: asyncpg.Connection, *, user_id: int, days: int = 30) -> SyntheticObjects:
    """A synthetic account (see insert_account) with one campaign, ad set and ad, a finished sync run, and
    campaign and ad insights for each of the last `days` days in UTC (so for any account's recent dates)."""
    account_id = await insert_account(db, user_id=user_id)
    campaign_id, adset_id, ad_id = f"{account_id}1", f"{account_id}2", f"{account_id}3"
    await db.execute(
        """insert into campaigns (id, account_id, name, status, effective_status)
           values ($1, $2, $3, 'ACTIVE', 'ACTIVE')""",
        campaign_id, account_id, f"Synthetic campaign {campaign_id}",
    )  # fmt: skip
    await db.execute(
        """insert into adsets (id, account_id, campaign_id, name, status, effective_status)
           values ($1, $2, $3, 'Synthetic ad set', 'ACTIVE', 'ACTIVE')""",
        adset_id, account_id, campaign_id,
    )  # fmt: skip
    await db.execute(
        """insert into ads (id, account_id, campaign_id, adset_id, name, status, effective_status)
           values ($1, $2, $3, $4, 'Synthetic ad', 'ACTIVE', 'ACTIVE')""",
        ad_id, account_id, campaign_id, adset_id,
    )  # fmt: skip
    await db.execute(
        """insert into sync_runs (account_id, kind, status, started_at, finished_at, graph_calls)
           values ($1, 'structure', 'succeeded', now(), now(), 3)""",
        account_id,
    )
    today = account_today("UTC")
    await db.executemany(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, adset_id, ad_id, impressions,
               clicks, inline_link_clicks, reach, spend, conversions, conversion_value, actions, action_values)
           values ($1, $2, $3, $4, $5, $6, $7, 1000, 10, 8, 900, 5.5, 0, 0, '{}', '{}')""",
        [
            (level, object_id, today - timedelta(days=offset), account_id, campaign_id,
             adset_id if level == "ad" else None, ad_id if level == "ad" else None)
            for offset in range(days + 2)
            for level, object_id in (("campaign", campaign_id), ("ad", ad_id))
        ],
    )  # fmt: skip
    return SyntheticObjects(account_id=account_id, campaign_id=campaign_id, adset_id=adset_id, ad_id=ad_id)


def expect_ratio(actual: Any, numerator: Decimal | int, denominator: Decimal | int, places: int) -> None:
    """`actual` (a JSON decimal string or null) is numerator/denominator to `places` decimals, or null for a zero
    denominator."""
    if not denominator:
        assert actual is None, (actual, numerator, denominator)
        return
    exact = Decimal(numerator) / Decimal(denominator)
    assert actual is not None, (numerator, denominator)
    assert abs(Decimal(str(actual)) - exact) <= Decimal(1).scaleb(-places) / 2, (actual, exact)


def expect_metrics(metrics: dict[str, Any], sums: dict[str, Any]) -> None:
    """A MetricsOut body equals these sums, with every ratio derived from the sums (never averaged)."""
    spend, impressions, clicks = sums["spend"], sums["impressions"], sums["clicks"]
    conversions, value = sums["conversions"], sums["conversion_value"]
    assert Decimal(metrics["spend"]) == spend
    assert metrics["impressions"] == impressions
    assert metrics["clicks"] == clicks
    assert metrics["inline_link_clicks"] == sums["inline_link_clicks"]
    assert Decimal(metrics["conversions"]) == conversions
    assert Decimal(metrics["conversion_value"]) == value
    expect_ratio(metrics["ctr"], Decimal(clicks) * 100, impressions, 6)
    expect_ratio(metrics["cpc"], spend, clicks, 4)
    expect_ratio(metrics["cpm"], spend * 1000, impressions, 4)
    expect_ratio(metrics["cpa"], spend, conversions, 4)
    expect_ratio(metrics["roas"], value, spend, 6)


async def sums_from_insights(db, campaign_id: str, since: date, until: date) -> dict[str, Any]:
    """last_7d computed here, from the stored daily rows: conversions counted from the actions by the default
    precedence (adsvc.collection.conversions)."""
    rows = await db.fetch(
        """select spend, impressions, clicks, inline_link_clicks, actions, action_values from insights_daily
           where level = 'campaign' and object_id = $1 and date >= $2 and date <= $3""",
        campaign_id,
        since,
        until,
    )

    def conversions(values: dict[str, Any]) -> Decimal:
        return Decimal(DEFAULT_RULE.total({key: str(value) for key, value in values.items()}))

    return {
        "days": len(rows),
        "spend": sum((row["spend"] for row in rows), Decimal(0)),
        "impressions": sum(row["impressions"] for row in rows),
        "clicks": sum(row["clicks"] for row in rows),
        "inline_link_clicks": sum(row["inline_link_clicks"] for row in rows),
        "conversions": sum((conversions(row["actions"]) for row in rows), Decimal(0)),
        "conversion_value": sum((conversions(row["action_values"]) for row in rows), Decimal(0)),
    }

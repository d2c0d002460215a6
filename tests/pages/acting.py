"""Shared by the suggestions, actions and rules page tests: the automation tests' world (a synced sandbox account
owned by a fresh user, its suggestions generated) with that owner signed in to the pages, and form helpers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from accounts.helpers import Caller, new_caller, settings, worker_env
from aiohttp.test_utils import TestServer
from automation.world import World, open_world
from pages.helpers import csrf_of, page, sign_in

from adsvc.app import create_app
from adsvc.sandbox import SandboxConfig, create_sandbox_app

__all__ = ["graph_sandbox", "settings", "worker_env", "world", "stranger"]

# the automation tests' sandbox: active poor and star campaigns with campaign daily budgets (seed 90)
ACT_SANDBOX = SandboxConfig(seed=90, accounts=1, campaigns_per_account=6, adsets_per_campaign=1, ads_per_adset=2,
                            days=40)  # fmt: skip
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
async def graph_sandbox(aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(create_sandbox_app(ACT_SANDBOX))


@pytest.fixture
async def world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) -> AsyncIterator[World]:
    """The world, its owner signed in to the pages on `world.client` (`world.csrf` holds the session's token)."""
    async with open_world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) as opened:
        opened.csrf = await sign_in(opened.client, opened.owner.user.email)  # type: ignore[attr-defined]
        yield opened


class Stranger:
    """Another user, signed in to the pages on a client of their own, who is not a member of the world's account."""

    def __init__(self, client: Any, caller: Caller, csrf: str) -> None:
        self.client, self.caller, self.csrf = client, caller, csrf


@pytest.fixture
async def stranger(aiohttp_client, world, settings) -> Stranger:
    client = await aiohttp_client(create_app(settings))
    caller = await new_caller(world.client, world.db, settings)
    return Stranger(client, caller, await sign_in(client, caller.user.email))


def key_of(html: str) -> str:
    found = _KEY.search(html)
    assert found, "the page has no form with an idempotency key"
    return found.group(1)


async def submit(client: Any, path: str, csrf: str, **fields: Any) -> Any:
    """POST a page form (not following the redirect)."""
    return await client.post(path, data={"_csrf": csrf, **fields}, allow_redirects=False)


async def form_page(client: Any, path: str) -> tuple[str, str, str]:
    """GET a page with a form: (html, its CSRF token, its idempotency key)."""
    status, html = await page(client, path)
    assert status == 200, html
    return html, csrf_of(html), key_of(html)

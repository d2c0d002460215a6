"""Automation tests run the app against an in-process sandbox with active poor and star campaigns (the suggestions
tests' sandbox, seed 90); every test starts from the sandbox's stored campaigns and leaves them as it found them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from accounts.helpers import settings, worker_env
from aiohttp.test_utils import TestServer
from automation.world import World, open_world
from webhooks.helpers import local_receivers, receiver

from adsvc.sandbox import SandboxConfig, create_sandbox_app

__all__ = ["graph_sandbox", "local_receivers", "receiver", "settings", "worker_env"]

AUTOMATION_SANDBOX = SandboxConfig(
    seed=90, accounts=1, campaigns_per_account=6, adsets_per_campaign=1, ads_per_adset=2, days=40
)


@pytest.fixture
async def graph_sandbox(aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(create_sandbox_app(AUTOMATION_SANDBOX))


@pytest.fixture
async def world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) -> AsyncIterator[World]:
    async with open_world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) as opened:
        yield opened

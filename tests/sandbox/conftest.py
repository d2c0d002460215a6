"""Sandbox tests need neither PostgreSQL nor Redis: the session stack's autouse Redis cleaner is switched off here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from adsvc.sandbox import SandboxConfig, create_sandbox_app


@pytest.fixture(autouse=True)
def clean_redis() -> None:
    """Overrides tests/conftest.py's autouse fixture so these tests do not start the embedded stack."""


@pytest.fixture
def make_sandbox(aiohttp_client: Any) -> Callable[..., Awaitable[TestClient]]:
    from sandbox.helpers import SMALL

    async def make(config: SandboxConfig = SMALL, **kwargs: Any) -> TestClient:
        return await aiohttp_client(create_sandbox_app(config, **kwargs))

    return make


@pytest.fixture
async def sandbox(make_sandbox: Callable[..., Awaitable[TestClient]]) -> TestClient:
    return await make_sandbox()

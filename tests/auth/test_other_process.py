"""Revocation is seen by every process at once: a second web server, a separate OS process on the same Redis."""

from __future__ import annotations

import aiohttp
import pytest
from factories import TEST_PASSWORD, bearer, create_user, login

pytestmark = pytest.mark.slow


async def _status_in(base: str, path: str, token: str, method: str = "GET", json=None) -> int:
    async with aiohttp.ClientSession() as session, session.request(method, base + path, headers=bearer(token),
                                                                    json=json) as response:  # fmt: skip
        return response.status


async def test_logout_revokes_token_in_other_process(client, db, settings, other_process):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    assert await _status_in(other_process, "/api/v1/auth/me", token) == 200
    assert (await client.post("/api/v1/auth/logout", headers=bearer(token))).status == 200
    assert await _status_in(other_process, "/api/v1/auth/me", token) == 401


async def test_password_change_in_other_process_revokes_tokens_here(client, db, settings, other_process):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    status = await _status_in(
        other_process,
        "/api/v1/auth/change-password",
        token,
        "POST",
        {"old_password": TEST_PASSWORD, "new_password": "changed in another process"},
    )
    assert status == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 401


async def test_disable_revokes_tokens_in_other_process(client, db, settings, other_process):
    admin = await create_user(db, settings, is_admin=True)
    user = await create_user(db, settings)
    admin_token, user_token = await login(client, admin.email), await login(client, user.email)
    assert await _status_in(other_process, "/api/v1/auth/me", user_token) == 200
    assert (await client.post(f"/api/v1/admin/users/{user.id}/disable", headers=bearer(admin_token))).status == 200
    assert await _status_in(other_process, "/api/v1/auth/me", user_token) == 401

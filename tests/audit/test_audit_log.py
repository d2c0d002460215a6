"""Audit rows for every auth state change, and the append-only guarantee."""

from __future__ import annotations

import asyncpg
import pytest
from factories import TEST_PASSWORD, bearer, create_user, login, unique_email

from adsvc.audit.queries import audit_entries_for_request


async def _entries(db, response):
    return await audit_entries_for_request(db, request_id=response.headers["X-Request-ID"])


async def test_login_success_and_failure_are_audited(client, db, settings):
    user = await create_user(db, settings)
    ok = await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    [entry] = await _entries(db, ok)
    assert (entry.action, entry.outcome, entry.actor_id, entry.target_id) == ("auth.login", "success", user.id,
                                                                              str(user.id))  # fmt: skip
    assert entry.client_addr == "127.0.0.1"
    bad = await client.post("/api/v1/auth/login", json={"email": user.email, "password": "wrong password"})
    [failure] = await _entries(db, bad)
    assert (failure.action, failure.outcome, failure.details) == ("auth.login", "failure", {"reason": "wrong_password"})
    unknown_email = unique_email()
    unknown = await client.post("/api/v1/auth/login", json={"email": unknown_email, "password": "wrong password"})
    [entry] = await _entries(db, unknown)
    assert (
        entry.actor_id is None and entry.actor_label == unknown_email and entry.details == {"reason": "unknown_email"}
    )


async def test_logout_and_password_change_are_audited(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    change = await client.post(
        "/api/v1/auth/change-password",
        json={"old_password": TEST_PASSWORD, "new_password": "yet another passphrase"},
        headers=bearer(token),
    )
    [entry] = await _entries(db, change)
    assert (entry.action, entry.actor_id, entry.target_id) == ("auth.change_password", user.id, str(user.id))
    fresh = (await change.json())["access_token"]
    logout = await client.post("/api/v1/auth/logout", headers=bearer(fresh))
    [entry] = await _entries(db, logout)
    assert (entry.action, entry.actor_id, entry.request_id) == ("auth.logout", user.id, logout.headers["X-Request-ID"])


async def test_user_created_and_disabled_are_audited_with_actor_and_target(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    created = await client.post(
        "/api/v1/admin/users",
        json={"email": unique_email(), "password": "a long enough passphrase"},
        headers={**bearer(token), "X-Request-ID": "req-create-1"},
    )
    new_id = (await created.json())["id"]
    [entry] = await audit_entries_for_request(db, request_id="req-create-1")
    assert (entry.action, entry.actor_id, entry.target_type, entry.target_id) == ("user.create", admin.id, "user",
                                                                                  str(new_id))  # fmt: skip
    assert entry.after["is_admin"] is False
    disabled = await client.post(f"/api/v1/admin/users/{new_id}/disable", headers=bearer(token))
    [entry] = await _entries(db, disabled)
    assert (entry.action, entry.before, entry.after) == ("user.disable", {"is_active": True}, {"is_active": False})


async def test_no_audit_row_when_a_request_fails_validation(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    response = await client.post(
        "/api/v1/admin/users", json={"email": unique_email(), "password": "short"}, headers=bearer(token)
    )
    assert response.status == 422
    assert await _entries(db, response) == []


@pytest.mark.parametrize("statement", ["update audit_log set action = 'x'", "delete from audit_log",
                                       "truncate audit_log"])  # fmt: skip
async def test_audit_log_refuses_update_delete_truncate(client, db, settings, statement):
    user = await create_user(db, settings)
    await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    before = await db.fetchval("select count(*) from audit_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(statement)
    assert await db.fetchval("select count(*) from audit_log") == before

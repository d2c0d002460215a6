"""The auth API end to end: a real app on the real PostgreSQL and Redis of the test session."""

from __future__ import annotations

import time

import jwt
from factories import TEST_PASSWORD, bearer, create_user, login, make_settings, unique_email

from adsvc.app import create_app
from adsvc.auth.queries import user_by_id


async def test_login_returns_bearer_token_with_expiry(client, db, settings):
    user = await create_user(db, settings)
    response = await client.post("/api/v1/auth/login", json={"email": user.email.upper(), "password": TEST_PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.jwt_expiration_minutes * 60
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(user.id)
    assert claims["exp"] - claims["nbf"] == body["expires_in"]


async def test_me_returns_the_caller(client, db, settings):
    user = await create_user(db, settings, is_admin=True)
    token = await login(client, user.email)
    response = await client.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {"id": user.id, "email": user.email, "is_admin": True}


async def test_me_without_token_is_401_json(client):
    response = await client.get("/api/v1/auth/me")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_unknown_email_and_wrong_password_answer_identically(client, db, settings):
    user = await create_user(db, settings)
    wrong = await client.post("/api/v1/auth/login", json={"email": user.email, "password": "not the password"})
    unknown = await client.post("/api/v1/auth/login", json={"email": unique_email(), "password": "whatever it is"})
    assert wrong.status == unknown.status == 401
    wrong_body, unknown_body = await wrong.json(), await unknown.json()
    wrong_body["error"].pop("request_id")
    unknown_body["error"].pop("request_id")
    assert wrong_body == unknown_body


async def test_disabled_user_cannot_log_in(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    user = await create_user(db, settings)
    admin_token = await login(client, admin.email)
    response = await client.post(f"/api/v1/admin/users/{user.id}/disable", headers=bearer(admin_token))
    assert response.status == 200
    response = await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert response.status == 401


async def test_logout_revokes_the_token(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    other_token = await login(client, user.email)
    response = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert response.status == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 401
    assert (await client.post("/api/v1/auth/logout", headers=bearer(token))).status == 401
    # only that token: another session of the same user goes on
    assert (await client.get("/api/v1/auth/me", headers=bearer(other_token))).status == 200


async def test_logout_denylist_entry_expires_with_the_token(client, db, settings, stack):
    import redis.asyncio as aioredis

    user = await create_user(db, settings)
    token = await login(client, user.email)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (await client.post("/api/v1/auth/logout", headers=bearer(token))).status == 200
    redis = aioredis.Redis.from_url(stack.redis_url)
    ttl = await redis.ttl(f"adsvc:auth:revoked-jti:{claims['jti']}")
    await redis.aclose()
    assert 0 < ttl <= claims["exp"] - time.time() + 1


async def test_change_password_revokes_older_tokens_and_returns_a_new_one(client, db, settings):
    user = await create_user(db, settings)
    first, second = await login(client, user.email), await login(client, user.email)
    new_password = "a brand new passphrase 42"
    response = await client.post(
        "/api/v1/auth/change-password",
        json={"old_password": TEST_PASSWORD, "new_password": new_password},
        headers=bearer(first),
    )
    assert response.status == 200, await response.text()
    fresh = (await response.json())["access_token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(first))).status == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(second))).status == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(fresh))).status == 200
    old_login = await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert old_login.status == 401
    assert await login(client, user.email, new_password)
    # a token minted right after the change is not taken for an older one
    assert (
        await client.get("/api/v1/auth/me", headers=bearer(await login(client, user.email, new_password)))
    ).status == 200


async def test_change_password_with_wrong_old_password_is_422_and_changes_nothing(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    response = await client.post(
        "/api/v1/auth/change-password",
        json={"old_password": "wrong old password", "new_password": "another fine passphrase"},
        headers=bearer(token),
    )
    assert response.status == 422
    assert (await response.json())["error"]["details"][0]["loc"] == ["body", "old_password"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(token))).status == 200
    assert (await user_by_id(db, user_id=user.id)).hashed_password == user.hashed_password


async def test_change_password_applies_the_policy(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    response = await client.post(
        "/api/v1/auth/change-password",
        json={"old_password": TEST_PASSWORD, "new_password": "short"},
        headers=bearer(token),
    )
    assert response.status == 422
    body = await response.json()
    assert body["error"]["code"] == "validation_failed"
    assert any("at least" in detail["msg"] for detail in body["error"]["details"])


async def test_password_in_query_string_is_never_read(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    response = await client.post(
        "/api/v1/auth/change-password",
        params={"old_password": TEST_PASSWORD, "new_password": "query string passphrase"},
        headers=bearer(token),
    )
    assert response.status == 415
    assert (await user_by_id(db, user_id=user.id)).hashed_password == user.hashed_password


async def test_login_upgrades_the_hash_when_parameters_change(aiohttp_client, db, stack, settings):
    user = await create_user(db, settings)
    assert "m=8192,t=1,p=1" in user.hashed_password
    stronger = make_settings(stack, argon2_time_cost=2, argon2_memory_cost_kib=16384)
    client = await aiohttp_client(create_app(stronger))
    await login(client, user.email)
    rehashed = (await user_by_id(db, user_id=user.id)).hashed_password
    assert "m=16384,t=2,p=1" in rehashed
    assert await login(client, user.email)


async def test_admin_creates_user_who_can_log_in(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    email = unique_email("new")
    response = await client.post(
        "/api/v1/admin/users", json={"email": email, "password": "a long enough passphrase"}, headers=bearer(token)
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["email"] == email and body["is_admin"] is False and body["is_active"] is True
    assert await login(client, email, "a long enough passphrase")


async def test_admin_create_duplicate_email_is_409_case_insensitive(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    response = await client.post(
        "/api/v1/admin/users",
        json={"email": admin.email.upper(), "password": "a long enough passphrase"},
        headers=bearer(token),
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "email_taken"


async def test_admin_create_rejects_weak_password_and_bad_email(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    weak = await client.post(
        "/api/v1/admin/users", json={"email": unique_email(), "password": "aaaaaaaaaaaaaaa"}, headers=bearer(token)
    )
    assert weak.status == 422
    bad_email = await client.post(
        "/api/v1/admin/users", json={"email": "not-an-email", "password": "a long enough passphrase"},
        headers=bearer(token),
    )  # fmt: skip
    assert bad_email.status == 422
    assert (await bad_email.json())["error"]["details"][0]["loc"] == ["email"]


async def test_admin_endpoints_refuse_non_admins(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    response = await client.post(
        "/api/v1/admin/users", json={"email": unique_email(), "password": "a long enough passphrase"},
        headers=bearer(token),
    )  # fmt: skip
    assert response.status == 403
    assert (await client.get("/api/v1/admin/users", headers=bearer(token))).status == 403
    assert (await client.post(f"/api/v1/admin/users/{user.id}/disable", headers=bearer(token))).status == 403


async def test_disable_revokes_tokens_and_is_idempotent(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    user = await create_user(db, settings)
    admin_token, user_token = await login(client, admin.email), await login(client, user.email)
    first = await client.post(f"/api/v1/admin/users/{user.id}/disable", headers=bearer(admin_token))
    assert first.status == 200
    assert (await first.json())["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=bearer(user_token))).status == 401
    again = await client.post(f"/api/v1/admin/users/{user.id}/disable", headers=bearer(admin_token))
    assert again.status == 200
    audit = await db.fetchval(
        "select count(*) from audit_log where action = 'user.disable' and target_id = $1", str(user.id)
    )
    assert audit == 1


async def test_disable_unknown_user_is_404_and_self_is_409(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    assert (await client.post("/api/v1/admin/users/999999999/disable", headers=bearer(token))).status == 404
    # beyond bigint: still "no such user", never a database error
    assert (await client.post("/api/v1/admin/users/9999999999999999999/disable", headers=bearer(token))).status == 404
    assert (await client.post(f"/api/v1/admin/users/{admin.id}/disable", headers=bearer(token))).status == 409


async def test_demoted_admin_token_loses_admin_rights(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    await db.execute("update users set is_admin = false where id = $1", admin.id)
    assert (await client.get("/api/v1/admin/users", headers=bearer(token))).status == 403


async def test_admin_lists_users_with_keyset_pagination(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    for _ in range(3):
        await create_user(db, settings)
    token = await login(client, admin.email)
    seen: list[int] = []
    after = 0
    while True:
        response = await client.get(
            "/api/v1/admin/users", params={"after_id": after, "limit": 2}, headers=bearer(token)
        )
        assert response.status == 200
        page = await response.json()
        seen += [row["id"] for row in page["data"]]
        if page["next_after_id"] is None:
            break
        after = page["next_after_id"]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert admin.id in seen
    bad = await client.get("/api/v1/admin/users", params={"limit": 0}, headers=bearer(token))
    assert bad.status == 422

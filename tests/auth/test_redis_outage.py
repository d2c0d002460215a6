"""Redis down or stuck: authenticated requests fail closed with 503 within the Redis timeout, never 200 or 401;
the first request after Redis returns succeeds."""

from __future__ import annotations

import time

import pytest
from factories import bearer, create_user, login, make_settings

from adsvc.app import create_app
from adsvc.embedded import EmbeddedRedis

REDIS_TIMEOUT = 0.3


@pytest.fixture
def own_redis(tmp_path):
    server = EmbeddedRedis(path=tmp_path / "redis")
    server.start(reuse=False)
    yield server
    server.stop()


async def _me(client, token):
    started = time.perf_counter()
    response = await client.get("/api/v1/auth/me", headers=bearer(token))
    return response, time.perf_counter() - started


async def test_redis_stopped_gives_503_then_recovers(aiohttp_client, db, stack, own_redis):
    settings = make_settings(stack, redis_url=own_redis.url, redis_timeout_seconds=REDIS_TIMEOUT)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    token = await login(client, user.email)
    assert (await _me(client, token))[0].status == 200

    own_redis.stop()
    response, elapsed = await _me(client, token)
    assert response.status == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["code"] == "auth_store_unavailable"
    assert elapsed < REDIS_TIMEOUT * 2 + 0.5
    login_attempt = await client.post("/api/v1/auth/login", json={"email": user.email, "password": "irrelevant"})
    assert login_attempt.status == 503

    own_redis.start(reuse=False)  # same port, same data folder
    response, _ = await _me(client, token)
    assert response.status == 200, await response.text()


async def test_redis_stuck_gives_503_within_timeout(aiohttp_client, db, stack, own_redis):
    settings = make_settings(stack, redis_url=own_redis.url, redis_timeout_seconds=REDIS_TIMEOUT)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    token = await login(client, user.email)
    own_redis.pause()
    try:
        response, elapsed = await _me(client, token)
        assert response.status == 503
        assert elapsed < REDIS_TIMEOUT + 0.5
    finally:
        own_redis.resume()
    response, _ = await _me(client, token)
    assert response.status == 200


async def test_revocation_survives_a_redis_restart(aiohttp_client, db, stack, own_redis):
    settings = make_settings(stack, redis_url=own_redis.url, redis_timeout_seconds=REDIS_TIMEOUT)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    token = await login(client, user.email)
    assert (await client.post("/api/v1/auth/logout", headers=bearer(token))).status == 200
    own_redis.stop()  # SIGTERM: redis saves its data before exiting
    own_redis.start(reuse=False)
    assert (await _me(client, token))[0].status == 401


async def test_first_request_after_an_unnoticed_redis_restart_succeeds(aiohttp_client, db, stack, own_redis):
    """The pooled connection died while idle; the next request must reconnect instead of failing."""
    settings = make_settings(stack, redis_url=own_redis.url, redis_timeout_seconds=REDIS_TIMEOUT)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    token = await login(client, user.email)
    assert (await _me(client, token))[0].status == 200
    own_redis.stop()
    own_redis.start(reuse=False)
    response, _ = await _me(client, token)
    assert response.status == 200, await response.text()

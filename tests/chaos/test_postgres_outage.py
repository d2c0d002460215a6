"""PostgreSQL stopped for real under a running app: every database-backed endpoint answers 503
`database_unavailable` with Retry-After within the pool's timeout, the outage is logged once without a traceback,
and the first request after PostgreSQL is back is served normally."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from factories import TEST_PASSWORD, bearer, create_user, login, make_settings

from adsvc.app import create_app

DB_TIMEOUT = 2.0
EXPORT = "/api/v1/metrics/export?date_from=2026-11-01&date_until=2026-11-30"
ENDPOINTS = (
    ("GET", "/api/v1/ad-accounts"),
    ("GET", "/api/v1/campaigns"),
    ("GET", "/api/v1/suggestions"),
    ("GET", "/api/v1/automation/actions"),
    ("GET", "/api/v1/analytics/dashboard"),
    ("GET", EXPORT),
)


async def _call(client, method, path, token, api_key):
    started = time.perf_counter()
    headers = {"X-API-Key": api_key} if path == EXPORT else bearer(token)
    response = await client.request(method, path, headers=headers)
    return response, time.perf_counter() - started


async def test_postgres_stopped_answers_503_logs_once_and_recovers(aiohttp_client, own, own_db, caplog):
    settings = make_settings(own.stack, db_timeout_seconds=DB_TIMEOUT)
    client = await aiohttp_client(create_app(settings))
    admin = await create_user(own_db, settings, is_admin=True)
    admin_token = await login(client, admin.email)
    user = await create_user(own_db, settings)
    token = await login(client, user.email)
    created = await client.post("/api/v1/admin/api-keys", json={"user_id": user.id, "name": "bi"},
                                headers=bearer(admin_token))  # fmt: skip
    api_key = (await created.json())["key"]
    for method, path in ENDPOINTS:
        response, _ = await _call(client, method, path, token, api_key)
        assert response.status == 200, (path, await response.text())

    await own_db.close()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        await own.stop_postgres()
        for _ in range(3):
            for method, path in ENDPOINTS:
                response, elapsed = await _call(client, method, path, token, api_key)
                assert response.status == 503, (path, await response.text())
                assert int(response.headers["Retry-After"]) >= 1
                body = await response.json()
                assert body["error"]["code"] == "database_unavailable", body
                assert elapsed < DB_TIMEOUT + 1.0, (path, elapsed)
                assert response.headers["X-Content-Type-Options"] == "nosniff"
            # signing in needs the database too
            refused = await client.post("/api/v1/auth/login", json={"email": user.email, "password": "x" * 12})
            assert refused.status == 503
            assert (await refused.json())["error"]["code"] == "database_unavailable"
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert tracebacks == []
    outage_lines = [record for record in caplog.records if "database unavailable" in record.getMessage()]
    assert len(outage_lines) == 1, [record.getMessage() for record in caplog.records]

    await own.start_postgres()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for method, path in ENDPOINTS:
            response, _ = await _call(client, method, path, token, api_key)
            assert response.status == 200, (path, await response.text())
    assert any("database reachable again" in record.getMessage() for record in caplog.records)
    assert (await client.post("/api/v1/auth/login", json={"email": user.email, "password": "x" * 12})).status == 401


async def test_postgres_stopped_and_started_under_a_request_loop_answers_only_503_then_200(own, own_db, fleet):
    """A real `adsvc serve` process under a request loop while PostgreSQL stops for real and starts again."""
    web = await fleet.web(DB_TIMEOUT_SECONDS=str(DB_TIMEOUT))
    user = await create_user(own_db, make_settings(own.stack))
    await own_db.close()
    seen: list[tuple[float, int]] = []
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        signed_in = await http.post(web.base_url + "/api/v1/auth/login",
                                    json={"email": user.email, "password": TEST_PASSWORD})  # fmt: skip
        headers = bearer((await signed_in.json())["access_token"])

        async def request_loop() -> None:
            paths = ["/api/v1/ad-accounts", "/api/v1/campaigns", "/api/v1/suggestions"]
            while not stop.is_set():
                for path in paths:
                    async with http.get(web.base_url + path, headers=headers) as response:
                        seen.append((time.monotonic(), response.status))
                        if response.status == 503:
                            assert response.headers["Retry-After"]
                            assert (await response.json())["error"]["code"] == "database_unavailable"
                await asyncio.sleep(0.02)

        loop = asyncio.create_task(request_loop())
        await asyncio.sleep(1)
        await own.stop_postgres()
        await asyncio.sleep(5)
        await own.start_postgres()
        started_at = time.monotonic()
        await asyncio.sleep(3)
        stop.set()
        await loop
    statuses = [status for _, status in seen]
    # on failure: the server's log without its 200 and 503 access lines
    unusual = [line for line in web.log().splitlines() if '" 200 ' not in line and '" 503 ' not in line]
    if set(statuses) != {200, 503}:
        print("\n".join(unusual[-80:]))  # shown under "Captured stdout call"
    assert set(statuses) == {200, 503}, sorted(set(statuses))
    assert statuses.count(503) >= 10
    after = [status for at, status in seen if at > started_at + 1]
    assert after and set(after) == {200}
    log = web.log()
    assert "Traceback" not in log
    assert log.count("database unavailable") == 1, log

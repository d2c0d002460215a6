"""PostgreSQL stopped for real under a running app: every database-backed endpoint answers 503
`database_unavailable` with Retry-After within the pool's timeout, the outage is logged once without a traceback,
and the first request after PostgreSQL is back is served normally."""

from __future__ import annotations

import logging
import time

from factories import bearer, create_user, login, make_settings

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
    await own.stop_postgres()
    caplog.clear()
    with caplog.at_level(logging.INFO):
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

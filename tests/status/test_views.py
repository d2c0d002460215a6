"""Liveness, readiness, metrics, the status page and the OpenAPI document."""

from __future__ import annotations

import shutil
import time

import orjson
from accounts.helpers import share_if_connected
from aiohttp import web
from factories import bearer, create_user, login, make_settings
from openapi_spec_validator import validate

from adsvc.app import create_app
from adsvc.settings import REPO_ROOT


async def test_health_is_ok(client):
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_ready_reports_each_component(client):
    response = await client.get("/ready")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "redis": True, "migrations": True,
    }  # fmt: skip


async def test_ready_is_503_naming_pending_migrations(aiohttp_client, stack, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", migrations)
    (migrations / "9999.not-yet-applied.sql").write_text("select 1;\n")
    client = await aiohttp_client(create_app(make_settings(stack, migrations_dir=migrations)))
    response = await client.get("/ready")
    assert response.status == 503
    assert "Retry-After" in response.headers
    body = await response.json()
    assert body["checks"]["migrations"]["ok"] is False
    assert "9999.not-yet-applied" in body["checks"]["migrations"]["detail"]
    assert body["checks"]["database"]["ok"] is True


async def test_metrics_label_routes_by_name_not_path(client, db, settings):
    admin = await create_user(db, settings, is_admin=True)
    token = await login(client, admin.email)
    await client.post("/api/v1/admin/users/424242/disable", headers=bearer(token))
    await client.get("/no/such/path/777")
    text = await (await client.get("/metrics")).text()
    assert 'route="admin-disable-user"' in text
    assert 'route="unmatched"' in text
    assert "424242" not in text and "/no/such/path" not in text
    assert "http_request_duration_seconds_bucket" in text


async def test_status_page_shows_components(client):
    from adsvc.keys import REDIS
    from adsvc.status.workers import WorkerBeat, record_heartbeat

    now = time.time()
    await record_heartbeat(client.server.app[REDIS], WorkerBeat("w-1", "host", 1, started_at=now - 5, beat_at=now))
    response = await client.get("/status")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    for component in ("Database", "Redis", "Migrations", "Workers"):
        assert component in html
    assert "All systems operational" in html
    assert "http://" not in html.replace("http://127.0.0.1", "")  # nothing fetched from elsewhere


async def test_status_headline_is_degraded_while_no_worker_runs(client):
    html = await (await client.get("/status")).text()
    assert "Degraded: no worker is running" in html and "All systems operational" not in html
    assert "No worker has reported in the last hour" in html


async def test_openapi_document_is_valid_and_lists_every_route(client):
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = orjson.loads(await response.read())
    validate(document)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    app: web.Application = client.server.app
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("formatter") or info.get("path")
        if path is None or path.startswith("/static"):
            continue
        for route in resource:
            if route.method == "HEAD":
                continue
            documented_path = path.replace("{user_id:\\d+}", "{user_id}")
            assert (route.method, documented_path) in documented, (route.method, path)


async def test_openapi_declares_bodies_auth_and_errors(client):
    document = orjson.loads(await (await client.get("/api/openapi.json")).read())
    login_op = document["paths"]["/api/v1/auth/login"]["post"]
    schema_ref = login_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    login_schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert set(login_schema["required"]) == {"email", "password"}
    assert login_op["security"] == []
    assert "429" in login_op["responses"] and "Retry-After" in login_op["responses"]["429"]["headers"]
    me_op = document["paths"]["/api/v1/auth/me"]["get"]
    assert me_op["security"] == [{"bearerAuth": []}]
    assert {"401", "503"} <= set(me_op["responses"])


async def test_ready_is_503_naming_redis_when_it_is_down(aiohttp_client, stack):
    from adsvc.embedded import free_port

    client = await aiohttp_client(create_app(make_settings(stack, redis_url=f"redis://127.0.0.1:{free_port()}/0")))
    response = await client.get("/ready")
    assert response.status == 503
    body = await response.json()
    assert body["checks"]["redis"]["ok"] is False and "unreachable" in body["checks"]["redis"]["detail"]
    assert body["checks"]["database"]["ok"] is True
    html = await (await client.get("/status")).text()
    assert "Degraded" in html and "Redis did not answer" in html


async def test_metrics_expose_agent_cache_and_breakers(aiohttp_client, db, stack, graph_sandbox):
    from factories import create_user, login

    from adsvc.keys import AGENTS
    from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE

    settings = make_settings(stack, facebook_graph_url=str(graph_sandbox.make_url("")).rstrip("/"))
    client = await aiohttp_client(create_app(settings))
    account = next(iter(graph_sandbox.app[SANDBOX_STATE].data.accounts.values()))
    user = await create_user(db, settings)
    token = await login(client, user.email)
    await share_if_connected(db, account.account_id, user.id)
    connected = await client.post(
        "/api/v1/ad-accounts",
        json={"account_id": account.id, "access_token": SANDBOX_ACCESS_TOKEN},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert connected.status in (200, 201)
    cache = client.server.app[AGENTS]
    await cache.get(account.account_id)
    await cache.get(account.account_id)
    text = await (await client.get("/metrics")).text()
    assert "facebook_agent_creation_time_ms_count 1.0" in text
    assert f'facebook_agent_cache_hits_total{{account_id="{account.account_id}"}} 1.0' in text
    assert f'facebook_agent_cache_misses_total{{account_id="{account.account_id}"}} 1.0' in text
    assert f'facebook_agent_cache_age_seconds{{account_id="{account.account_id}"}}' in text
    assert f'circuit_breaker_state{{breaker="meta:{account.account_id}"}} 0.0' in text

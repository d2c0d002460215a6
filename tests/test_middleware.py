"""Request ids, JSON errors for every failure, security headers, and body limits."""

from __future__ import annotations

import logging

from aiohttp import web
from factories import bearer, create_user, login, make_settings

from adsvc.app import create_app

SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy")


def _assert_error(body, code):
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "details" in body["error"]


async def test_request_id_is_echoed_or_generated(client):
    echoed = await client.get("/health", headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["X-Request-ID"] == "trace-abc.123"
    generated = await client.get("/health")
    assert len(generated.headers["X-Request-ID"]) >= 16
    unsafe = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces<script>"})
    assert unsafe.headers["X-Request-ID"] != "bad id\twith spaces<script>"


async def test_malformed_json_is_400(client):
    response = await client.post("/api/v1/auth/login", data=b'{"email": ', headers={"Content-Type": "application/json"})
    assert response.status == 400
    _assert_error(await response.json(), "bad_request")


async def test_json_that_is_not_an_object_is_400(client):
    response = await client.post("/api/v1/auth/login", json=["email", "password"])
    assert response.status == 400
    _assert_error(await response.json(), "bad_request")


async def test_missing_and_extra_fields_are_422_with_field_details(client):
    response = await client.post("/api/v1/auth/login", json={"email": "a@example.com", "pasword": "typo"})
    assert response.status == 422
    body = await response.json()
    _assert_error(body, "validation_failed")
    locs = sorted(tuple(detail["loc"]) for detail in body["error"]["details"])
    assert locs == [("password",), ("pasword",)]
    assert "typo" not in str(body)  # input values are never echoed back


async def test_non_json_content_type_is_415(client):
    response = await client.post("/api/v1/auth/login", data="email=a&password=b",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status == 415
    _assert_error(await response.json(), "unsupported_media_type")


async def test_unknown_route_is_404_json(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    _assert_error(await response.json(), "not_found")
    for header in SECURITY_HEADERS:
        assert header in response.headers


async def test_wrong_method_is_405_json_with_allow(client):
    response = await client.delete("/api/v1/auth/login")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    _assert_error(await response.json(), "method_not_allowed")


async def test_oversized_body_is_413_json(aiohttp_client, stack):
    client = await aiohttp_client(create_app(make_settings(stack, max_body_bytes=1024)))
    response = await client.post("/api/v1/auth/login", data=b"{" + b" " * 4096 + b"}",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status == 413
    _assert_error(await response.json(), "payload_too_large")


async def test_unexpected_error_is_bare_500_logged_with_request_id(aiohttp_client, settings, caplog):
    app = create_app(settings)

    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("database password is hunter2")

    app.router.add_get("/api/explode", explode, name="explode")
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="adsvc.web"):
        response = await client.get("/api/explode", headers={"X-Request-ID": "req-500"})
    assert response.status == 500
    body = await response.json()
    _assert_error(body, "internal_error")
    assert "hunter2" not in str(body) and "Traceback" not in str(body)
    assert body["error"]["request_id"] == "req-500"
    assert any("req-500" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_security_headers_on_pages_api_and_static(client, db, settings):
    user = await create_user(db, settings)
    token = await login(client, user.email)
    for path, headers in (("/status", {}), ("/api/v1/auth/me", bearer(token)), ("/static/style.css", {})):
        response = await client.get(path, headers=headers)
        assert response.status == 200, path
        for header in SECURITY_HEADERS:
            assert header in response.headers, (path, header)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]

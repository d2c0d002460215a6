"""The validation layer every declared endpoint shares: JSON types as documented (no lax coercion), the
Idempotency-Key header checked on every endpoint that honours it, enum filters, single-valued query parameters."""

from __future__ import annotations

import re

import pytest
from accounts.helpers import new_caller

from adsvc.keys import ENDPOINTS


@pytest.fixture
async def admin(client, db, settings):
    return await new_caller(client, db, settings, is_admin=True)


@pytest.fixture
async def user(client, db, settings):
    return await new_caller(client, db, settings)


def _field_errors(body):
    assert body["error"]["code"] == "validation_failed", body
    return {tuple(detail["loc"]): detail["type"] for detail in body["error"]["details"]}


@pytest.mark.parametrize("value", [True, False, "5", 5.5, [5]], ids=["true", "false", "string", "fraction", "list"])
async def test_an_integer_field_refuses_what_is_not_a_json_integer(client, admin, user, value):
    name = f"refused {value!r}"
    response = await client.post("/api/v1/admin/api-keys", json={"user_id": value, "name": name}, headers=admin.headers)
    assert response.status == 422, await response.text()
    assert ("user_id",) in _field_errors(await response.json())
    listed = await client.get("/api/v1/admin/api-keys", headers=admin.headers)
    assert name not in [key["name"] for key in (await listed.json())["data"]]


async def test_an_integral_number_is_an_integer_as_json_schema_says(client, admin, user):
    response = await client.post(
        "/api/v1/admin/api-keys", json={"user_id": float(user.user.id), "name": "exports"}, headers=admin.headers
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["user_id"] == user.user.id


@pytest.mark.parametrize("value", [1, 0, "true", "yes"])
async def test_a_boolean_field_refuses_what_is_not_a_json_boolean(client, admin, value):
    response = await client.post(
        "/api/v1/admin/users",
        json={"email": "someone@example.com", "password": "a long enough password", "is_admin": value},
        headers=admin.headers,
    )
    assert response.status == 422, await response.text()
    assert ("is_admin",) in _field_errors(await response.json())


def _idempotent_endpoints(app):
    return sorted((e for e in app[ENDPOINTS].values() if e.idempotent), key=lambda e: e.name)


def _concrete(path):
    return re.sub(r"{(\w+)(?::[^}]+)?}", "1", path)


@pytest.mark.parametrize("key", ["has space", "", "x" * 201, "naïve", "tab\there"])
async def test_an_invalid_idempotency_key_is_a_422_on_every_endpoint_that_honours_one(client, admin, key):
    endpoints = _idempotent_endpoints(client.app)
    assert len(endpoints) >= 6, [e.name for e in endpoints]
    for endpoint in endpoints:
        response = await client.request(
            endpoint.method,
            _concrete(endpoint.path),
            json={},
            headers={**admin.headers, "Idempotency-Key": key},
        )
        assert response.status == 422, (endpoint.name, response.status, await response.text())
        body = await response.json()
        assert body["error"]["code"] == "invalid_idempotency_key", (endpoint.name, body)
        assert key not in str(body) or not key


async def test_a_valid_idempotency_key_passes_the_check(client, admin):
    endpoint = next(e for e in _idempotent_endpoints(client.app) if e.name == "suggestion-apply")
    response = await client.post(
        _concrete(endpoint.path), headers={**admin.headers, "Idempotency-Key": "retry-7f3a:ok"}
    )
    assert response.status == 404  # past the key check: there is no suggestion 1 for this caller


UNKNOWN_FILTER_VALUES = [
    ("/api/v1/campaigns", "status", "NOPE"),
    ("/api/v1/campaigns", "status", "ACTIVE,NOPE"),
    ("/api/v1/campaigns", "status", "activ"),
    ("/api/v1/campaigns", "status", "ACTIVE,"),
    ("/api/v1/campaigns", "effective_status", "NOPE"),
    ("/api/v1/campaigns", "effective_status", "WITH_ISSUES,SOMETHING"),
    ("/api/v1/campaigns", "sort", "NOPE"),
    ("/api/v1/campaigns", "order", "sideways"),
    ("/api/v1/suggestions", "status", "NOPE"),
    ("/api/v1/suggestions", "kind", "NOPE"),
    ("/api/v1/automation/actions", "status", "NOPE"),
    ("/api/v1/analytics/trends?account_id=1", "metric", "NOPE"),
    ("/api/v1/analytics/dashboard", "date_preset", "NOPE"),
]


@pytest.mark.parametrize(("path", "name", "value"), UNKNOWN_FILTER_VALUES)
async def test_an_unknown_filter_value_is_a_422(client, user, path, name, value):
    response = await client.get(path, params={name: value}, headers=user.headers)
    assert response.status == 422, await response.text()
    assert (name,) in _field_errors(await response.json())


async def test_known_filter_values_are_accepted(client, user):
    for params in ({"status": "ACTIVE,PAUSED"}, {"effective_status": "WITH_ISSUES"}, {"status": "DELETED"}):
        response = await client.get("/api/v1/campaigns", params=params, headers=user.headers)
        assert response.status == 200, (params, await response.text())


@pytest.mark.parametrize(
    "query",
    ["limit=1&limit=2", "limit=5&limit=5", "status=ACTIVE&status=PAUSED", "q=a&sort=name&q=b"],
)
async def test_a_repeated_query_parameter_is_a_422(client, user, query):
    response = await client.get("/api/v1/campaigns?" + query, headers=user.headers)
    assert response.status == 422, await response.text()
    body = await response.json()
    repeated = query.split("&")[0].split("=")[0]
    assert body["error"]["details"] == [{"loc": ["query", repeated], "msg": "given more than once", "type": "repeated"}]


async def test_a_repeated_query_parameter_is_a_422_on_admin_lists_too(client, admin):
    response = await client.get("/api/v1/admin/users?after_id=0&after_id=3", headers=admin.headers)
    assert response.status == 422

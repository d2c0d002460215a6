"""The OpenAPI 3.1 document, generated from the endpoint declarations that also route and validate requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from adsvc import __version__
from adsvc.ratelimit import describe
from adsvc.routing import MAX_BIGINT, Auth, Endpoint
from adsvc.settings import Settings

_REF = "#/components/schemas/{model}"

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable error code"},
                "message": {"type": "string"},
                "details": {"description": "Field errors or other structured detail; may be null"},
                "request_id": {"type": "string"},
            },
        }
    },
}

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Malformed request (invalid JSON, not an object)",
    401: "Missing, invalid, expired or revoked access token, or bad credentials",
    403: "Authenticated but not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Request body is not application/json",
    422: "Validation failed",
    429: "Too many requests; see Retry-After",
    503: "A dependency is unavailable; see Retry-After",
}

_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"}}


Mode = Literal["validation", "serialization"]
Refs = Mapping[tuple[Any, Mode], dict[str, Any]]


def _model_pairs(endpoints: Iterable[Endpoint]) -> list[tuple[type[BaseModel], Mode]]:
    """Bodies are documented as they are validated, responses as they are serialized."""
    pairs: dict[tuple[type[BaseModel], Mode], None] = {}
    for endpoint in endpoints:
        if endpoint.body is not None:
            pairs[(endpoint.body, "validation")] = None
        if endpoint.response is not None:
            pairs[(endpoint.response, "serialization")] = None
        for model in endpoint.alt_responses.values():
            pairs[(model, "serialization")] = None
    return list(pairs)


_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Your unique key for this operation: a retry with the same key (within your user) finds the "
    "first request's outcome instead of doing it twice",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {key: value for key, value in prop.items() if key not in {"title", "description"}},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _path_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    types = {int: {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT}, str: {"type": "string"}}
    return [
        {"name": name, "in": "path", "required": True, "schema": types.get(kind, {"type": "string"})}
        for name, kind in endpoint.path_params.items()
    ]


def _operation(endpoint: Endpoint, refs: Refs, settings: Settings) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if endpoint.response is not None:
        content = {"application/json": {"schema": refs[(endpoint.response, "serialization")]}}
    elif endpoint.content_type == "text/html":
        content = {"text/html": {"schema": {"type": "string"}}}
    elif endpoint.content_type.startswith("text/plain"):
        content = {"text/plain": {"schema": {"type": "string"}}}
    else:
        content = {endpoint.content_type: {"schema": {"type": "object"}}}
    responses[str(endpoint.status)] = {"description": _STATUS_TEXT.get(endpoint.status, "OK"), "content": content}
    error_codes = set(endpoint.errors)
    if endpoint.body is not None:
        error_codes |= {400, 413, 415, 422}
    if endpoint.query is not None:
        error_codes.add(422)
    if endpoint.auth is not Auth.PUBLIC:
        error_codes |= {401, 503}
    if endpoint.auth is Auth.API_KEY:
        error_codes.discard(503)
    if endpoint.auth is Auth.ADMIN:
        error_codes.add(403)
    if endpoint.limit is not None:
        error_codes.add(429)
    for code, model in endpoint.alt_responses.items():
        error_codes.discard(code)
        responses[str(code)] = {
            "description": _STATUS_TEXT.get(code, "See schema"),
            "content": {"application/json": {"schema": refs[(model, "serialization")]}},
            **({"headers": _RETRY_AFTER} if code in (429, 503) else {}),
        }
    for code in sorted(error_codes):
        error: dict[str, Any] = {
            "description": _STATUS_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
        }
        if code in (429, 503):
            error["headers"] = _RETRY_AFTER
        responses[str(code)] = error
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "responses": responses,
    }
    if endpoint.limit is not None:
        operation["description"] = describe(endpoint.limit, getattr(settings, endpoint.limit))  # type: ignore[arg-type]
    parameters = _path_parameters(endpoint) + (_query_parameters(endpoint.query) if endpoint.query else [])
    if endpoint.idempotent:
        parameters.append(_IDEMPOTENCY_KEY)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    if endpoint.auth is Auth.PUBLIC:
        operation["security"] = []
    elif endpoint.auth is Auth.API_KEY:
        operation["security"] = [{"apiKeyAuth": []}]
    else:
        operation["security"] = [{"bearerAuth": []}]
    return operation


def build_openapi(endpoints: Iterable[Endpoint], settings: Settings | None = None) -> dict[str, Any]:
    """The document; `settings` gives the request limits it states (the defaults without them)."""
    settings = settings or Settings()
    endpoints = list(endpoints)
    refs, definitions = models_json_schema(_model_pairs(endpoints), ref_template=_REF)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = _operation(endpoint, refs, settings)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "adsvc",
            "version": __version__,
            "description": "Self-hosted service for running Meta Ads accounts. Errors always use the Error schema.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }

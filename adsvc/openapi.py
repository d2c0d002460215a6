"""The OpenAPI 3.1 document, generated from the endpoint declarations that also route and validate requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from adsvc import __version__
from adsvc.auth.policy import POLICY_MARKER, policy_json_schema
from adsvc.ratelimit import describe
from adsvc.routing import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN, MAX_BIGINT, Auth, Endpoint
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
    400: "Malformed request (invalid JSON, not an object, or HTTP the server cannot parse: a request line or header "
    "over its limits, bad bytes)",
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


def _positive_fraction(places: int) -> str:
    """`.` and at most `places` digits, at least one of them not 0 (alternatives by where the first non-0 one is)."""
    return "\\.(" + "|".join(f"0{{{zeros}}}[1-9][0-9]{{0,{places - zeros - 1}}}" for zeros in range(places)) + ")"


def decimal_text_pattern(*, above_zero: bool, at_least_one: bool, upper: Decimal | None, places: int | None) -> str:
    """The decimal strings a Decimal field accepts, as a pattern: no sign, no exponent, at most `places` decimals,
    and the bounds our inputs use (> 0, >= 0 or >= 1 below; a power of ten, or none, above)."""
    fraction = "(\\.[0-9]+)?" if places is None else f"(\\.[0-9]{{1,{places}}})?"
    zeros = "(\\.0+)?" if places is None else f"(\\.0{{1,{places}}})?"
    digits = None
    if upper is not None and upper >= 1 and upper == upper.to_integral_value() and str(int(upper)).strip("0") == "1":
        digits = len(str(int(upper))) - 1  # upper is 10**digits
    nonzero_int = "[1-9][0-9]*" if digits is None else f"[1-9][0-9]{{0,{max(digits - 1, 0)}}}" if digits else None
    branches = []
    if nonzero_int is not None:
        branches.append(nonzero_int + fraction)
    if not at_least_one:
        if above_zero:
            branches.append("0" + (_positive_fraction(places) if places else "\\.[0-9]*[1-9][0-9]*"))
        else:
            branches.append("0" + fraction)
    if digits is not None:
        branches.append(str(int(upper)) + zeros)  # type: ignore[arg-type]
    return "^(" + "|".join(branches) + ")$"


def _allows_null(schema: JsonSchemaValue) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or {"type": "null"} in schema.get("anyOf", [])


class DocumentedSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, saying all that validation enforces on decimals: a number within the bounds (the
    smallest positive one on the field's decimal grid), or a decimal string as a pattern."""

    query = False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        # a field documented as not nullable (SkipJsonSchema[None]) can be left out, but its default is not a value
        if "default" in json_schema and json_schema["default"] is None and not _allows_null(json_schema):
            del json_schema["default"]
        return json_schema

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        # no input may hold NUL (routing refuses it: PostgreSQL text cannot); as `not` a pattern, which generators
        # meet far more cheaply than an anchored `^[^\\x00]*$` on long strings
        json_schema.setdefault("not", {"pattern": "\\x00"})
        return json_schema

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        places = schema.get("decimal_places")
        lower = schema.get("ge", schema.get("gt"))
        above_zero = "gt" in schema and schema["gt"] == 0
        at_least_one = schema.get("ge") is not None and Decimal(str(schema["ge"])) >= 1
        upper = schema.get("le")
        text: dict[str, Any] = {
            "type": "string",
            "pattern": decimal_text_pattern(
                above_zero=above_zero,
                at_least_one=at_least_one,
                upper=Decimal(str(upper)) if upper is not None else None,
                places=places,
            ),
        }
        if self.query or lower is None or Decimal(str(lower)) < 0:
            return text
        number: dict[str, Any] = {"type": "number"}
        if above_zero and places is not None:
            number["minimum"] = float(Decimal(1).scaleb(-places))  # the smallest positive decimal on the grid
        elif above_zero:
            number["exclusiveMinimum"] = 0
        else:
            number["minimum"] = float(lower)
        if upper is not None:
            number["maximum"] = float(upper)
        # no multipleOf: a JSON number is a binary float, so the server rounds it to the grid (routing.decimal_places)
        return {"anyOf": [number, text]}


class QuerySchema(DocumentedSchema):
    """Query parameters are text: a decimal one is its decimal string."""

    query = True


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
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "Your unique key for this operation: a retry with the same key (within your user) finds the "
    "first request's outcome instead of doing it twice",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}


# object-level keywords: a query model using them is documented as one exploded object parameter, the only way
# OpenAPI states constraints between query parameters (since and until together, not with date_preset)
_OBJECT_KEYWORDS = ("dependentRequired", "not", "anyOf", "oneOf", "allOf")


def _omittable(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is given or left out; it cannot be null."""
    branches = prop.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return prop
    rest = [branch for branch in branches if branch != {"type": "null"}]
    merged = {key: value for key, value in prop.items() if key != "anyOf" and not (key == "default" and value is None)}
    return {**rest[0], **merged} if len(rest) == 1 else {**merged, "anyOf": rest}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(schema_generator=QuerySchema)
    schema["properties"] = {name: _omittable(prop) for name, prop in schema.get("properties", {}).items()}
    if any(keyword in schema for keyword in _OBJECT_KEYWORDS):
        schema.pop("title", None)
        description = schema.pop("description", None)
        return [
            {
                "name": model.__name__,
                "in": "query",
                "required": bool(schema.get("required")) or "anyOf" in schema or "oneOf" in schema,
                "style": "form",
                "explode": True,
                "schema": schema,
                **({"description": description} if description else {}),
            }
        ]
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


def _request_rules(endpoint: Endpoint) -> str:
    """The rules the request models state in words (those JSON Schema cannot: one value against another), as the
    operation's description."""
    texts = []
    for model in (endpoint.query, endpoint.body):
        if model is not None:
            text = model.model_json_schema().get("description")
            if text:
                texts.append(" ".join(text.split()))
    return "\n\n".join(texts)


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
    # the HTTP server itself answers 400 to any request it cannot parse, before routing
    error_codes = set(endpoint.errors) | {400}
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
        # who may call it (security alone cannot tell a user's token from an administrator's): for the docs page
        "x-adsvc-auth": endpoint.auth.value,
    }
    descriptions = [_request_rules(endpoint)]
    if endpoint.limit is not None:
        descriptions.append(describe(endpoint.limit, getattr(settings, endpoint.limit)))  # type: ignore[arg-type]
    description = "\n\n".join(text for text in descriptions if text)
    if description:
        operation["description"] = description
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


def _with_password_policy(schemas: dict[str, Any], min_length: int) -> None:
    for schema in schemas.values():
        for name, prop in schema.get("properties", {}).items():
            if prop.pop(POLICY_MARKER, False):
                schema["properties"][name] = {"title": prop.get("title", name), **policy_json_schema(min_length)}


def build_openapi(endpoints: Iterable[Endpoint], settings: Settings | None = None) -> dict[str, Any]:
    """The document; `settings` gives the request limits and the password policy it states (defaults without)."""
    settings = settings or Settings()
    password_min_length = settings.password_min_length
    endpoints = list(endpoints)
    refs, definitions = models_json_schema(
        _model_pairs(endpoints), ref_template=_REF, schema_generator=DocumentedSchema
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    _with_password_policy(schemas, password_min_length)
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

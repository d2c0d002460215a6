"""Endpoint declarations: the one source for routing, request validation, auth level and the OpenAPI document."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from adsvc.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

Handler = Callable[..., Awaitable[web.StreamResponse]]

MAX_BIGINT = 2**63 - 1
IDEMPOTENCY_HEADER = "Idempotency-Key"
# 1 to 200 visible ASCII characters: the OpenAPI document states the same pattern
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_PATH_PARAM = re.compile(r"{(\w+)(?::[^}]+)?}")


class Auth(enum.Enum):
    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    tag: str
    auth: Auth
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    content_type: str = "application/json"
    path_params: dict[str, type] = field(default_factory=dict)
    # statuses whose body is not the Error shape (e.g. /ready's 503 still carries the check results)
    alt_responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    # honours an Idempotency-Key header: a retry with the same key finds the first request's outcome
    idempotent: bool = False
    # the Settings field of its request limit (adsvc.ratelimit), which the handler applies; the OpenAPI document
    # states it and the 429
    limit: str | None = None

    @property
    def openapi_path(self) -> str:
        return _PATH_PARAM.sub(r"{\1}", self.path)


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


RowT = TypeVar("RowT", bound=_HasId)


def keyset_page(rows: Sequence[RowT], limit: int) -> tuple[Sequence[RowT], int | None]:
    """A page of rows read with `limit + 1` (the extra row only says there is more), and the id the next page
    continues from: None on the last page."""
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit else None)


def exactly_one_of(**types: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these fields, given and not null" (null counts as left out, as in the
    validators that check it), each field named with its JSON type: for a model's json_schema_extra."""
    return {
        "oneOf": [
            {
                "required": [name],
                "properties": {name: {"type": kind}, **{other: {"type": "null"} for other in types if other != name}},
            }
            for name, kind in types.items()
        ]
    }


_DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def _on_grid(places: int) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    grid = Decimal(1).scaleb(-places)

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, str):
            # decimal text is exact: its places are checked as written (strict validation takes only a Decimal)
            if not _DECIMAL_TEXT.match(value):
                raise ValueError("expected a decimal number such as 12.5 (no exponent, sign or spaces)")
            return handler(Decimal(value))
        if isinstance(value, bool) or not isinstance(value, int | float):
            return handler(value)
        if isinstance(value, float) and not math.isfinite(value):
            return handler(value)
        exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
        try:
            down, up = exact.quantize(grid, rounding=ROUND_FLOOR), exact.quantize(grid, rounding=ROUND_CEILING)
        except ArithmeticError:  # far too large for the grid: the bounds refuse it
            return handler(exact)
        if down == exact:
            return handler(exact)
        # between two grid points: within the (grid-aligned) bounds only if both neighbours are
        handler(down)
        handler(up)
        return handler(exact.quantize(grid, rounding=ROUND_HALF_EVEN))

    return validate


def decimal_places(places: int) -> WrapValidator:
    """For a Decimal input with at most `places` decimals and bounds on that grid. A JSON number is a binary float
    (3 * 0.000001 is 3.0000000000000004e-06): it is checked against the bounds as it is, then rounded to the grid.
    A decimal string is exact: it may have at most `places` decimals."""
    return WrapValidator(_on_grid(places))


def json_response(data: BaseModel | dict[str, Any] | list[Any], *, status: int = 200) -> web.Response:
    body = data.model_dump_json().encode() if isinstance(data, BaseModel) else orjson.dumps(data)
    return web.Response(body=body, status=status, content_type="application/json")


def _validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    # Never echo the input back: it may be a password.
    return [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()]


async def read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("request body must be application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"request body exceeds {request.client_max_size} bytes") from None
    if b"\\u0000" in raw or b"\x00" in raw:
        raise _nul_error("body")
    try:
        return _validate_json_strictly(model, raw or b"")
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise BadRequest("request body is not valid JSON") from None
        if any(err["type"] == "model_type" and not err["loc"] for err in exc.errors()):
            raise BadRequest("request body must be a JSON object") from None
        raise ValidationFailed("request body failed validation", details=_validation_details(exc)) from None


def _integral_float(error: Any) -> bool:
    return error["type"] == "int_type" and isinstance(error["input"], float) and error["input"].is_integer()


def _validate_json_strictly(model: type[BaseModel], raw: bytes) -> BaseModel:
    """JSON types as the OpenAPI document states them: `true` is no integer, `"5"` no number, `1` no boolean
    (pydantic's lax mode takes all three). The one lax reading kept is JSON Schema's own: 61.0 is the integer 61."""
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        # an optional field's union adds "should be null" beside the real error: that one is not the reason
        reasons = [err for err in exc.errors() if err["type"] != "none_required"]
        if not reasons or not all(_integral_float(err) for err in reasons):
            raise
    return model.model_validate_json(raw)


def _nul_error(where: str) -> ValidationFailed:
    # PostgreSQL text cannot hold NUL, and no legitimate input needs it: refuse it at the edge.
    return ValidationFailed.field((where,), f"{where} must not contain NUL characters", kind="nul_character")


def read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if any("\x00" in key or "\x00" in value for key, value in request.query.items()):
        raise _nul_error("query")
    # Every query parameter is single-valued: `?limit=1&limit=2` has no one meaning, so it is refused, not guessed.
    repeated = sorted({key for key in request.query if len(request.query.getall(key)) > 1})
    if repeated:
        raise ValidationFailed(
            "query parameters given more than once: " + ", ".join(repeated)[:200],
            details=[{"loc": ["query", key], "msg": "given more than once", "type": "repeated"} for key in repeated],
        )
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed("query parameters failed validation", details=_validation_details(exc)) from None


def read_idempotency_key(request: web.Request) -> str | None:
    """The caller's Idempotency-Key header, checked; None when there is none."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed.field(
            ("header", IDEMPOTENCY_HEADER), "must be 1 to 200 visible ASCII characters", code="invalid_idempotency_key"
        )
    return key


def read_path_params(request: web.Request, params: dict[str, type]) -> dict[str, Any]:
    """Typed path parameters; an integer id outside PostgreSQL's bigint range names nothing, so it is a 404."""
    values: dict[str, Any] = {}
    for name, kind in params.items():
        raw = request.match_info[name]
        if kind is int:
            try:
                number = int(raw)
            except ValueError:
                raise NotFound(f"no such {name}") from None
            if not 0 <= number <= MAX_BIGINT:
                raise NotFound(f"no such {name}")
            values[name] = number
        else:
            if "\x00" in raw:
                raise NotFound(f"no such {name}")
            values[name] = raw
    return values


def _wrap(
    endpoint_body: type[BaseModel] | None,
    endpoint_query: type[BaseModel] | None,
    path_params: dict[str, type],
    idempotent: bool,
    handler: Handler,
) -> Handler:
    if endpoint_body is None and endpoint_query is None and not path_params and not idempotent:
        return handler

    async def validated(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = read_path_params(request, path_params) if path_params else {}
        if endpoint_query is not None:
            kwargs["query"] = read_query(request, endpoint_query)
        if idempotent:
            # checked up front, whatever path the handler takes (a dry run never reads the key)
            read_idempotency_key(request)
        if endpoint_body is not None:
            kwargs["body"] = await read_body(request, endpoint_body)
        return await handler(request, **kwargs)

    validated.__name__ = handler.__name__
    validated.__doc__ = handler.__doc__
    return validated


class Routes:
    """A feature's endpoints, declared next to their handlers and mounted by the app factory."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        name: str,
        summary: str,
        auth: Auth = Auth.USER,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: Iterable[int] = (),
        content_type: str = "application/json",
        path_params: dict[str, type] | None = None,
        alt_responses: dict[int, type[BaseModel]] | None = None,
        idempotent: bool = False,
        limit: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    name=name,
                    handler=_wrap(body, query, path_params or {}, idempotent, handler),
                    summary=summary,
                    tag=self.tag,
                    auth=auth,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    errors=tuple(errors),
                    content_type=content_type,
                    path_params=path_params or {},
                    alt_responses=alt_responses or {},
                    idempotent=idempotent,
                    limit=limit,
                )
            )
            return handler

        return register

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kwargs)


def mount(app: web.Application, routes: Iterable[Routes]) -> dict[str, Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    for table in routes:
        for endpoint in table.endpoints:
            if endpoint.name in endpoints:
                raise ValueError(f"duplicate route name {endpoint.name}")
            app.router.add_route(endpoint.method, endpoint.path, endpoint.handler, name=endpoint.name)
            endpoints[endpoint.name] = endpoint
    return endpoints

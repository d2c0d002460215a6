"""Endpoint declarations: the one source for routing, request validation, auth level and the OpenAPI document."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from adsvc.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

Handler = Callable[..., Awaitable[web.StreamResponse]]

MAX_BIGINT = 2**63 - 1
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
        return model.model_validate_json(raw or b"")
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise BadRequest("request body is not valid JSON") from None
        if any(err["type"] == "model_type" and not err["loc"] for err in exc.errors()):
            raise BadRequest("request body must be a JSON object") from None
        raise ValidationFailed("request body failed validation", details=_validation_details(exc)) from None


def _nul_error(where: str) -> ValidationFailed:
    # PostgreSQL text cannot hold NUL, and no legitimate input needs it: refuse it at the edge.
    return ValidationFailed.field((where,), f"{where} must not contain NUL characters", kind="nul_character")


def read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if any("\x00" in key or "\x00" in value for key, value in request.query.items()):
        raise _nul_error("query")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed("query parameters failed validation", details=_validation_details(exc)) from None


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
    handler: Handler,
) -> Handler:
    if endpoint_body is None and endpoint_query is None and not path_params:
        return handler

    async def validated(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = read_path_params(request, path_params) if path_params else {}
        if endpoint_query is not None:
            kwargs["query"] = read_query(request, endpoint_query)
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
                    handler=_wrap(body, query, path_params or {}, handler),
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

"""What handlers read off a request besides its body: the client address, the request id, the caller, and the
three of them as an audit entry records them."""

from __future__ import annotations

from typing import TypedDict

from aiohttp import web

from adsvc.auth.principal import Principal
from adsvc.errors import Unauthorized
from adsvc.keys import PRINCIPAL, REQUEST_ID, SETTINGS


def client_address(request: web.Request) -> str:
    """The peer address, or the last hop of X-Forwarded-For when the service sits behind a trusted proxy."""
    if request.config_dict[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return request.remote or "unknown"


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


def principal(request: web.Request) -> Principal:
    try:
        return request[PRINCIPAL]
    except KeyError:
        raise Unauthorized("authentication required") from None


class AuditOrigin(TypedDict):
    actor_id: int | None
    client_addr: str
    request_id: str


def audit_origin(request: web.Request) -> AuditOrigin:
    """Who made a state-changing request, from where, and which request it was: `insert_audit_entry(...,
    **audit_origin(request))`."""
    return {"actor_id": principal(request).user_id, "client_addr": client_address(request),
            "request_id": request_id(request)}  # fmt: skip

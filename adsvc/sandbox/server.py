"""The sandbox Marketing API over HTTP: Graph calls under any version prefix, batch, and the /_sandbox control API."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection
from datetime import date
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from adsvc.sandbox import errors
from adsvc.sandbox.data import LEVELS, OBJECT_KINDS, SandboxConfig
from adsvc.sandbox.errors import GraphError
from adsvc.sandbox.faults import FaultProfile
from adsvc.sandbox.graph import (
    MAX_BATCH,
    SANDBOX_ACCESS_TOKEN,
    GraphRequest,
    GraphResponse,
    SandboxState,
    authenticate,
    handle,
)

SANDBOX_STATE: Final = web.AppKey("SANDBOX_STATE", SandboxState)
DEFAULT_VERSION = "v26.0"
_VERSION = re.compile(r"^v\d+\.\d+/")
_JSON = "application/json"


def create_sandbox_app(
    config: SandboxConfig,
    *,
    access_tokens: Collection[str] = (SANDBOX_ACCESS_TOKEN,),
    app_secret: str | None = None,
    faults: FaultProfile | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """A sandbox Graph server; its state (data, ground truth, faults, stats) sits on `app[SANDBOX_STATE]`."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[SANDBOX_STATE] = SandboxState.create(
        config, access_tokens=access_tokens, app_secret=app_secret, faults=faults, clock=clock
    )
    router = app.router
    router.add_get("/_sandbox/accounts", list_accounts, name="sandbox-accounts")
    router.add_get("/_sandbox/ground-truth", get_ground_truth, name="sandbox-ground-truth")
    router.add_get("/_sandbox/objects", get_objects, name="sandbox-objects")
    router.add_get("/_sandbox/faults", get_faults, name="sandbox-faults")
    router.add_post("/_sandbox/faults", set_faults, name="sandbox-set-faults")
    router.add_post("/_sandbox/restate", restate, name="sandbox-restate")
    router.add_post("/_sandbox/expire-token", expire_token, name="sandbox-expire-token")
    router.add_post("/_sandbox/reset", reset, name="sandbox-reset")
    router.add_get("/_sandbox/stats", get_stats, name="sandbox-stats")
    router.add_route("*", r"/{version:v\d+\.\d+}", graph_call, name="graph-version-root")
    router.add_route("*", r"/{version:v\d+\.\d+}/{path:.*}", graph_call, name="graph-versioned")
    router.add_route("*", "/{path:.*}", graph_call, name="graph-unversioned")
    return app


# ---- Graph calls -----------------------------------------------------------------------------------------------


def _json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type=_JSON, charset="UTF-8")


async def run_graph(state: SandboxState, request: GraphRequest) -> GraphResponse:
    """Handle one call; a heavy body (insights pages) is built in a thread so the event loop stays free."""
    response = handle(state, request)
    if response.compute is not None:
        response.body = await asyncio.to_thread(response.compute)
        response.compute = None
    return response


def _error(state: SandboxState, error: GraphError) -> web.Response:
    trace = errors.fbtrace_id()
    headers = state.scores.headers(None, insights=False)
    headers["x-fb-trace-id"] = trace
    return _json_response(error.envelope(trace), status=error.status, headers=headers)


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() in ("bearer", "oauth") else None


async def graph_call(request: web.Request) -> web.Response:
    state = request.config_dict[SANDBOX_STATE]
    version = request.match_info.get("version", DEFAULT_VERSION)
    path = request.match_info.get("path", "")
    params = dict(request.query)
    if request.method in ("POST", "PUT", "DELETE") and request.body_exists:
        params.update(await _body_params(request))
    token = params.get("access_token") or _bearer(request)
    base_url = f"{request.scheme}://{request.host}/{version}/"
    if request.method == "POST" and not path.strip("/") and "batch" in params:
        return await _batch(state, params, token, base_url, version)
    method = request.method if request.method != "PUT" else "POST"
    graph_request = GraphRequest(method, path, params, token, base_url, version)
    response = await run_graph(state, graph_request)
    return _json_response(response.body, status=response.status, headers=response.headers)


async def _body_params(request: web.Request) -> dict[str, str]:
    """Form fields, or a JSON object whose lists and objects become JSON strings as in a form."""
    if request.content_type == _JSON:
        try:
            body = await request.json(loads=orjson.loads)
        except orjson.JSONDecodeError:
            return {}
        if not isinstance(body, dict):
            return {}
        return {
            key: value if isinstance(value, str) else orjson.dumps(value).decode()
            for key, value in body.items()
            if value is not None
        }
    form = await request.post()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _batch(
    state: SandboxState, params: dict[str, str], token: str | None, base_url: str, version: str
) -> web.Response:
    """Up to 50 calls in one request; each is counted, charged and answered on its own (or null if it did not run)."""
    state.stats.batch_requests += 1
    try:
        if token is not None:
            authenticate(state, GraphRequest("POST", "", params, token, base_url, version))
        try:
            entries = orjson.loads(params["batch"])
        except orjson.JSONDecodeError:
            raise errors.invalid_parameter("Param batch must be a JSON array") from None
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise errors.invalid_parameter("Param batch must be a JSON array of objects")
        if len(entries) > MAX_BATCH:
            raise errors.invalid_parameter(f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}")
        for entry in entries:
            if not isinstance(entry.get("relative_url"), str):
                raise errors.invalid_parameter("Each batch request needs a relative_url")
    except GraphError as exc:
        return _error(state, exc)
    include_headers = params.get("include_headers", "true").lower() != "false"
    answers: list[dict[str, Any] | None] = []
    for entry, skipped in zip(entries, state.faults.batch_nulls(len(entries)), strict=True):
        if skipped:
            answers.append(None)
            continue
        relative = _VERSION.sub("", entry["relative_url"].lstrip("/"))
        path, _, query = relative.partition("?")
        entry_params = dict(parse_qsl(query, keep_blank_values=True))
        if isinstance(entry.get("body"), str):
            entry_params.update(parse_qsl(entry["body"], keep_blank_values=True))
        method = str(entry.get("method", "GET")).upper()
        entry_token = entry_params.get("access_token") or token
        response = await run_graph(state, GraphRequest(method, path, entry_params, entry_token, base_url, version))
        answer: dict[str, Any] = {"code": response.status}
        if include_headers:
            headers = {"Content-Type": "application/json; charset=UTF-8", **response.headers}
            answer["headers"] = [{"name": name, "value": value} for name, value in headers.items()]
        answer["body"] = orjson.dumps(response.body).decode()
        answers.append(answer)
    return _json_response(answers, headers=state.scores.headers(None, insights=False))


# ---- control API (tests and demos; no token) -------------------------------------------------------------------


def _control_error(message: str, status: int = 400) -> web.Response:
    return _json_response({"error": {"message": message}}, status=status)


def _stringify(value: Any) -> Any:
    """Ground truth for JSON: numbers and dates as strings, like Graph sends them."""
    if isinstance(value, dict):
        return {key: _stringify(item) for key, item in value.items()}
    if isinstance(value, Decimal | int | date) and not isinstance(value, bool):
        return str(value) if not isinstance(value, date) else value.isoformat()
    return value


async def list_accounts(request: web.Request) -> web.Response:
    state = request.config_dict[SANDBOX_STATE]
    data = state.data
    accounts = []
    for account in data.accounts.values():
        view = data.account_fields(account)
        view.update({kind + "s": len(data.by_account[account.account_id][kind]) for kind in OBJECT_KINDS})
        accounts.append(view)
    return _json_response(
        {
            "data": accounts,
            "today": date.fromordinal(data.today).isoformat(),
            "first_day": date.fromordinal(data.first_day).isoformat(),
            "restatement_version": data.restatement_version,
            "tier": state.config.tier,
        }
    )


async def get_ground_truth(request: web.Request) -> web.Response:
    data = request.config_dict[SANDBOX_STATE].data
    account_id = request.query.get("account_id", "")
    level = request.query.get("level", "ad")
    if data.account(account_id) is None:
        return _control_error("unknown or missing account_id", 404)
    if level not in LEVELS:
        return _control_error(f"level must be one of {', '.join(LEVELS)}")
    try:
        since = date.fromisoformat(request.query.get("since") or date.fromordinal(data.first_day).isoformat())
        until = date.fromisoformat(request.query.get("until") or date.fromordinal(data.last_day).isoformat())
    except ValueError:
        return _control_error("since and until must be YYYY-MM-DD dates")
    rows = await asyncio.to_thread(data.ground_truth_insights, account_id, level, since, until)
    return _json_response({"data": [_stringify(row) for row in rows], "restatement_version": data.restatement_version})


async def get_objects(request: web.Request) -> web.Response:
    data = request.config_dict[SANDBOX_STATE].data
    account_id, kind = request.query.get("account_id", ""), request.query.get("kind", "campaign")
    if data.account(account_id) is None:
        return _control_error("unknown or missing account_id", 404)
    if kind not in OBJECT_KINDS:
        return _control_error(f"kind must be one of {', '.join(OBJECT_KINDS)}")
    return _json_response({"data": data.objects(account_id, kind)})


async def get_faults(request: web.Request) -> web.Response:
    return _json_response(request.config_dict[SANDBOX_STATE].faults.profile.to_json())


async def set_faults(request: web.Request) -> web.Response:
    state = request.config_dict[SANDBOX_STATE]
    try:
        body = await request.json(loads=orjson.loads)
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        profile = FaultProfile.from_json(body)
    except (ValueError, orjson.JSONDecodeError) as exc:
        return _control_error(f"invalid fault profile: {exc}")
    state.faults.replace(profile)
    return _json_response(profile.to_json())


async def restate(request: web.Request) -> web.Response:
    return _json_response({"restatement_version": request.config_dict[SANDBOX_STATE].data.restate()})


async def expire_token(request: web.Request) -> web.Response:
    """Expire one token (or every configured one): 190 with subcode 463 (expired) or 460 (password changed)."""
    state = request.config_dict[SANDBOX_STATE]
    body: dict[str, Any] = {}
    if request.body_exists:
        try:
            loaded = await request.json(loads=orjson.loads)
        except orjson.JSONDecodeError:
            return _control_error("the body must be JSON")
        body = loaded if isinstance(loaded, dict) else {}
    subcode = body.get("subcode", 463)
    if subcode not in (458, 460, 463):
        return _control_error("subcode must be 458, 460 or 463")
    tokens = [body["token"]] if isinstance(body.get("token"), str) else sorted(state.access_tokens)
    for token in tokens:
        state.expired_tokens[token] = subcode
    return _json_response({"expired": len(tokens), "subcode": subcode})


async def reset(request: web.Request) -> web.Response:
    request.config_dict[SANDBOX_STATE].reset()
    return _json_response({"success": True})


async def get_stats(request: web.Request) -> web.Response:
    return _json_response(request.config_dict[SANDBOX_STATE].stats.to_json())

"""A small local n8n: the part of its public REST API adsvc uses (workflows, activation, credentials), API-key
checked, cursor-paged, storing what it receives; plus its production webhook endpoint. Real HTTP, not a mock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "n8n-test-api-key"
PAGE_SIZE = 2  # small, so listing must follow nextCursor
WORKFLOW_FIELDS = {"name", "nodes", "connections", "settings", "staticData"}


@dataclass
class N8nState:
    workflows: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    webhook_calls: list[dict[str, Any]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


N8N_STATE = web.AppKey("N8N_STATE", N8nState)


@web.middleware
async def api_key(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/api/v1/") and request.headers.get("X-N8N-API-KEY") != API_KEY:
        return web.json_response({"message": "unauthorized"}, status=401)
    return await handler(request)


async def list_workflows(request: web.Request) -> web.Response:
    state = request.app[N8N_STATE]
    start = int(request.query.get("cursor", "0"))
    page = state.workflows[start : start + PAGE_SIZE]
    more = start + PAGE_SIZE < len(state.workflows)
    return web.json_response({"data": page, "nextCursor": str(start + PAGE_SIZE) if more else None})


async def create_workflow(request: web.Request) -> web.Response:
    body = await request.json()
    extra = set(body) - WORKFLOW_FIELDS
    missing = {"name", "nodes", "connections", "settings"} - set(body)
    if extra or missing:  # n8n's schema refuses read-only and unknown properties
        return web.json_response({"message": f"request/body invalid: extra {sorted(extra)} missing {sorted(missing)}"},
                                 status=400)  # fmt: skip
    state = request.app[N8N_STATE]
    workflow = {**body, "id": f"wf{next(state.ids)}", "active": False, "createdAt": "2025-03-10T00:00:00.000Z",
                "updatedAt": "2025-03-10T00:00:00.000Z", "tags": []}  # fmt: skip
    state.workflows.append(workflow)
    return web.json_response(workflow)


async def activate_workflow(request: web.Request) -> web.Response:
    state = request.app[N8N_STATE]
    for workflow in state.workflows:
        if workflow["id"] == request.match_info["id"]:
            workflow["active"] = True
            return web.json_response(workflow)
    return web.json_response({"message": "Not Found"}, status=404)


async def create_credential(request: web.Request) -> web.Response:
    body = await request.json()
    state = request.app[N8N_STATE]
    credential = {"id": f"cred{next(state.ids)}", "name": body["name"], "type": body["type"], "data": body["data"]}
    state.credentials.append(credential)
    return web.json_response({key: credential[key] for key in ("id", "name", "type")})


async def production_webhook(request: web.Request) -> web.Response:
    state = request.app[N8N_STATE]
    path = request.match_info["path"]
    active = [
        wf for wf in state.workflows
        if wf["active"] and any(node["type"] == "n8n-nodes-base.webhook" and node["parameters"]["path"] == path
                                for node in wf["nodes"])
    ]  # fmt: skip
    if not active:
        return web.json_response({"message": f'The requested webhook "POST {path}" is not registered.'}, status=404)
    state.webhook_calls.append({"path": path, "headers": dict(request.headers), "body": await request.json()})
    return web.json_response({"message": "Workflow was started"})


def create_n8n_double() -> web.Application:
    app = web.Application(middlewares=[api_key])
    app[N8N_STATE] = N8nState()
    app.router.add_get("/api/v1/workflows", list_workflows)
    app.router.add_post("/api/v1/workflows", create_workflow)
    app.router.add_post("/api/v1/workflows/{id}/activate", activate_workflow)
    app.router.add_post("/api/v1/credentials", create_credential)
    app.router.add_post("/webhook/{path}", production_webhook)
    return app

"""Client for n8n's public REST API (`N8N_API_URL`, e.g. http://localhost:5678/api/v1; key in `X-N8N-API-KEY`)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

# Only reads are retried: a POST that timed out may have created the workflow, and a second one would duplicate it.
READ_RETRIES = 2
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_DELAY_SECONDS = 0.2
MAX_PAGES = 50


class N8nError(Exception):
    """n8n answered with an error status, or could not be reached (status None)."""

    def __init__(self, message: str, *, status: int | None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class N8nClient:
    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {"X-N8N-API-KEY": api_key, "Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None) -> Any:
        attempts = 1 + (READ_RETRIES if method == "GET" else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                async with self._session.request(
                    method,
                    self._base_url + path,
                    params=params,
                    data=orjson.dumps(json) if json is not None else None,
                    headers={**self._headers, **({"Content-Type": "application/json"} if json is not None else {})},
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    raw = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    raise N8nError(f"n8n is unreachable: {type(exc).__name__}", status=None) from exc
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            if status in RETRY_STATUSES and not last:
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = raw[:500].decode("utf-8", "replace")
            if status >= 400:
                message = body.get("message") if isinstance(body, dict) else None
                raise N8nError(f"n8n answered {status}: {message or 'error'}", status=status, body=body)
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_workflows(self, *, active: bool | None = None) -> list[dict[str, Any]]:
        """Every workflow, following n8n's cursor pages."""
        workflows: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100"}
        if active is not None:
            params["active"] = "true" if active else "false"
        for _ in range(MAX_PAGES):
            page = await self._request("GET", "/workflows", params=params)
            workflows.extend(page.get("data", []))
            cursor = page.get("nextCursor")
            if not cursor:
                break
            params = {**params, "cursor": cursor}
        return workflows

    async def create_workflow(self, workflow: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self._request("POST", "/workflows", json=workflow)
        return created

    async def activate_workflow(self, workflow_id: str) -> dict[str, Any]:
        activated: dict[str, Any] = await self._request("POST", f"/workflows/{quote(workflow_id, safe='')}/activate")
        return activated

    async def create_credential(self, *, name: str, type: str, data: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self._request("POST", "/credentials", json={"name": name, "type": type,
                                                                                     "data": data})  # fmt: skip
        return created

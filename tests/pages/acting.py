"""Shared by the suggestions, actions and rules page tests: the automation tests' world (a synced sandbox account
owned by a fresh user, its suggestions generated) with that owner signed in to the pages, and form helpers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
from accounts.helpers import Caller, new_caller, settings, worker_env
from aiohttp.test_utils import TestServer
from automation.world import World, open_world
from multidict import MultiDict
from pages.helpers import csrf_of, page, sign_in

from adsvc.app import create_app
from adsvc.sandbox import SandboxConfig, create_sandbox_app

__all__ = ["graph_sandbox", "settings", "stranger", "worker_env", "world"]

# the automation tests' sandbox: active poor and star campaigns with campaign daily budgets (seed 90)
ACT_SANDBOX = SandboxConfig(seed=90, accounts=1, campaigns_per_account=6, adsets_per_campaign=1, ads_per_adset=2,
                            days=40)  # fmt: skip
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
async def graph_sandbox(aiohttp_server: Any) -> TestServer:
    return await aiohttp_server(create_sandbox_app(ACT_SANDBOX))


@pytest.fixture
async def world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) -> AsyncIterator[World]:
    """The world, its owner signed in to the pages on `world.client` (`world.csrf` holds the session's token)."""
    async with open_world(aiohttp_client, db, settings, stack, graph_sandbox, worker_env) as opened:
        opened.csrf = await sign_in(opened.client, opened.owner.user.email)  # type: ignore[attr-defined]
        yield opened


class Stranger:
    """Another user, signed in to the pages on a client of their own, who is not a member of the world's account."""

    def __init__(self, client: Any, caller: Caller, csrf: str) -> None:
        self.client, self.caller, self.csrf = client, caller, csrf


@pytest.fixture
async def stranger(aiohttp_client, world, settings) -> Stranger:
    client = await aiohttp_client(create_app(settings))
    caller = await new_caller(world.client, world.db, settings)
    return Stranger(client, caller, await sign_in(client, caller.user.email))


def key_of(html: str) -> str:
    found = _KEY.search(html)
    assert found, "the page has no form with an idempotency key"
    return found.group(1)


async def submit(client: Any, path: str, csrf: str, **fields: Any) -> Any:
    """POST a page form (not following the redirect)."""
    return await client.post(path, data={"_csrf": csrf, **fields}, allow_redirects=False)


async def form_page(client: Any, path: str) -> tuple[str, str, str]:
    """GET a page with a form: (html, its CSRF token, its idempotency key)."""
    status, html = await page(client, path)
    assert status == 200, html
    return html, csrf_of(html), key_of(html)


class _FormReader(HTMLParser):
    """The fields a browser would send for the form posting to `action`: inputs (checked boxes only), selected
    options (the first when none is), textareas; disabled fields left out."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action, self.inside = action, False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [v for v, _ in self._options[:1]]
            self.fields.extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, self._text))
            self._textarea = None


def form_fields(html: str, action: str) -> MultiDict[str]:
    reader = _FormReader(action)
    reader.feed(html)
    assert reader.fields, f"no form posting to {action}"
    return MultiDict(reader.fields)


async def audit_mark(db: Any) -> int:
    """The audit log's last id: entries after it are this test's (the log is append-only and shared by the session,
    and sandbox object ids are the same in every test)."""
    return int(await db.fetchval("select coalesce(max(id), 0) from audit_log"))

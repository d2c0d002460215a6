"""Driving the pages over HTTP as a browser would: read a form's CSRF token, post a form, sign in."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from factories import TEST_PASSWORD

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def page(client: TestClient, path: str, **kwargs: object) -> tuple[int, str]:
    response = await client.get(path, allow_redirects=False, **kwargs)  # type: ignore[arg-type]
    return response.status, await response.text()


async def sign_in(client: TestClient, email: str, password: str = TEST_PASSWORD) -> str:
    """Signs the client's cookie jar in; returns the CSRF token of the signed-in pages."""
    status, html = await page(client, "/login")
    assert status == 200
    response = await client.post("/login", data={"_csrf": csrf_of(html), "email": email, "password": password},
                                 allow_redirects=False)  # fmt: skip
    assert response.status == 303, await response.text()
    status, html = await page(client, "/account/password")
    assert status == 200, html
    return csrf_of(html)

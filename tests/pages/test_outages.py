"""Redis or PostgreSQL down while someone uses the pages: a 503 page with Retry-After, never a signed-in page without
its session check and never a 500; the first request after the server is back works."""

from __future__ import annotations

import pytest
from factories import create_user, make_settings
from pages.helpers import page, sign_in

from adsvc.app import create_app
from adsvc.embedded import EmbeddedRedis


@pytest.fixture
def own_redis(tmp_path):
    server = EmbeddedRedis(path=tmp_path / "redis")
    server.start(reuse=False)
    yield server
    server.stop()


async def test_redis_down_is_a_503_page_then_the_session_works_again(aiohttp_client, db, stack, own_redis):
    settings = make_settings(stack, redis_url=own_redis.url, redis_timeout_seconds=0.3)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    await sign_in(client, user.email)

    own_redis.stop()
    response = await client.get("/account/password", allow_redirects=False)
    assert response.status == 503
    assert response.content_type == "text/html"
    assert int(response.headers["Retry-After"]) >= 1
    html = await response.text()
    assert "Temporarily unavailable" in html and user.email not in html
    assert (await client.get("/login", allow_redirects=False)).status in (200, 503)

    own_redis.start(reuse=False)  # same port, same data: the session is still there
    status, html = await page(client, "/account/password")
    assert status == 200 and user.email in html

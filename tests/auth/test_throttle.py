"""Login throttling per account and per client address, shared through Redis by every process."""

from __future__ import annotations

from factories import TEST_PASSWORD, create_user, make_settings, unique_email

from adsvc.app import create_app


async def _attempt(client, email, password="wrong password!", forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password}, headers=headers)


async def test_account_is_throttled_after_repeated_failures(aiohttp_client, db, stack):
    settings = make_settings(stack, login_max_failures_per_account=3, login_throttle_window_seconds=120)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    for _ in range(3):
        assert (await _attempt(client, user.email)).status == 401
    blocked = await _attempt(client, user.email, password=TEST_PASSWORD)
    assert blocked.status == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 120
    assert (await blocked.json())["error"]["code"] == "too_many_requests"


async def test_account_throttle_is_shared_by_processes(aiohttp_client, db, stack):
    settings = make_settings(stack, login_max_failures_per_account=2)
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    assert (await _attempt(first, user.email)).status == 401
    assert (await _attempt(second, user.email)).status == 401
    assert (await _attempt(first, user.email, password=TEST_PASSWORD)).status == 429


async def test_success_clears_the_account_counter(aiohttp_client, db, stack):
    settings = make_settings(stack, login_max_failures_per_account=3)
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    for _ in range(2):
        await _attempt(client, user.email)
    assert (await _attempt(client, user.email, password=TEST_PASSWORD)).status == 200
    for _ in range(2):
        assert (await _attempt(client, user.email)).status == 401
    assert (await _attempt(client, user.email, password=TEST_PASSWORD)).status == 200


async def test_address_is_throttled_across_accounts(aiohttp_client, db, stack):
    settings = make_settings(
        stack, login_max_failures_per_address=4, login_max_failures_per_account=100, trust_forwarded_for=True
    )
    client = await aiohttp_client(create_app(settings))
    user = await create_user(db, settings)
    for _ in range(4):
        assert (await _attempt(client, unique_email(), forwarded_for="203.0.113.9")).status == 401
    blocked = await _attempt(client, user.email, password=TEST_PASSWORD, forwarded_for="203.0.113.9")
    assert blocked.status == 429
    assert "address" in (await blocked.json())["error"]["message"]
    # another address is not affected
    assert (await _attempt(client, user.email, password=TEST_PASSWORD, forwarded_for="198.51.100.7")).status == 200


async def test_forwarded_for_is_ignored_unless_trusted(aiohttp_client, db, stack):
    settings = make_settings(stack, login_max_failures_per_address=2, login_max_failures_per_account=100)
    client = await aiohttp_client(create_app(settings))
    for spoofed in ("192.0.2.1", "192.0.2.2"):
        await _attempt(client, unique_email(), forwarded_for=spoofed)
    # both failures counted against the real peer address, so rotating the header does not help
    assert (await _attempt(client, unique_email(), forwarded_for="192.0.2.3")).status == 429

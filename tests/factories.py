"""Test data and request helpers shared by the test modules."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import psycopg2
from aiohttp.test_utils import TestClient
from psycopg2.extensions import ISOLATION_LEVEL_AUTOCOMMIT

from adsvc.auth.passwords import hash_password, password_hasher
from adsvc.auth.queries import User, insert_user
from adsvc.migrations import apply_migrations
from adsvc.settings import REPO_ROOT, Settings

TEST_PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-key-" + "x" * 40
TEST_TOKEN_KEY = "dGVzdC10b2tlbi1lbmNyeXB0aW9uLWtleS0zMi1ieXQ="


@dataclass(frozen=True)
class Stack:
    database_url: str
    redis_url: str
    admin_database_url: str


def make_settings(stack: Stack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": stack.database_url,
        "redis_url": stack.redis_url,
        "secret_key": TEST_SECRET,
        "token_encryption_key": TEST_TOKEN_KEY,
        # cheap argon2 keeps the suite fast; the parameters themselves are exercised by the rehash test
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 8192,
        "argon2_parallelism": 1,
        "db_pool_min_size": 1,
        "db_pool_max_size": 4,
    }
    values.update(overrides)
    return Settings(**values)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def create_user(
    db: asyncpg.Connection, settings: Settings, *, email: str | None = None, password: str = TEST_PASSWORD,
    is_admin: bool = False,
) -> User:  # fmt: skip
    hashed = await hash_password(password_hasher(settings), password)
    user = await insert_user(db, email=email or unique_email(), hashed_password=hashed, is_admin=is_admin)
    assert user is not None
    return user


async def login(client: TestClient, email: str, password: str = TEST_PASSWORD) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    body = await response.json()
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def random_secret() -> str:
    return secrets.token_urlsafe(40)


TEST_DATABASE = "adsvc_test"


def _with_database(url: str, database: str) -> str:
    """Swap the database name in a libpq URL, keeping query parameters such as a socket `host`."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def fresh_database(admin_url: str) -> str:
    """(Re)create the test database on that server, migrated; returns its URL."""
    conn = psycopg2.connect(admin_url)
    conn.set_isolation_level(ISOLATION_LEVEL_AUTOCOMMIT)
    with conn.cursor() as cur:
        cur.execute(f"drop database if exists {TEST_DATABASE} with (force)")
        cur.execute(f"create database {TEST_DATABASE}")
    conn.close()
    database_url = _with_database(admin_url, TEST_DATABASE)
    apply_migrations(database_url, REPO_ROOT / "migrations")
    return database_url

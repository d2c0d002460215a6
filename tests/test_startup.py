"""Start-up as an operator meets it: bad settings, unreachable servers, a copied .env.example, a new data folder,
and `adsvc reset-password`. Every case runs the real `adsvc` command in its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import TEST_PASSWORD, TEST_SECRET, TEST_TOKEN_KEY, bearer, create_user, login

from adsvc.app import create_app
from adsvc.embedded import free_port
from adsvc.preflight import server_location
from adsvc.settings import REPO_ROOT

SERVER_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "ADSVC_DATA_DIR",
                    "FACEBOOK_GRAPH_URL", "LOG_LEVEL")  # fmt: skip
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "8192", "ARGON2_PARALLELISM": "1"}


def run_adsvc(*args: str, env: dict[str, str], stdin: str = "", cwd: Path = REPO_ROOT, timeout: float = 120):
    """`adsvc ARGS` with exactly the server settings given (none inherited from the test session)."""
    base = {key: value for key, value in os.environ.items() if key not in SERVER_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "adsvc", *args], input=stdin, capture_output=True, text=True, timeout=timeout,
        env={**base, **env}, cwd=cwd,
    )  # fmt: skip


def _service_env(stack, **overrides: str) -> dict[str, str]:
    return {"DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url, "SECRET_KEY": TEST_SECRET,
            "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY, **CHEAP_ARGON2, **overrides}  # fmt: skip


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_unreachable_database_is_one_line_naming_it_and_exit_2(stack, command):
    port = free_port()
    env = _service_env(stack, DATABASE_URL=f"postgresql://adsvc:hunter2-secret@127.0.0.1:{port}/adsvc")
    result = run_adsvc(command, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"adsvc: cannot reach PostgreSQL (DATABASE_URL) at 127.0.0.1:{port}: connection refused"]
    assert "hunter2" not in result.stderr + result.stdout
    assert "serving on" not in result.stdout and "worker started" not in result.stdout


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_unreachable_redis_is_one_line_naming_it_and_exit_2(stack, command):
    port = free_port()
    result = run_adsvc(command, env=_service_env(stack, REDIS_URL=f"redis://:hunter2-secret@127.0.0.1:{port}/0"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"adsvc: cannot reach Redis (REDIS_URL) at 127.0.0.1:{port}: connection refused"]
    assert "hunter2" not in result.stderr + result.stdout
    assert "serving on" not in result.stdout and "worker started" not in result.stdout


def test_reset_password_has_help():
    result = run_adsvc("reset-password", "--help", env={})
    assert result.returncode == 0 and "usage: adsvc reset-password" in result.stdout


def test_serving_on_is_printed_only_once_listening_and_a_taken_port_is_one_line(stack):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_adsvc("serve", "--port", str(port), env=_service_env(stack, LOG_LEVEL="WARNING"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"adsvc: cannot listen on 127.0.0.1:{port}: the address is already in use"
    assert "serving on" not in result.stdout


def test_migrate_does_not_need_redis(stack):
    result = run_adsvc("migrate", env=_service_env(stack, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert result.returncode == 0, result.stderr
    assert "nothing to apply" in result.stdout


@pytest.mark.parametrize("command", ["serve", "worker", "migrate", "create-user"])
def test_unknown_log_level_is_refused_in_one_line(stack, command):
    args = [command, "someone@example.com"] if command == "create-user" else [command]
    result = run_adsvc(*args, env=_service_env(stack, LOG_LEVEL="LOUD"), stdin="a strong cli passphrase\n")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "adsvc: LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "70000", "PORT must be between 1 and 65535"),
        ("DB_TIMEOUT_SECONDS", "nan", "DB_TIMEOUT_SECONDS must be a finite number"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a redis://"),
        ("WEBHOOK_MAX_ATTEMPTS", "99", "WEBHOOK_MAX_ATTEMPTS must be between 1 and 20"),
        ("GRAPH_POLL_MAX_SECONDS", "0.5", "GRAPH_POLL_MAX_SECONDS must not be below GRAPH_POLL_INITIAL_SECONDS"),
    ],
)
def test_every_setting_is_validated_before_start(stack, variable, value, message):
    result = run_adsvc("migrate", env=_service_env(stack, **{variable: value}))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_locations_never_carry_credentials():
    assert server_location("postgresql://u:p%40ss@db.internal:6543/x", default_port=5432) == "db.internal:6543"
    assert server_location("postgresql://u:pw@db.internal/x", default_port=5432) == "db.internal:5432"
    assert server_location("postgresql://u:pw@h1:5432,h2/x", default_port=5432) == "h1:5432,h2:5432"
    assert server_location("postgresql://u:pw@[::1]:5433/x", default_port=5432) == "[::1]:5433"
    assert server_location("postgresql://postgres:@/postgres?host=/run/pg", default_port=5432) == "/run/pg"
    assert server_location("redis://:pw@cache:6380/0", default_port=6379) == "cache:6380"
    assert server_location("unix:///run/redis.sock?password=pw", default_port=6379) == "/run/redis.sock"


@pytest.mark.slow
def test_copied_env_example_keeps_the_embedded_default_and_says_where_it_creates_data(tmp_path):
    shutil.copy(REPO_ROOT / ".env.example", tmp_path / ".env")
    first = run_adsvc("migrate", env={}, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data_dir = (tmp_path / ".adsvc").resolve()
    assert f"creating a new embedded data folder at {data_dir} " in first.stderr
    assert "applied" in first.stdout and (data_dir / "postgres").is_dir()
    again = run_adsvc("migrate", env={}, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "creating a new embedded data folder" not in again.stderr and "nothing to apply" in again.stdout


async def test_reset_password_sets_it_and_revokes_every_token(stack, aiohttp_client, db, settings):
    user = await create_user(db, settings)
    client = await aiohttp_client(create_app(settings))
    old_token = await login(client, user.email)
    assert (await client.get("/api/v1/auth/me", headers=bearer(old_token))).status == 200

    new_password = "a brand new cli passphrase"
    result = run_adsvc("reset-password", user.email, stdin=new_password + "\n", env=_service_env(stack))
    assert result.returncode == 0, result.stderr
    assert f"password of {user.email} reset" in result.stdout and new_password not in result.stdout + result.stderr

    assert (await client.get("/api/v1/auth/me", headers=bearer(old_token))).status == 401
    refused = await client.post("/api/v1/auth/login", json={"email": user.email, "password": TEST_PASSWORD})
    assert refused.status == 401
    new_token = await login(client, user.email, new_password)
    assert (await client.get("/api/v1/auth/me", headers=bearer(new_token))).status == 200
    audit = await db.fetchrow(
        "select actor_id, actor_label, target_id from audit_log where action = 'auth.reset_password' "
        "and target_id = $1", str(user.id),
    )  # fmt: skip
    assert audit is not None and (audit["actor_id"], audit["actor_label"]) == (None, "cli")


async def test_reset_password_refuses_a_weak_password_and_unknown_users(stack, db, settings):
    user = await create_user(db, settings)
    before = await db.fetchval("select hashed_password from users where id = $1", user.id)
    weak = run_adsvc("reset-password", user.email, stdin="short\n", env=_service_env(stack))
    assert weak.returncode == 2 and weak.stderr.startswith("adsvc: password must be at least")
    assert len(weak.stderr.strip().splitlines()) == 1
    assert await db.fetchval("select hashed_password from users where id = $1", user.id) == before
    unknown = run_adsvc("reset-password", "nobody@example.com", stdin="a strong cli passphrase\n",
                        env=_service_env(stack))  # fmt: skip
    assert unknown.returncode == 2 and unknown.stderr.strip() == "adsvc: no user with email nobody@example.com"

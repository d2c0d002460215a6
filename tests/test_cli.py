"""The `adsvc` command as an operator runs it: help, migrate (and plain yoyo), create-user, start-up refusals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from factories import TEST_SECRET, login
from psycopg2.extensions import ISOLATION_LEVEL_AUTOCOMMIT

from adsvc.app import create_app
from adsvc.migrations import known_migrations
from adsvc.settings import REPO_ROOT


def run_adsvc(*args: str, env: dict[str, str] | None = None, stdin: str = "", cwd: Path = REPO_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "adsvc", *args], input=stdin, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip


@pytest.fixture
def fresh_database(stack):
    name = f"adsvc_cli_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(stack.admin_database_url)
    admin.set_isolation_level(ISOLATION_LEVEL_AUTOCOMMIT)
    with admin.cursor() as cur:
        cur.execute(f"create database {name}")
    from factories import Stack

    url = stack.database_url.replace("/adsvc_test", f"/{name}")
    yield Stack(database_url=url, redis_url=stack.redis_url, admin_database_url=stack.admin_database_url)
    with admin.cursor() as cur:
        cur.execute(f"drop database {name} with (force)")
    admin.close()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["create-user"],
        ["dev"],
        ["backfill"],
        ["connect-account"],
        ["sandbox"],
        ["recount-conversions"],
    ],
)
def test_every_subcommand_has_help(command):
    result = run_adsvc(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: adsvc" in result.stdout


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "adsvc"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "serve" in result.stdout and "create-user" in result.stdout


def _tables(url: str) -> set[str]:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("select tablename from pg_tables where schemaname = 'public'")
        tables = {row[0] for row in cur.fetchall()}
    conn.close()
    return tables


def test_migrate_applies_then_is_idempotent(fresh_database):
    env = {"DATABASE_URL": fresh_database.database_url}
    first = run_adsvc("migrate", env=env)
    assert first.returncode == 0, first.stderr
    every = known_migrations(REPO_ROOT / "migrations")
    assert f"applied {len(every)} migration(s): {', '.join(every)}" in first.stdout
    second = run_adsvc("migrate", env=env)
    assert second.returncode == 0 and "nothing to apply" in second.stdout
    assert {"users", "audit_log"} <= _tables(fresh_database.database_url)


def test_plain_yoyo_apply_uses_the_repo_config(fresh_database):
    yoyo = Path(sys.executable).parent / "yoyo"
    result = subprocess.run([str(yoyo), "apply"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "DATABASE_URL": fresh_database.database_url})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {"users", "audit_log"} <= _tables(fresh_database.database_url)
    again = run_adsvc("migrate", env={"DATABASE_URL": fresh_database.database_url})
    assert "nothing to apply" in again.stdout


async def test_create_user_reads_password_from_stdin(stack, aiohttp_client, settings):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    result = run_adsvc("create-user", email, "--admin", stdin="a strong cli passphrase\n",
                       env={"DATABASE_URL": stack.database_url})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"created admin {email}" in result.stdout
    client = await aiohttp_client(create_app(settings))
    token = await login(client, email, "a strong cli passphrase")
    me = await (await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["is_admin"] is True


def test_create_user_refuses_weak_password_and_duplicates(stack):
    env = {"DATABASE_URL": stack.database_url}
    weak = run_adsvc("create-user", "weak@example.com", stdin="short\n", env=env)
    assert weak.returncode == 2
    assert "password must be at least" in weak.stderr and "Traceback" not in weak.stderr
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    assert run_adsvc("create-user", email, stdin="a strong cli passphrase\n", env=env).returncode == 0
    duplicate = run_adsvc("create-user", email.upper(), stdin="a strong cli passphrase\n", env=env)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr


@pytest.mark.parametrize(
    ("secret", "message"),
    [("", "SECRET_KEY is missing"), ("changeme", "SECRET_KEY is missing"), ("short-key", "SECRET_KEY is too short")],
)
def test_serve_refuses_unsafe_secret_in_one_line(stack, secret, message):
    result = run_adsvc("serve", env={"DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url,
                                     "SECRET_KEY": secret})  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_bad_setting_value_is_one_clear_line(stack):
    result = run_adsvc("serve", env={"DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url,
                                     "SECRET_KEY": TEST_SECRET, "JWT_EXPIRATION_MINUTES": "soon"})  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "adsvc: JWT_EXPIRATION_MINUTES must be an integer, got 'soon'"


async def test_recount_conversions_rewrites_rows_counted_by_an_older_rule(stack, db, settings):
    from accounts.helpers import insert_account_with_objects
    from factories import create_user

    owner = await create_user(db, settings)
    objects = await insert_account_with_objects(db, user_id=owner.id, days=3)
    # stored as before migration 0016: pixel-only purchases counted as nothing
    await db.execute(
        """update insights_daily set actions = '{"offsite_conversion.fb_pixel_purchase": "3", "link_click": "9"}',
                  action_values = '{"offsite_conversion.fb_pixel_purchase": "74.50"}', conversions = 0,
                  conversion_value = 0
           where account_id = $1""",
        objects.account_id,
    )
    rows = await db.fetchval("select count(*) from insights_daily where account_id = $1", objects.account_id)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adsvc", "recount-conversions", f"act_{objects.account_id}",
        env={**os.environ, "DATABASE_URL": stack.database_url}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert f"act_{objects.account_id}: {rows} stored insight row(s) recounted" in stdout.decode()
    counted = await db.fetch(
        "select distinct conversions, conversion_value from insights_daily where account_id = $1", objects.account_id
    )
    assert [tuple(row) for row in counted] == [(3, Decimal("74.50"))]
    audit = await db.fetchrow(
        "select actor_label, details from audit_log where action = 'ad_account.recount_conversions' and target_id = $1",
        objects.account_id,
    )
    assert audit["actor_label"] == "cli" and audit["details"]["recounted_rows"] == rows

"""The `adsvc` command: serve, worker, migrate, create-user, reset-password and dev (the embedded default)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import getpass
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from adsvc.sandbox.cli import add_parser as add_sandbox_parser
from adsvc.settings import ConfigError, Settings

log = logging.getLogger("adsvc.cli")

DEFAULT_ADMIN_EMAIL = "admin@example.com"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    if level != "DEBUG":
        # yoyo logs every step of every migration at INFO (a first start printed 100+ lines); the CLI says how many
        logging.getLogger("yoyo").setLevel(logging.WARNING)


def _fail(message: str) -> NoReturn:
    print(f"adsvc: {message}", file=sys.stderr)
    raise SystemExit(2)


def _validate_environment() -> None:
    """Every setting, before anything starts: a bad value stops every command with one line and exit 2."""
    from adsvc.webhooks.config import WebhookSettings

    try:
        Settings.from_env()
        WebhookSettings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    admin_email = os.environ.get("ADSVC_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL).strip()
    if "@" not in admin_email or admin_email.startswith("@") or admin_email.endswith("@"):
        _fail(f"ADSVC_ADMIN_EMAIL must be an email address, got {admin_email!r}")


@contextlib.contextmanager
def resolved_settings(*, need_redis: bool, announce_new_data_dir: bool = True) -> Iterator[Settings]:
    """Settings from the environment; without DATABASE_URL / REDIS_URL, the embedded servers of the data folder.

    Servers this process had to start are stopped when it leaves; ones already running (say, under `adsvc dev`) stay.
    Every server the command needs is reached once before it runs: one line and exit 2 when one does not answer.
    """
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        _fail(str(exc))
    embedded = not settings.database_url or (need_redis and not settings.redis_url)
    if not embedded:
        _reach_servers(settings, need_redis=need_redis)
        yield settings
        return
    from adsvc.embedded import EmbeddedPostgres, EmbeddedRedis, secret_key_for, token_encryption_key_for

    postgres = EmbeddedPostgres(settings.data_dir) if not settings.database_url else None
    redis = EmbeddedRedis.in_data_dir(settings.data_dir) if need_redis and not settings.redis_url else None
    if announce_new_data_dir and any(server and not server.path.exists() for server in (postgres, redis)):
        # an empty stack started in whatever directory the command ran from would look like lost data
        print(
            f"adsvc: DATABASE_URL/REDIS_URL unset: creating a new embedded data folder at {settings.data_dir.resolve()}"
            " (set ADSVC_DATA_DIR, or run from the folder that holds .adsvc, to use an existing one)",
            file=sys.stderr,
            flush=True,
        )
    try:
        try:
            database_url = postgres.start() if postgres else settings.database_url or ""
            redis_url = redis.start() if redis else settings.redis_url or ""
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            _fail(f"could not start the embedded stack in {settings.data_dir}: {exc}")
        resolved = settings.with_embedded(
            database_url=database_url,
            redis_url=redis_url,
            secret_key=secret_key_for(settings.data_dir),
            token_encryption_key=token_encryption_key_for(settings.data_dir),
        )
        _reach_servers(resolved, need_redis=need_redis)
        yield resolved
    finally:
        if redis:
            redis.stop()
        if postgres:
            postgres.stop()


def _reach_servers(settings: Settings, *, need_redis: bool) -> None:
    from adsvc.preflight import Unreachable, check_servers

    try:
        check_servers(settings.database_url, settings.redis_url if need_redis else None)
    except Unreachable as exc:
        _fail(str(exc))


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url or "",
        REDIS_URL=settings.redis_url or "",
        SECRET_KEY=settings.secret_key,
        TOKEN_ENCRYPTION_KEY=settings.token_encryption_key,
        ADSVC_EMBEDDED="1" if settings.embedded else "0",
    )
    return env


# ---- serve -------------------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> None:
    from adsvc.app import create_app
    from adsvc.server import run_server

    with resolved_settings(need_redis=True) as settings:
        try:
            app = create_app(settings)
        except ConfigError as exc:
            _fail(str(exc))
        loop = None
        with contextlib.suppress(ImportError):
            import uvloop

            loop = uvloop.new_event_loop()
        host = args.host or settings.host
        port = args.port if args.port is not None else settings.port

        def listening() -> None:
            base = f"http://{host}:{port}"
            print(f"adsvc: serving on {base} (sign in: {base}/ · status: {base}/status)", flush=True)

        try:
            run_server(app, host=host, port=port, loop=loop, listening=listening)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(f"cannot listen on {host}:{port}: the address is already in use")
            # e.g. PostgreSQL or Redis went away between the start-up check and the pool's first connections
            _fail(f"could not start the web app: {exc.strerror or type(exc).__name__}")


# ---- worker ------------------------------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> None:
    with resolved_settings(need_redis=True) as settings:
        try:
            settings.check()
        except ConfigError as exc:
            _fail(str(exc))
        # jobs read their settings from the environment, like every process does
        os.environ.update(_child_env(settings))
        from arq.connections import RedisSettings

        from jobs.runtime import run_worker
        from jobs.worker import WorkerSettings

        print("adsvc: worker started", flush=True)
        run_worker(
            WorkerSettings,
            redis_settings=RedisSettings.from_dsn(settings.redis_url or ""),
            lease_seconds=settings.worker_lease_seconds,
        )


# ---- migrate -----------------------------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> None:
    from adsvc.migrations import apply_migrations

    with resolved_settings(need_redis=False) as settings:
        assert settings.database_url
        applied = apply_migrations(settings.database_url, settings.migrations_dir)
    if applied:
        print(f"adsvc: applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("adsvc: database schema is current, nothing to apply")


# ---- create-user -------------------------------------------------------------------------------------------------


def _read_password(prompt_twice: bool) -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if prompt_twice and getpass.getpass("Repeat password: ") != password:
            _fail("passwords do not match")
        return password
    return sys.stdin.readline().rstrip("\r\n")


async def _create_user(settings: Settings, *, email: str, password: str, is_admin: bool, actor: str) -> int:
    import asyncpg

    from adsvc.audit.queries import insert_audit_entry
    from adsvc.auth.passwords import hash_password, password_hasher
    from adsvc.auth.queries import insert_user
    from adsvc.contexts import init_connection

    hashed = await hash_password(password_hasher(settings), password)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await init_connection(conn)
        async with conn.transaction():
            user = await insert_user(conn, email=email, hashed_password=hashed, is_admin=is_admin)
            if user is None:
                _fail(f"a user with email {email} already exists")
            await insert_audit_entry(
                conn,
                action="user.create",
                actor_id=None,
                actor_label=actor,
                target_type="user",
                target_id=str(user.id),
                after={"email": user.email, "is_admin": user.is_admin, "is_active": True},
            )
        return user.id
    finally:
        await conn.close()


def cmd_create_user(args: argparse.Namespace) -> None:
    from adsvc.auth.policy import password_problems

    email = args.email.strip()
    if "@" not in email or email.startswith("@"):
        _fail(f"{email!r} is not an email address")
    password = _read_password(prompt_twice=True)
    with resolved_settings(need_redis=False) as settings:
        problems = password_problems(password, email=email, min_length=settings.password_min_length)
        if problems:
            _fail("password " + "; ".join(problems))
        user_id = asyncio.run(_create_user(settings, email=email, password=password, is_admin=args.admin, actor="cli"))
    print(f"adsvc: created {'admin' if args.admin else 'user'} {email} (id {user_id})")


async def _reset_password(settings: Settings, *, email: str, password: str, actor: str) -> tuple[str, bool]:
    """Set a user's password and revoke every token (and so every session) issued before now; audited."""
    import asyncpg
    from redis.asyncio import Redis

    from adsvc.audit.queries import insert_audit_entry
    from adsvc.auth.passwords import hash_password, password_hasher
    from adsvc.auth.policy import password_problems
    from adsvc.auth.queries import set_password, user_by_email
    from adsvc.auth.revocation import revoke_user_tokens
    from adsvc.auth.throttle import clear_account_failures
    from adsvc.contexts import init_connection
    from adsvc.errors import ServiceUnavailable

    conn = await asyncpg.connect(settings.database_url)
    redis: Redis = Redis.from_url(settings.redis_url or "", socket_timeout=5, socket_connect_timeout=5)
    try:
        await init_connection(conn)
        user = await user_by_email(conn, email=email)
        if user is None:
            _fail(f"no user with email {email}")
        problems = password_problems(password, email=user.email, min_length=settings.password_min_length)
        if problems:
            _fail("password " + "; ".join(problems))
        hashed = await hash_password(password_hasher(settings), password)
        cutoff = time.time()
        try:
            async with conn.transaction():
                await set_password(conn, user_id=user.id, hashed_password=hashed)
                await insert_audit_entry(
                    conn, action="auth.reset_password", actor_id=None, actor_label=actor, target_type="user",
                    target_id=str(user.id), details={"revoked_tokens_issued_before": cutoff},
                )  # fmt: skip
                # before commit, as change-password does: if Redis cannot take it, the password stays as it was
                lifetime = settings.credential_lifetime_seconds
                await revoke_user_tokens(
                    redis, user_id=user.id, before=cutoff, credential_lifetime_seconds=lifetime, timeout=5
                )
            # the locked-out owner of a forgotten password can sign in at once
            await clear_account_failures(redis, settings, email=user.email)
        except ServiceUnavailable:
            _fail("Redis did not answer, so the old tokens could not be revoked; the password is unchanged")
        return user.email, user.is_active
    finally:
        await redis.aclose()
        await conn.close()


def cmd_reset_password(args: argparse.Namespace) -> None:
    password = _read_password(prompt_twice=True)
    with resolved_settings(need_redis=True) as settings:
        email, active = asyncio.run(_reset_password(settings, email=args.email.strip(), password=password, actor="cli"))
    print(f"adsvc: password of {email} reset; every token and session issued before now is revoked")
    if not active:
        print(f"adsvc: note: {email} is disabled and still cannot sign in", file=sys.stderr)


# ---- backfill ----------------------------------------------------------------------------------------------------


def _bar(progress: float, width: int = 30) -> str:
    filled = round(progress * width)
    return "[" + "#" * filled + "." * (width - filled) + f"] {progress * 100:5.1f}%"


async def _backfill(settings: Settings, *, account_id: str, days: int, wait: bool) -> int:
    import asyncpg
    from arq import create_pool
    from arq.connections import RedisSettings

    from adsvc.accounts.queries import account_by_id
    from adsvc.collection.queries import run_for_job
    from adsvc.status.workers import worker_status

    conn = await asyncpg.connect(settings.database_url)
    queue = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
    try:
        account = await account_by_id(conn, account_id=account_id)
        if account is None:
            _fail(f"ad account {account_id} is not connected (connect it with POST /api/v1/ad-accounts)")
        job_id = f"backfill:{account_id}:{int(time.time())}"
        await queue.enqueue_job("backfill_insights", account_id, days, _job_id=job_id)
        print(f"adsvc: queued a {days}-day backfill of {account.name} (act_{account_id}) as job {job_id}", flush=True)
        if not wait:
            return 0
        status = await worker_status(queue)
        if status is not None and not status.workers:
            print("adsvc: no worker has reported recently; start one with `adsvc worker`", file=sys.stderr)
        last_line = ""
        while True:
            run = await run_for_job(conn, job_id=job_id)
            if run is None:
                line = "waiting for a worker to start the job..."
            else:
                line = (f"{_bar(float(run.progress))}  rows {run.rows_written:,}  Graph calls {run.graph_calls:,}"
                        f"  {run.status}")  # fmt: skip
                if run.status in {"succeeded", "failed", "abandoned"}:
                    print(f"\r{line}", flush=True)
                    if run.error:
                        print(f"adsvc: {run.error_kind}: {run.error}", file=sys.stderr)
                    return 0 if run.status == "succeeded" else 1
            if line != last_line:
                print(f"\r{line}", end="", flush=True)
                last_line = line
            await asyncio.sleep(0.5)
    finally:
        await queue.aclose()
        await conn.close()


def cmd_backfill(args: argparse.Namespace) -> None:
    from adsvc.collection.records import account_number

    with resolved_settings(need_redis=True) as settings:
        code = asyncio.run(
            _backfill(settings, account_id=account_number(args.account), days=args.days, wait=not args.no_wait)
        )
    raise SystemExit(code)


async def _recount_conversions(settings: Settings, *, account_id: str | None) -> list[tuple[str, int]]:
    import asyncpg

    from adsvc.accounts.queries import lock_conversion_action_types
    from adsvc.audit.queries import insert_audit_entry
    from adsvc.collection.conversions import rule_for
    from adsvc.collection.recount import recount_conversions
    from adsvc.contexts import init_connection

    conn = await asyncpg.connect(settings.database_url)
    try:
        await init_connection(conn)
        if account_id is None:
            ids = [row["id"] for row in await conn.fetch("select id from ad_accounts order by id")]
        else:
            ids = [account_id]
        done = []
        for one in ids:
            # per account, one transaction holding its row: no sync step writes it meanwhile
            async with conn.transaction():
                found, types = await lock_conversion_action_types(conn, account_id=one)
                if not found:
                    _fail(f"ad account {one} is not connected")
                changed = await recount_conversions(conn, account_id=one, rule=rule_for(types))
                if changed:
                    await insert_audit_entry(
                        conn,
                        action="ad_account.recount_conversions",
                        actor_id=None,
                        actor_label="cli",
                        target_type="ad_account",
                        target_id=one,
                        details={"conversion_action_types": types, "recounted_rows": changed},
                    )
            done.append((one, changed))
        return done
    finally:
        await conn.close()


def cmd_recount_conversions(args: argparse.Namespace) -> None:
    from adsvc.collection.records import account_number

    account_id = account_number(args.account) if args.account else None
    with resolved_settings(need_redis=False) as settings:
        done = asyncio.run(_recount_conversions(settings, account_id=account_id))
    for one, changed in done:
        print(f"adsvc: act_{one}: {changed:,} stored insight row(s) recounted")


# ---- dev ---------------------------------------------------------------------------------------------------------


async def _ensure_admin(settings: Settings, email: str) -> str | None:
    """Create the first admin when the database has no user; returns the password to show once."""
    import asyncpg

    from adsvc.auth.queries import count_users

    conn = await asyncpg.connect(settings.database_url)
    try:
        if await count_users(conn) > 0:
            return None
    finally:
        await conn.close()
    password = secrets.token_urlsafe(15)
    await _create_user(settings, email=email, password=password, is_admin=True, actor="adsvc dev")
    return password


def cmd_dev(args: argparse.Namespace) -> None:
    from adsvc.embedded import DataDirBusy, exclusive_dev_lock

    data_dir = Settings.from_env().data_dir
    try:
        with exclusive_dev_lock(data_dir):
            _run_dev(args)
    except DataDirBusy as exc:
        _fail(str(exc))


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    from adsvc.embedded import port_open

    assert process is not None
    deadline = time.monotonic() + timeout
    while not port_open("127.0.0.1", port):
        if process.poll() is not None:
            _fail(f"the sandbox exited with {process.returncode}")
        if time.monotonic() > deadline:
            _fail(f"the sandbox did not listen on port {port} within {timeout:.0f} s")
        try:
            process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue


async def _connect_account(
    settings: Settings,
    *,
    account_id: str,
    access_token: str,
    owner_email: str,
    actor_label: str,
    backfill_days: int,
) -> str:
    """Connect an account for a user through the same code as `POST /api/v1/ad-accounts`: a new account gets that
    user as its owner; one already connected gets the new token only if the user is one of its owners or managers
    (cached agents are then dropped in every running process)."""
    import aiohttp
    import asyncpg
    from arq import create_pool
    from arq.connections import RedisSettings

    from adsvc.accounts.connecting import Actor, Upstream, connect_account
    from adsvc.auth.queries import user_by_email
    from adsvc.contexts import init_connection
    from adsvc.crypto import TokenBox
    from adsvc.errors import ApiError
    from adsvc.graph.breaker import BreakerRegistry, CircuitOpen
    from adsvc.graph.errors import GraphError

    pg = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2, init=init_connection)
    try:
        owner = await user_by_email(pg, email=owner_email)
        if owner is None or not owner.is_active:
            _fail(f"no active user {owner_email}; create it with `adsvc create-user`")
        assert owner is not None
        queue = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
        try:
            async with aiohttp.ClientSession() as session:
                upstream = Upstream(
                    settings=settings,
                    session=session,
                    breakers=BreakerRegistry(),
                    box=TokenBox(settings.token_encryption_key, settings.token_encryption_previous_keys),
                    queue=queue,
                    redis=queue,
                )
                connected = await connect_account(
                    pg, upstream, account_id=account_id, access_token=access_token,
                    actor=Actor(user_id=owner.id, label=actor_label), backfill_days=backfill_days,
                )  # fmt: skip
        except (GraphError, CircuitOpen) as exc:
            _fail(f"Meta refused account {account_id}: {exc}")
        except ApiError as exc:
            _fail(f"account {account_id} for {owner_email}: {exc.message}")
        finally:
            await queue.aclose()
    finally:
        await pg.close()
    account = connected.account
    described = f"{account.name} (act_{account.id}, {account.currency}, {account.timezone_name})"
    return described if connected.created else f"{described} with a new token"


async def _connect_sandbox_account(settings: Settings, *, graph_url: str, admin_email: str) -> str | None:
    """On a first start (no account yet), connect the sandbox's first account for the administrator."""
    import aiohttp
    import asyncpg

    from adsvc.sandbox import SANDBOX_ACCESS_TOKEN

    conn = await asyncpg.connect(settings.database_url)
    try:
        if await conn.fetchval("select exists (select 1 from ad_accounts)"):
            return None
    finally:
        await conn.close()
    async with aiohttp.ClientSession() as session, session.get(f"{graph_url}/_sandbox/accounts") as response:
        first = str((await response.json())["data"][0]["id"]).removeprefix("act_")
    return await _connect_account(
        dataclasses.replace(settings, facebook_graph_url=graph_url),
        account_id=first,
        access_token=SANDBOX_ACCESS_TOKEN,
        owner_email=admin_email,
        actor_label="adsvc dev",
        backfill_days=400,
    )


def cmd_connect_account(args: argparse.Namespace) -> None:
    """The older service's single account (FACEBOOK_AD_ACCOUNT_ID, FACEBOOK_ACCESS_TOKEN), or any other."""
    from adsvc.collection.records import account_number

    with resolved_settings(need_redis=True) as settings:
        account: str = args.account or settings.facebook_ad_account_id or ""
        if not account:
            _fail("give ACCOUNT or set FACEBOOK_AD_ACCOUNT_ID")
        token = settings.facebook_access_token or _read_password(prompt_twice=False)
        if not token:
            _fail("no access token: set FACEBOOK_ACCESS_TOKEN or pass it on standard input")
        connected = asyncio.run(
            _connect_account(
                settings,
                account_id=account_number(account),
                access_token=token,
                owner_email=args.owner,
                actor_label="cli",
                backfill_days=args.backfill_days,
            )
        )
    print(f"adsvc: connected {connected} for {args.owner}; first syncs queued")


def _credentials_box(email: str, password: str, saved_to: Path | None, url: str) -> str:
    """The first admin's credentials framed, so they stand out after the start-up logs."""
    lines = ["First start: an administrator was created.", "", f"  email:    {email}", f"  password: {password}", "",
             "This password is shown only this once."]  # fmt: skip
    if saved_to:
        lines += ["It is also saved, readable by you only, in", f"  {saved_to}"]
    lines += [f"Sign in at {url}, change it, then delete that file."]
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join(["", rule, *(f"| {line.ljust(width)} |" for line in lines), rule, ""])


def _wait_until_started(port: int, redis_url: str, timeout: float = 60) -> None:
    """Until the web port listens and a worker has beaten (its start-up logs are out), or `timeout` passes."""
    import redis as redis_sync

    from adsvc.embedded import port_open
    from adsvc.status.workers import HEARTBEAT_PREFIX

    deadline = time.monotonic() + timeout
    client = redis_sync.Redis.from_url(redis_url, socket_timeout=1)
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(redis_sync.RedisError):
                if port_open("127.0.0.1", port) and next(client.scan_iter(HEARTBEAT_PREFIX + "*"), None):
                    return
            time.sleep(0.2)
    finally:
        client.close()


def _run_dev(args: argparse.Namespace) -> None:
    from adsvc.embedded import save_first_admin
    from adsvc.migrations import apply_migrations
    from adsvc.supervision import Supervisor
    from adsvc.webhooks.config import LOOPBACK_NETWORKS

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    with resolved_settings(need_redis=True, announce_new_data_dir=False) as settings, Supervisor() as supervisor:
        assert settings.database_url
        applied = apply_migrations(settings.database_url, settings.migrations_dir)
        print(f"adsvc dev: data in {settings.data_dir.resolve()}; {len(applied)} migration(s) applied", flush=True)
        admin_email = os.environ.get("ADSVC_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL)
        password = asyncio.run(_ensure_admin(settings, admin_email))
        port = args.port if args.port is not None else settings.port
        base = f"http://{settings.host}:{port}"
        # written at once, so the credentials outlive whatever happens to this terminal; shown once web is up
        saved_to = (
            save_first_admin(settings.data_dir, email=admin_email, password=password, url=base) if password else None
        )
        env = _child_env(settings)
        # dev's own receivers (a local n8n, a test endpoint) listen on loopback; production allows no internal network
        env["WEBHOOK_ALLOWED_PRIVATE_NETWORKS"] = env.get("WEBHOOK_ALLOWED_PRIVATE_NETWORKS") or LOOPBACK_NETWORKS
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        if "FACEBOOK_GRAPH_URL" not in os.environ and not args.no_sandbox:
            from adsvc.embedded import free_port

            sandbox_port = free_port()
            sandbox_env = {**env, "LOG_LEVEL": "WARNING"}
            sandbox = supervisor.start(
                "sandbox", ["sandbox", "--port", str(sandbox_port), "--restate-every", "900"], sandbox_env, quiet=True
            )
            _wait_for_port(sandbox_port, sandbox.process)
            graph_url = f"http://127.0.0.1:{sandbox_port}"
            env["FACEBOOK_GRAPH_URL"] = graph_url
            # the sandbox's report runs advance per poll, not per minute: poll it briskly
            env.setdefault("GRAPH_POLL_INITIAL_SECONDS", "0.2")
            env.setdefault("GRAPH_POLL_MAX_SECONDS", "1")
            print(f"adsvc dev: sandbox Marketing API at {graph_url} (FACEBOOK_GRAPH_URL unset)", flush=True)
            connected = asyncio.run(_connect_sandbox_account(settings, graph_url=graph_url, admin_email=admin_email))
            if connected:
                print(f"adsvc dev: connected sandbox account {connected}; first syncs queued", flush=True)
        supervisor.start("web", ["serve", "--host", settings.host, "--port", str(port)], env)
        supervisor.start("worker", ["worker"], env)
        if password:
            _wait_until_started(port, settings.redis_url or "")
            print(_credentials_box(admin_email, password, saved_to, base), flush=True)
        print(f"adsvc dev: running {supervisor.roster()}; a child that dies is restarted", flush=True)
        print(
            f"adsvc dev: web {base}/ (sign in)  status {base}/status  API {base}/api/docs  (Ctrl-C stops)", flush=True
        )
        try:
            while not stop.wait(0.2):
                supervisor.tick()
        finally:
            supervisor.stop()
            print("adsvc dev: stopped web and worker; stopping embedded servers", flush=True)


# ---- entry point -------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adsvc",
        description="Self-hosted service for running Meta Ads accounts. Configuration comes from environment "
        "variables (see .env.example); without DATABASE_URL / REDIS_URL every command uses the embedded "
        "PostgreSQL and Redis under ADSVC_DATA_DIR (default ./.adsvc).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web app", description="Run the web app (one process).")
    serve.add_argument("--host", default=None, help="address to bind (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (default PORT or 8000)")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="run the arq worker", description="Run the arq worker.")
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser(
        "migrate", help="apply pending migrations", description="Apply pending yoyo migrations; safe to re-run."
    )
    migrate.set_defaults(func=cmd_migrate)

    create_user = commands.add_parser(
        "create-user",
        help="create a user",
        description="Create a user. The password is read from a prompt, or from the first line of standard input "
        "when it is not a terminal (never from the command line).",
    )
    create_user.add_argument("email", metavar="EMAIL")
    create_user.add_argument("--admin", action="store_true", help="make the user an administrator")
    create_user.set_defaults(func=cmd_create_user)

    reset_password = commands.add_parser(
        "reset-password",
        help="set a user's password and revoke their tokens",
        description="Set the password of the user with EMAIL (read from a prompt, or from the first line of standard "
        "input when it is not a terminal; never from the command line), checked against the password policy. "
        "Every access token and session of that user issued before now is revoked; the change is audited.",
    )
    reset_password.add_argument("email", metavar="EMAIL")
    reset_password.set_defaults(func=cmd_reset_password)

    dev = commands.add_parser(
        "dev",
        help="run everything on the embedded stack",
        description="Start embedded PostgreSQL and Redis under ADSVC_DATA_DIR, apply migrations, create an admin on "
        "first start (credentials printed once), and run web and worker in the foreground until Ctrl-C.",
    )
    dev.add_argument("--port", type=int, default=None, help="web port (default PORT or 8000)")
    dev.add_argument(
        "--no-sandbox",
        action="store_true",
        help="do not start the sandbox Marketing API (it starts when FACEBOOK_GRAPH_URL is unset)",
    )
    dev.set_defaults(func=cmd_dev)

    connect = commands.add_parser(
        "connect-account",
        help="connect an ad account for a user",
        description="Validate an access token with Meta and connect ACCOUNT (default FACEBOOK_AD_ACCOUNT_ID) for "
        "OWNER; the token comes from FACEBOOK_ACCESS_TOKEN or standard input, and is stored encrypted.",
    )
    connect.add_argument("account", metavar="ACCOUNT", nargs="?", help="ad account id, act_123 or 123")
    connect.add_argument(
        "--owner",
        required=True,
        metavar="EMAIL",
        help="the adsvc user who will own it (for an account already connected: one of its owners or managers)",
    )
    connect.add_argument("--backfill-days", type=int, default=90, help="history to queue at once (default 90)")
    connect.set_defaults(func=cmd_connect_account)

    backfill = commands.add_parser(
        "backfill",
        help="queue a backfill of an account's insights and follow it",
        description="Queue a backfill of ACCOUNT's daily insights (every level) for the last N days and show its "
        "progress until it ends (a worker must be running).",
    )
    backfill.add_argument("account", metavar="ACCOUNT", help="ad account id, act_123 or 123")
    backfill.add_argument("--days", type=int, default=90, help="days back from today (default 90, at most 1110)")
    backfill.add_argument("--no-wait", action="store_true", help="queue it and return at once")
    backfill.set_defaults(func=cmd_backfill)

    recount = commands.add_parser(
        "recount-conversions",
        help="recount stored insights' conversions by each account's conversion types",
        description="Recount conversions and conversion_value of every stored insight row of ACCOUNT (default: "
        "every account) from its stored actions, by the account's conversion types (the default precedence "
        "unless set with PATCH /api/v1/ad-accounts/{id}); then the campaign list's stored rows. Run it once after "
        "upgrading to migration 0016 (rows stored before counted purchase + lead only). Safe to re-run.",
    )
    recount.add_argument("account", metavar="ACCOUNT", nargs="?", help="ad account id, act_123 or 123")
    recount.set_defaults(func=cmd_recount_conversions)

    add_sandbox_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    # pgserver's platformdirs warns on every start when XDG_RUNTIME_DIR is unset (servers, CI); it is harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = build_parser().parse_args(argv)
    from dotenv import load_dotenv

    load_dotenv(Path.cwd() / ".env", override=False)
    _validate_environment()
    _setup_logging(os.environ.get("LOG_LEVEL", "INFO").upper())
    args.func(args)

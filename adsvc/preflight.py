"""Start-up checks of the `adsvc` command: can this process reach its PostgreSQL and Redis? Said in one line that
names the server and where it is (host:port or socket, never a user or password), before anything starts."""

from __future__ import annotations

import asyncio
import errno
import socket
from urllib.parse import parse_qs, urlsplit

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError, ResponseError

PREFLIGHT_TIMEOUT_SECONDS = 5.0


class Unreachable(Exception):
    """A server the command needs did not answer; the message is one line for the operator."""


def server_location(url: str, *, default_port: int) -> str:
    """Where a URL points, without its credentials: `host:port`, several of them (libpq), or a socket path."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path or "?"
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        # libpq: postgresql://user@/db?host=/run/postgresql (a socket directory) or ?host=name&port=N
        query = parse_qs(parts.query)
        host = query.get("host", ["localhost"])[0]
        if host.startswith("/"):
            return host
        return f"{host}:{query.get('port', [str(default_port)])[0]}"
    located = []
    for host in hosts.split(","):
        has_port = host.rpartition("]")[2].count(":") == 1 if host.startswith("[") else ":" in host
        located.append(host if has_port else f"{host}:{default_port}")
    return ",".join(located)


def _reason(exc: BaseException, timeout: float) -> str:
    """Why a connection failed, in a few words that carry no secret."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, RedisError) and isinstance(cause, OSError | TimeoutError):
        exc = cause
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and (exc.errno == errno.ECONNREFUSED or "Connect call failed" in str(exc))
    ):
        return "connection refused"
    if isinstance(exc, FileNotFoundError):
        return "no server socket there"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "password authentication failed"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "the database does not exist"
    if isinstance(exc, asyncpg.PostgresError):
        # the server's own words (e.g. 'role "x" does not exist'): they never carry the password
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    if isinstance(exc, AuthenticationError) or (isinstance(exc, ResponseError) and "AUTH" in str(exc).upper()):
        return "authentication failed"
    if isinstance(exc, ResponseError):
        return str(exc).splitlines()[0][:200]
    return type(exc).__name__


async def reach_postgres(url: str, *, timeout: float = PREFLIGHT_TIMEOUT_SECONDS) -> None:
    try:
        async with asyncio.timeout(timeout):
            conn = await asyncpg.connect(url, timeout=timeout)
            await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = server_location(url, default_port=5432)
        raise Unreachable(f"cannot reach PostgreSQL (DATABASE_URL) at {where}: {_reason(exc, timeout)}") from None


async def reach_redis(url: str, *, timeout: float = PREFLIGHT_TIMEOUT_SECONDS) -> None:
    client: Redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except (OSError, TimeoutError, RedisError) as exc:
        where = server_location(url, default_port=6379)
        raise Unreachable(f"cannot reach Redis (REDIS_URL) at {where}: {_reason(exc, timeout)}") from None
    finally:
        await client.aclose()


def check_servers(database_url: str | None, redis_url: str | None) -> None:
    """Reach each server given (both at once); raises Unreachable for the first that does not answer.

    Runs before the command's own event loop exists, so it uses one of its own."""

    async def both() -> None:
        checks = [reach_postgres(database_url)] if database_url else []
        checks += [reach_redis(redis_url)] if redis_url else []
        results = await asyncio.gather(*checks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    asyncio.run(both())

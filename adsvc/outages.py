"""Which failures mean "a dependency is down" (PostgreSQL, Redis) rather than a bug, and one log line per outage.

The web app answers them 503 with Retry-After; the worker retries the job that met them. Either way the outage is
logged once when it begins (and, for PostgreSQL, once when a connection succeeds again), not a traceback per
request or job.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("adsvc.outages")

DATABASE = "database"
REDIS = "redis"
RETRY_AFTER_SECONDS = 5
# failures closer together than this belong to the same outage, and are not logged again
QUIET_SECONDS = 60.0


class DatabaseUnreachable(Exception):
    """A new PostgreSQL connection could not be opened (refused, no route, timed out); raised by the pool's connect
    step, so the socket error is never mistaken for one of an outbound HTTP call."""


_DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    DatabaseUnreachable,
    # class 08 (connection exception), which includes asyncpg's "connection was closed in the middle of operation"
    asyncpg.PostgresConnectionError,
    # 57P01-57P03: the server is shutting down, crashed, or is still starting
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    # the server's shutdown notice arriving in the middle of a statement leaves asyncpg's protocol in a state it
    # refuses ("cannot switch to state 12; another operation (2) is in progress"); seen under a request loop while
    # PostgreSQL stops. Our code's own misuse of a connection is an InterfaceError, not this.
    asyncpg.InternalClientError,
)
_REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)


def outage_of(exc: BaseException) -> str | None:
    """DATABASE or REDIS when `exc` (or what it was raised from) says that dependency is unreachable, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _DATABASE_ERRORS) or _database_timeout_or_closed(current):
            return DATABASE
        if isinstance(current, _REDIS_ERRORS):
            return REDIS
        current = current.__cause__ or current.__context__
    return None


def _database_timeout_or_closed(exc: BaseException) -> bool:
    """A query past DB_TIMEOUT_SECONDS (asyncpg raises a bare TimeoutError for its command timeout), or one sent on a
    connection that died after the pool handed it out: the database is not answering in time, not a bug."""
    if isinstance(exc, asyncpg.InterfaceError):
        return str(exc) == "connection is closed"
    if isinstance(exc, TimeoutError):
        traceback = exc.__traceback__
        while traceback is not None:
            if str(traceback.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
                return True
            traceback = traceback.tb_next
    return False


class OutageLog:
    """Logs the first failure of an outage with its cause, counts the rest, and says when the component is back."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._last_failure: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def down(self, component: str, exc: BaseException, *, where: str) -> None:
        now = time.monotonic()
        last = self._last_failure.get(component)
        self._last_failure[component] = now
        if last is not None and now - last < QUIET_SECONDS:
            self._suppressed[component] = self._suppressed.get(component, 0) + 1
            return
        self._log.warning(
            "%s unavailable (%s: %s); %s until it is back", component, type(exc).__name__, _short(exc), where
        )

    def up(self, component: str) -> None:
        if self._last_failure.pop(component, None) is None:
            return
        also = self._suppressed.pop(component, 0)
        self._log.warning("%s reachable again (%d more failures during the outage)", component, also)

    def is_down(self, component: str) -> bool:
        return component in self._last_failure


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


# One per process: the pool's connect step and the error middleware (or the worker) share it.
OUTAGES = OutageLog()


async def connect_or_unreachable(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg's connect for the pool, with socket-level failures turned into DatabaseUnreachable."""
    try:
        conn = await asyncpg.connect(*args, **kwargs)
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnreachable(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
    OUTAGES.up(DATABASE)
    return conn


class _PoolFloorRetries(logging.Filter):
    """asyncpg's pool reconnects to its minimum size in the background and logs each failed attempt with a
    traceback; during an outage those are the outage itself: logged once, through OUTAGES, instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Failed to restore the pool connection floor"):
            return True
        cause = record.exc_info[1] if record.exc_info else None
        if cause is None or outage_of(cause) != DATABASE:
            return True
        OUTAGES.down(DATABASE, cause, where="the pool reconnects in the background")
        return False


_POOL_FLOOR_FILTER = _PoolFloorRetries()


def quiet_pool_floor_retries() -> None:
    """Install the filter on asyncpg's pool logger (once per process)."""
    pool_log = logging.getLogger("asyncpg.pool")
    if _POOL_FLOOR_FILTER not in pool_log.filters:
        pool_log.addFilter(_POOL_FLOOR_FILTER)

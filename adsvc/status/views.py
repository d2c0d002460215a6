"""Liveness, readiness, Prometheus metrics, the OpenAPI document and its reference page, and the HTML status page."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
import orjson
from aiohttp import web
from pydantic import BaseModel
from redis.exceptions import RedisError

from adsvc import __version__
from adsvc.keys import AGENTS, BREAKERS, KNOWN_MIGRATIONS, METRICS, OPENAPI_DOCUMENT, PG, REDIS, SETTINGS, STARTED_AT
from adsvc.middleware import admin_caller
from adsvc.migrations import pending_migrations
from adsvc.routing import Auth, Routes, json_response
from adsvc.status import queries
from adsvc.status.apidocs import Reference, build_reference
from adsvc.status.workers import WorkerStatus, worker_status

log = logging.getLogger("adsvc.status")

routes = Routes(tag="ops")

CHECK_TIMEOUT_SECONDS = 2.0


class HealthOut(BaseModel):
    status: str


class CheckOut(BaseModel):
    ok: bool
    latency_ms: float | None
    detail: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, CheckOut]


@dataclass
class Check:
    ok: bool
    detail: str
    latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def _timed(coro: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
        result = await coro
    return result, round((time.perf_counter() - started) * 1000, 2)


async def check_database(app: web.Application) -> tuple[Check, Check]:
    """The database itself, and whether every migration file has been applied to it."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), app[PG].acquire() as conn:
            version, latency = await _timed(queries.server_version(conn))
            applied = await queries.applied_migration_ids(conn)
    except Exception as exc:  # whatever failed, the check's answer is "unhealthy", logged with its cause
        log.warning("database check failed: %r", exc)
        failed = Check(ok=False, detail=f"unreachable: {type(exc).__name__}")
        return failed, Check(ok=False, detail="unknown: database unreachable")
    pending = pending_migrations(app[KNOWN_MIGRATIONS], applied)
    database = Check(ok=True, detail=f"PostgreSQL {version}", latency_ms=latency)
    if pending:
        migrations = Check(ok=False, detail=f"{len(pending)} pending: {', '.join(pending)}", extra={"pending": pending})
    else:
        migrations = Check(ok=True, detail=f"{len(applied)} applied, none pending")
    return database, migrations


async def check_redis(app: web.Application) -> Check:
    try:
        info, latency = await _timed(app[REDIS].info("server"))
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("redis check failed: %r", exc)
        return Check(ok=False, detail=f"unreachable: {type(exc).__name__}")
    return Check(ok=True, detail=f"Redis {info.get('redis_version', '?')}", latency_ms=latency)


async def run_checks(app: web.Application) -> dict[str, Check]:
    (database, migrations), redis = await asyncio.gather(check_database(app), check_redis(app))
    return {"database": database, "redis": redis, "migrations": migrations}


@routes.get("/health", name="health", summary="Liveness: the process answers; touches nothing", auth=Auth.PUBLIC,
            response=HealthOut)  # fmt: skip
async def health(request: web.Request) -> web.Response:
    return json_response(HealthOut(status="ok"))


@routes.get(
    "/ready",
    name="ready",
    summary="Readiness: database, Redis, and migrations current; 503 names what failed",
    auth=Auth.PUBLIC,
    response=ReadyOut,
    alt_responses={503: ReadyOut},
)
async def ready(request: web.Request) -> web.Response:
    checks = await run_checks(request.app)
    all_ok = all(check.ok for check in checks.values())
    body = ReadyOut(
        status="ready" if all_ok else "not_ready",
        checks={name: CheckOut(ok=c.ok, latency_ms=c.latency_ms, detail=c.detail) for name, c in checks.items()},
    )
    response = json_response(body, status=200 if all_ok else 503)
    if not all_ok:
        response.headers["Retry-After"] = "5"
    return response


@routes.get("/metrics", name="metrics", summary="Prometheus metrics of this process", auth=Auth.PUBLIC,
            content_type="text/plain")  # fmt: skip
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.config_dict[METRICS].render(), content_type="text/plain", charset="utf-8",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


@routes.get("/api/openapi.json", name="openapi", summary="This OpenAPI document", auth=Auth.PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.config_dict[OPENAPI_DOCUMENT], content_type="application/json")


@functools.lru_cache(maxsize=4)
def _reference(document: bytes) -> Reference:
    return build_reference(orjson.loads(document))


@routes.get("/api/docs", name="api-docs", summary="This OpenAPI document as a browsable HTML reference",
            auth=Auth.PUBLIC, content_type="text/html")  # fmt: skip
async def api_docs(request: web.Request) -> web.Response:
    # a few hundred kilobytes of HTML: built off the event loop (the reference once per document)
    reference = await asyncio.to_thread(_reference, request.config_dict[OPENAPI_DOCUMENT])
    context = {"version": __version__, "reference": reference}
    html = await asyncio.to_thread(aiohttp_jinja2.render_string, "api_docs.html", request, context)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "public, max-age=300"})


def component_health(checks: dict[str, Check], workers: WorkerStatus | None, now: float) -> dict[str, str]:
    """What anyone may see: each component's state in one word, no detail."""
    health = {name: "ok" if check.ok else "failing" for name, check in checks.items()}
    health["workers"] = "unknown" if workers is None else ("ok" if workers.alive(now) else "failing")
    return health


@routes.get("/status", name="status", auth=Auth.PUBLIC, content_type="text/html",
            summary="HTML status page for on-call engineers: component health for anyone; with an admin token also "
                    "workers, accounts, syncs, circuit breakers and error texts")  # fmt: skip
async def status_page(request: web.Request) -> web.Response:
    app = request.app
    admin = await admin_caller(request) is not None
    checks, workers = await asyncio.gather(run_checks(app), worker_status(app[REDIS]))
    syncs = None
    if admin:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                syncs = await queries.latest_syncs(app[PG], limit=12)
        except Exception as exc:  # the page still renders; the database row above already says what is wrong
            log.warning("status page could not read sync runs: %r", exc)
    cache = app[AGENTS].aggregate()
    breakers = app[BREAKERS].snapshot()
    now = time.time()
    alive = None if workers is None else len(workers.alive(now))
    components = component_health(checks, workers, now)
    context = {
        "version": __version__,
        "uptime_seconds": int(time.time() - app[STARTED_AT]),
        "admin": admin,
        "components": components,
        # the headline agrees with every row below it: no worker alive means nothing syncs
        "all_ok": all(state == "ok" for state in components.values()),
        "only_workers_failing": all(check.ok for check in checks.values()) and components["workers"] != "ok",
        "embedded": app[SETTINGS].embedded,
        "now": now,
        "generated_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cache_status": cache["status"],
        "breakers_open": sum(1 for b in breakers if b["state"] != "closed"),
        "worker_count": alive,
        "dead_worker_count": None if workers is None or alive is None else len(workers.workers) - alive,
        # detail: only what an administrator may see ever reaches the template
        "checks": checks if admin else None,
        "workers": workers if admin else None,
        "syncs": syncs,
        "cache": cache if admin else None,
        "breakers": breakers if admin else None,
    }
    response = aiohttp_jinja2.render_template("status.html", request, context)
    response.headers["Cache-Control"] = "no-store"
    return response

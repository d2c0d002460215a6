"""Collection jobs: structure sync, insights sync (recent, restatement lookback, backfill) and their schedulers.

Every job is safe to run twice (arq delivers at least once): each (level, window) step replaces that window's rows
in one transaction, so a run killed half-way and run again ends with exactly what Meta reports. One sync per
account runs at a time (a Redis lease); upstream trouble reschedules the job instead of hammering Meta.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from arq import Retry

from adsvc.accounts.queries import (
    account_by_id,
    account_ids_with_valid_tokens,
    conversion_action_types,
    mark_insights_synced,
    mark_structure_synced,
    mark_token,
)
from adsvc.campaigns.queries import refresh_campaign_metrics
from adsvc.collection import queries
from adsvc.collection.conversions import rule_for
from adsvc.collection.locks import LeaseLost, SyncLock
from adsvc.collection.plan import (
    Window,
    account_today,
    backfill_chunks,
    insights_steps,
    lookback_window,
    recent_window,
)
from adsvc.collection.records import OBJECT_FIELDS, insight_records, object_record
from adsvc.collection.report_runs import StepReportRuns
from adsvc.graph.agent import FacebookAdsAgent
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.errors import ErrorKind, GraphError
from adsvc.outages import outage_of
from jobs.webhooks import notify_sync_failed

log = logging.getLogger("adsvc.jobs")

# Edge reads leave archived and deleted objects out unless asked: ask for every status, so numbers match Ads Manager.
ALL_STATUSES = {
    "campaign": ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "IN_PROCESS", "WITH_ISSUES"],
    "adset": ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "IN_PROCESS", "WITH_ISSUES", "CAMPAIGN_PAUSED"],
    "ad": [
        "ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "IN_PROCESS", "WITH_ISSUES", "CAMPAIGN_PAUSED", "ADSET_PAUSED",
        "DISAPPROVED", "PENDING_BILLING_INFO", "PENDING_REVIEW", "PREAPPROVED",
    ],
}  # fmt: skip
EDGES = (("campaign", "campaigns"), ("adset", "adsets"), ("ad", "ads"))

_LEVEL_IDS = {
    "account": ("account_id",),
    "campaign": ("account_id", "campaign_id", "campaign_name"),
    "adset": ("account_id", "campaign_id", "adset_id", "adset_name"),
    "ad": ("account_id", "campaign_id", "adset_id", "ad_id", "ad_name"),
}
_METRICS = ("impressions", "clicks", "inline_link_clicks", "reach", "frequency", "spend", "actions", "action_values")
# Transient trouble that survived the client's own retries: come back later, a bit later each time
# (multiples of SYNC_RETRY_BASE_SECONDS, 10 s by default: 10 s, 30 s, 1 min, 2 min, 5 min, 10 min).
RETRY_LADDER = (1, 3, 6, 12, 30, 60)
# Tries include waits for another sync of the same account (a backfill can hold it for a long while), so allow many;
# the waits double from SYNC_RETRY_BASE_SECONDS up to 32 times it, and at most 5 minutes each.
SYNC_MAX_TRIES = 50
BUSY_WAIT_MAX_SECONDS = 300.0
BUSY_WAIT_MAX_DOUBLINGS = 5


class SyncBusy(Exception):
    """Another worker holds this account's sync lease."""


@dataclass
class Progress:
    run_id: int
    rows: int = 0
    objects: int = 0
    calls: int = 0
    done: float = 0.0
    # steps an earlier attempt of the same job committed: a retry after a throttle resumes instead of restarting
    finished_steps: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)


STEPS_PREFIX = "adsvc:sync-steps:"
STEPS_TTL_SECONDS = 24 * 3600


async def _finished_steps(ctx: dict[str, Any]) -> set[str]:
    job_id = ctx.get("job_id")
    if not job_id:
        return set()
    members = await ctx["app_redis"].smembers(STEPS_PREFIX + job_id)
    return {member if isinstance(member, str) else member.decode() for member in members}


async def _step_done(ctx: dict[str, Any], progress: Progress, step: str) -> None:
    progress.finished_steps.add(step)
    job_id = ctx.get("job_id")
    if job_id:
        key = STEPS_PREFIX + job_id
        async with ctx["app_redis"].pipeline(transaction=False) as pipe:
            pipe.sadd(key, step)
            pipe.expire(key, STEPS_TTL_SECONDS)
            await pipe.execute()


def insights_params(level: str, window: Window) -> dict[str, Any]:
    params: dict[str, Any] = {
        "level": level,
        "fields": [*_LEVEL_IDS[level], "date_start", "date_stop", *_METRICS],
        "time_range": window.as_time_range(),
        "time_increment": 1,
    }
    if level != "account":
        # Insights leave archived and deleted objects out unless asked: their spend is real and must be counted.
        params["filtering"] = [{"field": f"{level}.effective_status", "operator": "IN", "value": ALL_STATUSES[level]}]
    return params


async def _insights_rows(
    agent: FacebookAdsAgent, level: str, window: Window, runs: StepReportRuns | None
) -> list[dict[str, Any]]:
    params = insights_params(level, window)
    account = f"act_{agent.account.id}"
    if window.days <= 2:
        # a couple of days answer at once: a report run would cost a POST and polls for nothing
        return await agent.client.insights(account, params)
    return [row async for row in agent.client.async_insights(account, params, runs=runs)]


async def _structure(ctx: dict[str, Any], agent: FacebookAdsAgent, progress: Progress) -> None:
    pg = ctx["pg"]
    for index, (kind, edge) in enumerate(EDGES):
        step = f"edge:{edge}"
        if step in progress.finished_steps:
            continue
        objects = await agent.client.fetch_all(
            f"act_{agent.account.id}/{edge}",
            {
                "fields": list(OBJECT_FIELDS[kind]),
                "filtering": [{"field": "effective_status", "operator": "IN", "value": ALL_STATUSES[kind]}],
            },
        )
        records = [object_record(kind, obj) for obj in objects]
        async with pg.acquire() as conn, conn.transaction():
            await queries.upsert_objects(conn, kind=kind, records=records)
            if kind == "campaign":
                # the campaign list's stored rows, for the campaigns just written (the same transaction)
                await refresh_campaign_metrics(conn, account_id=agent.account.id)
        progress.objects += len(records)
        progress.done = (index + 1) / len(EDGES)
        await _step_done(ctx, progress, step)
        await _report(ctx, agent, progress)
    await mark_structure_synced(pg, account_id=agent.account.id)


async def _insights(ctx: dict[str, Any], agent: FacebookAdsAgent, progress: Progress, windows: list[Window]) -> None:
    pg = ctx["pg"]
    steps = insights_steps(windows)
    # the account's rule, checked again inside each step's transaction (the setting may change meanwhile)
    rule = rule_for(await conversion_action_types(pg, account_id=agent.account.id))
    for index, (level, window) in enumerate(steps):
        step = f"insights:{level}:{window.since}:{window.until}"
        if step in progress.finished_steps:
            continue
        # the step's report runs outlive a throttle: the retry pages them instead of asking again
        job_id = ctx.get("job_id")
        runs = StepReportRuns(ctx["app_redis"], job_id, step) if job_id else None
        rows = await _insights_rows(agent, level, window, runs)
        records = insight_records(level, rows, rule)
        async with pg.acquire() as conn, conn.transaction():
            types = await queries.conversion_action_types_for_ingest(conn, account_id=agent.account.id)
            if rule.action_types != (tuple(types) if types else None):
                # the account's setting changed (and its stored rows were recounted) since the records were made
                rule = rule_for(types)
                records = insight_records(level, rows, rule)
            await queries.upsert_insights(
                conn, level=level, account_id=agent.account.id, since=window.since, until=window.until, records=records
            )
            if level == "campaign":
                # the campaign list's stored rows, from the insights just written (the same transaction)
                await refresh_campaign_metrics(conn, account_id=agent.account.id)
        progress.rows += len(records)
        progress.done = (index + 1) / len(steps)
        await _step_done(ctx, progress, step)
        if runs is not None:
            await runs.clear()
        await _report(ctx, agent, progress)
    await mark_insights_synced(pg, account_id=agent.account.id)


async def _report(ctx: dict[str, Any], agent: FacebookAdsAgent, progress: Progress) -> None:
    progress.calls = agent.client.calls - progress.extra["calls_at_start"]
    await queries.record_progress(
        ctx["pg"],
        run_id=progress.run_id,
        progress=progress.done,
        rows_written=progress.rows,
        objects_written=progress.objects,
        graph_calls=progress.calls,
    )
    lock: SyncLock = progress.extra["lock"]
    if not await lock.renew():
        raise SyncBusy("lost the account's sync lease")


Body = Callable[[dict[str, Any], FacebookAdsAgent, Progress], Awaitable[None]]


async def run_sync(
    ctx: dict[str, Any], account_id: str, *, kind: str, body: Body, since: Any = None, until: Any = None
) -> dict[str, Any]:
    """The envelope every sync shares: lease, run record, agent, error policy."""
    settings = ctx["settings"]
    # named after the job: the same job redelivered after its worker died takes the lease back at once
    lock = SyncLock(ctx["app_redis"], account_id, lease_seconds=settings.sync_lock_seconds, holder=ctx.get("job_id"))
    if not await lock.acquire():
        attempt = int(ctx.get("job_try", 1))
        wait = min(
            BUSY_WAIT_MAX_SECONDS, settings.sync_retry_base_seconds * 2 ** min(attempt - 1, BUSY_WAIT_MAX_DOUBLINGS)
        )
        log.info("%s sync of %s deferred %.0f s: another sync holds the account", kind, account_id, wait)
        raise Retry(defer=wait)
    try:
        async with lock.kept_alive():
            return await _run_locked(ctx, account_id, lock, kind=kind, body=body, since=since, until=until)
    except LeaseLost:
        log.warning("%s sync of %s stopped: its lease on the account was lost; rescheduled", kind, account_id)
        raise Retry(defer=3 * settings.sync_retry_base_seconds) from None
    finally:
        await lock.release()


async def _run_locked(
    ctx: dict[str, Any], account_id: str, lock: SyncLock, *, kind: str, body: Body, since: Any, until: Any
) -> dict[str, Any]:
    pg, settings = ctx["pg"], ctx["settings"]
    run_id: int | None = None
    started = time.monotonic()
    try:
        await queries.abandon_running(pg, account_id=account_id)
        run_id = await queries.start_run(
            pg, account_id=account_id, kind=kind, job_id=ctx.get("job_id"), since=since, until=until
        )
        agent = await ctx["agents"].get(account_id)
        # a cached agent learns what other processes saw of the account's limits since it was created
        await agent.client.load_shared_pacing()
        progress = Progress(
            run_id=run_id,
            finished_steps=await _finished_steps(ctx),
            extra={"calls_at_start": agent.client.calls, "lock": lock},
        )
        await body(ctx, agent, progress)
        await queries.finish_run(pg, run_id=run_id, status="succeeded")
        if kind in ("insights", "backfill"):
            await _after_insights(ctx, account_id)
        return {
            "run_id": run_id,
            "status": "succeeded",
            "rows": progress.rows,
            "objects": progress.objects,
            "graph_calls": progress.calls,
            "seconds": round(time.monotonic() - started, 3),
        }
    except CircuitOpen as exc:
        await _finish(pg, run_id, "rescheduled", "circuit_open", str(exc))
        raise Retry(defer=exc.retry_after + 1) from None
    except GraphError as exc:
        if exc.kind is ErrorKind.THROTTLE:
            await _finish(pg, run_id, "rescheduled", exc.kind.value, str(exc))
            raise Retry(defer=max(settings.sync_retry_base_seconds / 2, exc.retry_after or 60.0)) from None
        if exc.kind is ErrorKind.TRANSIENT:
            await _finish(pg, run_id, "rescheduled", exc.kind.value, str(exc))
            attempt = int(ctx.get("job_try", 1))
            step = RETRY_LADDER[min(attempt - 1, len(RETRY_LADDER) - 1)]
            raise Retry(defer=step * settings.sync_retry_base_seconds) from None
        if exc.kind is ErrorKind.AUTH:
            ctx["agents"].invalidate(account_id)
            await mark_token(pg, account_id=account_id, status="invalid", error=str(exc)[:500])
        await _finish(pg, run_id, "failed", exc.kind.value, str(exc))
        await notify_sync_failed(ctx, account_id, run_id, exc.kind.value, str(exc), kind=kind)
        return {"run_id": run_id, "status": "failed", "error_kind": exc.kind.value, "error": str(exc)}
    except SyncBusy as exc:
        await _finish(pg, run_id, "rescheduled", "lease_lost", str(exc))
        raise Retry(defer=3 * settings.sync_retry_base_seconds) from None
    except asyncio.CancelledError:
        if lock.lost:  # stopped by the lease keeper (see SyncLock.kept_alive), not by the worker
            await _finish_if_possible(pg, run_id, "rescheduled", "lease_lost", "the account's sync lease was lost")
        raise
    except Exception as exc:
        if (component := outage_of(exc)) is not None:
            # not the sync's fault: the worker retries the job once the dependency is back; no alert
            await _finish_if_possible(pg, run_id, "rescheduled", f"{component}_unavailable", str(exc))
            raise
        await _finish(pg, run_id, "failed", type(exc).__name__, str(exc)[:500])
        await notify_sync_failed(ctx, account_id, run_id, type(exc).__name__, str(exc), kind=kind)
        raise


async def _after_insights(ctx: dict[str, Any], account_id: str) -> None:
    """Fresh insights feed the processing jobs: suggestions and alerts (each deduplicated per account and hour)."""
    slot = _slot(60)
    queue = ctx["redis"]
    await queue.enqueue_job("generate_suggestions", account_id, _job_id=f"generate_suggestions:{account_id}:{slot}")
    await queue.enqueue_job("check_alerts", account_id, _job_id=f"check_alerts:{account_id}:{slot}")


async def _finish(pg: Any, run_id: int | None, status: str, error_kind: str, error: str) -> None:
    if run_id is not None:
        await queries.finish_run(pg, run_id=run_id, status=status, error_kind=error_kind, error=error[:1000])


async def _finish_if_possible(pg: Any, run_id: int | None, status: str, error_kind: str, error: str) -> None:
    """Record the run's end if the database answers; when it is the database that is down, the next try marks this
    run abandoned instead."""
    try:
        await _finish(pg, run_id, status, error_kind, error)
    except Exception as exc:
        if outage_of(exc) is None:
            raise


async def _today(ctx: dict[str, Any], account_id: str) -> Any:
    account = await account_by_id(ctx["pg"], account_id=account_id)
    return account_today(account.timezone_name if account else "UTC")


async def sync_structure(ctx: dict[str, Any], account_id: str) -> dict[str, Any]:
    """Campaigns, ad sets and ads of every status, upserted."""
    return await run_sync(ctx, account_id, kind="structure", body=_structure)


async def sync_insights(ctx: dict[str, Any], account_id: str, mode: str = "lookback") -> dict[str, Any]:
    """Daily insights at every level: `recent` = yesterday and today, `lookback` = the restatement window."""
    today = await _today(ctx, account_id)
    if mode == "recent":
        window = recent_window(today)
    else:
        window = lookback_window(today, ctx["settings"].insights_lookback_days)

    async def body(ctx: dict[str, Any], agent: FacebookAdsAgent, progress: Progress) -> None:
        await _insights(ctx, agent, progress, [window])

    return await run_sync(ctx, account_id, kind="insights", body=body, since=window.since, until=window.until)


async def backfill_insights(ctx: dict[str, Any], account_id: str, days: int) -> dict[str, Any]:
    """`days` of history, one report per level (split by the client if Meta cannot produce it); progress is
    visible in sync_runs as it goes."""
    today = await _today(ctx, account_id)
    chunks = backfill_chunks(today, days)

    async def body(ctx: dict[str, Any], agent: FacebookAdsAgent, progress: Progress) -> None:
        await _insights(ctx, agent, progress, chunks)

    return await run_sync(ctx, account_id, kind="backfill", body=body, since=chunks[-1].since, until=chunks[0].until)


async def _enqueue_for_all(ctx: dict[str, Any], function: str, slot: str, *args: Any) -> int:
    queued = 0
    for account_id in await account_ids_with_valid_tokens(ctx["pg"]):
        # the job id names the schedule slot, so a cron firing on several workers queues each sync once
        job = await ctx["redis"].enqueue_job(function, account_id, *args, _job_id=f"{function}:{account_id}:{slot}")
        queued += job is not None
    return queued


def _slot(minutes: int) -> str:
    return str(int(time.time() // (minutes * 60)))


async def schedule_structure_syncs(ctx: dict[str, Any]) -> dict[str, int]:
    return {"queued": await _enqueue_for_all(ctx, "sync_structure", _slot(ctx["settings"].structure_sync_minutes))}


async def schedule_recent_insights(ctx: dict[str, Any]) -> dict[str, int]:
    return {"queued": await _enqueue_for_all(ctx, "sync_insights", _slot(60), "recent")}


async def schedule_lookback_insights(ctx: dict[str, Any]) -> dict[str, int]:
    return {"queued": await _enqueue_for_all(ctx, "sync_insights", _slot(24 * 60), "lookback")}

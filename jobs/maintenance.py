"""Housekeeping jobs: the worker heartbeat the status page reads, the campaign list's stored rows, and planned
actions nobody will finish."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from adsvc.automation.executor import abandon_stale_actions
from adsvc.campaigns.queries import accounts_with_stale_campaign_metrics, refresh_campaign_metrics
from adsvc.status.workers import WorkerBeat, record_heartbeat


async def heartbeat(ctx: dict[str, Any]) -> dict[str, Any]:
    """Record that this worker is alive; the status page lists workers whose beat is recent."""
    beat = WorkerBeat(
        worker_id=ctx["worker_id"],
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=ctx["started_at"],
        beat_at=time.time(),
    )
    await record_heartbeat(ctx["app_redis"], beat)
    return {"worker_id": beat.worker_id, "beat_at": beat.beat_at}


async def sweep_stale_actions(ctx: dict[str, Any]) -> dict[str, Any]:
    abandoned = await abandon_stale_actions(ctx["pg"])
    return {"abandoned": [action.id for action in abandoned]}


async def refresh_stale_campaign_metrics(ctx: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the campaign list's stored rows of accounts whose day has begun (or whose campaigns changed since a
    sync), so the list reads them instead of summing insights per request. Until then it computes them live."""
    pg = ctx["pg"]
    accounts = await accounts_with_stale_campaign_metrics(pg)
    for account_id in accounts:
        async with pg.acquire() as conn, conn.transaction():
            await refresh_campaign_metrics(conn, account_id=account_id)
    return {"accounts": len(accounts)}

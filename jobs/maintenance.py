"""Housekeeping jobs: the campaign list's stored rows, and planned actions nobody will finish. (The worker's
heartbeat is written by the worker itself, see jobs/runtime.py: a cron job would wait behind long syncs.)"""

from __future__ import annotations

from typing import Any

from adsvc.automation.executor import abandon_stale_actions
from adsvc.campaigns.queries import accounts_with_stale_campaign_metrics, refresh_campaign_metrics


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

"""Suggestion jobs: after an insights sync, turn one account's stored metrics into its open suggestions.

Safe to run twice: the same stored data gives the same drafts, and writing the same drafts changes no row.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from adsvc.collection.plan import account_today
from adsvc.suggestions import queries
from adsvc.suggestions.engine import KINDS, Thresholds, suggest, suggestion_period

log = logging.getLogger("adsvc.jobs")

# A dismissed (or applied) suggestion is not proposed again for the same object and kind for this long.
COOLDOWN_DAYS = 7
# An open suggestion nobody refreshes (syncs stopped) stops being offered after this long.
TTL_DAYS = 3


async def generate_suggestions(ctx: dict[str, Any], account_id: str) -> dict[str, Any]:
    started = time.monotonic()
    pg = ctx["pg"]
    account = await queries.account_for_suggestions(pg, account_id=account_id)
    if account is None:
        return {"account_id": account_id, "skipped": "no such account"}
    since, until = suggestion_period(account_today(account.timezone_name))
    campaigns = await queries.campaign_performance(pg, account_id=account.id, since=since, until=until)
    drafts = suggest(
        account_id=account.id, currency=account.currency, campaigns=campaigns, since=since, until=until,
        thresholds=Thresholds(),
    )  # fmt: skip
    async with pg.acquire() as conn:
        counts = await queries.store_suggestions(
            conn, account_id=account.id, drafts=drafts, kinds=KINDS, cooldown_days=COOLDOWN_DAYS, ttl_days=TTL_DAYS
        )
    result = {
        "account_id": account.id,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "campaigns": len(campaigns),
        "drafts": len(drafts),
        "inserted": counts.inserted,
        "refreshed": counts.refreshed,
        "unchanged": counts.unchanged,
        "suppressed": counts.suppressed,
        "expired": counts.expired,
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("suggestions generated", extra={"result": result})
    return result

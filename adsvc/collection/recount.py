"""Recount an account's stored insights by its conversion rule, from their stored actions: one unit of work.

The rule itself is adsvc.collection.conversions, the same one the ingest applies (records.insight_records), so a
recounted row equals what a fresh sync of the same answer would store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from adsvc.campaigns.queries import refresh_campaign_metrics
from adsvc.collection import queries
from adsvc.collection.conversions import ConversionRule


def _values(stored: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: str(value) for key, value in (stored or {}).items()}


def _recounted(rows: list[asyncpg.Record], rule: ConversionRule) -> list[tuple[str, str, date, str, str]]:
    """The rows the rule counts differently from what is stored, with their new conversions and value."""
    records = []
    for row in rows:
        conversions = rule.total(_values(row["actions"]))
        value = rule.total(_values(row["action_values"]))
        if Decimal(conversions) != row["conversions"] or Decimal(value) != row["conversion_value"]:
            records.append((row["level"], row["object_id"], row["date"], conversions, value))
    return records


async def recount_conversions(
    conn: asyncpg.Connection, *, account_id: str, rule: ConversionRule, chunk: int = 5000
) -> int:
    """Rewrite conversions and conversion_value of every stored row of the account that the rule counts
    differently, then the campaign list's stored rows. Must run inside a transaction (the caller's, which also
    changed the setting, so nobody sees the new setting with the old numbers). Returns the rows changed."""
    staged = 0
    async for rows in queries.stored_actions(conn, account_id=account_id, chunk=chunk):
        # a long history is a lot of Python work: in a thread, chunk by chunk, so the event loop keeps serving
        records = await asyncio.to_thread(_recounted, rows, rule)
        if records:
            await queries.stage_recounted(conn, records=records)
            staged += len(records)
    if not staged:
        return 0
    changed = await queries.apply_recounted(conn, account_id=account_id)
    if changed:
        # the triggers of migration 0013 dropped the changed campaigns' list rows: store them again
        await refresh_campaign_metrics(conn, account_id=account_id)
    return changed

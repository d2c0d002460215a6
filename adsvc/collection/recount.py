"""Recount an account's stored insights by its conversion rule, from their stored actions: one unit of work.

The rule itself is adsvc.collection.conversions, the same one the ingest applies (records.insight_records), so a
recounted row equals what a fresh sync of the same answer would store.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg

from adsvc.campaigns.queries import refresh_campaign_metrics
from adsvc.collection import queries
from adsvc.collection.conversions import ConversionRule


def _values(stored: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: str(value) for key, value in (stored or {}).items()}


async def recount_conversions(conn: asyncpg.Connection, *, account_id: str, rule: ConversionRule) -> int:
    """Rewrite conversions and conversion_value of every stored row of the account that the rule counts
    differently, then the campaign list's stored rows. Must run inside a transaction (the caller's, which also
    changed the setting, so nobody sees the new setting with the old numbers). Returns the rows changed."""
    rows = await queries.stored_actions(conn, account_id=account_id)
    records = []
    for row in rows:
        conversions = rule.total(_values(row["actions"]))
        value = rule.total(_values(row["action_values"]))
        if Decimal(conversions) == row["conversions"] and Decimal(value) == row["conversion_value"]:
            continue
        records.append((row["level"], row["object_id"], row["date"], conversions, value))
    changed = await queries.rewrite_conversions(conn, account_id=account_id, records=records)
    if changed:
        # the triggers of migration 0013 dropped the changed campaigns' list rows: store them again
        await refresh_campaign_metrics(conn, account_id=account_id)
    return changed

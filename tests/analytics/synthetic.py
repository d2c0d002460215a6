"""Synthetic accounts and insights written straight to SQL, for numbers a test knows exactly, and ground-truth sums
of the sandbox for the synced ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
from accounts.helpers import insert_account


@dataclass(frozen=True)
class Day:
    date: date
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal = Decimal(0)
    conversion_value: Decimal = Decimal(0)


async def insert_campaign(db: asyncpg.Connection, *, account_id: str, campaign_id: str, status: str = "ACTIVE") -> None:
    await db.execute(
        "insert into campaigns (id, account_id, name, status, effective_status) values ($1, $2, $3, $4, $4)",
        campaign_id, account_id, f"Synthetic {campaign_id}", status,
    )  # fmt: skip


async def insert_days(
    db: asyncpg.Connection, *, account_id: str, level: str, object_id: str, days: Iterable[Day],
    campaign_id: str | None = None,
) -> None:  # fmt: skip
    await db.executemany(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, impressions, clicks,
               inline_link_clicks, reach, frequency, spend, conversions, conversion_value, actions, action_values)
           values ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14)""",
        [
            (level, object_id, day.date, account_id, campaign_id, day.impressions, day.clicks,
             day.impressions // 2, Decimal(2) if day.impressions else None, day.spend, day.conversions,
             day.conversion_value, {"purchase": str(day.conversions)}, {"purchase": str(day.conversion_value)})
            for day in days
        ],
    )  # fmt: skip


async def synthetic_account(db: asyncpg.Connection, *, user_id: int, currency: str, role: str = "owner") -> str:
    return await insert_account(db, user_id=user_id, currency=currency, role=role)


# ---- sandbox ground truth -------------------------------------------------------------------------------------------


def sums(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sums of sandbox ground-truth rows in the shape expect_metrics reads."""
    return {
        "spend": sum((row["spend"] for row in rows), Decimal(0)),
        "impressions": sum(row["impressions"] for row in rows),
        "clicks": sum(row["clicks"] for row in rows),
        "inline_link_clicks": sum(row["inline_link_clicks"] for row in rows),
        "conversions": sum((row["conversions"] for row in rows), Decimal(0)),
        "conversion_value": sum((row["conversion_value"] for row in rows), Decimal(0)),
    }


def by_campaign(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["campaign_id"], []).append(row)
    return {campaign_id: sums(campaign_rows) for campaign_id, campaign_rows in grouped.items()}

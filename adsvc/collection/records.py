"""Graph API objects and insight rows as the tuples the COPY ingest writes. No I/O.

Numbers stay the strings Meta sends; PostgreSQL casts them to numeric/bigint in the upsert, which is exact and
much cheaper than building Decimals in Python for hundreds of thousands of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from adsvc.collection.conversions import DEFAULT_RULE, ConversionRule

LEVELS = ("account", "campaign", "adset", "ad")

INSIGHT_COLUMNS = (
    "level", "object_id", "date", "account_id", "campaign_id", "adset_id", "ad_id", "impressions", "clicks",
    "inline_link_clicks", "reach", "frequency", "spend", "actions", "action_values", "conversions", "conversion_value",
)  # fmt: skip

INSIGHT_FIELDS = (
    "account_id", "campaign_id", "adset_id", "ad_id", "campaign_name", "adset_name", "ad_name", "date_start",
    "date_stop", "impressions", "clicks", "inline_link_clicks", "reach", "frequency", "spend", "actions",
    "action_values",
)  # fmt: skip

CAMPAIGN_FIELDS = (
    "id", "account_id", "name", "status", "effective_status", "objective", "buying_type", "bid_strategy",
    "daily_budget", "lifetime_budget", "start_time", "stop_time", "created_time", "updated_time",
)  # fmt: skip
ADSET_FIELDS = (
    "id", "account_id", "campaign_id", "name", "status", "effective_status", "optimization_goal", "billing_event",
    "bid_strategy", "daily_budget", "lifetime_budget", "start_time", "end_time", "created_time", "updated_time",
)  # fmt: skip
AD_FIELDS = (
    "id", "account_id", "campaign_id", "adset_id", "name", "status", "effective_status", "created_time",
    "updated_time",
)  # fmt: skip

OBJECT_FIELDS = {"campaign": CAMPAIGN_FIELDS, "adset": ADSET_FIELDS, "ad": AD_FIELDS}

_ID_FIELD = {"account": "account_id", "campaign": "campaign_id", "adset": "adset_id", "ad": "ad_id"}


def account_number(account_id: str) -> str:
    """`act_123` and `123` both name account 123; we store the number."""
    return account_id.removeprefix("act_")


def _actions(actions: Sequence[Mapping[str, Any]] | None, rule: ConversionRule) -> tuple[str, str]:
    """The action list as a JSON object text, and its conversions by the account's rule (computed here, in the
    worker, because PostgreSQL parsing the JSON again per row was the costliest part of the upsert)."""
    if not actions:
        return "{}", "0"
    values = {item["action_type"]: item.get("value", "0") for item in actions}
    return orjson.dumps(values).decode(), rule.total(values)


def insight_record(level: str, row: Mapping[str, Any], rule: ConversionRule = DEFAULT_RULE) -> tuple[str | None, ...]:
    """One API insight row (time_increment=1) as text fields in INSIGHT_COLUMNS order; conversions and their value
    counted by `rule` (adsvc.collection.conversions)."""
    get = row.get
    actions, conversions = _actions(get("actions"), rule)
    action_values, conversion_value = _actions(get("action_values"), rule)
    return (
        level,
        row[_ID_FIELD[level]],
        row["date_start"],
        account_number(row["account_id"]),
        get("campaign_id"),
        get("adset_id"),
        get("ad_id"),
        get("impressions") or "0",
        get("clicks") or "0",
        get("inline_link_clicks") or "0",
        get("reach"),
        get("frequency"),
        get("spend") or "0",
        actions,
        action_values,
        conversions,
        conversion_value,
    )


def insight_records(
    level: str, rows: Iterable[Mapping[str, Any]], rule: ConversionRule = DEFAULT_RULE
) -> list[tuple[str | None, ...]]:
    if level not in _ID_FIELD:
        raise ValueError(f"unknown insights level {level!r}")
    return [insight_record(level, row, rule) for row in rows]


def object_record(kind: str, obj: Mapping[str, Any]) -> tuple[str | None, ...]:
    """A campaign, ad set or ad as text fields in OBJECT_FIELDS[kind] order (account id without `act_`)."""
    values: list[str | None] = []
    for name in OBJECT_FIELDS[kind]:
        value = obj.get(name)
        if name == "account_id" and value is not None:
            value = account_number(str(value))
        values.append(None if value is None or value == "" else str(value))
    return tuple(values)

"""The lists of campaigns, ad sets and ads: their sort keys and opaque keyset cursors. No I/O.

A cursor is base64url (no padding) of `[sort, order, value, id]`: the last row's sort value as PostgreSQL printed it
and its id. It is only valid with the sort and order it was made for.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from adsvc.errors import ValidationFailed

# The 7-day metrics a list sorts by; the ratios (CTR, CPC, CPM, CPA, ROAS) are undefined with a zero denominator
# and such rows come last in both orders (ties, defined or not, are broken by id in the same direction).
ADDITIVE_METRICS = ("spend", "impressions", "clicks", "conversions", "conversion_value")
RATIO_METRICS = ("ctr", "cpc", "cpm", "cpa", "roas")
FIELD_SORTS = ("name", "created_time", "updated_time", "id")
# spend_7d: the campaigns list's older name for spend, kept for its callers
SORT_KEYS = (*FIELD_SORTS, "spend_7d", *ADDITIVE_METRICS, *RATIO_METRICS)
SORT_DESCRIPTION = (
    "name, created_time, updated_time (a missing time sorts as the oldest), id, or a last-7-day metric: spend "
    "(spend_7d is the same), impressions, clicks, conversions, conversion_value, ctr, cpc, cpm, cpa, roas. Ratios "
    "with a zero denominator (CPA without conversions, ROAS without spend, ...) are null and come last in both "
    "orders; ties are broken by id in the same order"
)


@dataclass(frozen=True, slots=True)
class After:
    """Where the next page starts: the last row's sort value (as text) and id."""

    value: str
    id: str


def metric_of(sort: str) -> str | None:
    """The metric a sort key orders by, or None for an object field."""
    if sort == "spend_7d":
        return "spend"
    return sort if sort in ADDITIVE_METRICS or sort in RATIO_METRICS else None


def encode_cursor(sort: str, order: str, after: After) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, order, after.value, after.id])).decode().rstrip("=")


def malformed_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor is not valid", details=[{"loc": ["query", "cursor"], "msg": "malformed", "type": "cursor"}]
    )


def decode_cursor(cursor: str, sort: str, order: str) -> After:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        cursor_sort, cursor_order, value, last_id = decoded
        if not (isinstance(value, str) and isinstance(last_id, str)):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise malformed_cursor() from None
    if (cursor_sort, cursor_order) != (sort, order):
        raise ValidationFailed(
            "cursor belongs to another sort order",
            details=[{"loc": ["query", "cursor"], "msg": "sort or order changed", "type": "cursor"}],
        )
    return After(value=value, id=last_id)


def csv_filter(values: str | None) -> list[str] | None:
    """A comma-separated status filter as upper-case values; None when not given."""
    if not values:
        return None
    return [value.strip().upper() for value in values.split(",") if value.strip()]

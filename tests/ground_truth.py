"""The sandbox's ground truth against what PostgreSQL holds: every level, every day, every metric."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

LEVELS = ("account", "campaign", "adset", "ad")


def _expected_key(row: dict[str, Any], level: str) -> tuple[str, date]:
    object_id = str(row[f"{level}_id"] if level != "account" else row["account_id"]).removeprefix("act_")
    return object_id, row["date_start"]


async def assert_matches_ground_truth(db, sandbox_state, account_id: str, since: date, until: date) -> int:
    compared = 0
    for level in LEVELS:
        truth = sandbox_state.data.ground_truth_insights(account_id, level, since, until)
        stored = await db.fetch(
            """select object_id, date, impressions, clicks, inline_link_clicks, reach, spend, actions, conversions,
                      conversion_value
               from insights_daily where account_id = $1 and level = $2 and date between $3 and $4""",
            account_id.removeprefix("act_"),
            level,
            since,
            until,
        )
        by_key = {(row["object_id"], row["date"]): row for row in stored}
        assert len(by_key) == len(truth), (level, len(by_key), len(truth))
        for expected in truth:
            row = by_key[_expected_key(expected, level)]
            assert row["impressions"] == expected["impressions"], (level, expected)
            assert row["clicks"] == expected["clicks"]
            assert row["inline_link_clicks"] == expected["inline_link_clicks"]
            assert row["reach"] == expected["reach"]
            assert row["spend"] == expected["spend"]
            actions = {key: Decimal(value) for key, value in row["actions"].items()}
            assert actions == {key: Decimal(value) for key, value in expected["actions"].items()}, (level, expected)
            # every purchase and every lead, once, whichever action types the account reports them under
            assert row["conversions"] == expected["conversions"], (level, expected)
            assert row["conversion_value"] == expected["conversion_value"], (level, expected)
            compared += 1
    return compared

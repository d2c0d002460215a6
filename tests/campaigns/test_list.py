"""GET /api/v1/campaigns: filters, sorting with keyset pagination, cursors, and last-7-day metrics.

Most tests write synthetic accounts straight to SQL (names, statuses, ties and nulls chosen to make mistakes show,
timezones far from UTC so "today" is the account's, not the server's); one checks synced sandbox campaigns.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from accounts.helpers import (
    Caller,
    connect_ok,
    expect_metrics,
    insert_account,
    new_caller,
    sandbox_accounts,
    sandbox_state,
    sums_from_insights,
)

from adsvc.collection.plan import account_today

SPECIAL = [
    # (name, status, effective_status)
    ("Promo 100% Off", "ACTIVE", "ACTIVE"),
    ("Promo 100x Off", "PAUSED", "PAUSED"),
    ("Sale_Summer", "ACTIVE", "WITH_ISSUES"),
    ("SaleXSummer", "ARCHIVED", "ARCHIVED"),
    ("MiXeD Case Name", "ACTIVE", "CAMPAIGN_PAUSED"),
    ("back\\slash", "DELETED", "DELETED"),
]
STATUS_CYCLE = ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED"]
BASE_TIME = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


@dataclass
class Seeded:
    caller: Caller
    first: str  # account in Pacific/Kiritimati (UTC+14)
    second: str  # account in Etc/GMT+12 (UTC-12)
    campaigns: list[dict[str, Any]]

    def ids(self, **match: Any) -> set[str]:
        return {c["id"] for c in self.campaigns if all(c[key] == value for key, value in match.items())}


async def seed(client, db, settings) -> Seeded:
    """Two synthetic accounts of one fresh user: 20 + 4 campaigns with tied names, tied and null update times,
    tied and zero spends, and insights on the nine days around the 7-day window (today-8 .. today)."""
    caller = await new_caller(client, db, settings)
    first = await insert_account(db, user_id=caller.user.id, timezone_name="Pacific/Kiritimati")
    second = await insert_account(db, user_id=caller.user.id, timezone_name="Etc/GMT+12")
    rows: list[dict[str, Any]] = []
    for k in range(20):
        if k < len(SPECIAL):
            name, status, effective = SPECIAL[k]
        else:  # four names shared by several campaigns: ties the id must break
            name, status, effective = f"Bulk {k % 4}", STATUS_CYCLE[k % 4], STATUS_CYCLE[k % 4]
        updated = None if k % 5 == 0 else BASE_TIME + timedelta(hours=k % 3)
        rows.append({"id": f"{first}{k:03d}", "account_id": first, "name": name, "status": status,
                     "effective_status": effective, "updated_time": updated, "k": k})  # fmt: skip
    for k in range(4):
        rows.append({"id": f"{second}{k:03d}", "account_id": second, "name": f"Other {k}", "status": "ACTIVE",
                     "effective_status": "ACTIVE", "updated_time": BASE_TIME, "k": 20 + k})  # fmt: skip
    await db.executemany(
        """insert into campaigns (id, account_id, name, status, effective_status, updated_time, created_time)
           values ($1, $2, $3, $4, $5, $6, $6)""",
        [(r["id"], r["account_id"], r["name"], r["status"], r["effective_status"], r["updated_time"]) for r in rows],
    )
    insights = []
    for row in rows:
        k = row["k"]
        if k % 4 == 0:
            continue  # no delivery at all: spend_7d 0 and every ratio null
        today = account_today("Pacific/Kiritimati" if row["account_id"] == first else "Etc/GMT+12")
        for offset in range(9):  # powers of two: a day too many or too few changes every sum
            purchases = (k + offset) % 3
            insights.append((
                "campaign", row["id"], today - timedelta(days=offset), row["account_id"], row["id"],
                1000 * (offset + 1), k + offset, k, 500 + offset, Decimal(k % 3 + 1) * 2**offset / 100,
                Decimal(purchases), Decimal(purchases) * Decimal("12.50"),
                {"purchase": str(purchases), "link_click": str(k)},
                {"purchase": str(Decimal(purchases) * Decimal("12.50"))},
            ))  # fmt: skip
    await db.executemany(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, impressions, clicks,
               inline_link_clicks, reach, spend, conversions, conversion_value, actions, action_values)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        insights,
    )
    return Seeded(caller=caller, first=first, second=second, campaigns=rows)


async def list_ids(client, caller: Caller, **params: Any) -> list[str]:
    response = await client.get("/api/v1/campaigns", params={"limit": "200", **params}, headers=caller.headers)
    assert response.status == 200, await response.text()
    return [row["id"] for row in (await response.json())["data"]]


async def test_list_filters_by_account_with_or_without_act_prefix(client, db, settings):
    seeded = await seed(client, db, settings)
    assert set(await list_ids(client, seeded.caller)) == seeded.ids()
    for account in (seeded.first, seeded.second):
        assert set(await list_ids(client, seeded.caller, account_id=account)) == seeded.ids(account_id=account)
        assert set(await list_ids(client, seeded.caller, account_id=f"act_{account}")) == seeded.ids(account_id=account)


async def test_list_filters_by_status_and_effective_status_comma_lists(client, db, settings):
    seeded = await seed(client, db, settings)
    caller, first = seeded.caller, seeded.first

    async def ids(**params: str) -> set[str]:
        return set(await list_ids(client, caller, account_id=first, **params))

    active = seeded.ids(account_id=first, status="ACTIVE")
    paused = seeded.ids(account_id=first, status="PAUSED")
    assert active and paused
    assert await ids(status="ACTIVE") == active
    assert await ids(status="ACTIVE,PAUSED") == active | paused
    assert await ids(status=" active , paused ") == active | paused  # any case, spaces around the commas
    issues = seeded.ids(account_id=first, effective_status="WITH_ISSUES")
    archived = seeded.ids(account_id=first, effective_status="ARCHIVED")
    assert await ids(effective_status="WITH_ISSUES,ARCHIVED") == issues | archived
    # both filters intersect: ACTIVE campaigns whose effective status is one of the two
    both = await ids(status="ACTIVE", effective_status="WITH_ISSUES,CAMPAIGN_PAUSED")
    assert both == seeded.ids(name="Sale_Summer") | seeded.ids(name="MiXeD Case Name")
    # an unknown status is refused rather than matching nothing: tests/test_routing.py


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ("100%", {"Promo 100% Off"}),  # a wildcard % would also match "Promo 100x Off"
        ("%", {"Promo 100% Off"}),
        ("sale_", {"Sale_Summer"}),  # a wildcard _ would also match "SaleXSummer"
        ("_", {"Sale_Summer"}),
        ("mixed CASE", {"MiXeD Case Name"}),
        ("\\", {"back\\slash"}),
        ("promo", {"Promo 100% Off", "Promo 100x Off"}),
        ("bulk 3", {"Bulk 3"}),
    ],
)
async def test_q_matches_names_in_any_case_and_takes_percent_underscore_and_backslash_literally(
    client, db, settings, q, names
):
    seeded = await seed(client, db, settings)
    response = await client.get("/api/v1/campaigns", params={"q": q, "limit": "200"}, headers=seeded.caller.headers)
    assert response.status == 200
    assert {row["name"] for row in (await response.json())["data"]} == names


async def expected_order(db, seeded: Seeded, sort: str, order: str) -> list[str]:
    """The full order, computed here: SQL for names (the database's collation decides), Python for the rest."""
    ids = [c["id"] for c in seeded.campaigns]
    if sort == "name":
        direction = "asc" if order == "asc" else "desc"
        rows = await db.fetch(
            f"select id from campaigns where id = any($1::text[]) order by name {direction}, id {direction}", ids
        )
        return [row["id"] for row in rows]
    if sort == "updated_time":
        epoch = datetime(1970, 1, 1, tzinfo=UTC)  # a campaign Meta gave no update time sorts as the oldest
        key = {c["id"]: (c["updated_time"] or epoch, c["id"]) for c in seeded.campaigns}
    else:
        spends = await last_7d_spends(db, seeded)
        key = {c["id"]: (spends.get(c["id"], Decimal(0)), c["id"]) for c in seeded.campaigns}
    return sorted(ids, key=key.__getitem__, reverse=order == "desc")


async def last_7d_spends(db, seeded: Seeded) -> dict[str, Decimal]:
    spends = {}
    for account, tz in ((seeded.first, "Pacific/Kiritimati"), (seeded.second, "Etc/GMT+12")):
        today = account_today(tz)
        rows = await db.fetch(
            """select object_id, sum(spend) as spend from insights_daily
               where level = 'campaign' and account_id = $1 and date >= $2 and date <= $3 group by object_id""",
            account,
            today - timedelta(days=7),
            today - timedelta(days=1),
        )
        spends.update({row["object_id"]: row["spend"] for row in rows})
    return spends


@pytest.mark.parametrize(("sort", "order"), list(itertools.product(["name", "spend_7d", "updated_time"],
                                                                    ["asc", "desc"])))  # fmt: skip
async def test_keyset_pagination_visits_every_row_once_in_sort_order(client, db, settings, sort, order):
    seeded = await seed(client, db, settings)
    expected = await expected_order(db, seeded, sort, order)
    assert len(expected) == 24

    for limit in (3, 7):
        walked: list[str] = []
        params: dict[str, Any] = {"sort": sort, "order": order, "limit": limit}
        pages = 0
        while True:
            response = await client.get("/api/v1/campaigns", params=params, headers=seeded.caller.headers)
            assert response.status == 200, await response.text()
            body = await response.json()
            pages += 1
            assert len(body["data"]) <= limit
            walked.extend(row["id"] for row in body["data"])
            if body["next_cursor"] is None:
                break
            params = {**params, "cursor": body["next_cursor"]}
        assert walked == expected, (sort, order, limit)
        assert pages == -(-len(expected) // limit)


async def test_cursor_from_another_sort_or_order_is_422(client, db, settings):
    seeded = await seed(client, db, settings)
    first = await client.get("/api/v1/campaigns", params={"sort": "name", "limit": "2"}, headers=seeded.caller.headers)
    cursor = (await first.json())["next_cursor"]
    assert cursor
    for params in ({"sort": "spend_7d"}, {"sort": "name", "order": "desc"}, {"sort": "updated_time"}):
        response = await client.get("/api/v1/campaigns", params={**params, "cursor": cursor},
                                    headers=seeded.caller.headers)  # fmt: skip
        assert response.status == 422, params
        error = (await response.json())["error"]
        assert error["code"] == "validation_failed"
        assert error["details"][0]["loc"] == ["query", "cursor"]


def make_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        ("name", "not a cursor!"),
        ("name", "bm90IGpzb24"),  # base64 of "not json"
        ("name", make_cursor({"sort": "name"})),
        ("name", make_cursor(["name", "asc", "x"])),
        ("name", make_cursor(["name", "asc", 1, "x"])),
        # well-formed, but the value cannot be a value of that sort
        ("updated_time", make_cursor(["updated_time", "asc", "not a time", "1"])),
        ("spend_7d", make_cursor(["spend_7d", "asc", "lots", "1"])),
        ("created_time", make_cursor(["created_time", "asc", "2024-13-45", "1"])),
    ],
)
async def test_malformed_cursor_is_422(client, db, settings, sort, cursor):
    caller = await new_caller(client, db, settings)
    await insert_account(db, user_id=caller.user.id)
    response = await client.get("/api/v1/campaigns", params={"sort": sort, "cursor": cursor}, headers=caller.headers)
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["details"][0]["loc"][-1] == "cursor"


async def test_last_7d_are_the_seven_complete_days_before_the_accounts_today(client, db, settings):
    seeded = await seed(client, db, settings)
    response = await client.get("/api/v1/campaigns", params={"limit": "200"}, headers=seeded.caller.headers)
    rows = (await response.json())["data"]
    assert len(rows) == 24
    for row in rows:
        today = account_today("Pacific/Kiritimati" if row["account_id"] == seeded.first else "Etc/GMT+12")
        sums = await sums_from_insights(db, row["id"], today - timedelta(days=7), today - timedelta(days=1))
        expect_metrics(row["last_7d"], sums)
        k = next(c["k"] for c in seeded.campaigns if c["id"] == row["id"])
        # days 1..7 before today carry 2+4+...+128 = 254 hundredths times the campaign's factor
        assert Decimal(row["last_7d"]["spend"]) == (0 if k % 4 == 0 else Decimal(k % 3 + 1) * Decimal("2.54"))
        detail = await client.get(f"/api/v1/campaigns/{row['id']}", headers=seeded.caller.headers)
        assert (await detail.json())["last_7d"] == row["last_7d"]


async def test_last_7d_of_synced_campaigns_equal_sums_of_stored_days_and_the_sandbox(
    client, db, settings, graph_sandbox, ensure_synced
):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)
    today = account_today(account.timezone_name)
    since, until = today - timedelta(days=7), today - timedelta(days=1)
    data = sandbox_state(graph_sandbox).data
    ground = data.ground_truth_insights(account.id, "campaign", since, until)

    response = await client.get("/api/v1/campaigns", params={"account_id": account.id}, headers=caller.headers)
    rows = (await response.json())["data"]
    assert {row["id"] for row in rows} == {c["id"] for c in data.objects(account.id, "campaign")}
    delivered = 0
    for row in rows:
        sums = await sums_from_insights(db, row["id"], since, until)
        expect_metrics(row["last_7d"], sums)
        mine = [g for g in ground if g["campaign_id"] == row["id"]]
        assert sums["days"] == len(mine)
        assert sums["spend"] == sum((g["spend"] for g in mine), Decimal(0))
        assert sums["impressions"] == sum(g["impressions"] for g in mine)
        delivered += bool(mine)
    assert delivered  # at least one campaign delivered in the window, so the sums were not all zero

"""The campaign list's stored entries (campaign_metrics_7d): written by the syncs, forgotten by the database whenever
what they were built from changes, used only for the account's today, rebuilt by the maintenance job; the list
answers the same bytes with or without them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from accounts.helpers import (
    connect_ok,
    expect_metrics,
    insert_account,
    new_caller,
    sandbox_accounts,
    sums_from_insights,
)

from adsvc.campaigns.queries import accounts_with_stale_campaign_metrics, refresh_campaign_metrics
from adsvc.collection.plan import account_today
from adsvc.contexts import create_pg_pool, init_connection
from jobs.maintenance import refresh_stale_campaign_metrics

TIMEZONE = "Pacific/Kiritimati"  # UTC+14: the account's today is not the server's


async def list_body(client, caller, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/campaigns", params={"limit": "200", **params}, headers=caller.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def stored(db, account_id: str) -> dict[str, asyncpg.Record]:
    rows = await db.fetch(
        "select campaign_id, as_of, spend, doc from campaign_metrics_7d where account_id = $1", account_id
    )
    return {row["campaign_id"]: row for row in rows}


async def refresh(db, account_id: str) -> None:
    async with db.transaction():
        await refresh_campaign_metrics(db, account_id=account_id)


async def seed(client, db, settings) -> tuple[Any, str, list[str]]:
    """A synthetic account with three campaigns and campaign-level insights on the nine days around the window."""
    caller = await new_caller(client, db, settings)
    account_id = await insert_account(db, user_id=caller.user.id, timezone_name=TIMEZONE)
    campaigns = [f"{account_id}{k}" for k in range(3)]
    await db.executemany(
        """insert into campaigns (id, account_id, name, status, effective_status, updated_time)
           values ($1, $2, $3, 'ACTIVE', 'ACTIVE', now())""",
        [(campaign_id, account_id, f"Stored {k}") for k, campaign_id in enumerate(campaigns)],
    )
    today = account_today(TIMEZONE)
    await db.executemany(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, impressions, clicks,
               inline_link_clicks, reach, spend, conversions, conversion_value, actions, action_values)
           values ('campaign', $1, $2, $3, $1, $4, 7, 5, 900, $5, 1, 12.5,
                   '{"purchase": "1"}', '{"purchase": "12.5"}')""",
        [(campaign_id, today - timedelta(days=offset), account_id, 1000 + offset, Decimal(2**offset) / 100)
         for campaign_id in campaigns[:2] for offset in range(9)],
    )  # fmt: skip
    return caller, account_id, campaigns


async def expect_sums(client, db, caller, account_id: str) -> dict[str, Any]:
    """Every campaign's last_7d in the list equals the sums of its stored days; returns the list's body."""
    body = await list_body(client, caller, account_id=account_id)
    today = account_today(TIMEZONE)
    for row in body["data"]:
        expect_metrics(
            row["last_7d"], await sums_from_insights(db, row["id"], today - timedelta(7), today - timedelta(1))
        )
    return body


async def test_a_sync_stores_every_campaigns_entry_for_the_accounts_today_and_the_list_answers_the_same(
    client, db, settings, graph_sandbox, ensure_synced
):
    account = sandbox_accounts(graph_sandbox)[0]
    caller = await new_caller(client, db, settings)
    await connect_ok(client, caller, account.account_id)
    await ensure_synced(account.account_id)

    number = account.account_id  # stored without the act_ prefix
    entries = await stored(db, number)
    campaigns = {row["id"] for row in await db.fetch("select id from campaigns where account_id = $1", number)}
    assert campaigns and set(entries) == campaigns
    assert {row["as_of"] for row in entries.values()} == {account_today(account.timezone_name)}
    for sort in ("name", "spend_7d"):
        from_stored = await list_body(client, caller, account_id=account.id, sort=sort)
        await db.execute("delete from campaign_metrics_7d where account_id = $1", number)
        live = await list_body(client, caller, account_id=account.id, sort=sort)
        assert from_stored == live
        assert any(Decimal(row["last_7d"]["spend"]) > 0 for row in live["data"])
        await refresh(db, number)
        assert set(await stored(db, number)) == campaigns


async def test_writes_to_what_an_entry_was_built_from_forget_it_whoever_writes(client, db, settings):
    caller, account_id, (first, second, third) = await seed(client, db, settings)
    await refresh(db, account_id)
    assert set(await stored(db, account_id)) == {first, second, third}
    before = await expect_sums(client, db, caller, account_id)

    # a campaign-level insight of the window, written straight to SQL: only that campaign's entry goes
    yesterday = account_today(TIMEZONE) - timedelta(days=1)
    await db.execute(
        "update insights_daily set spend = spend + 100 where level = 'campaign' and object_id = $1 and date = $2",
        first,
        yesterday,
    )
    assert set(await stored(db, account_id)) == {second, third}
    after = await expect_sums(client, db, caller, account_id)
    spends = [[Decimal(row["last_7d"]["spend"]) for row in body["data"]] for body in (before, after)]
    assert [now - then for then, now in zip(*spends, strict=True)] == [100, 0, 0]

    # ad-level rows are not summed by the list and leave the entries alone
    await db.execute(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, impressions, clicks,
               inline_link_clicks, spend, conversions, conversion_value, actions, action_values)
           values ('ad', $1 || '9', $2, $3, $1, 1, 1, 1, 1, 0, 0, '{}', '{}')""",
        second,
        yesterday,
        account_id,
    )
    assert set(await stored(db, account_id)) == {second, third}

    # a new row, then a deleted one
    await db.execute(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, impressions, clicks,
               inline_link_clicks, spend, conversions, conversion_value, actions, action_values)
           values ('campaign', $1, $2, $3, $1, 1, 1, 1, 3.25, 0, 0, '{}', '{}')""",
        third,
        yesterday,
        account_id,
    )
    assert set(await stored(db, account_id)) == {second}
    await refresh(db, account_id)
    await db.execute("delete from insights_daily where level = 'campaign' and object_id = $1", second)
    assert set(await stored(db, account_id)) == {first, third}
    await expect_sums(client, db, caller, account_id)

    # the campaign itself (as the automation's budget and status changes write it)
    await refresh(db, account_id)
    await db.execute("update campaigns set name = 'Renamed', daily_budget = 5000 where id = $1", third)
    assert set(await stored(db, account_id)) == {first, second}
    row = next(r for r in (await expect_sums(client, db, caller, account_id))["data"] if r["id"] == third)
    assert (row["name"], row["daily_budget"]) == ("Renamed", 5000)

    # the account's currency is in every entry
    await refresh(db, account_id)
    await db.execute("update ad_accounts set currency = 'EUR' where id = $1", account_id)
    assert await stored(db, account_id) == {}
    assert {row["currency"] for row in (await list_body(client, caller, account_id=account_id))["data"]} == {"EUR"}


async def test_an_entry_of_another_day_is_not_used_and_the_maintenance_job_rebuilds_it(client, db, settings):
    caller, account_id, _ = await seed(client, db, settings)
    await refresh(db, account_id)
    fresh = await list_body(client, caller, account_id=account_id)
    # as a day that has begun leaves them: built for yesterday (the window then was one day earlier)
    await db.execute(
        "update campaign_metrics_7d set as_of = as_of - 1, doc = '{}', spend = -1 where account_id = $1", account_id
    )
    assert await list_body(client, caller, account_id=account_id) == fresh
    assert await list_body(client, caller, account_id=account_id, sort="spend_7d", order="desc") == {
        "data": sorted(fresh["data"], key=lambda row: (Decimal(row["last_7d"]["spend"]), row["id"]), reverse=True),
        "next_cursor": None,
    }
    assert account_id in await accounts_with_stale_campaign_metrics(db)

    pool = await create_pg_pool(settings)
    try:
        result = await refresh_stale_campaign_metrics({"pg": pool})
    finally:
        await pool.close()
    assert result["accounts"] >= 1
    assert account_id not in await accounts_with_stale_campaign_metrics(db)
    entries = await stored(db, account_id)
    assert {row["as_of"] for row in entries.values()} == {account_today(TIMEZONE)}
    assert await list_body(client, caller, account_id=account_id) == fresh


async def test_a_refresh_waits_for_a_writer_in_flight_and_a_later_writer_forgets_what_it_stored(
    client, db, settings, stack
):
    caller, account_id, (first, _, _) = await seed(client, db, settings)
    yesterday = account_today(TIMEZONE) - timedelta(days=1)
    writer = await asyncpg.connect(stack.database_url)
    refresher = await asyncpg.connect(stack.database_url)
    await init_connection(refresher)
    try:
        # a writer that has not committed yet: the refresh waits, then reads what it committed
        writing = writer.transaction()
        await writing.start()
        await writer.execute(
            "update insights_daily set spend = spend + 40 where level = 'campaign' and object_id = $1 and date = $2",
            first,
            yesterday,
        )
        refreshing = asyncio.ensure_future(refresh(refresher, account_id))
        await asyncio.sleep(0.5)
        assert not refreshing.done()
        await writing.commit()
        await asyncio.wait_for(refreshing, 10)
        today = account_today(TIMEZONE)
        sums = await sums_from_insights(db, first, today - timedelta(days=7), today - timedelta(days=1))
        entry = (await stored(db, account_id))[first]
        assert entry["spend"] == sums["spend"]
        expect_metrics(orjson.loads(entry["doc"])["last_7d"], sums)
        await expect_sums(client, db, caller, account_id)

        # a refresh that has not committed yet: a writer waits for it, then forgets what it stored
        refreshing_tx = refresher.transaction()
        await refreshing_tx.start()
        await refresh_campaign_metrics(refresher, account_id=account_id)
        written = asyncio.ensure_future(
            writer.execute(
                "update insights_daily set spend = spend + 1 where level = 'campaign' and object_id = $1 and date = $2",
                first,
                yesterday,
            )
        )
        await asyncio.sleep(0.5)
        assert not written.done()
        await refreshing_tx.commit()
        await asyncio.wait_for(written, 10)
        assert first not in await stored(db, account_id)
        await expect_sums(client, db, caller, account_id)
    finally:
        await writer.close()
        await refresher.close()

"""The COPY + upsert ingest against the real PostgreSQL: typed values, idempotence, restatement, window replace."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from adsvc.collection.queries import upsert_insights, upsert_objects
from adsvc.collection.records import insight_records, object_record


async def _account(db) -> str:
    account_id = str(uuid.uuid4().int)[:15]
    await db.execute(
        """insert into ad_accounts (id, name, currency, timezone_name, token_ciphertext, token_status)
           values ($1, 'Test', 'BRL', 'America/Sao_Paulo', '\\x00', 'invalid')""",
        account_id,
    )
    return account_id


def _row(account_id: str, ad_id: str, day: str, *, purchases: str = "2", spend: str = "14.35") -> dict:
    # Meta ids are global; prefix with the account so tests sharing the database never collide
    return {
        "account_id": account_id, "campaign_id": "c1", "adset_id": "s1", "ad_id": f"{account_id}-{ad_id}",
        "date_start": day, "date_stop": day, "impressions": "185", "clicks": "7", "inline_link_clicks": "5",
        "reach": "150", "frequency": "1.233333", "spend": spend,
        "actions": [{"action_type": "link_click", "value": "5"}, {"action_type": "purchase", "value": purchases},
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": purchases}],
        "action_values": [{"action_type": "purchase", "value": "99.90"}],
    }  # fmt: skip


async def _write(db, account_id, rows, since="2026-11-01", until="2026-11-02"):
    async with db.transaction():
        return await upsert_insights(
            db, level="ad", account_id=account_id, since=date.fromisoformat(since), until=date.fromisoformat(until),
            records=insight_records("ad", rows),
        )  # fmt: skip


async def test_rows_are_stored_typed_and_exact(db):
    account_id = await _account(db)
    written = await _write(db, account_id, [_row(f"act_{account_id}", "a1", "2026-11-01")])
    assert written == 1
    row = await db.fetchrow("select * from insights_daily where account_id = $1", account_id)
    assert row["impressions"] == 185 and row["spend"] == Decimal("14.3500") and row["date"] == date(2026, 11, 1)
    assert row["conversions"] == Decimal("2") and row["conversion_value"] == Decimal("99.90")
    assert row["actions"]["offsite_conversion.fb_pixel_purchase"] == "2"
    assert row["frequency"] == Decimal("1.233333")


async def test_rewrite_is_idempotent_and_restatement_updates(db):
    account_id = await _account(db)
    rows = [_row(account_id, "a1", "2026-11-01"), _row(account_id, "a1", "2026-11-02")]
    assert await _write(db, account_id, rows) == 2
    assert await _write(db, account_id, rows) == 0  # nothing changed, nothing rewritten
    rows[1] = _row(account_id, "a1", "2026-11-02", purchases="5")
    assert await _write(db, account_id, rows) == 1
    assert await db.fetchval(
        "select conversions from insights_daily where date = '2026-11-02' and account_id = $1", account_id,
    ) == Decimal("5")  # fmt: skip


async def test_rows_meta_no_longer_reports_in_the_window_are_removed(db):
    account_id = await _account(db)
    await _write(db, account_id, [_row(account_id, "a1", "2026-11-01"), _row(account_id, "a2", "2026-11-01"),
                                  _row(account_id, "a2", "2026-10-20")], since="2026-10-20")  # fmt: skip
    await _write(db, account_id, [_row(account_id, "a1", "2026-11-01")])
    left = await db.fetch("select object_id, date from insights_daily where account_id = $1 order by 1, 2", account_id)
    # a2 on 11-01 was inside the rewritten window and is gone; 10-20 was outside it and stays
    assert [(r["object_id"], r["date"].isoformat()) for r in left] == [
        (f"{account_id}-a1", "2026-11-01"), (f"{account_id}-a2", "2026-10-20"),
    ]  # fmt: skip


async def test_objects_upsert_with_meta_time_format(db):
    account_id = await _account(db)
    campaign = {
        "id": f"c-{account_id}", "account_id": f"act_{account_id}", "name": "Black Friday", "status": "PAUSED",
        "effective_status": "PAUSED", "objective": "OUTCOME_SALES", "daily_budget": "5000",
        "created_time": "2026-03-12T15:02:47-0700", "updated_time": "2026-03-13T10:00:00-0300",
    }  # fmt: skip
    async with db.transaction():
        assert await upsert_objects(db, kind="campaign", records=[object_record("campaign", campaign)]) == 1
    row = await db.fetchrow("select * from campaigns where id = $1", campaign["id"])
    assert row["daily_budget"] == 5000 and row["account_id"] == account_id
    assert row["created_time"].isoformat() == "2026-03-12T22:02:47+00:00"
    campaign["status"] = "ACTIVE"
    async with db.transaction():
        await upsert_objects(db, kind="campaign", records=[object_record("campaign", campaign)])
    assert await db.fetchval("select status from campaigns where id = $1", campaign["id"]) == "ACTIVE"

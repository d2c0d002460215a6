"""The recount against the real PostgreSQL: every stored row of an account counted again by a rule, chunk by chunk,
the rows it counts the same left alone, other accounts untouched, and the campaign list's rows stored again."""

from __future__ import annotations

from decimal import Decimal

from accounts.helpers import insert_account_with_objects
from factories import create_user

from adsvc.collection.conversions import DEFAULT_RULE, rule_for
from adsvc.collection.recount import recount_conversions

PIXEL = "offsite_conversion.fb_pixel_purchase"


async def _pixel_only(db, settings) -> str:
    owner = await create_user(db, settings)
    objects = await insert_account_with_objects(db, user_id=owner.id, days=20)
    await db.execute(
        """update insights_daily set actions = jsonb_build_object($2::text, '4', 'offsite_conversion.fb_pixel_lead',
                                                                 '1', 'link_click', '9'),
                  action_values = jsonb_build_object($2::text, '80.25')
           where account_id = $1""",
        objects.account_id, PIXEL,
    )  # fmt: skip
    return objects.account_id


async def test_recount_rewrites_every_row_in_chunks_and_only_that_account(db, settings):
    account_id = await _pixel_only(db, settings)
    other = await _pixel_only(db, settings)
    rows = await db.fetchval("select count(*) from insights_daily where account_id = $1", account_id)
    assert rows > 7 * 3
    async with db.transaction():
        changed = await recount_conversions(db, account_id=account_id, rule=DEFAULT_RULE, chunk=7)
    assert changed == rows
    counted = await db.fetch(
        "select distinct conversions, conversion_value from insights_daily where account_id = $1", account_id
    )
    assert [tuple(row) for row in counted] == [(Decimal(5), Decimal("80.25"))]
    # the campaign list's stored row was rebuilt from the recounted rows
    doc = await db.fetchval("select doc from campaign_metrics_7d where account_id = $1", account_id)
    assert doc is not None and '"conversions":"35' in doc.replace(" ", "")
    assert await db.fetchval("select sum(conversions) from insights_daily where account_id = $1", other) == 0

    # the same rule again changes nothing; another rule changes every row again
    async with db.transaction():
        assert await recount_conversions(db, account_id=account_id, rule=DEFAULT_RULE, chunk=7) == 0
    async with db.transaction():
        assert await recount_conversions(db, account_id=account_id, rule=rule_for([PIXEL])) == rows
    assert await db.fetchval(
        "select count(*) from insights_daily where account_id = $1 and conversions = 4", account_id
    ) == rows  # fmt: skip

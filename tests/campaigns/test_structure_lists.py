"""GET /api/v1/adsets, /api/v1/ads (and their details) beside /api/v1/campaigns: filters, every sort key in both
orders walked page by page (ties and undefined ratios included), parents' ids and names, last-7-day metrics, and
tenancy (another user's objects are invisible and their ids answer 404).

The data is synthetic, written straight to SQL: per level, objects whose 7-day sums tie often and whose ratios are
undefined often (no impressions, no clicks, no conversions, no spend), in two accounts whose days are far from UTC;
insights on today and on the eighth day back too, which the window must leave out. The campaigns of one account have
their stored list entries (campaign_metrics_7d), the other's are computed live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from accounts.helpers import Caller, expect_metrics, insert_account, new_caller

from adsvc.campaigns import browse
from adsvc.campaigns.metrics import Totals, derived
from adsvc.campaigns.queries import refresh_campaign_metrics
from adsvc.campaigns.schemas import AdListQuery, AdOut, AdSetListQuery, AdSetOut, CampaignListQuery, CampaignOut
from adsvc.collection.plan import account_today
from adsvc.keys import PG

TIMEZONES = ("Pacific/Kiritimati", "Etc/GMT+12")
PATHS = {"campaign": "/api/v1/campaigns", "adset": "/api/v1/adsets", "ad": "/api/v1/ads"}
SORTS = ["name", "created_time", "updated_time", "id", "spend_7d", "spend", "impressions", "clicks", "conversions",
         "conversion_value", "ctr", "cpc", "cpm", "cpa", "roas"]  # fmt: skip
BASE_TIME = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


@dataclass
class Obj:
    level: str
    id: str
    account_id: str
    name: str
    status: str
    effective_status: str
    updated_time: datetime | None
    campaign_id: str | None = None
    adset_id: str | None = None
    sums: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    caller: Caller
    accounts: list[str]
    objects: list[Obj]
    names: dict[str, str]  # id -> name of every stored campaign and ad set

    def of(self, level: str, **match: Any) -> list[Obj]:
        return [o for o in self.objects if o.level == level and all(getattr(o, k) == v for k, v in match.items())]

    def ids(self, level: str, **match: Any) -> set[str]:
        return {o.id for o in self.of(level, **match)}


DAY_COLUMNS = ("impressions", "clicks", "inline_link_clicks", "spend", "conversions", "conversion_value")


def _day_values(k: int, offset: int) -> dict[str, Any]:
    """One day of object number k: zero impressions, clicks, conversions or spend on a cycle of its own each, so
    ties and undefined ratios are common."""
    conversions = Decimal(1 if k % 3 == 1 else 0)
    return {
        "impressions": 1000 * (k % 3),
        "clicks": k % 4,
        "inline_link_clicks": k % 4,
        "spend": Decimal(k % 2) * Decimal(offset + 1) / 10,
        "conversions": conversions,
        "conversion_value": conversions * Decimal("7.5") * (k % 5),
    }


async def seed(client, db, settings) -> World:
    caller = await new_caller(client, db, settings)
    accounts = [await insert_account(db, user_id=caller.user.id, timezone_name=tz) for tz in TIMEZONES]
    objects: list[Obj] = []
    statuses = ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED"]
    k = 0
    for a, account in enumerate(accounts):
        for c in range(4 if a == 0 else 1):
            k += 1
            campaign = Obj("campaign", f"{account}{c:02d}", account, f"Camp {c % 2}", statuses[k % 4],
                           statuses[k % 4], None if k % 3 == 0 else BASE_TIME + timedelta(hours=k % 2))  # fmt: skip
            objects.append(campaign)
            for s in range(3):
                k += 1
                updated = None if k % 4 == 0 else BASE_TIME + timedelta(hours=k % 3)
                name = ["Set A", "Set_B", "set a"][s]
                adset = Obj("adset", f"{campaign.id}{s:02d}", account, name, statuses[k % 4], statuses[k % 4],
                            updated, campaign_id=campaign.id)  # fmt: skip
                objects.append(adset)
                for d in range(2):
                    k += 1
                    ad = Obj("ad", f"{adset.id}{d:02d}", account, ["Ad 100%", "Ad 1000"][d], statuses[k % 4],
                             statuses[k % 4], None if k % 5 == 0 else BASE_TIME, campaign_id=campaign.id,
                             adset_id=adset.id)  # fmt: skip
                    objects.append(ad)
    # an ad set and an ad whose parents were never synced (Meta listed them first, or they were deleted)
    objects.append(Obj("adset", f"{accounts[0]}9901", accounts[0], "Orphan set", "ACTIVE", "ACTIVE", None,
                       campaign_id=f"{accounts[0]}9999"))  # fmt: skip
    objects.append(Obj("ad", f"{accounts[0]}990101", accounts[0], "Orphan ad", "ACTIVE", "ACTIVE", None,
                       campaign_id=f"{accounts[0]}9999", adset_id=f"{accounts[0]}9901"))  # fmt: skip
    objects.append(Obj("ad", f"{accounts[0]}990102", accounts[0], "Ad of nothing", "PAUSED", "PAUSED", None,
                       campaign_id=f"{accounts[0]}9998", adset_id=f"{accounts[0]}9997"))  # fmt: skip
    for o in objects:
        if o.level == "campaign":
            await db.execute(
                """insert into campaigns (id, account_id, name, status, effective_status, updated_time, created_time)
                   values ($1, $2, $3, $4, $5, $6, $6)""",
                o.id, o.account_id, o.name, o.status, o.effective_status, o.updated_time,
            )  # fmt: skip
        elif o.level == "adset":
            await db.execute(
                """insert into adsets (id, account_id, campaign_id, name, status, effective_status, updated_time,
                                       created_time, daily_budget) values ($1, $2, $3, $4, $5, $6, $7, $7, 5000)""",
                o.id, o.account_id, o.campaign_id, o.name, o.status, o.effective_status, o.updated_time,
            )  # fmt: skip
        else:
            await db.execute(
                """insert into ads (id, account_id, campaign_id, adset_id, name, status, effective_status,
                                    updated_time, created_time) values ($1, $2, $3, $4, $5, $6, $7, $8, $8)""",
                o.id, o.account_id, o.campaign_id, o.adset_id, o.name, o.status, o.effective_status, o.updated_time,
            )  # fmt: skip
    rows = []
    numbers = {"campaign": 0, "adset": 0, "ad": 0}
    for o in objects:
        number = numbers[o.level]
        numbers[o.level] += 1
        today = account_today(TIMEZONES[accounts.index(o.account_id)])
        sums = {"spend": Decimal(0), "impressions": 0, "clicks": 0, "inline_link_clicks": 0,
                "conversions": Decimal(0), "conversion_value": Decimal(0)}  # fmt: skip
        if number % 5 != 0:  # every fifth object never delivered: all sums 0, every ratio undefined
            for offset in range(9):
                day = _day_values(number, offset)
                if 1 <= offset <= 7:
                    for key, value in day.items():
                        sums[key] += value
                campaign_id = o.id if o.level == "campaign" else o.campaign_id
                ad_id = o.id if o.level == "ad" else None
                rows.append((o.level, o.id, today - timedelta(days=offset), o.account_id, campaign_id, o.adset_id,
                             ad_id, *(day[key] for key in DAY_COLUMNS)))  # fmt: skip
        o.sums = sums
    await db.executemany(
        """insert into insights_daily (level, object_id, date, account_id, campaign_id, adset_id, ad_id, impressions,
               clicks, inline_link_clicks, spend, conversions, conversion_value, actions, action_values)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '{}', '{}')""",
        rows,
    )
    # the first account's campaigns read their stored entries, the second's are computed live
    async with db.transaction():
        await refresh_campaign_metrics(db, account_id=accounts[0])
    names = {o.id: o.name for o in objects if o.level != "ad"}
    return World(caller=caller, accounts=accounts, objects=objects, names=names)


def metric_value(o: Obj, metric: str) -> Decimal | int | None:
    if metric in ("spend", "impressions", "clicks", "conversions", "conversion_value"):
        value: Decimal | int = o.sums[metric]
        return value
    return derived(metric, Totals(**o.sums))


async def expected_order(db, world: World, level: str, sort: str, order: str) -> list[str]:
    """The whole order, computed here: SQL for names (the database's collation decides), Python for the rest,
    undefined ratios last in both orders, ties broken by id in the sort's direction."""
    objects = world.of(level)
    descending = order == "desc"
    if sort == "name":
        rows = await db.fetch(
            f"""select id from unnest($1::text[], $2::text[]) as t(id, name)
                order by name {order}, id {order}""",
            [o.id for o in objects],
            [o.name for o in objects],
        )
        return [row["id"] for row in rows]
    if sort in ("created_time", "updated_time"):
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return [o.id for o in sorted(objects, key=lambda o: (o.updated_time or epoch, o.id), reverse=descending)]
    if sort == "id":
        return sorted((o.id for o in objects), reverse=descending)
    metric = "spend" if sort == "spend_7d" else sort
    defined = [(metric_value(o, metric), o.id) for o in objects if metric_value(o, metric) is not None]
    undefined = [o.id for o in objects if metric_value(o, metric) is None]
    return [i for _, i in sorted(defined, reverse=descending)] + sorted(undefined, reverse=descending)


async def walk(client, caller: Caller, path: str, limit: int, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a list, page by page through next_cursor; and how many pages it took."""
    rows: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": str(limit), **params}
    pages = 0
    while True:
        response = await client.get(path, params=query, headers=caller.headers)
        assert response.status == 200, await response.text()
        body = await response.json()
        pages += 1
        assert len(body["data"]) <= limit
        rows.extend(body["data"])
        if body["next_cursor"] is None:
            return rows, pages
        query = {**query, "cursor": body["next_cursor"]}


async def list_ids(client, caller: Caller, level: str, **params: Any) -> set[str]:
    rows, _ = await walk(client, caller, PATHS[level], 200, **params)
    return {row["id"] for row in rows}


@pytest.mark.parametrize("level", ["campaign", "adset", "ad"])
async def test_paging_with_every_sort_key_and_order_visits_every_row_once_in_order(client, db, settings, level):
    world = await seed(client, db, settings)
    total = len(world.of(level))
    for sort in SORTS:
        for order in ("asc", "desc"):
            expected = await expected_order(db, world, level, sort, order)
            assert len(expected) == total
            rows, pages = await walk(client, world.caller, PATHS[level], 4, sort=sort, order=order)
            assert [row["id"] for row in rows] == expected, (level, sort, order)
            assert pages == -(-total // 4)


async def test_ratio_sorts_meet_ties_and_undefined_values_in_the_data(client, db, settings):
    """The data the paging test walks really has ties and undefined ratios at every level (else it proves little)."""
    world = await seed(client, db, settings)
    for level in ("campaign", "adset", "ad"):
        for metric in ("ctr", "cpc", "cpm", "cpa", "roas"):
            values = [metric_value(o, metric) for o in world.of(level)]
            defined = [v for v in values if v is not None]
            assert None in values and defined, (level, metric)
        spends = [o.sums["spend"] for o in world.of(level)]
        assert len(set(spends)) < len(spends), level


@pytest.mark.parametrize("level", ["adset", "ad"])
async def test_entries_carry_their_parents_and_last_7d_metrics(client, db, settings, level):
    world = await seed(client, db, settings)
    rows, _ = await walk(client, world.caller, PATHS[level], 200)
    by_id = {o.id: o for o in world.of(level)}
    assert {row["id"] for row in rows} == set(by_id)
    for row in rows:
        o = by_id[row["id"]]
        assert row["account_id"] == o.account_id and row["currency"] == "USD"
        assert row["campaign_id"] == o.campaign_id
        assert row["campaign_name"] == world.names.get(o.campaign_id or "")  # None: never synced
        if level == "ad":
            assert row["adset_id"] == o.adset_id
            assert row["adset_name"] == world.names.get(o.adset_id or "")
        expect_metrics(row["last_7d"], o.sums)
    # the orphans say so
    orphan = next(row for row in rows if row["name"].startswith(("Orphan", "Ad of nothing")))
    assert orphan["campaign_name"] is None


async def test_adset_filters_by_account_campaign_status_and_name(client, db, settings):
    world = await seed(client, db, settings)
    caller, first, second = world.caller, world.accounts[0], world.accounts[1]
    assert await list_ids(client, caller, "adset") == world.ids("adset")
    assert await list_ids(client, caller, "adset", account_id=f"act_{second}") == world.ids("adset", account_id=second)
    campaign = world.of("campaign", account_id=first)[1].id
    assert await list_ids(client, caller, "adset", campaign_id=campaign) == world.ids("adset", campaign_id=campaign)
    active = world.ids("adset", status="ACTIVE")
    paused = world.ids("adset", status="PAUSED")
    assert active and paused
    assert await list_ids(client, caller, "adset", status="active, paused") == active | paused
    archived = world.ids("adset", effective_status="ARCHIVED")
    assert archived
    assert await list_ids(client, caller, "adset", effective_status="ARCHIVED") == archived
    # q: any case, `_` taken literally ("Set_B" only, not "Set A"), and intersected with the other filters
    assert await list_ids(client, caller, "adset", q="set_") == world.ids("adset", name="Set_B")
    both = {o.id for o in world.of("adset", account_id=first) if o.name.lower() == "set a"}
    assert await list_ids(client, caller, "adset", q="SET A", account_id=first) == both
    # a campaign of no ad set, or of someone else: nothing
    assert await list_ids(client, caller, "adset", campaign_id="123") == set()


async def test_ad_filters_by_account_campaign_adset_status_and_name(client, db, settings):
    world = await seed(client, db, settings)
    caller, first = world.caller, world.accounts[0]
    assert await list_ids(client, caller, "ad") == world.ids("ad")
    assert await list_ids(client, caller, "ad", account_id=first) == world.ids("ad", account_id=first)
    campaign = world.of("campaign", account_id=first)[0].id
    assert await list_ids(client, caller, "ad", campaign_id=campaign) == world.ids("ad", campaign_id=campaign)
    adset = world.of("adset", campaign_id=campaign)[2].id
    assert await list_ids(client, caller, "ad", adset_id=adset) == world.ids("ad", adset_id=adset)
    assert len(world.ids("ad", adset_id=adset)) == 2
    # campaign and ad set together: an ad set of another campaign matches nothing
    other = world.of("campaign", account_id=first)[1].id
    assert await list_ids(client, caller, "ad", campaign_id=other, adset_id=adset) == set()
    deleted = world.ids("ad", status="DELETED")
    assert deleted
    assert await list_ids(client, caller, "ad", status="DELETED") == deleted
    assert await list_ids(client, caller, "ad", effective_status="deleted,ARCHIVED") == (
        deleted | world.ids("ad", effective_status="ARCHIVED")
    )
    # a literal %: "Ad 100%" and not "Ad 1000"
    assert await list_ids(client, caller, "ad", q="100%") == world.ids("ad", name="Ad 100%")


async def test_adset_detail_has_its_entry_and_ads_counts(client, db, settings):
    world = await seed(client, db, settings)
    listed, _ = await walk(client, world.caller, PATHS["adset"], 200)
    for entry in listed:
        response = await client.get(f"/api/v1/adsets/{entry['id']}", headers=world.caller.headers)
        assert response.status == 200
        detail = await response.json()
        ads = world.of("ad", adset_id=entry["id"])
        assert detail.pop("ads") == len(ads)
        assert detail.pop("active_ads") == sum(1 for ad in ads if ad.effective_status == "ACTIVE")
        assert detail == entry


async def test_ad_detail_is_its_list_entry(client, db, settings):
    world = await seed(client, db, settings)
    listed, _ = await walk(client, world.caller, PATHS["ad"], 200)
    for entry in listed:
        response = await client.get(f"/api/v1/ads/{entry['id']}", headers=world.caller.headers)
        assert response.status == 200
        assert await response.json() == entry


async def test_another_users_objects_are_not_listed_and_their_ids_answer_404(client, db, settings):
    mine = await seed(client, db, settings)
    theirs = await seed(client, db, settings)
    for level in ("campaign", "adset", "ad"):
        assert await list_ids(client, mine.caller, level) == mine.ids(level)
        assert await list_ids(client, theirs.caller, level) == theirs.ids(level)
        # naming their account is no way in either
        assert await list_ids(client, mine.caller, level, account_id=theirs.accounts[0]) == set()
    their_campaign = theirs.of("campaign")[0].id
    assert await list_ids(client, mine.caller, "adset", campaign_id=their_campaign) == set()
    assert await list_ids(client, mine.caller, "ad", adset_id=theirs.of("adset")[0].id) == set()
    for path, theirs_id in (("adsets", theirs.of("adset")[0].id), ("ads", theirs.of("ad")[0].id)):
        foreign = await client.get(f"/api/v1/{path}/{theirs_id}", headers=mine.caller.headers)
        missing = await client.get(f"/api/v1/{path}/404404404", headers=mine.caller.headers)
        assert foreign.status == missing.status == 404
        foreign_error, missing_error = (await foreign.json())["error"], (await missing.json())["error"]
        assert foreign_error["code"] == missing_error["code"] == "not_found"
        assert foreign_error["message"] == missing_error["message"]
        own = await client.get(f"/api/v1/{path}/{theirs_id}", headers=theirs.caller.headers)
        assert own.status == 200


@pytest.mark.parametrize("path", ["/api/v1/adsets", "/api/v1/ads"])
async def test_a_cursor_of_another_sort_or_order_or_a_malformed_one_is_422(client, db, settings, path):
    world = await seed(client, db, settings)
    first = await client.get(path, params={"sort": "cpa", "limit": "2"}, headers=world.caller.headers)
    cursor = (await first.json())["next_cursor"]
    assert cursor
    for params in ({"sort": "roas"}, {"sort": "cpa", "order": "desc"}, {"sort": "name"}, {"sort": "cpa", "x": "1"}):
        response = await client.get(path, params={**params, "cursor": cursor}, headers=world.caller.headers)
        assert response.status == 422, params
    for cursor in ("not a cursor!", "bm90IGpzb24"):
        response = await client.get(path, params={"cursor": cursor}, headers=world.caller.headers)
        assert response.status == 422
        assert (await response.json())["error"]["details"][0]["loc"][-1] == "cursor"


async def test_unauthenticated_lists_and_details_are_401(client):
    for path in ("/api/v1/adsets", "/api/v1/ads", "/api/v1/adsets/1", "/api/v1/ads/1"):
        response = await client.get(path)
        assert response.status == 401, path


async def test_the_functions_pages_call_return_the_apis_rows_typed(client, db, settings):
    world = await seed(client, db, settings)
    pg, user_id = client.server.app[PG], world.caller.user.id
    cases = [
        (browse.campaign_page, CampaignListQuery, CampaignOut, "campaign"),
        (browse.adset_page, AdSetListQuery, AdSetOut, "adset"),
        (browse.ad_page, AdListQuery, AdOut, "ad"),
    ]
    for page_of, query_model, model, level in cases:
        query = query_model(sort="roas", order="desc", limit=3)
        page = await page_of(pg, user_id=user_id, query=query)
        response = await client.get(PATHS[level], params={"sort": "roas", "order": "desc", "limit": "3"},
                                    headers=world.caller.headers)  # fmt: skip
        body = await response.json()
        assert page.items() == [model.model_validate(row) for row in body["data"]]
        assert all(isinstance(item, model) for item in page.items())
        assert page.next_cursor == body["next_cursor"]
    adset = world.of("adset")[0]
    detail = await browse.adset_detail(pg, user_id=user_id, adset_id=adset.id)
    assert detail is not None and detail.item().ads == len(world.ids("ad", adset_id=adset.id))
    assert await browse.ad_detail(pg, user_id=user_id + 10**9, ad_id=world.of("ad")[0].id) is None
    campaign = await browse.campaign_detail(pg, user_id=user_id, campaign_id=world.of("campaign")[0].id)
    assert campaign is not None and campaign.adsets == len(world.ids("adset", campaign_id=campaign.id))

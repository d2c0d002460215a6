"""Campaigns, ad sets and ads as the JSON API and the pages show them: one call per list or detail, from the
room's queries and cursors, so both front ends read the same rows with the same filters, sorting and paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
import orjson
from pydantic import BaseModel

from adsvc.campaigns import queries
from adsvc.campaigns.listing import After, csv_filter, decode_cursor, encode_cursor, malformed_cursor
from adsvc.campaigns.metrics import totals_of
from adsvc.campaigns.schemas import (
    AdListQuery,
    AdOut,
    AdSetDetailOut,
    AdSetListQuery,
    AdSetOut,
    CampaignDetailOut,
    CampaignListQuery,
    CampaignOut,
    MetricsOut,
)
from adsvc.collection.records import account_number

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Entry(Generic[ModelT]):
    """One object as its JSON document (what the API sends, built by PostgreSQL), readable as its typed model."""

    doc: str
    model: type[ModelT]

    def item(self) -> ModelT:
        return self.model.model_validate_json(self.doc)


@dataclass(frozen=True, slots=True)
class ListPage(Generic[ModelT]):
    """One page of a list: each entry as its JSON document and the cursor of the next page (None on the last)."""

    docs: list[str]
    next_cursor: str | None
    model: type[ModelT]

    def body(self) -> bytes:
        """The API's answer: `{"data": [...], "next_cursor": ...}`."""
        return b'{"data":[' + ",".join(self.docs).encode() + b'],"next_cursor":' + orjson.dumps(self.next_cursor) + b"}"

    def items(self) -> list[ModelT]:
        """The entries as typed models (CampaignOut, AdSetOut, AdOut), for the pages."""
        return [self.model.model_validate_json(doc) for doc in self.docs]


async def campaign_page(db: queries.Executor, *, user_id: int, query: CampaignListQuery) -> ListPage[CampaignOut]:
    """A page of the user's campaigns by the query's filters, sort, order, limit and cursor."""
    return await _page(db, "campaign", CampaignOut, user_id, query)


async def adset_page(db: queries.Executor, *, user_id: int, query: AdSetListQuery) -> ListPage[AdSetOut]:
    """A page of the user's ad sets (of one campaign with campaign_id) by the query's filters, sort and cursor."""
    return await _page(db, "adset", AdSetOut, user_id, query)


async def ad_page(db: queries.Executor, *, user_id: int, query: AdListQuery) -> ListPage[AdOut]:
    """A page of the user's ads (of one campaign or ad set) by the query's filters, sort and cursor."""
    return await _page(db, "ad", AdOut, user_id, query)


async def _page(
    db: queries.Executor,
    level: str,
    model: type[ModelT],
    user_id: int,
    query: CampaignListQuery | AdSetListQuery | AdListQuery,
) -> ListPage[ModelT]:
    """A cursor that is malformed or was made for another sort or order is a ValidationFailed (422)."""
    after = decode_cursor(query.cursor, query.sort, query.order) if query.cursor else None
    try:
        rows = await queries.list_objects(
            db,
            level=level,
            user_id=user_id,
            account_id=account_number(query.account_id) if query.account_id else None,
            statuses=csv_filter(query.status),
            effective_statuses=csv_filter(query.effective_status),
            search=query.q,
            sort=query.sort,
            descending=query.order == "desc",
            after=(after.value, after.id) if after else None,
            limit=query.limit + 1,
            campaign_id=getattr(query, "campaign_id", None),
            adset_id=getattr(query, "adset_id", None),
        )
    except asyncpg.DataError:
        # a well-formed cursor whose value PostgreSQL cannot read as the sort's type (a time, a number)
        if after is None:
            raise
        raise malformed_cursor() from None
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit and page:
        last = page[-1]
        next_cursor = encode_cursor(query.sort, query.order, After(value=last["sort_value"], id=last["id"]))
    return ListPage(docs=[row["doc"] for row in page], next_cursor=next_cursor, model=model)


def campaign_out(row: queries.CampaignRow) -> CampaignOut:
    """A campaign read with its 7-day sums (campaign_for_user) as the API's model."""
    return CampaignOut(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        status=row.status,
        effective_status=row.effective_status,
        objective=row.objective,
        bid_strategy=row.bid_strategy,
        daily_budget=row.daily_budget,
        lifetime_budget=row.lifetime_budget,
        currency=row.currency,
        start_time=row.start_time,
        stop_time=row.stop_time,
        created_time=row.created_time,
        updated_time=row.updated_time,
        synced_at=row.synced_at,
        last_7d=MetricsOut.from_totals(totals_of(row)),
    )


async def campaign_detail(db: queries.Executor, *, user_id: int, campaign_id: str) -> CampaignDetailOut | None:
    """One campaign of the user's accounts with its structure counts; None when the user may not see it (or it
    does not exist)."""
    row = await queries.campaign_for_user(db, campaign_id=campaign_id, user_id=user_id)
    if row is None:
        return None
    counts = await queries.campaign_structure_counts(db, campaign_id=campaign_id)
    return CampaignDetailOut(**campaign_out(row).model_dump(), **counts)


async def adset_detail(db: queries.Executor, *, user_id: int, adset_id: str) -> Entry[AdSetDetailOut] | None:
    """One ad set of the user's accounts: its list entry and its ads' counts; None when the user may not see it (or
    it does not exist)."""
    doc = await queries.object_for_user(db, level="adset", object_id=adset_id, user_id=user_id)
    return None if doc is None else Entry(doc=doc, model=AdSetDetailOut)


async def ad_detail(db: queries.Executor, *, user_id: int, ad_id: str) -> Entry[AdOut] | None:
    """One ad of the user's accounts as its list entry; None when the user may not see it (or it does not exist)."""
    doc = await queries.object_for_user(db, level="ad", object_id=ad_id, user_id=user_id)
    return None if doc is None else Entry(doc=doc, model=AdOut)

"""Campaigns, ad sets and ads as the JSON API and the pages show them: one call per list or detail, from the
room's queries and cursors, so both front ends read the same rows with the same filters, sorting and paging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import asyncpg
import orjson
from pydantic import BaseModel

from adsvc.campaigns import queries
from adsvc.campaigns.listing import After, csv_filter, decode_cursor, encode_cursor, malformed_cursor
from adsvc.campaigns.schemas import AdListQuery, AdOut, AdSetDetailOut, AdSetListQuery, AdSetOut, CampaignListQuery
from adsvc.collection.records import account_number

ModelT = TypeVar("ModelT", bound=BaseModel)
Level = Literal["campaign", "adset", "ad"]


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of a list: each entry as its JSON document (what the API sends, built by PostgreSQL) and the
    cursor of the next page (None on the last)."""

    docs: list[str]
    next_cursor: str | None

    def body(self) -> bytes:
        """The API's answer: `{"data": [...], "next_cursor": ...}`."""
        return b'{"data":[' + ",".join(self.docs).encode() + b'],"next_cursor":' + orjson.dumps(self.next_cursor) + b"}"

    def items(self, model: type[ModelT]) -> list[ModelT]:
        """The entries as typed models (CampaignOut, AdSetOut, AdOut), for the pages."""
        return [model.model_validate_json(doc) for doc in self.docs]


async def list_page(
    db: queries.Executor,
    *,
    level: Level,
    user_id: int,
    query: CampaignListQuery | AdSetListQuery | AdListQuery,
) -> ListPage:
    """A page of the user's campaigns, ad sets or ads by the query's filters, sort, order, limit and cursor. A
    cursor that is malformed or was made for another sort or order is a ValidationFailed (422)."""
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
    return ListPage(docs=[row["doc"] for row in page], next_cursor=next_cursor)


async def adset_detail(db: queries.Executor, *, user_id: int, adset_id: str) -> AdSetDetailOut | None:
    """One ad set of the user's accounts with its list entry and its ads' counts; None when the user may not see
    it (or it does not exist)."""
    doc = await queries.object_for_user(db, level="adset", object_id=adset_id, user_id=user_id)
    if doc is None:
        return None
    counts = await queries.adset_structure_counts(db, adset_id=adset_id)
    return AdSetDetailOut(**AdSetOut.model_validate_json(doc).model_dump(), **counts)


async def ad_detail(db: queries.Executor, *, user_id: int, ad_id: str) -> AdOut | None:
    """One ad of the user's accounts as its list entry; None when the user may not see it (or it does not exist)."""
    doc = await queries.object_for_user(db, level="ad", object_id=ad_id, user_id=user_id)
    return None if doc is None else AdOut.model_validate_json(doc)

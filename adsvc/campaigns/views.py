"""HTTP handlers for campaigns, their insights, and the older service's metrics endpoints (stored data only)."""

from __future__ import annotations

import base64
import binascii

import asyncpg
import orjson
from aiohttp import web

from adsvc.campaigns import queries, reports
from adsvc.campaigns.metrics import derive, totals_of
from adsvc.campaigns.schemas import (
    AdPerformanceQuery,
    CampaignDetailOut,
    CampaignListOut,
    CampaignListQuery,
    CampaignOut,
    ExportOut,
    ExportQuery,
    ExportRowOut,
    InsightsOut,
    InsightsQuery,
    MetricsOut,
)
from adsvc.collection.records import account_number
from adsvc.errors import NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.requests import principal
from adsvc.routing import Auth, Routes, json_response

routes = Routes(tag="campaigns")


def _campaign_out(row: queries.CampaignRow) -> CampaignOut:
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


def _encode_cursor(sort: str, order: str, value: str, last_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, order, value, last_id])).decode().rstrip("=")


def _malformed_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor is not valid", details=[{"loc": ["query", "cursor"], "msg": "malformed", "type": "cursor"}]
    )


def _decode_cursor(cursor: str, sort: str, order: str) -> tuple[str, str]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        cursor_sort, cursor_order, value, last_id = decoded
        if not (isinstance(value, str) and isinstance(last_id, str)):
            raise ValueError("bad cursor")
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise _malformed_cursor() from None
    if (cursor_sort, cursor_order) != (sort, order):
        raise ValidationFailed(
            "cursor belongs to another sort order",
            details=[{"loc": ["query", "cursor"], "msg": "sort or order changed", "type": "cursor"}],
        )
    return value, last_id


def _csv(values: str | None) -> list[str] | None:
    if not values:
        return None
    return [value.strip().upper() for value in values.split(",") if value.strip()]


@routes.get(
    "/api/v1/campaigns",
    name="campaigns",
    summary="Campaigns of your accounts with last-7-day metrics: filters, sorting, keyset pagination",
    query=CampaignListQuery,
    response=CampaignListOut,
)
async def list_campaigns(request: web.Request, query: CampaignListQuery) -> web.Response:
    caller = principal(request)
    after = _decode_cursor(query.cursor, query.sort, query.order) if query.cursor else None
    try:
        rows = await queries.list_campaigns(
            request.config_dict[PG],
            user_id=caller.user_id,
            account_id=account_number(query.account_id) if query.account_id else None,
            statuses=_csv(query.status),
            effective_statuses=_csv(query.effective_status),
            search=query.q,
            sort=query.sort,
            descending=query.order == "desc",
            after=after,
            limit=query.limit + 1,
        )
    except asyncpg.DataError:
        # a well-formed cursor whose value PostgreSQL cannot read as the sort's type (a time, a number)
        if after is None:
            raise
        raise _malformed_cursor() from None
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit and page:
        next_cursor = _encode_cursor(query.sort, query.order, page[-1]["sort_value"], page[-1]["id"])
    # The hot list: each row arrives as its JSON document, built by PostgreSQL (see queries.list_campaigns)
    cursor_json = orjson.dumps(next_cursor)
    body = b'{"data":[' + ",".join(row["doc"] for row in page).encode() + b'],"next_cursor":' + cursor_json + b"}"
    return web.Response(body=body, content_type="application/json")


@routes.get(
    "/api/v1/campaigns/{campaign_id}",
    name="campaign",
    summary="One campaign with its structure counts and last-7-day metrics",
    response=CampaignDetailOut,
    errors=(404,),
    path_params={"campaign_id": str},
)
async def get_campaign(request: web.Request, campaign_id: str) -> web.Response:
    caller = principal(request)
    pg = request.config_dict[PG]
    row = await queries.campaign_for_user(pg, campaign_id=campaign_id, user_id=caller.user_id)
    if row is None:
        raise NotFound("campaign not found")
    counts = await queries.campaign_structure_counts(pg, campaign_id=campaign_id)
    return json_response(CampaignDetailOut(**_campaign_out(row).model_dump(), **counts))


@routes.get(
    "/api/v1/campaigns/{campaign_id}/insights",
    name="campaign-insights",
    summary="Daily insights of a campaign and their totals, from stored data (since/until or date_preset)",
    query=InsightsQuery,
    response=InsightsOut,
    errors=(404,),
    path_params={"campaign_id": str},
)
async def campaign_insights(request: web.Request, query: InsightsQuery, campaign_id: str) -> web.Response:
    caller = principal(request)
    pg = request.config_dict[PG]
    row = await queries.campaign_for_user(pg, campaign_id=campaign_id, user_id=caller.user_id)
    if row is None:
        raise NotFound("campaign not found")
    timezone_name = await queries.account_timezone_for_campaign(pg, campaign_id=campaign_id)
    since, until = reports.period_of(query, timezone_name)
    return json_response(await reports.object_insights(pg, level="campaign", object_id=campaign_id,
                                                       currency=row.currency, since=since, until=until))  # fmt: skip


@routes.get(
    "/api/v1/metrics/ad-performance",
    name="ad-performance",
    summary="Daily performance of one ad from stored data (the older service's endpoint)",
    query=AdPerformanceQuery,
    response=InsightsOut,
    errors=(404,),
)
async def ad_performance(request: web.Request, query: AdPerformanceQuery) -> web.Response:
    caller = principal(request)
    pg = request.config_dict[PG]
    ad = await queries.ad_for_user(pg, ad_id=query.ad_id, user_id=caller.user_id)
    if ad is None:
        raise NotFound("ad not found")
    since, until = reports.period_of(query, ad.timezone_name)
    return json_response(await reports.object_insights(pg, level="ad", object_id=ad.id, currency=ad.currency,
                                                       since=since, until=until))  # fmt: skip


@routes.get(
    "/api/v1/metrics/export",
    name="metrics-export",
    summary="One row per campaign per day for BI exports; authenticated with an X-API-Key",
    auth=Auth.API_KEY,
    query=ExportQuery,
    response=ExportOut,
)
async def metrics_export(request: web.Request, query: ExportQuery) -> web.Response:
    caller = principal(request)
    if query.date_until < query.date_from:
        raise ValidationFailed.field(("query", "date_until"), "date_until is before date_from", kind="period")
    rows = await queries.export_rows(
        request.config_dict[PG],
        user_id=caller.user_id,
        since=query.date_from,
        until=query.date_until,
        limit=query.limit + 1,
    )
    out = []
    for row in rows[: query.limit]:
        derived = derive(totals_of(row))
        out.append(
            ExportRowOut(
                date=row.date,
                account_id=row.account_id,
                campaign_id=row.campaign_id,
                campaign_name=row.campaign_name,
                currency=row.currency,
                impressions=row.impressions,
                clicks=row.clicks,
                spend=row.spend,
                conversions=row.conversions,
                conversion_value=row.conversion_value,
                reach=row.reach,
                ctr=derived.ctr,
                cpc=derived.cpc,
                cpm=derived.cpm,
                cpa=derived.cpa,
                roas=derived.roas,
            )
        )
    return json_response(
        ExportOut(date_from=query.date_from, date_until=query.date_until, rows=out, truncated=len(rows) > query.limit)
    )

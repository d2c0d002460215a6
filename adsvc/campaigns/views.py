"""HTTP handlers for campaigns, their insights, and the older service's metrics endpoints (stored data only)."""

from __future__ import annotations

from aiohttp import web

from adsvc.campaigns import browse, queries, reports
from adsvc.campaigns.metrics import derive, totals_of
from adsvc.campaigns.schemas import (
    AdListOut,
    AdListQuery,
    AdOut,
    AdPerformanceQuery,
    AdSetDetailOut,
    AdSetListOut,
    AdSetListQuery,
    CampaignDetailOut,
    CampaignListOut,
    CampaignListQuery,
    ExportOut,
    ExportQuery,
    ExportRowOut,
    InsightsOut,
    InsightsQuery,
)
from adsvc.errors import NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.requests import principal
from adsvc.routing import Auth, Routes, json_response

routes = Routes(tag="campaigns")


@routes.get(
    "/api/v1/campaigns",
    name="campaigns",
    summary="Campaigns of your accounts with last-7-day metrics: filters, sorting, keyset pagination",
    query=CampaignListQuery,
    response=CampaignListOut,
)
async def list_campaigns(request: web.Request, query: CampaignListQuery) -> web.Response:
    # The hot list: each row arrives as its JSON document, built by PostgreSQL (see queries.list_objects)
    page = await browse.campaign_page(request.config_dict[PG], user_id=principal(request).user_id, query=query)
    return web.Response(body=page.body(), content_type="application/json")


@routes.get(
    "/api/v1/campaigns/{campaign_id}",
    name="campaign",
    summary="One campaign with its structure counts and last-7-day metrics",
    response=CampaignDetailOut,
    errors=(404,),
    path_params={"campaign_id": str},
)
async def get_campaign(request: web.Request, campaign_id: str) -> web.Response:
    campaign = await browse.campaign_detail(
        request.config_dict[PG], user_id=principal(request).user_id, campaign_id=campaign_id
    )
    if campaign is None:
        raise NotFound("campaign not found")
    return json_response(campaign)


@routes.get(
    "/api/v1/adsets",
    name="adsets",
    summary="Ad sets of your accounts with last-7-day metrics and their campaign: filters, sorting, keyset pagination",
    query=AdSetListQuery,
    response=AdSetListOut,
)
async def list_adsets(request: web.Request, query: AdSetListQuery) -> web.Response:
    page = await browse.adset_page(request.config_dict[PG], user_id=principal(request).user_id, query=query)
    return web.Response(body=page.body(), content_type="application/json")


@routes.get(
    "/api/v1/adsets/{adset_id}",
    name="adset",
    summary="One ad set with its campaign, its ad counts and last-7-day metrics",
    response=AdSetDetailOut,
    errors=(404,),
    path_params={"adset_id": str},
)
async def get_adset(request: web.Request, adset_id: str) -> web.Response:
    adset = await browse.adset_detail(request.config_dict[PG], user_id=principal(request).user_id, adset_id=adset_id)
    if adset is None:
        raise NotFound("ad set not found")
    return web.Response(text=adset.doc, content_type="application/json")


@routes.get(
    "/api/v1/ads",
    name="ads",
    summary="Ads of your accounts with last-7-day metrics, their ad set and campaign: filters, sorting, keyset "
    "pagination",
    query=AdListQuery,
    response=AdListOut,
)
async def list_ads(request: web.Request, query: AdListQuery) -> web.Response:
    page = await browse.ad_page(request.config_dict[PG], user_id=principal(request).user_id, query=query)
    return web.Response(body=page.body(), content_type="application/json")


@routes.get(
    "/api/v1/ads/{ad_id}",
    name="ad",
    summary="One ad with its ad set, campaign and last-7-day metrics",
    response=AdOut,
    errors=(404,),
    path_params={"ad_id": str},
)
async def get_ad(request: web.Request, ad_id: str) -> web.Response:
    ad = await browse.ad_detail(request.config_dict[PG], user_id=principal(request).user_id, ad_id=ad_id)
    if ad is None:
        raise NotFound("ad not found")
    return web.Response(text=ad.doc, content_type="application/json")


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

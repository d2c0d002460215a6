"""HTTP handlers for analytics: the dashboard, the performance ranking, trends, and per-account benchmarks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from adsvc.analytics import engine, queries, reports
from adsvc.analytics.schemas import (
    BenchmarksIn,
    BenchmarksOut,
    DashboardOut,
    DashboardQuery,
    GrowthOut,
    PerformanceOut,
    PerformanceQuery,
    TrendPointOut,
    TrendsOut,
    TrendsQuery,
)
from adsvc.audit.queries import insert_audit_entry
from adsvc.campaigns.metrics import Totals, totals_of
from adsvc.collection.plan import account_today
from adsvc.collection.records import account_number
from adsvc.errors import Forbidden, NotFound
from adsvc.keys import PG
from adsvc.requests import client_address, principal, request_id
from adsvc.routing import Routes, json_response

routes = Routes(tag="analytics")

BENCHMARK_ROLES = frozenset({"owner", "manager"})
MAX_WARMUP_DAYS = max(max(engine.MOVING_AVERAGE_WINDOWS) - 1, engine.ANOMALY_WINDOW)

TRENDS_METHOD = (
    "robust z-score: 0.6745 * (value - median) / MAD over the up to 14 preceding days with data (the day excluded, "
    "at least 7); high/low beyond the threshold. Moving averages and growth need fully covered windows; ratios are "
    "ratios of window sums"
)


def _metrics(totals: Totals) -> dict[str, Any]:
    return reports.metrics_of(totals)


async def _member_accounts(request: web.Request, account_id: str | None) -> list[queries.AccountRow]:
    return await reports.member_accounts(request.config_dict[PG], user_id=principal(request).user_id,
                                         account_id=account_id)  # fmt: skip


@routes.get(
    "/api/v1/analytics/dashboard",
    name="analytics-dashboard",
    summary="Totals for a period (one account or all of yours, per currency), the previous period, change in "
    "percent, and top campaigns by spend",
    query=DashboardQuery,
    response=DashboardOut,
    errors=(404,),
)
async def get_dashboard(request: web.Request, query: DashboardQuery) -> web.Response:
    user_id = principal(request).user_id
    pg = request.config_dict[PG]
    scope = await reports.scope_of(pg, user_id=user_id, query=query)
    return json_response(await reports.dashboard(pg, user_id=user_id, scope=scope, query=query))


@routes.get(
    "/api/v1/analytics/performance",
    name="analytics-performance",
    summary="Campaigns ranked by a performance score against CTR, CPA and ROAS benchmarks (per account, "
    "overridable per request), with derived metrics",
    query=PerformanceQuery,
    response=PerformanceOut,
    errors=(404,),
)
async def get_performance(request: web.Request, query: PerformanceQuery) -> web.Response:
    user_id = principal(request).user_id
    pg = request.config_dict[PG]
    scope = await reports.scope_of(pg, user_id=user_id, query=query)
    ranked = await reports.ranking(pg, user_id=user_id, scope=scope, query=query)
    return json_response(reports.performance_out(ranked, query))


@routes.get(
    "/api/v1/analytics/trends",
    name="analytics-trends",
    summary="Daily series of an account or a campaign with 7/14/30-day moving averages, growth rates and anomaly flags",
    query=TrendsQuery,
    response=TrendsOut,
    errors=(404,),
)
async def get_trends(request: web.Request, query: TrendsQuery) -> web.Response:
    user_id = principal(request).user_id
    pg = request.config_dict[PG]
    if query.campaign_id is not None:
        campaign = await queries.campaign_for_user(pg, campaign_id=query.campaign_id, user_id=user_id)
        if campaign is None or (
            query.account_id is not None and account_number(query.account_id) != campaign.account_id
        ):
            raise NotFound("campaign not found")
        account_id, currency, timezone_name = campaign.account_id, campaign.currency, campaign.timezone_name
        level, object_id = "campaign", campaign.id
    else:
        account = (await _member_accounts(request, query.account_id))[0]
        account_id, currency, timezone_name = account.id, account.currency, account.timezone_name
        level, object_id = "account", account.id
    until = account_today(timezone_name) - timedelta(days=1)
    since = until - timedelta(days=query.days - 1)
    # enough history before the first day shown for its 30-day average, its anomaly window and 2 x 30-day growth
    fetched = max(query.days + MAX_WARMUP_DAYS, 2 * max(engine.GROWTH_WINDOWS))
    series = await queries.daily_series(
        pg,
        account_id=account_id,
        level=level,
        object_id=object_id,
        since=until - timedelta(days=fetched - 1),
        until=until,
    )
    days: list[Totals | None] = [totals_of(day) if day.covered else None for day in series.days]
    values = [engine.metric_value(day, query.metric) if day is not None else None for day in days]
    averages = {window: engine.moving_average(days, query.metric, window) for window in engine.MOVING_AVERAGE_WINDOWS}
    anomalies = engine.detect_anomalies(values, threshold=query.anomaly_threshold)
    points = []
    for index in range(len(days) - query.days, len(days)):
        day, row, anomaly = days[index], series.days[index], anomalies[index]
        metrics: dict[str, Any] = {}
        if day is not None:
            full = _metrics(day)
            metrics = {name: full[name] for name in engine.METRICS}
        points.append(
            TrendPointOut(
                date=row.date,
                covered=day is not None,
                **{name: metrics.get(name) for name in engine.METRICS},
                value=values[index],
                ma_7=averages[7][index],
                ma_14=averages[14][index],
                ma_30=averages[30][index],
                baseline=anomaly.baseline,
                anomaly_score=anomaly.score,
                anomaly=anomaly.flag,
            )
        )
    return json_response(
        TrendsOut(
            account_id=account_id,
            campaign_id=query.campaign_id,
            currency=currency,
            metric=query.metric,
            since=since,
            until=until,
            data_since=series.data_since,
            data_until=series.data_until,
            series=points,
            growth=[
                GrowthOut(window_days=g.window_days, current=g.current, previous=g.previous, change_pct=g.change_pct)
                for g in (engine.growth(days, query.metric, window) for window in engine.GROWTH_WINDOWS)
            ],
            anomalies=sum(point.anomaly is not None for point in points),
            method=TRENDS_METHOD,
        )
    )


def _benchmarks_out(account_id: str, row: queries.BenchmarkRow | None) -> BenchmarksOut:
    if row is None:
        defaults = engine.DEFAULT_BENCHMARKS
        return BenchmarksOut(
            account_id=account_id,
            ctr_benchmark=defaults.ctr,
            cpa_benchmark=defaults.cpa,
            roas_benchmark=defaults.roas,
            source="default",
            updated_at=None,
            updated_by=None,
        )
    return BenchmarksOut(
        account_id=account_id,
        ctr_benchmark=row.ctr_pct,
        cpa_benchmark=row.cpa,
        roas_benchmark=row.roas,
        source="account",
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _audit_value(row: queries.BenchmarkRow | None) -> dict[str, str] | None:
    if row is None:
        return None
    return {"ctr_benchmark": str(row.ctr_pct), "cpa_benchmark": str(row.cpa), "roas_benchmark": str(row.roas)}


@routes.get(
    "/api/v1/analytics/benchmarks/{account_id}",
    name="analytics-benchmarks",
    summary="The benchmarks the performance score uses for this account (the defaults until set)",
    response=BenchmarksOut,
    errors=(404,),
    path_params={"account_id": str},
)
async def get_benchmarks(request: web.Request, account_id: str) -> web.Response:
    account = (await _member_accounts(request, account_id))[0]
    stored = await queries.benchmarks_for_accounts(request.config_dict[PG], account_ids=[account.id])
    return json_response(_benchmarks_out(account.id, stored.get(account.id)))


@routes.route(
    "PUT",
    "/api/v1/analytics/benchmarks/{account_id}",
    name="analytics-benchmarks-update",
    summary="Set this account's CTR, CPA and ROAS benchmarks (owners and managers; audited)",
    body=BenchmarksIn,
    response=BenchmarksOut,
    errors=(403, 404),
    path_params={"account_id": str},
)
async def put_benchmarks(request: web.Request, body: BenchmarksIn, account_id: str) -> web.Response:
    caller = principal(request)
    account = (await _member_accounts(request, account_id))[0]
    if account.role not in BENCHMARK_ROLES:
        raise Forbidden("only owners and managers can change benchmarks")
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        before = await queries.benchmarks_for_update(conn, account_id=account.id)
        after = await queries.upsert_benchmarks(
            conn,
            account_id=account.id,
            ctr_pct=body.ctr_benchmark,
            cpa=body.cpa_benchmark,
            roas=body.roas_benchmark,
            user_id=caller.user_id,
        )
        await insert_audit_entry(
            conn,
            action="analytics.benchmarks.update",
            actor_id=caller.user_id,
            target_type="ad_account",
            target_id=account.id,
            before=_audit_value(before),
            after=_audit_value(after),
            client_addr=client_address(request),
            request_id=request_id(request),
        )
    return json_response(_benchmarks_out(account.id, after))

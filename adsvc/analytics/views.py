"""HTTP handlers for analytics: the dashboard, the performance ranking, trends, and per-account benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from adsvc.analytics import engine, queries
from adsvc.analytics.schemas import (
    AccountPeriodOut,
    BenchmarksIn,
    BenchmarkSource,
    BenchmarksOut,
    BenchmarksUsedOut,
    CampaignMetricsOut,
    CampaignScoreOut,
    ChangeOut,
    CurrencyDashboardOut,
    DashboardOut,
    DashboardQuery,
    GrowthOut,
    PerformanceAccountOut,
    PerformanceOut,
    PerformanceQuery,
    PeriodMetricsOut,
    PeriodQuery,
    ScorePartOut,
    TopCampaignOut,
    TrendPointOut,
    TrendsOut,
    TrendsQuery,
)
from adsvc.audit.queries import insert_audit_entry
from adsvc.campaigns.metrics import Totals, totals_of
from adsvc.campaigns.periods import PeriodError, resolve_period
from adsvc.campaigns.schemas import MetricsOut
from adsvc.collection.plan import account_today
from adsvc.collection.records import account_number
from adsvc.errors import Forbidden, NotFound, ValidationFailed
from adsvc.keys import PG
from adsvc.requests import client_address, principal, request_id
from adsvc.routing import Routes, json_response

routes = Routes(tag="analytics")

BENCHMARK_ROLES = frozenset({"owner", "manager"})
MAX_WARMUP_DAYS = max(max(engine.MOVING_AVERAGE_WINDOWS) - 1, engine.ANOMALY_WINDOW)

DASHBOARD_NOTE = (
    "totals are sums of the account-level daily rows per currency (money is never added across currencies); "
    "ratios come from those sums; the previous period has the same length and ends the day before the period; "
    "presets are resolved against each account's own today; active_campaigns counts campaigns that delivered"
)
PERFORMANCE_NOTE = (
    "score = weighted mean of the parts that apply (CTR 0.3, CPA 0.4, ROAS 0.3), each min(100, value/benchmark*100) "
    "(CPA: benchmark/value); CTR needs impressions, CPA conversions, ROAS spend and conversion value; "
    "reach and frequency only for one-day periods because they do not add up across days"
)
TRENDS_METHOD = (
    "robust z-score: 0.6745 * (value - median) / MAD over the up to 14 preceding days with data (the day excluded, "
    "at least 7); high/low beyond the threshold. Moving averages and growth need fully covered windows; ratios are "
    "ratios of window sums"
)


def _metrics(totals: Totals) -> dict[str, Any]:
    return MetricsOut.from_totals(totals).model_dump()


@dataclass(frozen=True, slots=True)
class _Period:
    account: queries.AccountRow
    since: date
    until: date
    previous_since: date
    previous_until: date


async def _member_accounts(request: web.Request, account_id: str | None) -> list[queries.AccountRow]:
    accounts = await queries.member_accounts(
        request.config_dict[PG],
        user_id=principal(request).user_id,
        account_id=account_number(account_id) if account_id is not None else None,
    )
    if account_id is not None and not accounts:
        raise NotFound("ad account not found")
    return accounts


def _periods(accounts: Sequence[queries.AccountRow], query: PeriodQuery) -> list[_Period]:
    """Each account's period and the one before it; the request is checked even when there is no account."""
    periods = []
    candidates: Sequence[queries.AccountRow | None] = accounts or [None]
    for account in candidates:
        timezone_name = account.timezone_name if account is not None else "UTC"
        try:
            since, until = resolve_period(
                today=account_today(timezone_name),
                preset=query.date_preset,
                since=query.since,
                until=query.until,
            )
            previous_since, previous_until = engine.previous_period(since, until)
        except (PeriodError, engine.PeriodOverflow) as exc:
            raise ValidationFailed.field(("query",), str(exc), kind="period") from None
        if account is not None:
            periods.append(_Period(account, since, until, previous_since, previous_until))
    return periods


def _current(periods: Sequence[_Period]) -> list[queries.AccountPeriod]:
    return [queries.AccountPeriod("current", p.account.id, p.since, p.until) for p in periods]


def _previous(periods: Sequence[_Period]) -> list[queries.AccountPeriod]:
    return [queries.AccountPeriod("previous", p.account.id, p.previous_since, p.previous_until) for p in periods]


def _period_metrics(row: queries.CurrencyTotalsRow | None) -> PeriodMetricsOut:
    totals = totals_of(row) if row is not None else engine.ZERO_TOTALS
    return PeriodMetricsOut(**_metrics(totals), active_campaigns=row.active_campaigns if row is not None else 0)


def _change(current: PeriodMetricsOut, previous: PeriodMetricsOut) -> ChangeOut:
    return ChangeOut(
        **{
            name: engine.percent_change(getattr(current, name), getattr(previous, name))
            for name in ChangeOut.model_fields
        }
    )


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
    accounts = await _member_accounts(request, query.account_id)
    periods = _periods(accounts, query)
    if periods:
        totals, top, active_now = await asyncio.gather(
            queries.totals_by_currency(pg, user_id=user_id, periods=_current(periods) + _previous(periods)),
            queries.top_campaigns_by_spend(pg, user_id=user_id, periods=_current(periods), per_currency=query.top),
            queries.campaigns_active_now(pg, user_id=user_id, account_ids=[a.id for a in accounts]),
        )
    else:
        totals, top, active_now = [], [], {}
    by_key = {(row.label, row.currency): row for row in totals}
    currencies: dict[str, list[str]] = {}
    for account in accounts:
        currencies.setdefault(account.currency, []).append(account.id)
    groups = []
    for currency, account_ids in sorted(currencies.items()):
        current = _period_metrics(by_key.get(("current", currency)))
        previous = _period_metrics(by_key.get(("previous", currency)))
        groups.append(
            CurrencyDashboardOut(
                currency=currency,
                account_ids=account_ids,
                current=current,
                previous=previous,
                change_pct=_change(current, previous),
                campaigns_active_now=active_now.get(currency, 0),
                top_campaigns=[
                    TopCampaignOut(
                        **_metrics(totals_of(row)),
                        campaign_id=row.campaign_id,
                        account_id=row.account_id,
                        name=row.name,
                        status=row.status,
                        effective_status=row.effective_status,
                    )
                    for row in top
                    if row.currency == currency
                ],
            )
        )
    return json_response(
        DashboardOut(
            date_preset=query.date_preset or (None if query.since else "last_7d"),
            since=min((p.since for p in periods), default=None),
            until=max((p.until for p in periods), default=None),
            accounts=[
                AccountPeriodOut(
                    account_id=p.account.id,
                    name=p.account.name,
                    currency=p.account.currency,
                    timezone_name=p.account.timezone_name,
                    since=p.since,
                    until=p.until,
                    previous_since=p.previous_since,
                    previous_until=p.previous_until,
                )
                for p in periods
            ],
            by_currency=groups,
            mixed_currencies=len(groups) > 1,
            note=DASHBOARD_NOTE,
        )
    )


def _benchmarks_used(
    stored: queries.BenchmarkRow | None, query: PerformanceQuery
) -> tuple[engine.Benchmarks, BenchmarksUsedOut]:
    values: dict[str, Decimal] = {}
    sources: dict[str, BenchmarkSource] = {}
    for name, stored_value, requested in (
        ("ctr", stored.ctr_pct if stored else None, query.ctr_benchmark),
        ("cpa", stored.cpa if stored else None, query.cpa_benchmark),
        ("roas", stored.roas if stored else None, query.roas_benchmark),
    ):
        if requested is not None:
            values[name], sources[name] = requested, "request"
        elif stored_value is not None:
            values[name], sources[name] = stored_value, "account"
        else:
            values[name], sources[name] = getattr(engine.DEFAULT_BENCHMARKS, name), "default"
    used = engine.Benchmarks(ctr=values["ctr"], cpa=values["cpa"], roas=values["roas"])
    out = BenchmarksUsedOut(ctr_benchmark=used.ctr, cpa_benchmark=used.cpa, roas_benchmark=used.roas, sources=sources)
    return used, out


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
    accounts = await _member_accounts(request, query.account_id)
    periods = _periods(accounts, query)
    if periods:
        stored, rows = await asyncio.gather(
            queries.benchmarks_for_accounts(pg, account_ids=[a.id for a in accounts]),
            queries.campaign_totals(pg, user_id=user_id, periods=_current(periods)),
        )
    else:
        stored, rows = {}, []
    benchmarks: dict[str, engine.Benchmarks] = {}
    account_out = []
    for p in periods:
        used, out = _benchmarks_used(stored.get(p.account.id), query)
        benchmarks[p.account.id] = used
        account_out.append(
            PerformanceAccountOut(
                account_id=p.account.id, currency=p.account.currency, since=p.since, until=p.until, benchmarks=out
            )
        )
    scored = [(row, engine.score_campaign(totals_of(row), benchmarks[row.account_id])) for row in rows]
    scored.sort(key=lambda item: (item[1].score is None, -(item[1].score or 0), item[0].campaign_id))
    campaigns = []
    for rank, (row, score) in enumerate(scored[: query.limit], start=1):
        campaigns.append(
            CampaignScoreOut(
                rank=rank,
                campaign_id=row.campaign_id,
                account_id=row.account_id,
                name=row.name,
                status=row.status,
                effective_status=row.effective_status,
                currency=row.currency,
                metrics=CampaignMetricsOut(**_metrics(totals_of(row)), reach=row.reach, frequency=row.frequency),
                score=score.score,
                rating=score.rating.value if score.rating else None,
                rating_code=score.rating.code if score.rating else None,
                parts=[
                    ScorePartOut(
                        metric=part.metric,  # type: ignore[arg-type]
                        value=part.value.quantize(Decimal("0.000001")),
                        benchmark=part.benchmark,
                        weight=part.weight,
                        subscore=part.subscore.quantize(Decimal("0.01")),
                    )
                    for part in score.parts
                ],
                skipped=score.skipped,
            )
        )
    return json_response(
        PerformanceOut(
            date_preset=query.date_preset or (None if query.since else "last_7d"),
            weights=engine.WEIGHTS,
            accounts=account_out,
            campaigns=campaigns,
            truncated=len(scored) > query.limit,
            note=PERFORMANCE_NOTE,
        )
    )


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

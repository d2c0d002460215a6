"""The analytics reads the JSON API and the pages share: whose accounts, which periods, the dashboard and the scored
campaigns, composed from queries.py and the engine's math. No HTTP here: views.py and adsvc/pages call these."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from adsvc.analytics import engine, queries
from adsvc.analytics.schemas import (
    AccountPeriodOut,
    BenchmarkSource,
    BenchmarksUsedOut,
    CampaignMetricsOut,
    CampaignScoreOut,
    ChangeOut,
    CurrencyDashboardOut,
    DashboardOut,
    DashboardQuery,
    PerformanceAccountOut,
    PerformanceOut,
    PerformanceQuery,
    PeriodMetricsOut,
    PeriodQuery,
    ScorePartOut,
    TopCampaignOut,
)
from adsvc.campaigns.metrics import Totals, totals_of
from adsvc.campaigns.periods import PeriodError, resolve_period
from adsvc.campaigns.schemas import MetricsOut
from adsvc.collection.plan import account_today
from adsvc.collection.records import account_number
from adsvc.errors import NotFound, ValidationFailed

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


def metrics_of(totals: Totals) -> dict[str, Any]:
    return MetricsOut.from_totals(totals).model_dump()


@dataclass(frozen=True, slots=True)
class Period:
    """One account's period and the one before it (same length, ending the day before)."""

    account: queries.AccountRow
    since: date
    until: date
    previous_since: date
    previous_until: date


@dataclass(frozen=True, slots=True)
class Scope:
    """The accounts a request is about (one, or all of the caller's) and each one's period."""

    accounts: list[queries.AccountRow]
    periods: list[Period]

    def current(self) -> list[queries.AccountPeriod]:
        return [queries.AccountPeriod("current", p.account.id, p.since, p.until) for p in self.periods]

    def previous(self) -> list[queries.AccountPeriod]:
        return [queries.AccountPeriod("previous", p.account.id, p.previous_since, p.previous_until)
                for p in self.periods]  # fmt: skip


async def member_accounts(pg: asyncpg.Pool, *, user_id: int, account_id: str | None) -> list[queries.AccountRow]:
    """The caller's accounts, or the one named (404 when the caller is not a member of it)."""
    accounts = await queries.member_accounts(
        pg, user_id=user_id, account_id=account_number(account_id) if account_id is not None else None
    )
    if account_id is not None and not accounts:
        raise NotFound("ad account not found")
    return accounts


def resolve_periods(accounts: Sequence[queries.AccountRow], query: PeriodQuery) -> list[Period]:
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
            periods.append(Period(account, since, until, previous_since, previous_until))
    return periods


async def scope_of(pg: asyncpg.Pool, *, user_id: int, query: PeriodQuery) -> Scope:
    accounts = await member_accounts(pg, user_id=user_id, account_id=query.account_id)
    return Scope(accounts=accounts, periods=resolve_periods(accounts, query))


# ---- dashboard -----------------------------------------------------------------------------------------------------


def _period_metrics(row: queries.CurrencyTotalsRow | None) -> PeriodMetricsOut:
    totals = totals_of(row) if row is not None else engine.ZERO_TOTALS
    return PeriodMetricsOut(**metrics_of(totals), active_campaigns=row.active_campaigns if row is not None else 0)


def _change(current: PeriodMetricsOut, previous: PeriodMetricsOut) -> ChangeOut:
    return ChangeOut(
        **{
            name: engine.percent_change(getattr(current, name), getattr(previous, name))
            for name in ChangeOut.model_fields
        }
    )


async def dashboard(pg: asyncpg.Pool, *, user_id: int, scope: Scope, query: DashboardQuery) -> DashboardOut:
    """Totals per currency for the period and the one before, their change, and the top campaigns by spend."""
    accounts, periods = scope.accounts, scope.periods
    if periods:
        totals, top, active_now = await asyncio.gather(
            queries.totals_by_currency(pg, user_id=user_id, periods=scope.current() + scope.previous()),
            queries.top_campaigns_by_spend(pg, user_id=user_id, periods=scope.current(), per_currency=query.top),
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
                        **metrics_of(totals_of(row)),
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
    return DashboardOut(
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


# ---- performance ---------------------------------------------------------------------------------------------------


def benchmarks_used(
    stored: queries.BenchmarkRow | None, query: PerformanceQuery
) -> tuple[engine.Benchmarks, BenchmarksUsedOut]:
    """The request's benchmarks, else the account's, else the defaults; and where each came from."""
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


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every campaign with insights in its account's period, best score first (no score last), and the benchmarks
    each account was scored against."""

    accounts: list[PerformanceAccountOut]
    benchmarks: dict[str, engine.Benchmarks]
    scored: list[tuple[queries.CampaignTotalsRow, engine.Score]]


async def ranking(pg: asyncpg.Pool, *, user_id: int, scope: Scope, query: PerformanceQuery) -> Ranking:
    if scope.periods:
        stored, rows = await asyncio.gather(
            queries.benchmarks_for_accounts(pg, account_ids=[a.id for a in scope.accounts]),
            queries.campaign_totals(pg, user_id=user_id, periods=scope.current()),
        )
    else:
        stored, rows = {}, []
    benchmarks: dict[str, engine.Benchmarks] = {}
    accounts = []
    for p in scope.periods:
        used, out = benchmarks_used(stored.get(p.account.id), query)
        benchmarks[p.account.id] = used
        accounts.append(
            PerformanceAccountOut(
                account_id=p.account.id, currency=p.account.currency, since=p.since, until=p.until, benchmarks=out
            )
        )
    scored = [(row, engine.score_campaign(totals_of(row), benchmarks[row.account_id])) for row in rows]
    scored.sort(key=lambda item: (item[1].score is None, -(item[1].score or 0), item[0].campaign_id))
    return Ranking(accounts=accounts, benchmarks=benchmarks, scored=scored)


def campaign_score_out(rank: int, row: queries.CampaignTotalsRow, score: engine.Score) -> CampaignScoreOut:
    return CampaignScoreOut(
        rank=rank,
        campaign_id=row.campaign_id,
        account_id=row.account_id,
        name=row.name,
        status=row.status,
        effective_status=row.effective_status,
        currency=row.currency,
        metrics=CampaignMetricsOut(**metrics_of(totals_of(row)), reach=row.reach, frequency=row.frequency),
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


def performance_out(ranked: Ranking, query: PerformanceQuery) -> PerformanceOut:
    return PerformanceOut(
        date_preset=query.date_preset or (None if query.since else "last_7d"),
        weights=engine.WEIGHTS,
        accounts=ranked.accounts,
        campaigns=[
            campaign_score_out(rank, row, score)
            for rank, (row, score) in enumerate(ranked.scored[: query.limit], start=1)
        ],
        truncated=len(ranked.scored) > query.limit,
        note=PERFORMANCE_NOTE,
    )

"""Request and response bodies of the analytics API: dashboard, performance ranking, trends and benchmarks.

Money is a decimal string in the account currency (exact) and is never added across currencies; counts are
integers; ratios, scores and percentages are decimal strings too. Dates are days in the account's timezone.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from adsvc.analytics.engine import Metric, RatingCode
from adsvc.campaigns.schemas import PERIOD_RULES, DatePreset, MetricsOut
from adsvc.routing import decimal_places

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date_text(value: object) -> object:
    # pydantic's lax mode would read "0" as a Unix timestamp (1970-01-01): a query date must be written as a date
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


QueryDate = Annotated[date, BeforeValidator(_iso_date_text)]

ACCOUNT_ID_PATTERN = r"^(act_)?[0-9]{1,20}$"
CAMPAIGN_ID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"

CtrBenchmark = Annotated[
    Decimal,
    Field(gt=0, le=100, decimal_places=6, description="CTR benchmark in percent (2.0 = 2 %)"),
    decimal_places(6),
]
CpaBenchmark = Annotated[
    Decimal,
    Field(gt=0, le=10**12, decimal_places=4, description="CPA benchmark in the account currency"),
    decimal_places(4),
]
RoasBenchmark = Annotated[
    Decimal,
    Field(gt=0, le=10**4, decimal_places=6, description="ROAS benchmark (conversion value / spend)"),
    decimal_places(6),
]


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=PERIOD_RULES)
    account_id: str | None = Field(
        default=None, pattern=ACCOUNT_ID_PATTERN, description="One of your accounts; all of them when omitted"
    )
    since: QueryDate | None = None
    until: QueryDate | None = None
    date_preset: DatePreset | None = Field(default=None, description="Default last_7d (the 7 days before today)")


# ---- dashboard -----------------------------------------------------------------------------------------------------


class DashboardQuery(PeriodQuery):
    top: int = Field(default=5, ge=1, le=50, description="Top campaigns by spend, per currency")


class PeriodMetricsOut(MetricsOut):
    active_campaigns: int = Field(description="Campaigns that delivered (impressions or spend) in the period")


class ChangeOut(BaseModel):
    """Change from the previous period in percent of the previous value; null when that is zero or missing."""

    spend: Decimal | None
    impressions: Decimal | None
    clicks: Decimal | None
    ctr: Decimal | None
    cpc: Decimal | None
    cpm: Decimal | None
    conversions: Decimal | None
    cpa: Decimal | None
    conversion_value: Decimal | None
    roas: Decimal | None
    active_campaigns: Decimal | None


class TopCampaignOut(MetricsOut):
    campaign_id: str
    account_id: str
    name: str
    status: str | None
    effective_status: str | None


class CurrencyDashboardOut(BaseModel):
    currency: str
    account_ids: list[str]
    current: PeriodMetricsOut
    previous: PeriodMetricsOut
    change_pct: ChangeOut
    campaigns_active_now: int = Field(description="Campaigns whose effective status is ACTIVE at the last sync")
    top_campaigns: list[TopCampaignOut]


class AccountPeriodOut(BaseModel):
    account_id: str
    name: str
    currency: str
    timezone_name: str
    since: date
    until: date
    previous_since: date
    previous_until: date


class DashboardOut(BaseModel):
    date_preset: str | None
    since: date | None = Field(description="Earliest first day over the accounts (presets follow each account's today)")
    until: date | None
    accounts: list[AccountPeriodOut]
    by_currency: list[CurrencyDashboardOut] = Field(description="One entry per currency; money is never added across")
    mixed_currencies: bool
    note: str


# ---- performance ---------------------------------------------------------------------------------------------------


class PerformanceQuery(PeriodQuery):
    ctr_benchmark: CtrBenchmark | None = None
    cpa_benchmark: CpaBenchmark | None = None
    roas_benchmark: RoasBenchmark | None = None
    limit: int = Field(default=100, ge=1, le=1000)


BenchmarkSource = Literal["default", "account", "request"]


class BenchmarksUsedOut(BaseModel):
    ctr_benchmark: Decimal
    cpa_benchmark: Decimal
    roas_benchmark: Decimal
    sources: dict[str, BenchmarkSource] = Field(
        description="Per benchmark: default, the account's setting, or this request"
    )


class PerformanceAccountOut(BaseModel):
    account_id: str
    currency: str
    since: date
    until: date
    benchmarks: BenchmarksUsedOut


class ScorePartOut(BaseModel):
    metric: Literal["ctr", "cpa", "roas"]
    value: Decimal
    benchmark: Decimal
    weight: Decimal
    subscore: Decimal = Field(description="0-100")


class CampaignMetricsOut(MetricsOut):
    reach: int | None = Field(description="Only for one-day periods: reach does not add up across days")
    frequency: Decimal | None = Field(description="Only for one-day periods, like reach")


class CampaignScoreOut(BaseModel):
    rank: int
    campaign_id: str
    account_id: str
    name: str
    status: str | None
    effective_status: str | None
    currency: str
    metrics: CampaignMetricsOut
    score: Decimal | None = Field(description="0-100; null when no part applies (no impressions)")
    rating: Literal["Excelente", "Bom", "Regular", "Ruim"] | None = Field(
        description="The older service's label, in Portuguese as its clients expect; null with no score"
    )
    rating_code: RatingCode | None = Field(
        description="The same rating as a stable code (Excelente: excellent, Bom: good, Regular: fair, Ruim: poor)"
    )
    parts: list[ScorePartOut]
    skipped: dict[str, str] = Field(description="Parts that do not apply, and why")


class PerformanceOut(BaseModel):
    date_preset: str | None
    weights: dict[str, Decimal]
    accounts: list[PerformanceAccountOut]
    campaigns: list[CampaignScoreOut]
    truncated: bool
    note: str


# ---- trends --------------------------------------------------------------------------------------------------------


class TrendsQuery(BaseModel):
    """The daily series of one account, or of one campaign: account_id or campaign_id (or both)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"anyOf": [{"required": ["account_id"]}, {"required": ["campaign_id"]}]}
    )
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    campaign_id: str | None = Field(default=None, pattern=CAMPAIGN_ID_PATTERN, description="A campaign's own series")
    metric: Metric = Field(default="spend", description="The metric the averages, growth and anomalies are about")
    days: int = Field(default=30, ge=7, le=90, description="Days shown, ending yesterday (today is incomplete)")
    anomaly_threshold: Annotated[
        Decimal,
        Field(ge=1, le=10, decimal_places=2, description="|robust z-score| above which a day is flagged"),
        decimal_places(2),
    ] = Decimal("3.5")

    @model_validator(mode="after")
    def _one_scope(self) -> TrendsQuery:
        if self.account_id is None and self.campaign_id is None:
            raise ValueError("give account_id or campaign_id")
        return self


class TrendPointOut(BaseModel):
    date: date
    covered: bool = Field(description="Inside the stored data; metrics are null outside it")
    spend: Decimal | None
    impressions: int | None
    clicks: int | None
    ctr: Decimal | None
    cpc: Decimal | None
    cpm: Decimal | None
    conversions: Decimal | None
    cpa: Decimal | None
    roas: Decimal | None
    value: Decimal | None = Field(description="The chosen metric on this day")
    ma_7: Decimal | None
    ma_14: Decimal | None
    ma_30: Decimal | None
    baseline: Decimal | None = Field(description="Median of the trailing window the day is compared with")
    anomaly_score: Decimal | None = Field(description="Robust z-score: 0.6745 * (value - median) / MAD")
    anomaly: Literal["high", "low"] | None


class GrowthOut(BaseModel):
    window_days: int
    current: Decimal | None
    previous: Decimal | None
    change_pct: Decimal | None


class TrendsOut(BaseModel):
    account_id: str
    campaign_id: str | None
    currency: str
    metric: Metric
    since: date
    until: date
    data_since: date | None = Field(description="First stored day of the account")
    data_until: date | None
    series: list[TrendPointOut]
    growth: list[GrowthOut]
    anomalies: int
    method: str


# ---- benchmarks ----------------------------------------------------------------------------------------------------


class BenchmarksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ctr_benchmark: CtrBenchmark
    cpa_benchmark: CpaBenchmark
    roas_benchmark: RoasBenchmark


class BenchmarksOut(BaseModel):
    account_id: str
    ctr_benchmark: Decimal
    cpa_benchmark: Decimal
    roas_benchmark: Decimal
    source: Literal["default", "account"]
    updated_at: datetime | None
    updated_by: int | None

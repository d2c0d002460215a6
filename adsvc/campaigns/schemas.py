"""Request and response bodies of the campaigns, insights and metrics API.

Money is a decimal string in the account currency (exact), counts are integers, ratios are decimal strings too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adsvc.campaigns.metrics import Totals, derive

EFFECTIVE_STATUSES = (
    "ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "IN_PROCESS", "WITH_ISSUES", "CAMPAIGN_PAUSED", "ADSET_PAUSED",
    "DISAPPROVED", "PENDING_BILLING_INFO", "PENDING_REVIEW", "PREAPPROVED",
)  # fmt: skip
STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")
SortKey = Literal["name", "created_time", "updated_time", "spend_7d", "id"]  # the keys of queries.SORTS
DatePreset = Literal[
    "today", "yesterday", "last_7d", "last_14d", "last_28d", "last_30d", "last_90d", "this_month", "last_month"
]


class MetricsOut(BaseModel):
    """Totals and the ratios derived from them; shared by the campaigns and analytics APIs."""

    spend: Decimal
    impressions: int
    clicks: int
    inline_link_clicks: int
    conversions: Decimal = Field(
        description="Purchases + leads, each counted once by the account's conversion types (the default "
        "precedence unless the account names its own; see the ad account's `conversions`)"
    )
    conversion_value: Decimal = Field(description="Value of those actions (action_values), by the same rule")
    ctr: Decimal | None = Field(description="Clicks per 100 impressions")
    cpc: Decimal | None
    cpm: Decimal | None
    cpa: Decimal | None = Field(description="Spend per conversion")
    roas: Decimal | None = Field(description="Conversion value per unit of spend")

    @classmethod
    def from_totals(cls, totals: Totals) -> MetricsOut:
        derived = derive(totals)
        return cls(
            spend=totals.spend,
            impressions=totals.impressions,
            clicks=totals.clicks,
            inline_link_clicks=totals.inline_link_clicks,
            conversions=totals.conversions,
            conversion_value=totals.conversion_value,
            ctr=derived.ctr,
            cpc=derived.cpc,
            cpm=derived.cpm,
            cpa=derived.cpa,
            roas=derived.roas,
        )


class DailyMetricsOut(MetricsOut):
    date: date
    reach: int | None
    frequency: Decimal | None


class CampaignOut(BaseModel):
    id: str
    account_id: str
    name: str
    status: str
    effective_status: str
    objective: str | None
    bid_strategy: str | None
    daily_budget: int | None = Field(description="Minor units of the account currency (5000 = 50.00)")
    lifetime_budget: int | None
    currency: str
    start_time: datetime | None
    stop_time: datetime | None
    created_time: datetime | None
    updated_time: datetime | None
    synced_at: datetime
    last_7d: MetricsOut


class CampaignListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=r"^(act_)?[0-9]{1,20}$")
    status: str | None = Field(default=None, description="Comma-separated statuses", max_length=200)
    effective_status: str | None = Field(default=None, description="Comma-separated effective statuses",
                                         max_length=400)  # fmt: skip
    q: str | None = Field(default=None, min_length=1, max_length=200, description="Name contains (any case)")
    sort: SortKey = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=500, description="next_cursor of the previous page")


class CampaignListOut(BaseModel):
    data: list[CampaignOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class CampaignDetailOut(CampaignOut):
    adsets: int
    active_adsets: int
    ads: int
    active_ads: int


class InsightsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: date | None = None
    until: date | None = None
    date_preset: DatePreset | None = None


InsightLevel = Literal["campaign", "adset", "ad"]


class InsightsOut(BaseModel):
    object_id: str
    level: InsightLevel
    currency: str
    since: date
    until: date
    days: list[DailyMetricsOut]
    totals: MetricsOut
    note: str = Field(description="How totals were computed")


class AdPerformanceQuery(InsightsQuery):
    ad_id: str = Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date_from: date
    date_until: date
    limit: int = Field(default=10000, ge=1, le=100000)


class ExportRowOut(BaseModel):
    date: date
    account_id: str
    campaign_id: str
    campaign_name: str
    currency: str
    impressions: int
    clicks: int
    spend: Decimal
    conversions: Decimal
    conversion_value: Decimal
    reach: int | None
    ctr: Decimal | None
    cpc: Decimal | None
    cpm: Decimal | None
    cpa: Decimal | None
    roas: Decimal | None


class ExportOut(BaseModel):
    date_from: date
    date_until: date
    rows: list[ExportRowOut]
    truncated: bool

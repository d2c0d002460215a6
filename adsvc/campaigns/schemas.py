"""Request and response bodies of the campaigns, insights and metrics API.

Money is a decimal string in the account currency (exact), counts are integers, ratios are decimal strings too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adsvc.campaigns.listing import SORT_DESCRIPTION
from adsvc.campaigns.metrics import Totals, derive
from adsvc.campaigns.periods import MAX_PERIOD_DAYS

EFFECTIVE_STATUSES = (
    "ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "IN_PROCESS", "WITH_ISSUES", "CAMPAIGN_PAUSED", "ADSET_PAUSED",
    "DISAPPROVED", "PENDING_BILLING_INFO", "PENDING_REVIEW", "PREAPPROVED",
)  # fmt: skip
STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")


def comma_separated(values: tuple[str, ...]) -> str:
    """The pattern of a filter that takes one or more of `values`, comma-separated (`ACTIVE,PAUSED`), in any case
    and with spaces around the commas allowed."""
    any_case = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in value) for value in values)
    one = "(" + "|".join(any_case) + ")"
    return f"^ *{one}( *, *{one})* *$"


# the cursor is base64url text without padding (its content is the server's business)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
# since and until go together, and not with date_preset: what resolve_period refuses, as JSON Schema states it
PERIOD_RULES: dict[str, Any] = {
    "dependentRequired": {"since": ["until"], "until": ["since"]},
    "not": {"anyOf": [{"required": ["date_preset", "since"]}, {"required": ["date_preset", "until"]}]},
    "description": "The period: date_preset, or since and until together (until not before since, at most "
    f"{MAX_PERIOD_DAYS} days); last_7d when none is given.",
}
# the keys of adsvc.campaigns.listing.SORT_KEYS
SortKey = Literal[
    "name", "created_time", "updated_time", "id", "spend_7d", "spend", "impressions", "clicks", "conversions",
    "conversion_value", "ctr", "cpc", "cpm", "cpa", "roas",
]  # fmt: skip
OBJECT_ID_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"
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


class _ListQuery(BaseModel):
    """The filters, sort and keyset cursor every structure list (campaigns, ad sets, ads) takes."""

    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=r"^(act_)?[0-9]{1,20}$")
    status: str | None = Field(default=None, pattern=comma_separated(STATUSES), max_length=200,
                               description="Comma-separated statuses")  # fmt: skip
    effective_status: str | None = Field(default=None, pattern=comma_separated(EFFECTIVE_STATUSES), max_length=400,
                                         description="Comma-separated effective statuses")  # fmt: skip
    q: str | None = Field(default=None, min_length=1, max_length=200, description="Name contains (any case)")
    sort: SortKey = Field(default="name", description=SORT_DESCRIPTION)
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(
        default=None,
        max_length=500,
        pattern=CURSOR_PATTERN,
        description="next_cursor of the previous page, given with the same sort and order; any other text is a 422",
    )


class CampaignListQuery(_ListQuery):
    pass


class AdSetListQuery(_ListQuery):
    campaign_id: str | None = Field(default=None, pattern=OBJECT_ID_PATTERN)


class AdListQuery(_ListQuery):
    campaign_id: str | None = Field(default=None, pattern=OBJECT_ID_PATTERN)
    adset_id: str | None = Field(default=None, pattern=OBJECT_ID_PATTERN)


class CampaignListOut(BaseModel):
    data: list[CampaignOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class CampaignDetailOut(CampaignOut):
    adsets: int
    active_adsets: int
    ads: int
    active_ads: int


class AdSetOut(BaseModel):
    id: str
    account_id: str
    campaign_id: str
    campaign_name: str | None = Field(description="The stored campaign's name; null if it was never synced")
    name: str
    status: str
    effective_status: str
    optimization_goal: str | None
    billing_event: str | None
    bid_strategy: str | None
    daily_budget: int | None = Field(description="Minor units of the account currency (5000 = 50.00)")
    lifetime_budget: int | None
    currency: str
    start_time: datetime | None
    end_time: datetime | None
    created_time: datetime | None
    updated_time: datetime | None
    synced_at: datetime
    last_7d: MetricsOut


class AdSetListOut(BaseModel):
    data: list[AdSetOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class AdSetDetailOut(AdSetOut):
    ads: int
    active_ads: int


class AdOut(BaseModel):
    id: str
    account_id: str
    campaign_id: str
    campaign_name: str | None = Field(description="The stored campaign's name; null if it was never synced")
    adset_id: str
    adset_name: str | None = Field(description="The stored ad set's name; null if it was never synced")
    name: str
    status: str
    effective_status: str
    currency: str
    created_time: datetime | None
    updated_time: datetime | None
    synced_at: datetime
    last_7d: MetricsOut


class AdListOut(BaseModel):
    data: list[AdOut]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


class InsightsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=PERIOD_RULES)
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
    """date_until is not before date_from."""

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

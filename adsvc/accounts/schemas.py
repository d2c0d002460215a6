"""Request and response bodies of the ad accounts API."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adsvc.collection.conversions import ACTION_TYPE_PATTERN, MAX_ACTION_TYPE_LENGTH, MAX_ACTION_TYPES

SyncKind = Literal["structure", "insights", "backfill"]


class AccountOut(BaseModel):
    id: str = Field(description="Meta's ad account id without the act_ prefix")
    name: str
    currency: str
    timezone_name: str
    timezone_offset_hours_utc: Decimal | None
    account_status: int | None
    token_status: Literal["valid", "invalid", "expired"]
    token_checked_at: datetime | None
    token_error: str | None
    connected_at: datetime
    last_structure_sync_at: datetime | None
    last_insights_sync_at: datetime | None
    role: str | None


class AccountListOut(BaseModel):
    data: list[AccountOut]


class ConnectAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(pattern=r"^(act_)?[0-9]{1,20}$", description="act_123 or 123")
    access_token: str = Field(
        min_length=10,
        max_length=4096,
        pattern=r"^[\x21-\x7e]+$",
        description="Stored encrypted; never returned (printable ASCII, as Meta issues them)",
    )


class CampaignCountsOut(BaseModel):
    total: int
    by_effective_status: dict[str, int]


class ConversionsOut(BaseModel):
    action_types: list[str] | None = Field(
        description="the action types this account counts as conversions, added; null = the default precedence"
    )
    rule: str = Field(description="how a row's conversions are counted: `a > b` is the first present, `a + b` adds")


class AccountDetailOut(AccountOut):
    campaigns: CampaignCountsOut
    running_syncs: int
    conversions: ConversionsOut


class SyncIn(BaseModel):
    """days applies to a backfill only."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"not": {"properties": {"kind": {"const": "backfill"}}, "required": ["kind"]}},
            "then": {"properties": {"days": {"type": "null"}}},
        },
    )
    kind: SyncKind = "insights"
    days: int | None = Field(default=None, ge=1, le=1110, description="backfill only: days back from today")


class SyncQueuedOut(BaseModel):
    job_id: str
    kind: SyncKind
    queued: bool = Field(description="false when the same sync was already queued")


class SyncRunOut(BaseModel):
    id: int
    kind: str
    status: str
    job_id: str | None
    since: date | None
    until: date | None
    progress: Decimal
    rows_written: int
    objects_written: int
    graph_calls: int
    error_kind: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


class SyncRunListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    before_id: int = Field(default=2**62, ge=1, le=2**62)
    limit: int = Field(default=20, ge=1, le=100)


class SyncRunListOut(BaseModel):
    data: list[SyncRunOut]
    next_before_id: int | None


class AgentCacheOut(BaseModel):
    status: str
    cached: int | bool
    cache_age_seconds: float | None
    cache_ttl_seconds: float
    is_valid: bool
    creation_count: int
    hits: int
    misses: int
    last_creation_time: float | None
    breakers_open: int = Field(description="circuit breakers of this process not closed (open or half-open)")
    accounts: dict[str, dict[str, Any]] | None = Field(
        default=None, description="per account (ids, errors): administrators only, null for anyone else"
    )
    breakers: list[dict[str, Any]] | None = Field(
        default=None, description="every circuit breaker (account ids, last errors): administrators only"
    )


class InvalidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=r"^(act_)?[0-9]{1,20}$", description="omit for all")


class InvalidateOut(BaseModel):
    dropped_here: int
    processes_notified: int


# ---- the account's conversion types -------------------------------------------------------------------------------

ActionType = Annotated[str, Field(pattern=ACTION_TYPE_PATTERN, max_length=MAX_ACTION_TYPE_LENGTH)]


class ConversionSettingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversion_action_types: list[ActionType] | None = Field(
        min_length=1,
        max_length=MAX_ACTION_TYPES,
        description="Meta action types counted as this account's conversions (and their action_values as the "
        "conversion value), added as they are: two types that count the same conversions (purchase and "
        "offsite_conversion.fb_pixel_purchase, lead and offsite_conversion.fb_pixel_lead...) are refused. null "
        "restores the default precedence. Stored rows are recounted from their stored actions.",
        json_schema_extra={"uniqueItems": True},
    )


class ConversionSettingOut(BaseModel):
    account_id: str
    conversions: ConversionsOut
    changed: bool = Field(description="false when the account already had this setting (nothing was recounted)")
    recounted_rows: int = Field(description="stored insight rows whose conversions or value changed")

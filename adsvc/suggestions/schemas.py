"""Request and response bodies of the suggestions API and of the older service's automation endpoints.

Budgets in proposals are integers in minor units of the account currency (5000 = 50.00); money and ratios in the
evidence are decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SuggestionKind = Literal["pause_underperformer", "raise_budget", "lower_budget", "reallocation", "creative_fatigue"]
SuggestionStatus = Literal["open", "accepted", "dismissed", "applied", "expired"]
ACCOUNT_ID_PATTERN = r"^(act_)?[0-9]{1,20}$"


class SuggestionOut(BaseModel):
    id: int
    account_id: str
    object_type: Literal["account", "campaign", "adset", "ad"]
    object_id: str
    object_name: str | None = Field(
        description="The account's, or the stored campaign's, ad set's or ad's name; null if it was never synced"
    )
    kind: SuggestionKind
    status: SuggestionStatus
    rationale: str
    evidence: dict[str, Any] = Field(description="The numbers behind the suggestion, over the period")
    proposal: dict[str, Any] = Field(
        description='What to do, e.g. {"action": "pause"} or {"action": "set_daily_budget", "from": 5000, '
        '"to": 6000, "currency": "BRL"} (minor units)'
    )
    period_since: date
    period_until: date
    currency: str
    created_at: datetime
    updated_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    expires_at: datetime | None


class SuggestionListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    status: SuggestionStatus | None = None
    kind: SuggestionKind | None = None
    object_id: str | None = Field(default=None, pattern=r"^[0-9A-Za-z_-]{1,64}$")
    limit: int = Field(default=50, ge=1, le=200)
    before_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="next_before_id of the previous page")


class SuggestionListOut(BaseModel):
    data: list[SuggestionOut]
    next_before_id: int | None = Field(description="Pass as before_id for the next page; null on the last page")


class _ThresholdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    ctr_threshold: Decimal = Field(default=Decimal("1.0"), gt=0, le=100, description="CTR in percent")
    cpa_threshold: Decimal = Field(default=Decimal("50"), gt=0, le=10**9, description="CPA in the account currency")
    min_spend: Decimal = Field(
        default=Decimal("20"), ge=0, le=10**9, description="Spend over the period before a campaign is judged"
    )


class PauseUnderperformingIn(_ThresholdsIn):
    """Dry run only: the endpoint returns what it would pause; applying comes with the automation actions."""


class OptimizeBudgetsIn(_ThresholdsIn):
    budget_change_percent: int = Field(default=20, ge=1, le=100)
    max_budget_cuts: int = Field(default=5, ge=0, le=100)


class ReallocationPlanIn(_ThresholdsIn):
    reallocation_percent: int = Field(default=50, ge=1, le=100)


class DraftOut(BaseModel):
    object_type: Literal["account", "campaign", "adset", "ad"]
    object_id: str
    kind: SuggestionKind
    rationale: str
    evidence: dict[str, Any]
    proposal: dict[str, Any]
    period_since: date
    period_until: date


class AutomationPlanOut(BaseModel):
    account_id: str
    currency: str
    period_since: date
    period_until: date
    dry_run: Literal[True] = Field(description="Always true for now: nothing was changed at Meta")
    thresholds: dict[str, Any]
    suggestions: list[DraftOut]
    total: int


class AutomationSuggestionsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    limit: int = Field(default=100, ge=1, le=500)


class AutomationSuggestionsOut(BaseModel):
    suggestions: list[SuggestionOut]
    total: int

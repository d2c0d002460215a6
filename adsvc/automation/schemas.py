"""Request and response bodies of the automation actions API, and the older automation endpoints' bodies with
their `dry_run` switch."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adsvc.suggestions.schemas import (
    ACCOUNT_ID_PATTERN,
    AutomationPlanOut,
    OptimizeBudgetsIn,
    PauseUnderperformingIn,
    ReallocationPlanIn,
    SuggestionOut,
)

ActionStatus = Literal["planned", "applied", "failed", "reverted"]


class ActionOut(BaseModel):
    id: int
    account_id: str
    object_type: Literal["campaign", "adset", "ad"]
    object_id: str
    field: Literal["status", "daily_budget"]
    before_value: str | None = Field(description="Status, or daily budget in minor units of the currency")
    after_value: str
    currency: str | None
    status: ActionStatus
    source: Literal["suggestion", "rule", "manual", "legacy"]
    source_id: str | None
    reason: str | None
    reverts_action_id: int | None
    error: str | None
    requested_by: int | None
    created_at: datetime
    applied_at: datetime | None
    reverted_at: datetime | None


class ActionListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    status: ActionStatus | None = None
    object_id: str | None = Field(default=None, pattern=r"^[0-9A-Za-z_-]{1,64}$")
    limit: int = Field(default=50, ge=1, le=200)
    before_id: int | None = Field(default=None, ge=1, le=2**63 - 1, description="next_before_id of the previous page")


class ActionListOut(BaseModel):
    data: list[ActionOut]
    next_before_id: int | None = Field(description="Pass as before_id for the next page; null on the last page")


class SuggestionAppliedOut(BaseModel):
    suggestion: SuggestionOut
    actions: list[ActionOut]


_DRY_RUN = Field(default=True, description="false: apply each suggestion at Meta and return the actions")


class PauseUnderperformingRunIn(PauseUnderperformingIn):
    dry_run: bool = _DRY_RUN


class OptimizeBudgetsRunIn(OptimizeBudgetsIn):
    dry_run: bool = _DRY_RUN


class ReallocationPlanRunIn(ReallocationPlanIn):
    dry_run: bool = _DRY_RUN


class RefusedOut(BaseModel):
    object_type: str
    object_id: str
    code: str
    message: str


class AutomationRunOut(AutomationPlanOut):
    dry_run: bool = Field(description="true: nothing was changed at Meta")  # type: ignore[assignment]
    actions: list[ActionOut] = Field(default_factory=list, description="What was applied (dry_run false only)")
    refused: list[RefusedOut] = Field(default_factory=list, description="Suggestions that could not be applied")

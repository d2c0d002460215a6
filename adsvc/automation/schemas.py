"""Request and response bodies of the automation actions API, and the older automation endpoints' bodies with
their `dry_run` switch."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from adsvc.routing import exactly_one_of
from adsvc.suggestions.schemas import (
    ACCOUNT_ID_PATTERN,
    AutomationPlanOut,
    OptimizeBudgetsIn,
    PauseUnderperformingIn,
    ReallocationPlanIn,
    SuggestionOut,
)

if TYPE_CHECKING:
    from adsvc.automation.queries import ActionRow

ActionStatus = Literal["planned", "applied", "failed", "reverted"]


class ActionOut(BaseModel):
    id: int
    account_id: str
    object_type: Literal["campaign", "adset", "ad"]
    object_id: str
    object_name: str | None = Field(description="The stored object's name; null if it was never synced")
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

    @classmethod
    def from_row(cls, action: ActionRow) -> ActionOut:
        # validated, not copied: a status or field the database holds but this model does not know fails loudly
        return cls.model_validate(action, from_attributes=True)


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


# --- automation rules -------------------------------------------------------------------------------------------

RuleLevel = Literal["account", "campaign", "adset", "ad"]
RuleMetric = Literal[
    "spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "conversion_value", "cpa", "roas"
]
RuleWindow = Literal["today", "yesterday", "last_3d", "last_7d", "last_14d", "last_30d"]
RuleOperator = Literal["gt", "gte", "lt", "lte"]
MAX_CONDITIONS = 20
MAX_CONDITION_DEPTH = 4
_OBJECT_ID = r"^[0-9]{1,30}$"
_Number = Field(ge=0, le=1e15, allow_inf_nan=False)


class RuleCondition(BaseModel):
    """`metric` over `window` compared with `value`; CTR is in percent, money in the account currency. A ratio
    without a denominator (CPA with no conversions, CTR with no impressions) has no value, and the condition is
    false."""

    model_config = ConfigDict(extra="forbid")
    metric: RuleMetric
    window: RuleWindow = Field(default="last_7d", description="last_Nd: the N complete days before today")
    operator: RuleOperator
    value: float = _Number


def _is_none(value: object) -> bool:
    return value is None


_Items = Annotated[list["RuleCondition | RuleConditionGroup"], Field(min_length=1, max_length=MAX_CONDITIONS)]


class RuleConditionGroup(BaseModel):
    """Exactly one of `all` (every item holds) or `any` (at least one does); items are conditions or groups, nested
    at most 4 groups deep, with at most 20 conditions in the whole rule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one_of(all="array", any="array"))
    # the combinator not used is left out of responses, not sent as null
    all: _Items | None = Field(default=None, exclude_if=_is_none)
    any: _Items | None = Field(default=None, exclude_if=_is_none)

    @model_validator(mode="after")
    def _one_combinator(self) -> RuleConditionGroup:
        if (self.all is None) == (self.any is None):
            raise ValueError("a condition group has exactly one of 'all' or 'any'")
        return self

    @property
    def items(self) -> list[RuleCondition | RuleConditionGroup]:
        return self.all if self.all is not None else self.any or []

    def leaves(self) -> list[RuleCondition]:
        found: list[RuleCondition] = []
        for item in self.items:
            found.extend(item.leaves() if isinstance(item, RuleConditionGroup) else [item])
        return found

    def depth(self) -> int:
        return 1 + max((i.depth() for i in self.items if isinstance(i, RuleConditionGroup)), default=0)


class RuleScope(BaseModel):
    """Which objects the rule looks at: every object of `level` in the account that passes every filter given."""

    model_config = ConfigDict(extra="forbid")
    level: RuleLevel
    object_ids: list[Annotated[str, Field(pattern=_OBJECT_ID)]] | None = Field(
        default=None, min_length=1, max_length=500, description="only these objects (of `level`)"
    )
    campaign_ids: list[Annotated[str, Field(pattern=_OBJECT_ID)]] | None = Field(
        default=None, min_length=1, max_length=500, description="only objects of these campaigns"
    )
    effective_statuses: list[Annotated[str, Field(pattern=r"^[A-Z_]{2,40}$")]] | None = Field(
        default=None,
        min_length=1,
        max_length=12,
        description="default: ACTIVE (PAUSED for an activate rule); ignored at account level",
    )
    name_contains: str | None = Field(default=None, min_length=1, max_length=200, description="case-insensitive")


class PauseRuleAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["pause"]


class ActivateRuleAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["activate"]


class BudgetRuleAction(BaseModel):
    """The daily budget changed by `percent` (negative lowers it; not 0) or set to `amount` (exactly one of them),
    then kept within [`min_budget`, `max_budget`] (min_budget not above max_budget); amounts in minor units of the
    account currency (cents)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=exactly_one_of(percent="number", amount="integer"))
    type: Literal["change_budget"]
    percent: (
        Annotated[float, Field(ge=-90, le=500, allow_inf_nan=False, json_schema_extra={"not": {"const": 0}})] | None
    ) = Field(default=None, exclude_if=_is_none)
    amount: Annotated[int, Field(ge=100, le=10**13)] | None = Field(default=None, exclude_if=_is_none)
    min_budget: int | None = Field(default=None, ge=100, le=10**13)
    max_budget: int | None = Field(default=None, ge=100, le=10**13)

    @model_validator(mode="after")
    def _one_target(self) -> BudgetRuleAction:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("change_budget takes exactly one of 'percent' or 'amount'")
        if self.percent == 0:
            raise ValueError("a percent of 0 changes nothing")
        if self.min_budget is not None and self.max_budget is not None and self.min_budget > self.max_budget:
            raise ValueError("min_budget is above max_budget")
        return self


class NotifyRuleAction(BaseModel):
    """No change at Meta: a `rule.triggered` webhook event naming the matched objects."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["notify"]
    message: str | None = Field(default=None, max_length=500)


RuleAction = Annotated[
    PauseRuleAction | ActivateRuleAction | BudgetRuleAction | NotifyRuleAction, Field(discriminator="type")
]


class IntervalSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["interval"]
    every_minutes: int = Field(ge=15, le=7 * 24 * 60)


class DailySchedule(BaseModel):
    """Once a day at `at` (HH:MM) in the account's timezone, on the given weekdays (1 = Monday; default every day)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["daily"]
    at: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(default=None, min_length=1, max_length=7)


RuleSchedule = Annotated[IntervalSchedule | DailySchedule, Field(discriminator="type")]


# what RuleSpec refuses between scope and action: an account-level rule only notifies, an ad has no budget
_LEVEL_ACTIONS: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"scope": {"properties": {"level": {"const": "account"}}}}},
            "then": {"properties": {"action": {"properties": {"type": {"const": "notify"}}}}},
        },
        {
            "if": {"properties": {"scope": {"properties": {"level": {"const": "ad"}}}}},
            "then": {"properties": {"action": {"properties": {"type": {"not": {"const": "change_budget"}}}}}},
        },
    ]
}


class RuleSpec(BaseModel):
    """What a rule looks at, when it acts, what it does, and how often. An account-level rule can only notify; an
    ad-level rule cannot change budgets."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_LEVEL_ACTIONS)
    scope: RuleScope
    conditions: RuleConditionGroup
    min_spend: float = Field(
        default=0,
        ge=0,
        le=1e12,
        allow_inf_nan=False,
        description="An object is judged only once it spent this much (account currency) over the longest window "
        "its conditions use",
    )
    action: RuleAction
    cooldown_minutes: int = Field(
        default=1440, ge=0, le=30 * 24 * 60, description="After acting on an object, leave it alone this long"
    )
    schedule: RuleSchedule = Field(default_factory=lambda: IntervalSchedule(type="interval", every_minutes=60))

    @model_validator(mode="after")
    def _consistent(self) -> RuleSpec:
        if self.conditions.depth() > MAX_CONDITION_DEPTH:
            raise ValueError(f"conditions nest at most {MAX_CONDITION_DEPTH} groups deep")
        if len(self.conditions.leaves()) > MAX_CONDITIONS:
            raise ValueError(f"a rule has at most {MAX_CONDITIONS} conditions")
        if self.scope.level == "account" and self.action.type != "notify":
            raise ValueError("an account-level rule can only notify (an ad account cannot be paused or budgeted)")
        if self.scope.level == "ad" and self.action.type == "change_budget":
            raise ValueError("ads have no budget: change budgets at campaign or adset level")
        return self


class RuleIn(RuleSpec):
    """An account-level rule can only notify; an ad-level rule cannot change budgets; a change_budget action's
    min_budget is not above its max_budget; at most 20 conditions in all, nested at most 4 groups deep."""

    account_id: str = Field(pattern=ACCOUNT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True


class RulePatch(BaseModel):
    """Only the fields given change (none of them may be null); the resulting spec is validated as a whole, so the
    rules between scope and action hold for the merged rule."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    enabled: bool | SkipJsonSchema[None] = None
    scope: RuleScope | SkipJsonSchema[None] = None
    conditions: RuleConditionGroup | SkipJsonSchema[None] = None
    min_spend: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] | SkipJsonSchema[None] = None
    action: RuleAction | SkipJsonSchema[None] = None
    cooldown_minutes: Annotated[int, Field(ge=0, le=30 * 24 * 60)] | SkipJsonSchema[None] = None
    schedule: RuleSchedule | SkipJsonSchema[None] = None


class RuleOut(RuleSpec):
    id: int
    account_id: str
    name: str
    enabled: bool
    version: int = Field(description="Incremented by every change")
    next_run_at: datetime | None = Field(description="When the schedule evaluates it next (null when disabled)")
    last_run_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class RuleListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN)
    enabled: bool | None = None


class RuleListOut(BaseModel):
    data: list[RuleOut]


class RuleDeletedOut(BaseModel):
    id: int
    deleted: bool


class CheckOut(BaseModel):
    metric: str
    window: str
    since: date
    until: date
    operator: str
    threshold: float
    value: float | None = Field(description="The object's value over the window; null when it has none")
    passed: bool


class PlanOut(BaseModel):
    field: Literal["status", "daily_budget"]
    before: str | None
    after: str
    currency: str


class RefusalOut(BaseModel):
    code: str
    message: str


class RuleDecisionOut(BaseModel):
    """What the rule decided for one matched object: the change (`plan`), or why none is made (`refusal`)."""

    object_type: str
    object_id: str
    object_name: str
    why: str
    spend: float = Field(description="Spend over the longest window of the conditions")
    checks: list[CheckOut]
    plan: PlanOut | None
    refusal: RefusalOut | None
    action: ActionOut | None = Field(default=None, description="The action recorded when the rule ran")


class RulePreviewOut(BaseModel):
    rule_id: int
    account_id: str
    today: date = Field(description="Today in the account's timezone: windows end before it (today: it)")
    evaluated: int = Field(description="Objects in scope")
    matched: int
    decisions: list[RuleDecisionOut] = Field(description="Matched objects only")


class RuleRunOut(BaseModel):
    id: int
    rule_id: int
    account_id: str
    trigger: Literal["schedule", "manual"]
    rule_version: int
    status: Literal["running", "succeeded", "partial", "failed"]
    evaluated: int
    matched: int
    applied: int
    refused: int
    failed: int
    results: list[RuleDecisionOut]
    error: str | None
    requested_by: int | None
    started_at: datetime
    finished_at: datetime | None
    replayed: bool = Field(default=False, description="true: this run had already happened (same Idempotency-Key)")


class RuleRunListOut(BaseModel):
    data: list[RuleRunOut]
    next_before_id: int | None


class RuleRunListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(default=20, ge=1, le=100)
    before_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class BacktestIn(BaseModel):
    """until is not before since nor after the account's today; at most 731 days, and at most 1,000,000 object-days
    (objects in scope x days)."""

    model_config = ConfigDict(extra="forbid")
    since: date | None = Field(default=None, description="Default: 30 days before the account's today")
    until: date | None = Field(default=None, description="Default: yesterday in the account's timezone")


class BacktestActionOut(BaseModel):
    object_type: str
    object_id: str
    object_name: str
    field: Literal["status", "daily_budget"] | None = Field(description="null for notify")
    before: str | None
    after: str | None
    why: str
    spend_after: float | None = Field(
        description="For a pause: what the object really spent from the next day to the end of the backtest"
    )


class BacktestDayOut(BaseModel):
    date: date
    matched: int
    actions: list[BacktestActionOut]


class BacktestOut(BaseModel):
    rule_id: int
    account_id: str
    currency: str
    since: date
    until: date
    evaluated_objects: int
    days_with_actions: int
    actions: int
    spend_after_pauses: float = Field(description="Sum of spend_after over the pauses: what pausing would have saved")
    assumptions: list[str]
    days: list[BacktestDayOut] = Field(description="Every day of the period, in order")


class RulePresetOut(BaseModel):
    key: str
    name: str
    description: str
    spec: RuleSpec = Field(description="POST it to /api/v1/automation/rules with an account_id and a name")


class RulePresetListOut(BaseModel):
    data: list[RulePresetOut]

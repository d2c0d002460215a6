"""The planner: from a proposal (a suggestion's or an older endpoint's draft) and the stored object, the exact change
to make (object, field, before -> after, why), or a refusal saying why it cannot be made. No I/O.

Meta allows at most four daily-budget changes per ad set per rolling hour and blocks the fifth (code 17) for an hour;
campaign budgets are treated the same way, and the fifth change is refused here, before Meta is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

STATUS = "status"
DAILY_BUDGET = "daily_budget"
PAUSED = "PAUSED"
ACTIVE = "ACTIVE"
BUDGET_CHANGES_PER_HOUR = 4
BUDGET_WINDOW = timedelta(hours=1)
MIN_DAILY_BUDGET = 100  # minor units: Meta's floor for a daily budget
OBJECT_TYPES = ("campaign", "adset", "ad")
# objects whose status can no longer be switched between ACTIVE and PAUSED
_FINAL_STATUSES = frozenset({"ARCHIVED", "DELETED"})


class Refusal(Exception):
    """A change that cannot (or need not) be made; `code` is machine readable, `retry_at` set when it frees up."""

    def __init__(self, code: str, message: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_at = retry_at


@dataclass(frozen=True, slots=True)
class StoredObject:
    object_type: str
    object_id: str
    account_id: str
    status: str
    daily_budget: int | None
    lifetime_budget: int | None
    currency: str


@dataclass(frozen=True, slots=True)
class Step:
    """One requested change: set `field` of an object to `target`."""

    object_type: str
    object_id: str
    field: str
    target: str
    why: str


@dataclass(frozen=True, slots=True)
class Plan:
    object_type: str
    object_id: str
    account_id: str
    field: str
    before: str | None
    after: str
    currency: str
    why: str


def _budget_step(object_id: str, target: Any, why: str) -> Step:
    if isinstance(target, bool) or not isinstance(target, int):
        raise Refusal("invalid_proposal", f"the proposed daily budget for {object_id} is not an integer")
    return Step("campaign", object_id, DAILY_BUDGET, str(target), why)


def steps_from_proposal(
    *, object_type: str, object_id: str, kind: str, proposal: dict[str, Any], rationale: str
) -> list[Step]:
    """The changes a suggestion (or a draft) asks for, in the order to apply them."""
    action = proposal.get("action")
    if action == "pause":
        return [Step(object_type, object_id, STATUS, PAUSED, rationale)]
    if action == "activate":
        return [Step(object_type, object_id, STATUS, ACTIVE, rationale)]
    if action == "set_daily_budget":
        step = _budget_step(object_id, proposal.get("to"), rationale)
        return [Step(object_type, object_id, step.field, step.target, step.why)]
    if action == "reallocate_daily_budgets":
        rows = [*proposal.get("sources", []), *proposal.get("destinations", [])]  # cuts first: spend never peaks
        if not rows:
            raise Refusal("invalid_proposal", "the reallocation plan names no campaigns")
        return [
            _budget_step(str(row["campaign_id"]), row.get("to"), f"{rationale} ({row.get('from')} -> {row.get('to')})")
            for row in rows
        ]
    raise Refusal("not_applicable", f"a {kind} suggestion ({action}) cannot be applied automatically")


def budget_free_at(recent_changes: Sequence[datetime], now: datetime) -> datetime | None:
    """When the next budget change is allowed, or None when it is allowed now, given the object's recent changes."""
    inside = sorted(at for at in recent_changes if now - at < BUDGET_WINDOW)
    if len(inside) < BUDGET_CHANGES_PER_HOUR:
        return None
    # the window frees up when enough of its changes age out to leave room for one more
    return inside[len(inside) - BUDGET_CHANGES_PER_HOUR] + BUDGET_WINDOW


def plan_step(
    step: Step, stored: StoredObject | None, *, recent_budget_changes: Sequence[datetime], now: datetime
) -> Plan:
    """The exact change for one step against the stored object; raises Refusal when it cannot or need not be made."""
    label = f"{step.object_type} {step.object_id}"
    if stored is None or stored.object_type != step.object_type:
        raise Refusal("object_not_found", f"{label} is not stored for this account; sync it first")
    if step.field == STATUS:
        if step.target not in (PAUSED, ACTIVE):
            raise Refusal("invalid_proposal", f"status can only be set to {PAUSED} or {ACTIVE}")
        if stored.status in _FINAL_STATUSES:
            raise Refusal("not_applicable", f"{label} is {stored.status} and cannot be paused or activated")
        if stored.status == step.target:
            raise Refusal("no_change", f"{label} is already {stored.status}")
        before: str | None = stored.status
    elif step.field == DAILY_BUDGET:
        if stored.daily_budget is None:
            raise Refusal("no_daily_budget", f"{label} has no daily budget to change")
        target = int(step.target)
        if target < MIN_DAILY_BUDGET:
            raise Refusal("invalid_proposal", f"a daily budget must be at least {MIN_DAILY_BUDGET} minor units")
        if target == stored.daily_budget:
            raise Refusal("no_change", f"the daily budget of {label} is already {target}")
        free_at = budget_free_at(recent_budget_changes, now)
        if free_at is not None:
            raise Refusal(
                "budget_change_limit",
                f"{label} had {BUDGET_CHANGES_PER_HOUR} budget changes in the last hour (Meta's limit); "
                f"the next one is allowed at {free_at.isoformat()}",
                retry_at=free_at,
            )
        before = str(stored.daily_budget)
    else:
        raise Refusal("invalid_proposal", f"field {step.field} cannot be changed")
    return Plan(
        object_type=step.object_type,
        object_id=step.object_id,
        account_id=stored.account_id,
        field=step.field,
        before=before,
        after=step.target,
        currency=stored.currency,
        why=step.why,
    )


def revert_step(*, object_type: str, object_id: str, field: str, before_value: str | None, action_id: int) -> Step:
    """The step that restores what an applied action changed."""
    if before_value is None:
        raise Refusal("not_revertible", f"action {action_id} recorded no earlier value to restore")
    return Step(object_type, object_id, field, before_value, f"revert of action {action_id}")

"""The rule evaluator: from a rule's spec and the stored daily totals of the objects in its scope, which objects match
(with the value of every condition), what the rule would change on each, and a day-by-day replay over history.
No I/O.

Windows follow Meta's presets: `today` is the account's current day, `yesterday` the one before, `last_Nd` the N
complete days before today. Every ratio comes from the window's sums (never an average of daily ratios); a ratio
without a denominator has no value and its condition is false, so a rule never acts on an absent number.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adsvc.automation.planner import ACTIVE, DAILY_BUDGET, MIN_DAILY_BUDGET, PAUSED, STATUS, Refusal, Step
from adsvc.automation.schemas import (
    BudgetRuleAction,
    DailySchedule,
    IntervalSchedule,
    RuleCondition,
    RuleConditionGroup,
    RuleSpec,
)
from adsvc.campaigns.metrics import Totals, derived
from adsvc.suggestions.engine import Thresholds

# (days before today where the window starts, days before today where it ends)
WINDOW_OFFSETS: Mapping[str, tuple[int, int]] = {
    "today": (0, 0),
    "yesterday": (1, 1),
    "last_3d": (3, 1),
    "last_7d": (7, 1),
    "last_14d": (14, 1),
    "last_30d": (30, 1),
}
LONGEST_WINDOW_DAYS = max(start for start, _ in WINDOW_OFFSETS.values())
_OPERATORS: Mapping[str, tuple[Callable[[Decimal, Decimal], bool], str]] = {
    "gt": (operator.gt, ">"),
    "gte": (operator.ge, ">="),
    "lt": (operator.lt, "<"),
    "lte": (operator.le, "<="),
}
_ADDITIVE = ("spend", "impressions", "clicks", "conversions", "conversion_value")
_ZERO = Decimal(0)


def window_range(window: str, today: date) -> tuple[date, date]:
    start, end = WINDOW_OFFSETS[window]
    return today - timedelta(days=start), today - timedelta(days=end)


def basis_window(spec: RuleSpec) -> str:
    """The longest window the conditions use: the span min_spend is measured over."""
    return max((c.window for c in spec.conditions.leaves()), key=lambda w: WINDOW_OFFSETS[w][0] - WINDOW_OFFSETS[w][1])


def default_statuses(spec: RuleSpec) -> list[str]:
    if spec.scope.effective_statuses is not None:
        return list(spec.scope.effective_statuses)
    return [PAUSED] if spec.action.type == "activate" else [ACTIVE]


@dataclass(frozen=True, slots=True)
class RuleObject:
    """An object in the rule's scope as stored: `status` is its effective status (an account has none, nor a
    budget)."""

    object_type: str
    object_id: str
    name: str
    status: str | None
    daily_budget: int | None


class DailyTotals(NamedTuple):
    """One object's stored totals of one day, in this column order (database records unpack the same way)."""

    object_id: str
    date: date
    spend: Decimal
    impressions: int
    clicks: int
    conversions: Decimal
    conversion_value: Decimal


class Series:
    """One object's daily totals as running sums from `start`, so any window's totals cost a subtraction."""

    __slots__ = ("_sums", "start")

    def __init__(self, start: date, days: int) -> None:
        self.start = start
        # _sums[k][i] = sum of measure k over the days before start + i
        self._sums: list[list[Any]] = [[_ZERO] * (days + 1), [0] * (days + 1), [0] * (days + 1),
                                       [_ZERO] * (days + 1), [_ZERO] * (days + 1)]  # fmt: skip

    def totals(self, since: date, until: date) -> Totals:
        return self.totals_between((since - self.start).days, (until - self.start).days + 1)

    def totals_between(self, lo: int, hi: int) -> Totals:
        """Totals of the days at offsets [lo, hi) from `start` (days outside the series count as zero)."""
        last = len(self._sums[0]) - 1
        lo = 0 if lo < 0 else last if lo > last else lo
        hi = 0 if hi < 0 else last if hi > last else hi
        spend, impressions, clicks, conversions, value = self._sums
        return Totals(
            spend[hi] - spend[lo],
            impressions[hi] - impressions[lo],
            clicks[hi] - clicks[lo],
            0,
            conversions[hi] - conversions[lo],
            value[hi] - value[lo],
        )

    def spend_between(self, lo: int, hi: int) -> Decimal:
        last = len(self._sums[0]) - 1
        lo = 0 if lo < 0 else last if lo > last else lo
        hi = 0 if hi < 0 else last if hi > last else hi
        spend: Decimal = self._sums[0][hi] - self._sums[0][lo]
        return spend

    @classmethod
    def build(cls, rows: Iterable[DailyTotals], *, start: date, end: date) -> dict[str, Series]:
        """Series per object over [start, end] from its daily rows (days without a row count as zero)."""
        days = (end - start).days + 1
        daily: dict[str, list[list[Any]]] = {}
        for object_id, day, spend, impressions, clicks, conversions, value in rows:
            offset = (day - start).days
            if not 0 <= offset < days:
                continue
            columns = daily.get(object_id)
            if columns is None:
                columns = daily[object_id] = [[_ZERO] * days, [0] * days, [0] * days, [_ZERO] * days,
                                              [_ZERO] * days]  # fmt: skip
            columns[0][offset] = spend
            columns[1][offset] = impressions
            columns[2][offset] = clicks
            columns[3][offset] = conversions
            columns[4][offset] = value
        built: dict[str, Series] = {}
        for object_id, columns in daily.items():
            series = built[object_id] = cls(start, days)
            for sums, values in zip(series._sums, columns, strict=True):
                running = sums[0]
                for i, value in enumerate(values, start=1):
                    running += value
                    sums[i] = running
        return built


_EMPTY = Series(date(2000, 1, 1), 0)


def metric_value(metric: str, totals: Totals) -> Decimal | None:
    if metric in _ADDITIVE:
        return Decimal(getattr(totals, metric))
    return derived(metric, totals)


@dataclass(frozen=True, slots=True)
class Check:
    condition: RuleCondition
    since: date
    until: date
    value: Decimal | None
    passed: bool

    def describe(self) -> str:
        symbol = _OPERATORS[self.condition.operator][1]
        shown = "no value" if self.value is None else _plain(self.value)
        return f"{self.condition.metric} {self.condition.window} {shown} {symbol} {_plain(self.condition.value)}"


@dataclass(frozen=True, slots=True)
class Verdict:
    object: RuleObject
    matched: bool
    spend: Decimal  # over the basis window
    checks: tuple[Check, ...]
    why: str


def _plain(value: Decimal | float) -> str:
    number = Decimal(str(value)) if isinstance(value, float) else value
    text = f"{number.quantize(Decimal('0.0001'), rounding=ROUND_HALF_UP).normalize():f}"
    return text


class Judge:
    """A rule's conditions compiled once, then applied to each object on each day."""

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec
        self.min_spend = Decimal(str(spec.min_spend))
        self.basis = WINDOW_OFFSETS[basis_window(spec)]
        self._thresholds = {id(c): Decimal(str(c.value)) for c in spec.conditions.leaves()}

    def matches(self, series: Series | None, today: date) -> bool:
        """Whether the rule holds for this series today: the verdict's `matched`, without explaining it (a replay
        asks this of every object on every day, and explains only the matches)."""
        series = series or _EMPTY
        offset = (today - series.start).days
        if self.min_spend and series.spend_between(offset - self.basis[0], offset - self.basis[1] + 1) < self.min_spend:
            return False
        return self._holds(self.spec.conditions, series, offset, {})

    def _holds(self, group: RuleConditionGroup, series: Series, offset: int, cache: dict[str, Totals]) -> bool:
        results = (
            self._holds(item, series, offset, cache)
            if isinstance(item, RuleConditionGroup)
            else self._leaf_holds(item, series, offset, cache)
            for item in group.items
        )
        return all(results) if group.all is not None else any(results)

    def _leaf_holds(self, condition: RuleCondition, series: Series, offset: int, cache: dict[str, Totals]) -> bool:
        totals = cache.get(condition.window)
        if totals is None:
            start, end = WINDOW_OFFSETS[condition.window]
            totals = cache[condition.window] = series.totals_between(offset - start, offset - end + 1)
        value = metric_value(condition.metric, totals)
        return value is not None and _OPERATORS[condition.operator][0](value, self._thresholds[id(condition)])

    def __call__(self, obj: RuleObject, series: Series | None, today: date) -> Verdict:
        series = series or _EMPTY
        basis_since = today - timedelta(days=self.basis[0])
        basis_until = today - timedelta(days=self.basis[1])
        spend = series.totals(basis_since, basis_until).spend
        checks: list[Check] = []
        cache: dict[str, Totals] = {}
        matched, why = self._group(self.spec.conditions, series, today, checks, cache)
        if spend < self.min_spend:
            matched = False
            why = f"spend {_plain(spend)} is below the minimum {_plain(self.min_spend)}"
        return Verdict(obj, matched, spend, tuple(checks), why)

    def _group(
        self, group: RuleConditionGroup, series: Series, today: date, checks: list[Check], cache: dict[str, Totals]
    ) -> tuple[bool, str]:
        results = [
            self._group(item, series, today, checks, cache)
            if isinstance(item, RuleConditionGroup)
            else self._leaf(item, series, today, checks, cache)
            for item in group.items
        ]
        if group.all is not None:
            passed = all(ok for ok, _ in results)
            shown = results if passed else [r for r in results if not r[0]]
            joiner = " and " if passed else " or "
        else:
            passed = any(ok for ok, _ in results)
            shown = [r for r in results if r[0]] if passed else results
            joiner = " or " if passed else " and "
        text = joiner.join(reason for _, reason in shown)
        return passed, f"({text})" if len(shown) > 1 else text

    def _leaf(
        self, condition: RuleCondition, series: Series, today: date, checks: list[Check], cache: dict[str, Totals]
    ) -> tuple[bool, str]:
        since, until = window_range(condition.window, today)
        totals = cache.get(condition.window)
        if totals is None:
            totals = cache[condition.window] = series.totals(since, until)
        value = metric_value(condition.metric, totals)
        passed = value is not None and _OPERATORS[condition.operator][0](value, self._thresholds[id(condition)])
        check = Check(condition, since, until, value, passed)
        checks.append(check)
        return passed, check.describe() if passed else f"not {check.describe()}"


def budget_target(action: BudgetRuleAction, before: int) -> int:
    """The new daily budget in minor units: the change, then the caps (never under Meta's floor)."""
    if action.percent is not None:
        target = int((Decimal(before) * (100 + Decimal(str(action.percent))) / 100).quantize(Decimal(1), ROUND_HALF_UP))
    else:
        assert action.amount is not None
        target = action.amount
    if action.max_budget is not None:
        target = min(target, action.max_budget)
    return max(target, action.min_budget or MIN_DAILY_BUDGET, MIN_DAILY_BUDGET)


def cooldown_until(acted_at: datetime | None, spec: RuleSpec) -> datetime | None:
    return None if acted_at is None else acted_at + timedelta(minutes=spec.cooldown_minutes)


def decide(spec: RuleSpec, verdict: Verdict, *, cooled_until: datetime | None, now: datetime) -> Step | None:
    """The change the rule makes on a matched object (None: notify only). Raises Refusal when it makes none."""
    obj = verdict.object
    label = f"{obj.object_type} {obj.object_id}"
    if cooled_until is not None and now < cooled_until:
        raise Refusal(
            "cooldown", f"this rule acted on {label} recently; it may act again after {cooled_until:%Y-%m-%d %H:%M} UTC"
        )
    action = spec.action
    if action.type == "notify":
        return None
    if action.type in ("pause", "activate"):
        target = PAUSED if action.type == "pause" else ACTIVE
        return Step(obj.object_type, obj.object_id, STATUS, target, verdict.why)
    assert isinstance(action, BudgetRuleAction)
    if obj.daily_budget is None:
        raise Refusal("no_daily_budget", f"{label} has no daily budget to change")
    target_budget = budget_target(action, obj.daily_budget)
    if target_budget == obj.daily_budget:
        raise Refusal("no_change", f"the daily budget of {label} is already {target_budget} (within the caps)")
    return Step(obj.object_type, obj.object_id, DAILY_BUDGET, str(target_budget), verdict.why)


def _zone(timezone_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_run_at(
    schedule: IntervalSchedule | DailySchedule, *, timezone_name: str, now: datetime, previous: datetime | None = None
) -> datetime:
    """The first scheduled time after `now`. An interval counts from the previous slot (so slots stay evenly spaced
    and the ones missed while no worker ran are skipped, not replayed); a daily time is in the account's timezone."""
    if isinstance(schedule, IntervalSchedule):
        every = timedelta(minutes=schedule.every_minutes)
        if previous is None:
            return now + every
        return previous + every * ((now - previous) // every + 1)
    zone = _zone(timezone_name)
    hour, minute = (int(part) for part in schedule.at.split(":"))
    local_day = now.astimezone(zone).date()
    for offset in range(9):
        day = local_day + timedelta(days=offset)
        if schedule.weekdays is not None and day.isoweekday() not in schedule.weekdays:
            continue
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("a weekly schedule always has a slot within nine days")


# --- the replay over history --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayAction:
    object: RuleObject
    field: str | None
    before: str | None
    after: str | None
    why: str
    spend_after: Decimal | None


@dataclass(frozen=True, slots=True)
class ReplayDay:
    date: date
    matched: int
    actions: tuple[ReplayAction, ...]


@dataclass(slots=True)
class _Simulated:
    status: str | None
    daily_budget: int | None
    quiet_until: date | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    days: tuple[ReplayDay, ...]
    assumptions: tuple[str, ...] = field(default=())


def replay(
    spec: RuleSpec, objects: Sequence[RuleObject], series: Mapping[str, Series], *, since: date, until: date
) -> Replay:
    """What the rule would have done on each day of [since, until], evaluated once per day at its end (so `today`
    is that whole day), with its own earlier changes carried forward (a paused object stays paused, a budget keeps
    its new value) and the cooldown counted in whole days."""
    judge = Judge(spec)
    cooldown_days = -(-spec.cooldown_minutes // (24 * 60))
    state = {obj.object_id: _Simulated(obj.status, obj.daily_budget) for obj in objects}
    in_scope = set(default_statuses(spec))
    days: list[ReplayDay] = []
    day = since
    while day <= until:
        actions: list[ReplayAction] = []
        matched = 0
        for obj in objects:
            sim = state[obj.object_id]
            if obj.object_type != "account" and sim.status not in in_scope:
                continue
            if sim.quiet_until is not None and day < sim.quiet_until:
                continue
            if not judge.matches(series.get(obj.object_id), day):
                continue
            current = RuleObject(obj.object_type, obj.object_id, obj.name, sim.status, sim.daily_budget)
            verdict = judge(current, series.get(obj.object_id), day)
            matched += 1
            try:
                step = decide(spec, verdict, cooled_until=None, now=datetime.min)
            except Refusal:
                continue
            if step is None:
                actions.append(ReplayAction(current, None, None, None, verdict.why, None))
            elif step.field == STATUS:
                if sim.status == step.target:
                    continue
                spend_after = None
                if step.target == PAUSED and day < until:
                    spend_after = (series.get(obj.object_id) or _EMPTY).totals(day + timedelta(days=1), until).spend
                actions.append(ReplayAction(current, STATUS, sim.status, step.target, verdict.why, spend_after))
                sim.status = step.target
            else:
                actions.append(
                    ReplayAction(current, DAILY_BUDGET, str(sim.daily_budget), step.target, verdict.why, None)
                )
                sim.daily_budget = int(step.target)
            if cooldown_days:
                sim.quiet_until = day + timedelta(days=cooldown_days)
        days.append(ReplayDay(day, matched, tuple(actions)))
        day += timedelta(days=1)
    assumptions = (
        "each day is evaluated once, at its end: 'today' is that whole day, last_Nd the N days before it",
        "objects start from their stored status and daily budget, and only the rule's own changes move them",
        "the metrics are what Meta reported: a paused object's later spend is what pausing would have saved",
        f"the cooldown of {spec.cooldown_minutes} minutes is counted as {cooldown_days} whole day(s)",
    )
    return Replay(tuple(days), assumptions)


# --- the older service's automation endpoints as rules ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    name: str
    description: str
    spec: RuleSpec


def presets(thresholds: Thresholds | None = None) -> list[Preset]:
    """`pause-underperforming` and `optimize-budgets` as rules, with the suggestion engine's defaults (the older
    service's). The reallocation plan moves budget between campaigns at once, so it stays a suggestion."""
    t = thresholds or Thresholds()
    ctr, cpa, spend = float(t.ctr_threshold), float(t.cpa_threshold), float(t.min_spend)
    excellent = float(t.ctr_threshold * t.excellent_ctr_factor)
    under = {
        "any": [
            {"metric": "ctr", "window": "last_7d", "operator": "lt", "value": ctr},
            {"metric": "cpa", "window": "last_7d", "operator": "gt", "value": cpa},
        ]
    }
    strong = {
        "all": [
            {"metric": "ctr", "window": "last_7d", "operator": "gte", "value": excellent},
            {
                "any": [
                    {"metric": "cpa", "window": "last_7d", "operator": "lte", "value": cpa},
                    {"metric": "conversions", "window": "last_7d", "operator": "lt", "value": 1},
                ]
            },
        ]
    }
    step = t.budget_step_percent
    daily = {"type": "daily", "at": "09:00"}
    return [
        Preset(
            "pause-underperforming",
            "Pause underperformers",
            f"Pause ACTIVE campaigns that spent {spend:g}+ over the last 7 days with CTR under {ctr:g}% or CPA over "
            f"{cpa:g} (POST /api/v1/automation/pause-underperforming)",
            RuleSpec.model_validate(
                {
                    "scope": {"level": "campaign"},
                    "conditions": under,
                    "min_spend": spend,
                    "action": {"type": "pause"},
                    "schedule": daily,
                }
            ),
        ),
        Preset(
            "optimize-budgets-raise",
            "Raise the budget of excellent campaigns",
            f"+{step}% daily budget for campaigns with CTR of {excellent:g}%+ and CPA within {cpa:g} over the last "
            f"7 days (the raise half of POST /api/v1/automation/optimize-budgets)",
            RuleSpec.model_validate(
                {
                    "scope": {"level": "campaign"},
                    "conditions": strong,
                    "min_spend": spend,
                    "action": {"type": "change_budget", "percent": step},
                    "schedule": daily,
                    "cooldown_minutes": 24 * 60,
                }
            ),
        ),
        Preset(
            "optimize-budgets-lower",
            "Lower the budget of weak campaigns",
            f"-{step}% daily budget for campaigns with CTR under {ctr:g}% or CPA over {cpa:g} over the last 7 days "
            f"(the cut half of POST /api/v1/automation/optimize-budgets)",
            RuleSpec.model_validate(
                {
                    "scope": {"level": "campaign"},
                    "conditions": under,
                    "min_spend": spend,
                    "action": {"type": "change_budget", "percent": -step},
                    "schedule": daily,
                    "cooldown_minutes": 24 * 60,
                }
            ),
        ),
    ]

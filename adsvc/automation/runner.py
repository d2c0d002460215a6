"""Running automation rules: judge the objects in a rule's scope on stored data, plan each change, and (for a run)
apply the plans through the executor once per run and object, notify, and record the run with what it decided.

The same evaluation serves preview (plans, nothing applied), run-now and the scheduled runs, so a preview shows
exactly what a run would do with the data of that moment.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import asyncpg
from redis.exceptions import RedisError

from adsvc.accounts.queries import Account, account_by_id
from adsvc.audit.queries import insert_audit_entry
from adsvc.automation import queries
from adsvc.automation.executor import ActionContext, apply_step, plan_each, step_key
from adsvc.automation.planner import Plan, Refusal, Step
from adsvc.automation.replays import ReplayPool
from adsvc.automation.rules import (
    LONGEST_WINDOW_DAYS,
    DailyTotals,
    Judge,
    Replay,
    RuleObject,
    Series,
    Verdict,
    cooldown_until,
    decide,
    default_statuses,
    replay,
)
from adsvc.automation.schemas import ActionOut, CheckOut, PlanOut, RefusalOut, RuleDecisionOut, RuleSpec
from adsvc.collection.plan import account_today
from adsvc.crypto import TokenUnreadable
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.errors import GraphError
from adsvc.webhooks.deliveries import emit_event

log = logging.getLogger("adsvc.automation")

MAX_BACKTEST_DAYS = 731
# about 7 s of replay on one core, and 5 running sums per object-day in memory: a request's worth
MAX_BACKTEST_OBJECT_DAYS = 1_000_000


class AccountGone(Exception):
    """The rule's account is no longer stored."""


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    step: Step | None = None  # None with no refusal: notify only
    plan: Plan | None = None
    refusal: Refusal | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    account: Account
    spec: RuleSpec
    today: date
    evaluated: int
    decisions: list[Decision]  # the matched objects only


def rule_spec(rule: queries.RuleRow) -> RuleSpec:
    return RuleSpec.model_validate(rule.spec)


async def _account(pg: asyncpg.Pool, account_id: str) -> Account:
    account = await account_by_id(pg, account_id=account_id)
    if account is None:
        raise AccountGone(account_id)
    return account


async def scope_objects(pg: asyncpg.Pool, spec: RuleSpec, account_id: str) -> list[RuleObject]:
    """The stored objects the rule's scope names (its statuses defaulted by its action)."""
    return await queries.rule_objects(
        pg,
        account_id=account_id,
        level=spec.scope.level,
        statuses=default_statuses(spec),
        object_ids=spec.scope.object_ids,
        campaign_ids=spec.scope.campaign_ids,
        name_contains=spec.scope.name_contains,
    )


async def _series(
    pg: asyncpg.Pool, spec: RuleSpec, account_id: str, objects: list[RuleObject], *, start: date, end: date
) -> dict[str, Series]:
    rows = await queries.daily_totals(
        pg,
        account_id=account_id,
        level=spec.scope.level,
        object_ids=[o.object_id for o in objects],
        since=start,
        until=end,
    )
    return Series.build(rows, start=start, end=end)


async def evaluate(pg: asyncpg.Pool, rule: queries.RuleRow, *, now: datetime | None = None) -> Evaluation:
    """Judge every object in scope today and plan a change for each matched one (planning refusals included)."""
    now = now or datetime.now(UTC)
    spec = rule_spec(rule)
    account = await _account(pg, rule.account_id)
    today = account_today(account.timezone_name, now)
    objects = await scope_objects(pg, spec, account.id)
    series = await _series(pg, spec, account.id, objects, start=today - timedelta(days=LONGEST_WINDOW_DAYS), end=today)
    cooldowns = await queries.rule_cooldowns(pg, rule_id=rule.id)
    judge = Judge(spec)
    decisions: list[Decision] = []
    steps: list[tuple[int, Step]] = []
    for obj in objects:
        verdict = judge(obj, series.get(obj.object_id), today)
        if not verdict.matched:
            continue
        try:
            step = decide(spec, verdict, cooled_until=cooldown_until(cooldowns.get(obj.object_id), spec), now=now)
        except Refusal as refusal:
            decisions.append(Decision(verdict, refusal=refusal))
            continue
        if step is not None:
            steps.append((len(decisions), step))
        decisions.append(Decision(verdict, step=step))
    planned = await plan_each(pg, [step for _, step in steps], account_id=account.id)
    for (index, step), outcome in zip(steps, planned, strict=True):
        verdict = decisions[index].verdict
        if isinstance(outcome, Refusal):
            decisions[index] = Decision(verdict, step=step, refusal=outcome)
        else:
            decisions[index] = Decision(verdict, step=step, plan=outcome)
    return Evaluation(account, spec, today, len(objects), decisions)


def decision_out(decision: Decision, *, action: queries.ActionRow | None = None) -> RuleDecisionOut:
    verdict = decision.verdict
    plan = decision.plan
    return RuleDecisionOut(
        object_type=verdict.object.object_type,
        object_id=verdict.object.object_id,
        object_name=verdict.object.name,
        why=verdict.why,
        spend=float(verdict.spend),
        checks=[
            CheckOut(
                metric=c.condition.metric,
                window=c.condition.window,
                since=c.since,
                until=c.until,
                operator=c.condition.operator,
                threshold=c.condition.value,
                value=None if c.value is None else float(c.value),
                passed=c.passed,
            )
            for c in verdict.checks
        ],
        plan=PlanOut(field=plan.field, before=plan.before, after=plan.after, currency=plan.currency)  # type: ignore[arg-type]
        if plan is not None
        else None,
        refusal=RefusalOut(code=decision.refusal.code, message=decision.refusal.message) if decision.refusal else None,
        action=None if action is None else ActionOut.from_row(action),
    )


@dataclass(frozen=True, slots=True)
class RunResult:
    run: queries.RuleRunRow
    replayed: bool
    blocked: GraphError | CircuitOpen | TokenUnreadable | None = None  # why the run could not act for the account


@dataclass(slots=True)
class _Tally:
    """What a run decided and did, object by object."""

    decisions: list[RuleDecisionOut] = field(default_factory=list)
    applied: int = 0
    refused: int = 0
    failed: int = 0
    acted: list[str] = field(default_factory=list)  # object ids: their cooldown starts now
    notified: list[RuleDecisionOut] = field(default_factory=list)
    error: str | None = None
    blocked: GraphError | CircuitOpen | TokenUnreadable | None = None

    def refuse(self, decision: Decision, refusal: Refusal) -> None:
        self.refused += 1
        self.decisions.append(decision_out(Decision(decision.verdict, step=decision.step, refusal=refusal)))

    def fail(self, decision: Decision, code: str, message: str) -> None:
        self.failed += 1
        failure = Refusal(code, message)
        self.decisions.append(decision_out(Decision(decision.verdict, step=decision.step, refusal=failure)))

    def stop(self, exc: GraphError | CircuitOpen | TokenUnreadable) -> None:
        """The account cannot be acted for at all: the remaining changes are not attempted."""
        self.error = f"could not act for the account: {exc}"
        self.blocked = self.blocked or exc

    @property
    def status(self) -> str:
        if self.error is not None or (self.failed and not self.applied):
            return "failed"
        return "partial" if self.failed else "succeeded"


async def _act(ctx: ActionContext, rule: queries.RuleRow, run_key: str, evaluation: Evaluation) -> _Tally:
    tally = _Tally()
    for decision in evaluation.decisions:
        obj = decision.verdict.object
        if decision.refusal is not None:
            tally.refuse(decision, decision.refusal)
        elif decision.step is None:  # notify only
            out = decision_out(decision)
            tally.decisions.append(out)
            tally.notified.append(out)
            tally.acted.append(obj.object_id)
        elif tally.blocked is not None:
            tally.fail(decision, "not_attempted", tally.error or "")
        else:
            try:
                outcome = await apply_step(
                    ctx,
                    decision.step,
                    account_id=rule.account_id,
                    source="rule",
                    source_id=str(rule.id),
                    idempotency_key=step_key(f"rule:{rule.id}:{run_key}", decision.step),
                )
            except Refusal as refusal:  # the object changed between the evaluation and the write
                tally.refuse(decision, refusal)
                continue
            except (GraphError, CircuitOpen, TokenUnreadable) as exc:
                tally.stop(exc)
                tally.fail(decision, "failed", tally.error or "")
                continue
            if outcome.action.status == "failed":
                tally.failed += 1
                if isinstance(outcome.error, CircuitOpen):  # Meta sheds this account's calls: the rest would too
                    tally.stop(outcome.error)
            else:
                tally.applied += 1
                tally.acted.append(obj.object_id)
            tally.decisions.append(decision_out(decision, action=outcome.action))
    return tally


async def run_rule(
    ctx: ActionContext, rule: queries.RuleRow, *, run_key: str, trigger: str, now: datetime | None = None
) -> RunResult:
    """Evaluate the rule and act on what matched, once per `run_key`: a finished run with this key is returned as
    it is; an unfinished one (its worker died) is run again, and the actions it already made are found by their
    idempotency keys instead of being made twice."""
    run, created = await queries.claim_run(
        ctx.pg, rule=rule, run_key=run_key, trigger=trigger, requested_by=ctx.actor_id
    )
    if not created and run.status != "running":
        return RunResult(run, replayed=True)
    evaluation: Evaluation | None = None
    try:
        evaluation = await evaluate(ctx.pg, rule, now=now)
    except AccountGone:
        tally = _Tally(error="the rule's ad account is no longer connected")
    else:
        tally = await _act(ctx, rule, run_key, evaluation)
        if tally.notified:
            await _notify(ctx, rule, run.id, run_key, evaluation.spec, tally.notified)
    async with ctx.pg.acquire() as conn, conn.transaction():
        if tally.acted:
            await queries.record_cooldowns(conn, rule_id=rule.id, object_ids=tally.acted, acted_at=datetime.now(UTC))
        finished = await queries.finish_run(
            conn,
            run_id=run.id,
            status=tally.status,
            evaluated=evaluation.evaluated if evaluation is not None else 0,
            matched=len(evaluation.decisions) if evaluation is not None else 0,
            applied=tally.applied,
            refused=tally.refused,
            failed=tally.failed,
            results=[d.model_dump(mode="json") for d in tally.decisions],
            error=tally.error,
        )
        await insert_audit_entry(
            conn,
            action="rule.run",
            actor_id=ctx.actor_id,
            actor_label=None if ctx.actor_id is not None else "schedule",
            target_type="rule",
            target_id=str(rule.id),
            outcome="failure" if tally.status == "failed" else "success",
            details={
                "run_id": finished.id,
                "account_id": rule.account_id,
                "trigger": trigger,
                "rule_version": rule.version,
                "status": tally.status,
                "evaluated": finished.evaluated,
                "matched": finished.matched,
                "applied": tally.applied,
                "refused": tally.refused,
                "failed": tally.failed,
                "error": tally.error,
            },
            client_addr=ctx.client_addr,
            request_id=ctx.request_id,
        )
    return RunResult(finished, replayed=False, blocked=tally.blocked)


async def _notify(
    ctx: ActionContext, rule: queries.RuleRow, run_id: int, run_key: str, spec: RuleSpec, matched: list[RuleDecisionOut]
) -> None:
    message = spec.action.message if spec.action.type == "notify" else None
    data = {
        "rule_id": rule.id,
        "rule_name": rule.name,
        "run_id": run_id,
        "level": spec.scope.level,
        "message": message,
        "objects": [
            {"object_type": d.object_type, "object_id": d.object_id, "object_name": d.object_name, "why": d.why}
            for d in matched
        ],
    }
    try:
        await emit_event(
            ctx.pg, ctx.queue, event="rule.triggered", account_id=rule.account_id, data=data,
            event_id=f"rule.triggered:{rule.id}:{run_key}",
        )  # fmt: skip
    except (RedisError, OSError):
        # recorded as an event already or not at all; the run itself stands
        log.exception("could not emit rule.triggered for rule %s", rule.id)


@dataclass(frozen=True, slots=True)
class Backtest:
    account: Account
    since: date
    until: date
    evaluated: int
    replay: Replay


class BacktestPeriodError(ValueError):
    """The requested period is not one a backtest can replay; the message says why."""


@dataclass(frozen=True, slots=True)
class ReplayJob:
    """Everything a worker process needs to replay a rule over stored history (picklable; rows fetched there)."""

    database_url: str
    command_timeout: float
    spec: dict[str, object]
    objects: list[RuleObject]
    account_id: str
    start: date
    since: date
    until: date


async def backtest(
    pg: asyncpg.Pool,
    rule: queries.RuleRow,
    *,
    since: date | None,
    until: date | None,
    now: datetime | None = None,
    replays: ReplayPool | None = None,
    database_url: str | None = None,
    command_timeout: float = 60.0,
) -> Backtest:
    """Replay the rule over [since, until] of stored history (default: the 30 days before the account's today).
    With `replays` (and the `database_url` its processes connect to) the replay, with the read of its rows, runs in
    a worker process; without, the rows are read here and the replay runs in a thread."""
    spec = rule_spec(rule)
    account = await _account(pg, rule.account_id)
    today = account_today(account.timezone_name, now or datetime.now(UTC))
    until = until or today - timedelta(days=1)
    since = since or until - timedelta(days=29)
    if until < since:
        raise BacktestPeriodError("until is before since")
    if until > today:
        raise BacktestPeriodError(f"until is after today ({today.isoformat()}) in the account's timezone")
    if (until - since).days + 1 > MAX_BACKTEST_DAYS:
        raise BacktestPeriodError(f"a backtest spans at most {MAX_BACKTEST_DAYS} days")
    objects = await scope_objects(pg, spec, account.id)
    days = (until - since).days + 1
    if len(objects) * days > MAX_BACKTEST_OBJECT_DAYS:
        raise BacktestPeriodError(
            f"{len(objects):,} objects x {days} days is more than a backtest replays at once "
            f"({MAX_BACKTEST_OBJECT_DAYS:,} object-days): narrow the scope or the period"
        )
    start = since - timedelta(days=LONGEST_WINDOW_DAYS)
    if replays is not None and database_url is not None:
        spec_json = spec.model_dump(mode="json", exclude_none=True)
        job = ReplayJob(database_url, command_timeout, spec_json, objects, account.id, start, since, until)
        result = await replays.run(replay_job, job)
    else:
        rows = await queries.daily_totals(
            pg, account_id=account.id, level=spec.scope.level, object_ids=[o.object_id for o in objects],
            since=start, until=until,
        )  # fmt: skip
        # pure CPU over possibly hundreds of thousands of object-days: off the event loop at least
        result = await asyncio.to_thread(_replay_rows, spec, objects, rows, start=start, since=since, until=until)
    return Backtest(account, since, until, len(objects), result)


def _replay_rows(
    spec: RuleSpec, objects: list[RuleObject], rows: list[DailyTotals], *, start: date, since: date, until: date
) -> Replay:
    return replay(spec, objects, Series.build(rows, start=start, end=until), since=since, until=until)


async def _fetch_totals(job: ReplayJob, level: str) -> list[DailyTotals]:
    conn = await asyncpg.connect(job.database_url, command_timeout=job.command_timeout)
    try:
        return await queries.daily_totals(
            conn, account_id=job.account_id, level=level, object_ids=[o.object_id for o in job.objects],
            since=job.start, until=job.until,
        )  # fmt: skip
    finally:
        await conn.close()


def replay_job(job: ReplayJob) -> Replay:
    """Runs in a worker process (adsvc.automation.replays): read the rows, build the series, replay."""
    spec = RuleSpec.model_validate(job.spec)
    rows = asyncio.run(_fetch_totals(job, spec.scope.level))
    return _replay_rows(spec, job.objects, rows, start=job.start, since=job.since, until=job.until)

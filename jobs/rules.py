"""Automation rule jobs: a cron that hands every due rule to a run job (one per rule and scheduled slot), and that
run job, which acts through the same runner as "run now".

Safe to run twice: the run job's key is the rule and its slot, so a re-delivered job finds its run (and, if that
run died half-way, the actions it already made) instead of acting again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from arq import Retry

from adsvc.automation import queries
from adsvc.automation.executor import ActionContext
from adsvc.automation.rules import next_run_at
from adsvc.automation.runner import rule_spec, run_rule
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.errors import ErrorKind, GraphError

log = logging.getLogger("adsvc.jobs")

# rules handed out per cron tick; the rest wait for the next tick (a minute later)
DUE_BATCH = 200
# tries of one scheduled slot while Meta sheds or throttles the account's calls
RUN_MAX_TRIES = 5


async def schedule_due_rules(ctx: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    queued: list[int] = []
    async with ctx["pg"].acquire() as conn, conn.transaction():
        for due in await queries.claim_due_rules(conn, now=now, limit=DUE_BATCH):
            rule = due.rule
            assert rule.next_run_at is not None
            slot = rule.next_run_at.isoformat()
            # queued before the new slot is committed: a crash in between re-queues the same slot, which the job
            # id (and the run key) make harmless
            await ctx["redis"].enqueue_job("run_scheduled_rule", rule.id, slot, _job_id=f"rule:{rule.id}:{slot}")
            following = next_run_at(
                rule_spec(rule).schedule, timezone_name=due.timezone_name, now=now, previous=rule.next_run_at
            )
            await queries.set_next_run(conn, rule_id=rule.id, next_run_at=following)
            queued.append(rule.id)
    return {"queued": queued}


def _retry_after(blocked: Exception) -> float | None:
    """How long until acting for the account may work again; None when waiting will not help (a token problem)."""
    if isinstance(blocked, CircuitOpen):
        return blocked.retry_after
    if isinstance(blocked, GraphError) and blocked.kind in (ErrorKind.THROTTLE, ErrorKind.TRANSIENT):
        return blocked.retry_after or 60.0
    return None


async def run_scheduled_rule(ctx: dict[str, Any], rule_id: int, slot: str) -> dict[str, Any]:
    rule = await queries.rule_by_id(ctx["pg"], rule_id=rule_id)
    if rule is None or not rule.enabled:
        return {"rule_id": rule_id, "skipped": "deleted or disabled"}
    actions = ActionContext(pg=ctx["pg"], queue=ctx["redis"], agents=ctx["agents"], actor_id=None)
    # a run that could not act at all (breaker open, throttled) is retried as a new run of the same slot; a run that
    # died half-way keeps its key, so its re-delivery resumes it instead of acting twice
    blocked_runs = await queries.count_blocked_runs(ctx["pg"], run_key_prefix=f"schedule:{rule.id}:{slot}")
    run_key = f"schedule:{rule.id}:{slot}" + (f":retry{blocked_runs}" if blocked_runs else "")
    result = await run_rule(actions, rule, run_key=run_key, trigger="schedule")
    if result.blocked is not None and result.run.applied == 0 and ctx.get("job_try", 1) < RUN_MAX_TRIES:
        wait = _retry_after(result.blocked)
        if wait is not None:
            raise Retry(defer=wait + 1)
    run = result.run
    summary = {
        "rule_id": rule.id,
        "run_id": run.id,
        "status": run.status,
        "evaluated": run.evaluated,
        "matched": run.matched,
        "applied": run.applied,
        "refused": run.refused,
        "failed": run.failed,
        "replayed": result.replayed,
    }
    log.info("rule run", extra={"result": summary})
    return summary

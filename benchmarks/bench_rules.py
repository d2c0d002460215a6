"""Suggestions and automation rules over the WHOLE default sandbox history, timed, with the share SQL takes.

    python benchmarks/bench_rules.py [--runs 3] [--stride 1] [--json out.json]

What it does:

1. The setup of bench_sync.py, through its own functions: PostgreSQL and Redis (DATABASE_URL and REDIS_URL when
   both are set, else embedded), migrations, `python -m adsvc sandbox` with the default SandboxConfig() (3 accounts
   x 40 campaigns x 4 ad sets x 4 ads, 400 days ending yesterday) in a process of its own, and a full sync through
   the real jobs (`sync_structure` + `backfill_insights(days=400)` per account). The sync is not timed here.
2. A pool built as the service builds it (`adsvc.contexts.create_pg_pool`: JSON codecs, UTC sessions; the statement
   timeout raised to 60 s so a noisy machine cannot fail a long read), one user (the rules' `created_by`), and per
   account four rules stored with `adsvc.automation.queries.insert_rule` (spec validated by `RuleSpec`, disabled,
   never scheduled), scoped to every effective status an object can still be switched in (see SCOPE_STATUSES).
3. Measured, `--runs` rounds, the steps alternating in the same order each round, medians reported:
   - suggestions job: `jobs.suggestions.generate_suggestions({"pg": pool}, id)` per account (the first round writes
     the suggestions, later rounds find them unchanged);
   - suggestions replay: for every `--stride`-th day D from the day after the first stored day to today (so each
     period ends on a stored day), `campaign_performance` over `suggestion_period(D)` (SQL, timed around the awaited
     call) and `suggest(..., thresholds=Thresholds())` (Python);
   - rules live: `adsvc.automation.runner.evaluate(pool, rule)` (what preview runs), and apart from it the planning
     of the changes it decided (`executor.plan_each`, two queries per matched object), to show that part's weight;
   - backtests: `runner.backtest(pool, rule, since=first stored day, until=yesterday)` in the account's timezone
     (capped at runner.MAX_BACKTEST_DAYS);
   - backtest parts: the same pieces called as the runner calls them: SQL = `runner.scope_objects` +
     `queries.daily_totals` (asyncpg decoding included), Python = `Series.build` + `replay`;
   - baseline: a bare `pool.fetch` of the statement `daily_totals` sends, with the same arguments (so the same
     rows): reading the data with asyncpg's own decoding and nothing after it.
4. Honesty checks: every backtest replays as many days as the history spans and agrees with its parts (objects,
   actions); the baseline reads as many rows as the backtest; the replays make drafts; the job sees every campaign.

There is no bar in DESIGN.md for this; the report says where the time goes. Every process it starts (sandbox,
embedded PostgreSQL and Redis) is stopped on the way out, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from bench_sync import sandbox_stack, sync_all
from benchlib import (
    BenchError,
    main,
    medians,
    progress,
    rate,
    run_async,
)

from adsvc.accounts.queries import account_by_id
from adsvc.auth.passwords import hash_password, password_hasher
from adsvc.auth.queries import insert_user
from adsvc.automation import queries as rule_queries
from adsvc.automation.executor import plan_each
from adsvc.automation.rules import LONGEST_WINDOW_DAYS, Series, default_statuses, replay
from adsvc.automation.runner import MAX_BACKTEST_DAYS, backtest, evaluate, rule_spec, scope_objects
from adsvc.automation.schemas import RuleSpec
from adsvc.collection.plan import account_today
from adsvc.contexts import create_pg_pool
from adsvc.settings import Settings
from adsvc.suggestions import queries as suggestion_queries
from adsvc.suggestions.engine import KINDS, Thresholds, suggest, suggestion_period
from jobs.suggestions import generate_suggestions

# what bench_sync's sync_all and graph_env read from their options: the full history, accounts concurrently
SYNC_OPTIONS = argparse.Namespace(days=400, sequential=False, poll_initial=0.02, poll_max=0.05)
# every effective status the sandbox gives an object that can still be paused or budgeted (ARCHIVED and DELETED
# objects are final: left out, as a user would)
SCOPE_STATUSES = ("ACTIVE", "PAUSED", "CAMPAIGN_PAUSED", "ADSET_PAUSED", "DISAPPROVED")
LEVEL_TABLES = {"campaign": "campaigns", "adset": "adsets", "ad": "ads"}
# the statement adsvc.automation.queries.daily_totals sends, for the baseline read
STEPS = ("suggestions job", "suggestions replay", "rules live", "backtests", "backtest parts", "baseline fetch")

Figures = dict[str, float]
# one round of a rule step: rule name -> account id -> figures
PerRule = dict[str, dict[str, Figures]]


def rule_specs(notify_spend: Decimal) -> dict[str, RuleSpec]:
    """The rules each account gets; `notify_spend` is the account's median daily spend (so it fires on about half
    of the days)."""
    statuses = list(SCOPE_STATUSES)
    raw: dict[str, dict[str, Any]] = {
        "campaign pause, CTR": {
            "scope": {"level": "campaign", "effective_statuses": statuses},
            "conditions": {"all": [{"metric": "ctr", "window": "last_7d", "operator": "lt", "value": 1.0}]},
            "min_spend": 20,
            "action": {"type": "pause"},
        },
        "adset budget -20%": {
            "scope": {"level": "adset", "effective_statuses": statuses},
            "conditions": {
                "any": [
                    {"metric": "cpa", "window": "last_14d", "operator": "gt", "value": 50},
                    {"metric": "ctr", "window": "last_3d", "operator": "lt", "value": 0.8},
                ]
            },
            "min_spend": 10,
            "action": {"type": "change_budget", "percent": -20, "min_budget": 500, "max_budget": 500_000},
        },
        "ad pause, CTR+spend": {
            "scope": {"level": "ad", "effective_statuses": statuses},
            "conditions": {
                "all": [
                    {"metric": "ctr", "window": "last_3d", "operator": "lt", "value": 0.5},
                    {"metric": "spend", "window": "last_7d", "operator": "gt", "value": 5},
                ]
            },
            "action": {"type": "pause"},
        },
        "account notify, spend": {
            "scope": {"level": "account"},
            "conditions": {
                "all": [{"metric": "spend", "window": "yesterday", "operator": "gt", "value": float(notify_spend)}]
            },
            "action": {"type": "notify", "message": "spent more than usual yesterday"},
        },
    }
    return {name: RuleSpec.model_validate(spec) for name, spec in raw.items()}


# ---- setup ---------------------------------------------------------------------------------------------------------


async def history(pool: asyncpg.Pool, account_id: str, timezone_name: str) -> dict[str, Any]:
    """The stored history of an account: first and last stored day, and the period a whole backtest covers."""
    first, last = await pool.fetchrow(
        "select min(date), max(date) from insights_daily where account_id = $1", account_id
    )
    if first is None:
        raise BenchError(f"no insights stored for {account_id} after the sync")
    today = account_today(timezone_name)
    until = today - timedelta(days=1)
    since = max(first, until - timedelta(days=MAX_BACKTEST_DAYS - 1))
    return {
        "first": first,
        "last": last,
        "today": today,
        "since": since,
        "until": until,
        "days": (until - since).days + 1,
        "capped": since != first,
    }


async def object_statuses(pool: asyncpg.Pool) -> dict[str, dict[str, int]]:
    """How many objects of each level have each effective status, all accounts."""
    found: dict[str, dict[str, int]] = {}
    for level, table in LEVEL_TABLES.items():
        rows = await pool.fetch(
            f"select effective_status, count(*) from {table} group by 1 order by 2 desc"  # noqa: S608
        )
        found[level] = {row[0]: row[1] for row in rows}
    return found


async def insert_rules(
    pool: asyncpg.Pool, account_ids: Sequence[str], settings: Settings
) -> dict[str, dict[str, rule_queries.RuleRow]]:
    """A user (the rules' author) and the rules of every account; rule name -> account id -> stored rule."""
    hashed = await hash_password(password_hasher(settings), secrets.token_urlsafe(24))
    user = await insert_user(
        pool, email=f"bench-rules-{secrets.token_hex(4)}@example.com", hashed_password=hashed, is_admin=False
    )
    if user is None:
        raise BenchError("could not create the rules' user")
    rules: dict[str, dict[str, rule_queries.RuleRow]] = {}
    for account_id in account_ids:
        daily = await pool.fetchval(
            """select percentile_disc(0.5) within group (order by spend) from insights_daily
               where account_id = $1 and level = 'account'""",
            account_id,
        )
        for name, spec in rule_specs(Decimal(daily).quantize(Decimal(1))).items():
            async with pool.acquire() as conn:
                stored = await rule_queries.insert_rule(
                    conn,
                    account_id=account_id,
                    name=f"bench: {name}",
                    enabled=False,
                    spec=spec.model_dump(mode="json", exclude_none=True),
                    next_run_at=None,
                    created_by=user.id,
                )
            rules.setdefault(name, {})[account_id] = stored
    return rules


# ---- the measured steps --------------------------------------------------------------------------------------------


async def suggestions_job(pool: asyncpg.Pool, account_ids: Sequence[str]) -> dict[str, Figures]:
    measured: dict[str, Figures] = {}
    for account_id in account_ids:
        started = time.perf_counter()
        result = await generate_suggestions({"pg": pool}, account_id)
        seconds = time.perf_counter() - started
        measured[account_id] = {"seconds": seconds} | {
            key: float(result[key])
            for key in ("campaigns", "drafts", "inserted", "refreshed", "unchanged", "suppressed", "expired")
        }
    return measured


async def suggestions_replay(
    pool: asyncpg.Pool, accounts: Mapping[str, dict[str, Any]], stride: int
) -> dict[str, Figures]:
    """The engine as the job runs it, once per `stride`-th day of the history."""
    thresholds = Thresholds()
    measured: dict[str, Figures] = {}
    for account_id, account in accounts.items():
        span = account["history"]
        sql = python = 0.0
        evaluations = campaigns_judged = 0
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        day = span["first"] + timedelta(days=1)
        while day <= span["today"]:
            since, until = suggestion_period(day)
            t0 = time.perf_counter()
            campaigns = await suggestion_queries.campaign_performance(
                pool, account_id=account_id, since=since, until=until
            )
            t1 = time.perf_counter()
            drafts = suggest(
                account_id=account_id,
                currency=account["currency"],
                campaigns=campaigns,
                since=since,
                until=until,
                thresholds=thresholds,
            )
            t2 = time.perf_counter()
            sql += t1 - t0
            python += t2 - t1
            evaluations += 1
            campaigns_judged += len(campaigns)
            kinds.update(draft.kind for draft in drafts)
            day += timedelta(days=stride)
        measured[account_id] = {
            "seconds": time.perf_counter() - started,
            "sql_s": sql,
            "python_s": python,
            "evaluations": evaluations,
            "campaigns_judged": campaigns_judged,
            "drafts": sum(kinds.values()),
        } | {f"drafts_{kind}": kinds[kind] for kind in KINDS}
    return measured


async def rules_live(pool: asyncpg.Pool, rules: dict[str, dict[str, rule_queries.RuleRow]]) -> PerRule:
    measured: PerRule = {}
    for name, by_account in rules.items():
        for account_id, rule in by_account.items():
            started = time.perf_counter()
            evaluation = await evaluate(pool, rule)
            seconds = time.perf_counter() - started
            steps = [decision.step for decision in evaluation.decisions if decision.step is not None]
            # the planning evaluate ends with, alone: two queries per matched object, one after the other
            started = time.perf_counter()
            await plan_each(pool, steps, account_id=account_id)
            planning = time.perf_counter() - started
            measured.setdefault(name, {})[account_id] = {
                "seconds": seconds,
                "planning_s": planning,
                "evaluated": evaluation.evaluated,
                "matched": len(evaluation.decisions),
                "planned": sum(decision.plan is not None for decision in evaluation.decisions),
                "refused": sum(decision.refusal is not None for decision in evaluation.decisions),
            }
    return measured


async def backtests(
    pool: asyncpg.Pool, rules: dict[str, dict[str, rule_queries.RuleRow]], accounts: Mapping[str, dict[str, Any]]
) -> PerRule:
    measured: PerRule = {}
    for name, by_account in rules.items():
        for account_id, rule in by_account.items():
            span = accounts[account_id]["history"]
            started, cpu = time.perf_counter(), time.process_time()
            result = await backtest(pool, rule, since=span["since"], until=span["until"])
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            days = result.replay.days
            measured.setdefault(name, {})[account_id] = {
                "seconds": seconds,
                "cpu_s": cpu,
                "days": len(days),
                "evaluated": result.evaluated,
                "object_days": result.evaluated * len(days),
                "matched": sum(day.matched for day in days),
                "actions": sum(len(day.actions) for day in days),
            }
    return measured


async def backtest_parts(
    pool: asyncpg.Pool, rules: dict[str, dict[str, rule_queries.RuleRow]], accounts: Mapping[str, dict[str, Any]]
) -> PerRule:
    """What `runner.backtest` does, piece by piece, with the same calls and arguments."""
    measured: PerRule = {}
    for name, by_account in rules.items():
        for account_id, rule in by_account.items():
            span = accounts[account_id]["history"]
            since, until = span["since"], span["until"]
            start = since - timedelta(days=LONGEST_WINDOW_DAYS)
            spec = rule_spec(rule)
            t0, c0 = time.perf_counter(), time.process_time()
            objects = await scope_objects(pool, spec, account_id)
            t1 = time.perf_counter()
            rows = await rule_queries.daily_totals(
                pool,
                account_id=account_id,
                level=spec.scope.level,
                object_ids=[o.object_id for o in objects],
                since=start,
                until=until,
            )
            t2, c2 = time.perf_counter(), time.process_time()
            series = Series.build(rows, start=start, end=until)
            t3 = time.perf_counter()
            # in a thread, as the runner does
            result = await asyncio.to_thread(replay, spec, objects, series, since=since, until=until)
            t4, c4 = time.perf_counter(), time.process_time()
            measured.setdefault(name, {})[account_id] = {
                "objects_s": t1 - t0,
                "totals_s": t2 - t1,
                "sql_s": t2 - t0,
                "build_s": t3 - t2,
                "replay_s": t4 - t3,
                "python_s": t4 - t2,
                # this process's CPU (all threads): asyncpg decoding; Series.build and replay
                "sql_cpu_s": c2 - c0,
                "python_cpu_s": c4 - c2,
                "rows": len(rows),
                "objects": len(objects),
                "days": len(result.days),
                "actions": sum(len(day.actions) for day in result.days),
            }
    return measured


async def baseline_fetch(
    pool: asyncpg.Pool, rules: dict[str, dict[str, rule_queries.RuleRow]], accounts: Mapping[str, dict[str, Any]]
) -> PerRule:
    """The backtest's rows read with a bare pool.fetch: the same statement and arguments, no conversion after it."""
    measured: PerRule = {}
    for name, by_account in rules.items():
        for account_id, rule in by_account.items():
            span = accounts[account_id]["history"]
            spec = rule_spec(rule)
            object_ids = accounts[account_id]["scope"][name]  # the ids rule_objects returned (read in the setup)
            started = time.perf_counter()
            rows = await pool.fetch(
                rule_queries.DAILY_TOTALS_SQL,
                account_id,
                spec.scope.level,
                span["since"] - timedelta(days=LONGEST_WINDOW_DAYS),
                span["until"],
                object_ids,
            )
            measured.setdefault(name, {})[account_id] = {"seconds": time.perf_counter() - started, "rows": len(rows)}
    return measured


# ---- the run -------------------------------------------------------------------------------------------------------


async def alternate_async(steps: Sequence[tuple[str, Callable[[], Awaitable[Any]]]], runs: int) -> dict[str, list[Any]]:
    """benchlib.alternate for coroutines: every step once per round, `runs` rounds, the same order each round."""
    results: dict[str, list[Any]] = {name: [] for name, _ in steps}
    for run in range(1, runs + 1):
        for name, step in steps:
            started = time.perf_counter()
            results[name].append(await step())
            progress(f"round {run}/{runs} {name}: {time.perf_counter() - started:.2f} s")
    return results


async def measure(env: dict[str, str], listing: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings.from_env({**env, "DB_TIMEOUT_SECONDS": "60"})
    pool = await create_pg_pool(settings)
    try:
        accounts: dict[str, dict[str, Any]] = {}
        for item in listing:
            account = await account_by_id(pool, account_id=item["account_id"])
            if account is None:
                raise BenchError(f"account {item['account_id']} is not stored after the sync")
            accounts[account.id] = {
                "currency": account.currency,
                "timezone": account.timezone_name,
                "history": await history(pool, account.id, account.timezone_name),
            }
        statuses = await object_statuses(pool)
        rules = await insert_rules(pool, list(accounts), settings)
        for name, by_account in rules.items():
            for account_id, rule in by_account.items():
                spec = rule_spec(rule)
                objects = await rule_queries.rule_objects(
                    pool,
                    account_id=account_id,
                    level=spec.scope.level,
                    statuses=default_statuses(spec),
                    object_ids=spec.scope.object_ids,
                    campaign_ids=spec.scope.campaign_ids,
                    name_contains=spec.scope.name_contains,
                )
                accounts[account_id].setdefault("scope", {})[name] = [o.object_id for o in objects]
        progress(f"{sum(len(r) for r in rules.values())} rules stored; measuring {args.runs} rounds")
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("suggestions job", lambda: suggestions_job(pool, list(accounts))),
            ("suggestions replay", lambda: suggestions_replay(pool, accounts, args.stride)),
            ("rules live", lambda: rules_live(pool, rules)),
            ("backtests", lambda: backtests(pool, rules, accounts)),
            ("backtest parts", lambda: backtest_parts(pool, rules, accounts)),
            ("baseline fetch", lambda: baseline_fetch(pool, rules, accounts)),
        ]
        rounds = await alternate_async(steps, args.runs)
        ended = {account_id: account_today(account["timezone"]) for account_id, account in accounts.items()}
    finally:
        await pool.close()
    return {"accounts": accounts, "statuses": statuses, "rules": rules, "rounds": rounds, "ended_today": ended}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.runs < 1 or args.stride < 1:
        raise BenchError("--runs and --stride must be at least 1")
    with contextlib.ExitStack() as stack:
        served = sandbox_stack(stack, SYNC_OPTIONS)
        listing, env, stores = served.listing, served.env, served.stores
        synced = run_async(sync_all(env, listing["data"], SYNC_OPTIONS))
        progress(f"synced in {synced['wall_seconds']:.1f} s (not timed below)")
        measured = run_async(measure(env, listing["data"], args))
    return summarise(args, synced, measured, stores.embedded)


# ---- summary -------------------------------------------------------------------------------------------------------


def added(figures: Sequence[Mapping[str, float]]) -> Figures:
    keys = figures[0].keys() if figures else ()
    return {key: float(sum(f[key] for f in figures)) for key in keys}


def share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def with_suggestion_rates(figures: Figures) -> Figures:
    return figures | {
        "days_per_s": rate(figures["evaluations"], figures["seconds"]),
        "sql_share": share(figures["sql_s"], figures["sql_s"] + figures["python_s"]),
    }


def with_backtest_rates(figures: Figures) -> Figures:
    """One rule's (or all rules') figures of one round: the backtest, its parts and the baseline side by side."""
    parts = figures["sql_s"] + figures["python_s"]
    return figures | {
        "object_days_per_s": rate(figures["object_days"], figures["seconds"]),
        "sql_share": share(figures["sql_s"], parts),
        "baseline_over_sql": share(figures["baseline_s"], figures["sql_s"]),
        "baseline_over_total": share(figures["baseline_s"], figures["seconds"]),
    }


def per_rule_rounds(rounds: dict[str, list[Any]], runs: int) -> list[dict[str, Figures]]:
    """Per round: rule name (and "all rules") -> the figures summed over the accounts, rates derived."""
    combined = []
    for index in range(runs):
        backtest_round, parts_round = rounds["backtests"][index], rounds["backtest parts"][index]
        baseline_round, live_round = rounds["baseline fetch"][index], rounds["rules live"][index]
        by_rule: dict[str, Figures] = {}
        for name in backtest_round:
            accounts = list(backtest_round[name])
            figures = [
                backtest_round[name][a]
                | parts_round[name][a]
                | {"baseline_s": baseline_round[name][a]["seconds"], "baseline_rows": baseline_round[name][a]["rows"]}
                | {f"live_{key}": value for key, value in live_round[name][a].items()}
                for a in accounts
            ]
            # `days` is per account: keep the longest rather than a sum
            by_rule[name] = added(figures) | {"days": max(f["days"] for f in figures)}
        by_rule["all rules"] = added(list(by_rule.values())) | {"days": max(f["days"] for f in by_rule.values())}
        combined.append({name: with_backtest_rates(figures) for name, figures in by_rule.items()})
    return combined


def checks(measured: dict[str, Any], synced: dict[str, Any]) -> dict[str, Any]:
    rounds, accounts = measured["rounds"], measured["accounts"]
    failed: list[str] = []
    for account_id, account in accounts.items():
        span = account["history"]
        backfill = next(r for r in synced["stored"][account_id]["runs"] if r["kind"] == "backfill")
        if span["first"] != backfill["since"]:
            failed.append(f"{account_id}: first stored day {span['first']} is not the backfill's {backfill['since']}")
        if measured["ended_today"][account_id] != span["today"]:
            failed.append(f"{account_id}: midnight passed in {account['timezone']} during the run")
    for index in range(len(rounds["backtests"])):
        backtest_round, parts_round = rounds["backtests"][index], rounds["backtest parts"][index]
        for name, by_account in backtest_round.items():
            for account_id, figures in by_account.items():
                span, parts = accounts[account_id]["history"], parts_round[name][account_id]
                base = rounds["baseline fetch"][index][name][account_id]
                where = f"round {index + 1}, {name}, {account_id}"
                if figures["days"] != span["days"]:
                    failed.append(
                        f"{where}: backtest replayed {figures['days']} days, the history spans {span['days']}"
                    )
                if (figures["evaluated"], figures["actions"]) != (parts["objects"], parts["actions"]):
                    failed.append(f"{where}: backtest and its parts disagree ({figures} vs {parts})")
                if base["rows"] != parts["rows"]:
                    failed.append(f"{where}: baseline read {base['rows']} rows, daily_totals {parts['rows']}")
    replay_drafts = [sum(f["drafts"] for f in r.values()) for r in rounds["suggestions replay"]]
    if not all(replay_drafts):
        failed.append("the suggestions replay made no drafts")
    for account_id, figures in rounds["suggestions job"][0].items():
        stored = synced["stored"][account_id]["objects"]["campaigns"]
        if figures["campaigns"] != stored:
            failed.append(f"{account_id}: the job judged {figures['campaigns']:.0f} campaigns of {stored}")
    return {"ok": not failed, "failed": failed}


def summarise(
    args: argparse.Namespace, synced: dict[str, Any], measured: dict[str, Any], embedded: bool
) -> dict[str, Any]:
    rounds, runs = measured["rounds"], args.runs
    job_rounds = [added(list(r.values())) for r in rounds["suggestions job"]]
    replay_rounds = [with_suggestion_rates(added(list(r.values()))) for r in rounds["suggestions replay"]]
    rule_rounds = per_rule_rounds(rounds, runs)
    rule_names = list(rule_rounds[0])
    rows_written = sum(r["rows_written"] for s in synced["stored"].values() for r in s["runs"])
    return {
        "config": {
            "sandbox": "SandboxConfig() default: 3 accounts x 40 campaigns x 4 ad sets x 4 ads, 400 days",
            "runs": runs,
            "stride": args.stride,
            "scope_statuses": list(SCOPE_STATUSES),
            "max_backtest_days": MAX_BACKTEST_DAYS,
            "stores": "embedded (temporary folder)" if embedded else "DATABASE_URL / REDIS_URL",
            "steps": list(STEPS),
        },
        "sync": {"wall_seconds": synced["wall_seconds"], "rows_written": rows_written},
        "accounts": {
            account_id: {key: value for key, value in account.items() if key != "scope"}
            | {"scope_objects": {name: len(ids) for name, ids in account["scope"].items()}}
            for account_id, account in measured["accounts"].items()
        },
        "statuses": measured["statuses"],
        "rules": {
            name: {"spec": next(iter(by_account.values())).spec, "ids": {a: r.id for a, r in by_account.items()}}
            for name, by_account in measured["rules"].items()
        },
        "rounds": rounds,
        "median": {
            "suggestions_job": medians(job_rounds),
            "suggestions_job_first_round": job_rounds[0],
            "suggestions_replay": medians(replay_rounds),
            "rules": {name: medians([r[name] for r in rule_rounds]) for name in rule_names},
        },
        "checks": checks(measured, synced),
    }


# ---- report --------------------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def report(summary: dict[str, Any]) -> str:
    config, medians_ = summary["config"], summary["median"]
    job, first_job, sug = (
        medians_["suggestions_job"],
        medians_["suggestions_job_first_round"],
        medians_["suggestions_replay"],
    )
    rules = medians_["rules"]
    spans = "\n              ".join(
        f"{account_id} {a['history']['since']}..{a['history']['until']} = {a['history']['days']} days"
        + (" (capped)" if a["history"]["capped"] else "")
        + f" (stored to {a['history']['last']}; today in {a['timezone']} is {a['history']['today']})"
        for account_id, a in summary["accounts"].items()
    )
    status_lines = [
        f"  {level:<9}" + ", ".join(f"{status} {count:,}" for status, count in counts.items())
        for level, counts in summary["statuses"].items()
    ]
    lines = [
        "",
        f"sandbox     : {config['sandbox']}; synced through the jobs in {summary['sync']['wall_seconds']:.1f} s "
        f"({summary['sync']['rows_written']:,} rows; not timed below)",
        f"history     : {spans}",
        "              (a backtest covers first stored day .. yesterday; the suggestions replay judges each day after "
        "the first stored day up to today, as that day's job would)",
        f"stores      : {config['stores']}",
        f"rounds      : {config['runs']}, steps alternating in this order each round: {', '.join(config['steps'])}; "
        "medians",
        "effective statuses stored (all accounts):",
        *status_lines,
        "",
        "suggestions (all accounts)",
        f"  generate_suggestions job x {len(summary['accounts'])} accounts: {_ms(job['seconds'])} ms "
        f"({job['campaigns']:.0f} campaigns, {job['drafts']:.0f} drafts; first round {_ms(first_job['seconds'])} ms, "
        f"{first_job['inserted']:.0f} inserted; median round: {job['inserted']:.0f} inserted, "
        f"{job['unchanged']:.0f} unchanged)",
        f"  engine replay, every {'' if config['stride'] == 1 else str(config['stride']) + 'th '}day "
        f"(stride {config['stride']}): {sug['evaluations']:,.0f} evaluations (account x day), "
        f"{sug['campaigns_judged']:,.0f} campaign-periods",
        f"    total {sug['seconds']:.2f} s = {sug['days_per_s']:,.0f} days/s; campaign_performance (SQL) "
        f"{sug['sql_s']:.2f} s, suggest (Python) {sug['python_s']:.2f} s; SQL share {sug['sql_share']:.0%}",
        f"    drafts {sug['drafts']:,.0f}: " + ", ".join(f"{kind} {sug['drafts_' + kind]:,.0f}" for kind in KINDS),
        "",
        f"automation rules ({len(rules) - 1} per account; scope statuses {', '.join(config['scope_statuses'])}):",
        f"{'rule':<24}{'level':>9}{'objects':>9}{'live ms':>9}{'matched':>9}{'planned':>9}{'refused':>9}{'plan ms':>9}",
    ]
    for name, r in rules.items():
        level = "" if name == "all rules" else summary["rules"][name]["spec"]["scope"]["level"]
        lines.append(
            f"{name:<24}{level:>9}{r['objects']:>9,.0f}{_ms(r['live_seconds']):>9}{r['live_matched']:>9,.0f}"
            f"{r['live_planned']:>9,.0f}{r['live_refused']:>9,.0f}{_ms(r['live_planning_s']):>9}"
        )
    lines += [
        "  objects = in the rule's scope, all accounts; live = runner.evaluate (what preview runs), the last 30 days;",
        "  plan ms = executor.plan_each alone on the steps evaluate planned (2 queries per matched object)",
        "",
        "backtest over the whole history (runner.backtest; parts: the same calls made one by one):",
        f"{'rule':<24}{'rows':>9}{'obj-days':>11}{'total s':>9}{'SQL s':>8}{'Py s':>8}{'SQL %':>7}"
        f"{'obj-d/s':>10}{'bare s':>8}{'bare/SQL':>9}{'bare/tot':>9}{'actions':>9}",
    ]
    for name, r in rules.items():
        lines.append(
            f"{name:<24}{r['rows']:>9,.0f}{r['object_days']:>11,.0f}{r['seconds']:>9.2f}{r['sql_s']:>8.2f}"
            f"{r['python_s']:>8.2f}{r['sql_share']:>7.0%}{r['object_days_per_s']:>10,.0f}{r['baseline_s']:>8.3f}"
            f"{r['baseline_over_sql']:>9.2f}{r['baseline_over_total']:>9.3f}{r['actions']:>9,.0f}"
        )
    total = rules["all rules"]
    lines += [
        "  rows = insights rows read (daily_totals); obj-days = objects x days replayed; SQL = rule_objects + "
        "daily_totals (asyncpg decoding included; the records go to Series.build as they are);",
        "  Py = Series.build + replay; bare = pool.fetch of daily_totals' statement with the same arguments, nothing "
        "after it",
        f"  parts of the Python time, all rules: Series.build {total['build_s']:.2f} s, replay "
        f"{total['replay_s']:.2f} s; of the SQL time: rule_objects {total['objects_s']:.3f} s, daily_totals "
        f"{total['totals_s']:.2f} s",
        f"  this process's CPU (all threads), all rules: backtests {total['cpu_s']:.2f} s in {total['seconds']:.2f} s "
        f"wall; parts: SQL {total['sql_cpu_s']:.2f} s in {total['sql_s']:.2f} s (the rest is PostgreSQL and the "
        f"socket), Python {total['python_cpu_s']:.2f} s in {total['python_s']:.2f} s (less CPU than wall: the "
        "machine's other work)",
        "  each figure is its own median over the rounds, so columns need not add up exactly",
        "",
        "findings:",
        *findings(summary),
        "",
        "checks: " + ("all passed" if summary["checks"]["ok"] else "FAILED"),
        "  every backtest replays the whole history (days = span) and agrees with its parts; the baseline reads the "
        "same rows; the suggestions replay makes drafts; the job judges every stored campaign",
        *(f"  FAIL: {failure}" for failure in summary["checks"]["failed"]),
    ]
    return "\n".join(lines)


def findings(summary: dict[str, Any]) -> list[str]:
    """Where the time goes, in a few sentences computed from the medians."""
    medians_ = summary["median"]
    sug, rules = medians_["suggestions_replay"], medians_["rules"]
    total = rules["all rules"]
    per_eval_ms = 1000 * sug["seconds"] / sug["evaluations"]
    slowest = max((name for name in rules if name != "all rules"), key=lambda name: rules[name]["seconds"])
    s = rules[slowest]
    decode = total["sql_s"] - total["baseline_s"]
    lines = [
        f"  suggestions: {per_eval_ms:.1f} ms per account-day, {sug['sql_share']:.0%} of it in SQL (two queries: "
        "the campaign totals and the daily points)",
        f"  backtests: {total['sql_share']:.0%} of the parts' time is SQL; reading the rows bare costs "
        f"{total['baseline_s']:.2f} s of the {total['sql_s']:.2f} s SQL ({total['baseline_over_sql']:.0%}), so "
        f"{max(decode, 0):.2f} s (within the noise when near 0) goes to the scope query and handing the records "
        "over; Python: Series.build "
        f"{total['build_s']:.2f} s, replay {total['replay_s']:.2f} s",
        f"  replay costs {1e6 * total['replay_s'] / total['object_days']:.1f} us per object-day (all rules; "
        f"Series.build + replay use {1e6 * total['python_cpu_s'] / total['object_days']:.1f} us of CPU); the "
        f"slowest rule is '{slowest}' ({s['seconds']:.2f} s for {s['object_days']:,.0f} object-days, "
        f"{s['rows']:,.0f} rows): {s['object_days_per_s']:,.0f} object-days/s end to end",
    ]
    live = max((name for name in rules if name != "all rules"), key=lambda name: rules[name]["live_seconds"])
    lv = rules[live]
    if lv["live_planning_s"] > 0.5 * lv["live_seconds"]:
        lines.append(
            f"  live evaluation of '{live}': {_ms(lv['live_planning_s'])} of {_ms(lv['live_seconds'])} ms is "
            f"planning ({lv['live_matched']:,.0f} matched objects, two queries each, one after the other)"
        )
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Suggestions and automation rules (live and backtests) over the whole default sandbox history, "
        "timed, with the SQL share. Uses DATABASE_URL and REDIS_URL when both are set, else embedded PostgreSQL "
        "and Redis."
    )
    parser.add_argument("--runs", type=int, default=3, help="measured rounds, steps alternating (default 3)")
    parser.add_argument(
        "--stride", type=int, default=1, help="suggestions replay: evaluate every Nth day of the history (default 1)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


if __name__ == "__main__":
    main("bench_rules", build_parser(), run, report)

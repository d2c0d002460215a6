"""Graph calls of a FULL sync of the default sandbox through the real worker code, next to the fewest calls possible.

    python benchmarks/bench_sync.py [--days 400] [--sequential] [--json out.json]

What it does:

1. PostgreSQL and Redis (DATABASE_URL and REDIS_URL when both are set, else embedded), migrations applied.
2. `python -m adsvc sandbox` on a free local port: the default SandboxConfig() (3 accounts x 40 campaigns x 4 ad
   sets x 4 ads, 400 days of daily insights ending yesterday), in a process of its own.
3. Each sandbox account is connected as the API would store it: an ad_accounts row with the sandbox token sealed by
   `adsvc.crypto.TokenBox` under a fresh TOKEN_ENCRYPTION_KEY.
4. A worker context is built by `jobs.context.startup(ctx)` (so: the worker's settings, pool, Redis, agent cache,
   breakers, Graph client) with FACEBOOK_GRAPH_URL pointing at the sandbox and short report-run polls; then, per
   account, `jobs.collection.sync_structure(ctx, id)` and `jobs.collection.backfill_insights(ctx, id, days=400)`,
   the three accounts concurrently (as a worker with max_jobs >= 3 would) unless --sequential.
5. Graph calls are read twice: from sync_runs.graph_calls (what the job recorded) and from the sandbox's
   /_sandbox/stats (what the server received, by kind of call). They must agree (plus one validation per account:
   creating the cached agent reads the account once, before the run's counter starts).
6. The bound: see `minimum_calls` and benchmarks/README.md. Per account: one validation read; per edge
   ceil(objects/limit) pages (every status); per (level, window) the job asks for, one report-run POST, at least one
   status poll and max(1, ceil(rows/limit)) result pages (windows of 2 days or less are read synchronously: pages
   only). `limit` is the largest page the API allows (the sandbox's max_page_size, 500). Also shown: the sandbox's
   own floor (its report runs answer "Job Completed" at the 6th poll at the earliest), and the bound of a different
   strategy with one report per level over the whole range.
7. Honesty checks: rows and totals stored per account and level against the sandbox's ground truth, computed in this
   process from the same seeded SandboxData (impressions, clicks, spend, conversions, row counts), and the objects
   stored per kind.

Every process it starts (sandbox, embedded PostgreSQL and Redis) is stopped on the way out, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from arq import Retry
from arq.connections import RedisSettings, create_pool
from benchlib import (
    BenchError,
    Children,
    backing_stores,
    get_json,
    main,
    process_cpu_seconds,
    progress,
    rate,
    run_async,
    service_env,
    start_sandbox,
    verdict,
    work_folder,
)

from adsvc.collection.plan import Window, account_today, backfill_chunks, insights_steps
from adsvc.crypto import TokenBox
from adsvc.embedded import free_port
from adsvc.migrations import apply_migrations
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SandboxConfig, SandboxData
from adsvc.sandbox.data import CLK, IMP, LEAD, ONPUR, PUR, SPEND, money
from adsvc.sandbox.faults import JobFate
from adsvc.sandbox.graph import ReportRun
from adsvc.settings import REPO_ROOT
from jobs import collection
from jobs.context import shutdown, startup

LEVELS = ("account", "campaign", "adset", "ad")
EDGE_KINDS = {"campaigns": "campaign", "adsets": "adset", "ads": "ad"}
SYNC_WINDOW_DAYS = 2  # windows this short are read with a synchronous GET (jobs.collection._insights_rows)
# the sandbox's kinds of calls (adsvc.sandbox.graph.resolve) grouped as the report shows them
CALL_GROUPS = (
    ("validation", ("account",)),
    ("edge pages", ("campaigns", "adsets", "ads")),
    ("report-run POSTs", ("insights_async",)),
    ("status polls", ("report_run",)),
    ("result pages", ("report_run/insights",)),
    ("sync insights GETs", ("insights",)),
)


def sandbox_polls_to_complete() -> int:
    """How many status polls a fault-free sandbox report run needs before it says Job Completed."""
    run = ReportRun(id="0", account_id="0", query=None, fate=JobFate(), time_ref=0)  # type: ignore[arg-type]
    while not run.completed:
        run.polls += 1
    return run.polls


# ---- ground truth --------------------------------------------------------------------------------------------------


def window_rows(data: SandboxData, account_id: str, level: str, window: Window) -> int:
    """Daily rows Meta returns for a level over a window: one per object and day with delivery."""
    since, until = window.since.toordinal(), window.until.toordinal()
    count = 0
    for obj in data.level_objects(account_id, level):
        series = data.series(obj.id)
        lo, hi = max(since, series.first) - series.first, min(until, series.last) - series.first
        if lo <= hi:
            count += sum(1 for value in series.cols[IMP][lo : hi + 1] if value)
    return count


def level_totals(data: SandboxData, account_id: str, level: str, window: Window) -> dict[str, Any]:
    """Rows and additive totals of a level over a window at the current restatement version."""
    impressions = clicks = spend = conversions = 0
    for obj in data.level_objects(account_id, level):
        values = data.totals(obj.id, window.since.toordinal(), window.until.toordinal(), data.restatement_version)
        if values is None:
            continue
        impressions += values[IMP]
        clicks += values[CLK]
        spend += values[SPEND]
        conversions += values[PUR] + values[ONPUR] + values[LEAD]
    return {
        "rows": window_rows(data, account_id, level, window),
        "impressions": impressions,
        "clicks": clicks,
        "spend": money(spend),
        "conversions": Decimal(conversions),
    }


def minimum_calls(
    data: SandboxData, account_id: str, windows: list[Window], limit: int, sandbox_polls: int
) -> dict[str, Any]:
    """The fewest calls for this account: see the module docstring and benchmarks/README.md."""
    objects = {edge: len(data.by_account[account_id][kind]) for edge, kind in EDGE_KINDS.items()}
    edge_pages = sum(max(1, math.ceil(count / limit)) for count in objects.values())
    posts = pages = sync_gets = 0
    rows_by_level: Counter[str] = Counter()
    for level, window in insights_steps(windows):
        rows = window_rows(data, account_id, level, window)
        rows_by_level[level] += rows
        if window.days <= SYNC_WINDOW_DAYS:
            sync_gets += max(1, math.ceil(rows / limit))
        else:
            posts += 1
            pages += max(1, math.ceil(rows / limit))
    job = {"validation": 1, "edge pages": edge_pages, "report-run POSTs": posts, "status polls": posts,
           "result pages": pages, "sync insights GETs": sync_gets}  # fmt: skip
    floor = {**job, "status polls": posts * sandbox_polls}
    # one report per level over the whole range (time_increment=1 still gives daily rows)
    whole = {
        "validation": 1,
        "edge pages": edge_pages,
        "report-run POSTs": len(LEVELS),
        "status polls": len(LEVELS),
        "result pages": sum(max(1, math.ceil(rows_by_level[level] / limit)) for level in LEVELS),
        "sync insights GETs": 0,
    }
    return {
        "objects": objects,
        "rows_by_level": dict(rows_by_level),
        "job_strategy": job,
        "sandbox_floor": floor,
        "one_report_per_level": whole,
        "one_report_per_level_sandbox": {**whole, "status polls": len(LEVELS) * sandbox_polls},
    }


# ---- the sync ------------------------------------------------------------------------------------------------------


async def connect_accounts(pool: asyncpg.Pool, accounts: list[dict[str, Any]], key: str) -> None:
    box = TokenBox(key)
    for account in accounts:
        await pool.execute(
            """insert into ad_accounts (id, name, currency, timezone_name, timezone_offset_hours_utc, account_status,
                                        token_ciphertext, token_status, token_checked_at)
               values ($1, $2, $3, $4, $5, $6, $7, 'valid', now())""",
            account["account_id"],
            account["name"],
            account["currency"],
            account["timezone_name"],
            Decimal(str(account["timezone_offset_hours_utc"])),
            account["account_status"],
            box.seal(SANDBOX_ACCESS_TOKEN),
        )


async def sync_account(ctx: dict[str, Any], account_id: str, days: int) -> dict[str, Any]:
    try:
        started = time.perf_counter()
        structure = await collection.sync_structure(ctx, account_id)
        structured = time.perf_counter()
        backfill = await collection.backfill_insights(ctx, account_id, days=days)
        finished = time.perf_counter()
    except Retry as exc:
        raise BenchError(f"the sync of {account_id} asked to be retried ({exc}); see sync_runs") from None
    for name, result in (("structure", structure), ("backfill", backfill)):
        if result.get("status") != "succeeded":
            raise BenchError(f"{name} sync of {account_id} did not succeed: {result}")
    return {
        "structure": structure,
        "backfill": backfill,
        "structure_seconds": round(structured - started, 3),
        "backfill_seconds": round(finished - structured, 3),
    }


async def stored_state(pool: asyncpg.Pool, account_id: str) -> dict[str, Any]:
    runs = [
        dict(row)
        for row in await pool.fetch(
            """select kind, status, since, until, rows_written, objects_written, graph_calls,
                      extract(epoch from finished_at - started_at)::float8 as seconds
               from sync_runs where account_id = $1 order by id""",
            account_id,
        )
    ]
    backfill = next(run for run in runs if run["kind"] == "backfill")
    by_level = {
        row["level"]: dict(row)
        for row in await pool.fetch(
            """select level, count(*) as rows, sum(impressions) as impressions, sum(clicks) as clicks,
                      sum(spend) as spend, sum(conversions) as conversions
               from insights_daily where account_id = $1 and date between $2 and $3 group by level""",
            account_id,
            backfill["since"],
            backfill["until"],
        )
    }
    objects = {
        table: await pool.fetchval(f"select count(*) from {table} where account_id = $1", account_id)  # noqa: S608
        for table in EDGE_KINDS
    }
    return {"runs": runs, "by_level": by_level, "objects": objects}


async def sync_all(env: dict[str, str], accounts: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    # jobs.context.startup reads its settings from the environment, as a worker process does
    os.environ.update(env)
    pool = await asyncpg.create_pool(env["DATABASE_URL"], min_size=1, max_size=2)
    try:
        await connect_accounts(pool, accounts, env["TOKEN_ENCRYPTION_KEY"])
        ids = [account["account_id"] for account in accounts]
        # what arq puts in every job's ctx besides what on_startup adds: its own Redis pool (jobs queue follow-ups
        # there; they are left queued, not run: this measures the sync)
        ctx: dict[str, Any] = {"redis": await create_pool(RedisSettings.from_dsn(env["REDIS_URL"]))}
        await startup(ctx)
        try:
            progress(f"syncing {len(ids)} accounts ({'one by one' if args.sequential else 'concurrently'})")
            started = time.perf_counter()
            if args.sequential:
                results = [await sync_account(ctx, account_id, args.days) for account_id in ids]
            else:
                results = list(await asyncio.gather(*(sync_account(ctx, account_id, args.days) for account_id in ids)))
            wall = time.perf_counter() - started
            page_size = ctx["settings"].graph_page_size
        finally:
            await shutdown(ctx)
            await ctx["redis"].aclose()
        stored = {account_id: await stored_state(pool, account_id) for account_id in ids}
    finally:
        await pool.close()
    return {
        "wall_seconds": round(wall, 3),
        "results": dict(zip(ids, results, strict=True)),
        "stored": stored,
        "page_size": page_size,
    }


# ---- the run -------------------------------------------------------------------------------------------------------


def graph_env(base_env: dict[str, str], sandbox_url: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        **base_env,
        "FACEBOOK_GRAPH_URL": sandbox_url,
        "GRAPH_POLL_INITIAL_SECONDS": str(args.poll_initial),
        "GRAPH_POLL_MAX_SECONDS": str(args.poll_max),
        "GRAPH_PACING_TIME_SCALE": "0.001",
        "SYNC_RETRY_BASE_SECONDS": "0.05",
    }


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def grouped(counts: dict[str, int]) -> dict[str, int]:
    return {group: sum(counts.get(kind, 0) for kind in kinds) for group, kinds in CALL_GROUPS}


@dataclass
class SandboxStack:
    """What the sync-based benchmarks stand on: stores with migrations applied, the default sandbox served by a child
    process, and the environment a service process needs to reach all three."""

    stores: Any
    children: Children
    sandbox: Any
    port: int
    listing: dict[str, Any]
    env: dict[str, str]


def sandbox_stack(stack: contextlib.ExitStack, sync_options: argparse.Namespace) -> SandboxStack:
    """Start the stores and the sandbox under `stack` (stopped when it closes); refuse a sandbox whose date is not
    this process's (midnight UTC passed between the two)."""
    config = SandboxConfig()
    work_dir = stack.enter_context(work_folder())
    stores = stack.enter_context(backing_stores(work_dir / "data"))
    progress(f"{'embedded' if stores.embedded else 'external'} PostgreSQL and Redis up; applying migrations")
    apply_migrations(stores.database_url, REPO_ROOT / "migrations")
    children = Children(work_dir)
    stack.callback(children.stop_all)
    port = free_port()
    sandbox = start_sandbox(children, cpus=frozenset(), port=port)
    listing = get_json(port, "/_sandbox/accounts")
    if listing["today"] != config.reference_date.isoformat():
        raise BenchError("the sandbox's date is not this process's (midnight UTC passed?); run it again")
    env = graph_env(service_env(stores, work_dir), f"http://127.0.0.1:{port}", sync_options)
    return SandboxStack(stores, children, sandbox, port, listing, env)


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = SandboxConfig()
    with contextlib.ExitStack() as stack:
        served = sandbox_stack(stack, args)
        port, sandbox, listing, env, stores = served.port, served.sandbox, served.listing, served.env, served.stores
        accounts = listing["data"]
        progress(f"sandbox on :{port}: {len(accounts)} accounts, insights {listing['first_day']} to yesterday")
        sandbox_cpu, own_cpu = process_cpu_seconds(sandbox.pid), own_cpu_seconds()
        synced = run_async(sync_all(env, accounts, args))
        synced["cpu_seconds"] = {
            "sandbox": round(process_cpu_seconds(sandbox.pid) - sandbox_cpu, 2),
            "worker": round(own_cpu_seconds() - own_cpu, 2),
        }
        stats = get_json(port, "/_sandbox/stats")

    progress("computing the ground truth and the bounds from the same seeded sandbox data")
    data = SandboxData(config)
    limit = min(synced["page_size"], config.max_page_size)
    sandbox_polls = sandbox_polls_to_complete()
    per_account: dict[str, Any] = {}
    for account in accounts:
        account_id = account["account_id"]
        stored, result = synced["stored"][account_id], synced["results"][account_id]
        backfill_run = next(run for run in stored["runs"] if run["kind"] == "backfill")
        # the windows the job asked for: the same function, the same "today" in the account's timezone
        windows = backfill_chunks(account_today(account["timezone_name"]), args.days)
        if (windows[-1].since, windows[0].until) != (backfill_run["since"], backfill_run["until"]):
            raise BenchError(f"the backfill of {account_id} covered other dates than expected (midnight passed?)")
        whole = Window(backfill_run["since"], backfill_run["until"])
        # days of sandbox history (first_day .. yesterday, UTC) the backfill's window leaves out
        first, last = date.fromordinal(data.first_day), date.fromordinal(data.last_day)
        left_out = max(0, (whole.since - first).days) + max(0, (last - whole.until).days)
        truth = {level: level_totals(data, account_id, level, whole) for level in LEVELS}
        checks = {}
        for level in LEVELS:
            got = stored["by_level"].get(level, {})
            checks[level] = {
                key: {"stored": got.get(key, 0), "truth": truth[level][key], "ok": got.get(key, 0) == truth[level][key]}
                for key in ("rows", "impressions", "clicks", "spend", "conversions")
            }
        object_checks = {
            edge: {"stored": stored["objects"][edge], "truth": len(data.by_account[account_id][kind])}
            for edge, kind in EDGE_KINDS.items()
        }
        measured_kinds = stats["by_account_kind"].get(account_id, {})
        recorded = sum(run["graph_calls"] for run in stored["runs"])
        per_account[account_id] = {
            "name": account["name"],
            "timezone": account["timezone_name"],
            "window": {
                "since": whole.since,
                "until": whole.until,
                "windows": len(windows),
                "window_days": max(w.days for w in windows),
                "history_days_left_out": left_out,
            },
            "measured": grouped(measured_kinds),
            "measured_by_kind": measured_kinds,
            "sandbox_total": sum(measured_kinds.values()),
            "sync_runs_graph_calls": recorded,
            "sync_runs": stored["runs"],
            "bounds": minimum_calls(data, account_id, windows, limit, sandbox_polls),
            "checks": checks,
            "objects": object_checks,
            "rows_written": sum(run["rows_written"] for run in stored["runs"]),
            "seconds": {"structure": result["structure_seconds"], "backfill": result["backfill_seconds"]},
        }
    return summarise(args, synced, stats, per_account, limit, sandbox_polls, stores.embedded)


def summarise(
    args: argparse.Namespace,
    synced: dict[str, Any],
    stats: dict[str, Any],
    per_account: dict[str, Any],
    limit: int,
    sandbox_polls: int,
    embedded: bool,
) -> dict[str, Any]:
    bounds = ("job_strategy", "sandbox_floor", "one_report_per_level", "one_report_per_level_sandbox")
    totals: dict[str, Counter[str]] = {name: Counter() for name in ("measured", *bounds)}
    for account in per_account.values():
        totals["measured"].update(account["measured"])
        for name in bounds:
            totals[name].update(account["bounds"][name])
    total = {name: sum(counts.values()) for name, counts in totals.items()}
    rows = sum(account["rows_written"] for account in per_account.values())
    consistent = all(
        account["sync_runs_graph_calls"] + account["measured"]["validation"] == account["sandbox_total"]
        for account in per_account.values()
    )
    truth_ok = all(
        check["ok"] for account in per_account.values() for level in account["checks"].values()
        for check in level.values()
    ) and all(
        o["stored"] == o["truth"] for account in per_account.values() for o in account["objects"].values()
    )  # fmt: skip
    return {
        "config": {
            "sandbox": "SandboxConfig() default: 3 accounts x 40 campaigns x 4 ad sets x 4 ads, 400 days",
            "days": args.days,
            "concurrency": "sequential" if args.sequential else "accounts concurrently",
            "page_limit": limit,
            "poll_initial_s": args.poll_initial,
            "poll_max_s": args.poll_max,
            "sandbox_polls_to_complete": sandbox_polls,
            "stores": "embedded (temporary folder)" if embedded else "DATABASE_URL / REDIS_URL",
        },
        "wall_seconds": synced["wall_seconds"],
        "cpu_seconds": synced["cpu_seconds"],
        "rows_written": rows,
        "rows_per_s": round(rate(rows, synced["wall_seconds"])),
        "accounts": per_account,
        "totals": {name: dict(counts) for name, counts in totals.items()},
        "total": total,
        "sandbox_stats": stats,
        "calls_consistent": consistent,
        "ground_truth_ok": truth_ok,
        "bars": {
            "at_job_strategy_floor": total["measured"] == total["sandbox_floor"],
            "at_theoretical_minimum": total["measured"] == total["job_strategy"],
        },
    }


# ---- report --------------------------------------------------------------------------------------------------------


def report(summary: dict[str, Any]) -> str:
    config, total, totals = summary["config"], summary["total"], summary["totals"]
    accounts = summary["accounts"]
    first = next(iter(accounts.values()))
    window = first["window"]
    lines = [
        "",
        f"sandbox     : {config['sandbox']}; {config['concurrency']}",
        f"job         : sync_structure + backfill_insights(days={config['days']}) per account; the backfill asked for "
        f"{window['windows']} windows of up to {window['window_days']} days x 4 levels, each one async report run",
        f"page limit  : {config['page_limit']} (the client's GRAPH_PAGE_SIZE, capped by the sandbox's max_page_size)",
        f"polls       : GRAPH_POLL_INITIAL_SECONDS={config['poll_initial_s']}, MAX={config['poll_max_s']}; a "
        f"sandbox report run says Job Completed at poll {config['sandbox_polls_to_complete']} at the earliest",
        f"stores      : {config['stores']}",
        "",
        "Graph calls, all accounts (measured = the sandbox's /_sandbox/stats):",
        f"{'kind':<20}{'measured':>9}{'minimum':>9}{'sandbox floor':>15}{'1 report/level':>16}{'(sandbox)':>11}",
    ]
    columns = ("measured", "job_strategy", "sandbox_floor", "one_report_per_level", "one_report_per_level_sandbox")
    widths = (9, 9, 15, 16, 11)
    for group, _ in CALL_GROUPS:
        cells = "".join(f"{totals[name].get(group, 0):>{width},}" for name, width in zip(columns, widths, strict=True))
        lines.append(f"{group:<20}{cells}")
    lines.append(f"{'total':<20}" + "".join(f"{total[name]:>{width},}" for name, width in zip(columns, widths,
                                                                                            strict=True)))  # fmt: skip
    alternative = total["one_report_per_level_sandbox"]
    lines += [
        "  minimum        = this job's strategy (its windows x 4 levels), 1 status poll per report run",
        "  sandbox floor  = the same with the polls the sandbox's report runs need before Job Completed",
        "  1 report/level = one report run per level over the whole range (daily rows all the same), 1 poll per run;",
        "                   (sandbox) = the same with the sandbox's polls",
        f"measured / minimum: {total['measured'] / total['job_strategy']:.3f}; measured / sandbox floor: "
        f"{total['measured'] / total['sandbox_floor']:.3f}; with one report per level the sandbox floor would be "
        f"{alternative:,} calls ({alternative / total['measured']:.0%} of measured)",
        "",
        "per account:",
        f"{'account':<18}{'sandbox':>9}{'sync_runs':>11}{'+valid.':>8}{'agree':>7}{'floor':>7}{'rows':>9}"
        f"{'structure s':>13}{'backfill s':>12}",
    ]
    for account_id, account in accounts.items():
        agree = account["sync_runs_graph_calls"] + account["measured"]["validation"] == account["sandbox_total"]
        lines.append(
            f"{account_id:<18}{account['sandbox_total']:>9,}{account['sync_runs_graph_calls']:>11,}"
            f"{account['measured']['validation']:>8}{'yes' if agree else 'NO':>7}"
            f"{sum(account['bounds']['sandbox_floor'].values()):>7,}{account['rows_written']:>9,}"
            f"{account['seconds']['structure']:>13.2f}{account['seconds']['backfill']:>12.2f}"
        )
    lines += [
        "",
        f"wall time   : {summary['wall_seconds']:.1f} s for every account; rows written {summary['rows_written']:,} "
        f"({summary['rows_per_s']:,} rows/s end to end, sandbox included)",
        f"CPU         : sandbox process {summary['cpu_seconds']['sandbox']:.1f} s, worker (this process: client, "
        f"parsing, insight_records, asyncpg) {summary['cpu_seconds']['worker']:.1f} s, PostgreSQL not counted",
        "",
        "stored vs the sandbox's ground truth over each backfill window (rows, impressions, clicks, spend, "
        "conversions per level; objects per kind):",
    ]
    for account_id, account in accounts.items():
        parts = []
        for level, checks in account["checks"].items():
            bad = [key for key, check in checks.items() if not check["ok"]]
            parts.append(f"{level} {checks['rows']['stored']:,} rows " + ("ok" if not bad else f"DIFF {bad}"))
        objects = ", ".join(
            f"{edge} {o['stored']}/{o['truth']}" + ("" if o["stored"] == o["truth"] else " DIFF")
            for edge, o in account["objects"].items()
        )
        spend = account["checks"]["account"]["spend"]["stored"]
        window = account["window"]
        lines.append(
            f"  {account_id} ({account['timezone']}, {window['since']}..{window['until']}, "
            f"{window['history_days_left_out']} day(s) of the sandbox's history outside it): " + "; ".join(parts)
        )
        lines.append(f"  {'':<{len(account_id)}}   {objects}; account spend {spend}")
    lines += [
        "",
        f"calls recorded in sync_runs + 1 validation per account == calls the sandbox received: "
        f"{'yes' if summary['calls_consistent'] else 'NO'}",
        f"ground truth matches: {'yes' if summary['ground_truth_ok'] else 'NO'}",
        f"at the sandbox floor of the job's own strategy: {verdict(summary['bars']['at_job_strategy_floor'])}; "
        f"fewest calls the paging allows (one report per level, sandbox polls): "
        f"{verdict(total['measured'] <= total['one_report_per_level_sandbox'])} "
        f"({total['measured'] - total['one_report_per_level_sandbox']:+,} calls)",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Graph calls of a full sandbox sync through sync_structure + backfill_insights, next to the "
        "minimum. Uses DATABASE_URL and REDIS_URL when both are set, else embedded PostgreSQL and Redis."
    )
    parser.add_argument("--days", type=int, default=400, help="backfill days (default 400, the sandbox's history)")
    parser.add_argument("--sequential", action="store_true", help="sync the accounts one after the other")
    parser.add_argument("--poll-initial", type=float, default=0.02, help="GRAPH_POLL_INITIAL_SECONDS (default 0.02)")
    parser.add_argument("--poll-max", type=float, default=0.05, help="GRAPH_POLL_MAX_SECONDS (default 0.05)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


if __name__ == "__main__":
    main("bench_sync", build_parser(), run, report)

"""`GET /api/v1/campaigns?limit=50` req/s and p99 next to a bare aiohttp handler in the same run, and why.

    python benchmarks/bench_campaigns.py [--duration 10] [--connections 16] [--runs 3] [--sort name] [--json out.json]

The auth benchmark's machinery (benchlib): embedded PostgreSQL and Redis, one pinned `python -m adsvc serve`, one
pinned bare aiohttp process, wrk (or the Python client), warm-up then alternating runs, medians.

What it does, in order:

1. PostgreSQL and Redis (DATABASE_URL and REDIS_URL when both are set, else embedded), migrations; the sandbox
   (`python -m adsvc sandbox`, default data: 3 accounts x 40 campaigns) on a free port.
2. `adsvc serve` with FACEBOOK_GRAPH_URL = the sandbox; a user is created with `adsvc create-user`, logs in, and
   connects every sandbox account with `POST /api/v1/ad-accounts` (so it is their owner; connecting queues a
   structure sync and an insights sync with the 28-day restatement lookback).
3. An arq worker (jobs.worker.WorkerSettings' functions, no crons) runs in burst mode in this process until those
   jobs are done; the script checks every account has a succeeded structure and insights run, and that the list
   answers 200 with 50 campaigns (the user sees 120) and their last-7-day metrics.
4. Targets, loaded alike: the bare handler (`GET /me` of benchmarks/bare_app.py, the bar's baseline), the same bare
   process serving the very bytes of the 50-campaign answer (`GET /body`: what sending that body costs with none
   of the work), and adsvc `GET /api/v1/campaigns?limit=50` with the user's bearer token.
5. Why: EXPLAIN (ANALYZE, BUFFERS) of the exact SQL the endpoint sends (adsvc.campaigns.queries.list_campaigns is
   called with the endpoint's defaults on a connection that explains instead of fetching), the same query timed
   alone, the CPU each request costs the server process and PostgreSQL, and a cProfile of a second adsvc process
   under the same load (unless --no-profile), grouped by library.

Bars (DESIGN.md, "Quality bars"): adsvc req/s >= 15% of the bare handler's; p99 <= 10 ms at 16 connections.
Every process it starts is stopped on the way out, on error, Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import secrets
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
from arq.connections import RedisSettings
from arq.worker import Worker
from benchlib import (
    BENCH_DIR,
    BenchError,
    Children,
    LoadClient,
    Placement,
    Stores,
    Target,
    backing_stores,
    choose_client,
    create_user,
    explain,
    get_json,
    http_request,
    log_in,
    log_summary,
    main,
    median,
    plan_lines,
    progress,
    run_async,
    service_env,
    start_sandbox,
    tail,
    throughput,
    verdict,
    wait_until_serving,
    work_folder,
)

from adsvc.campaigns import queries
from adsvc.campaigns.listing import SORT_KEYS
from adsvc.contexts import init_connection
from adsvc.embedded import free_port
from adsvc.migrations import apply_migrations
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN
from adsvc.settings import REPO_ROOT
from jobs.worker import WorkerSettings

LIST_PATH = "/api/v1/campaigns?limit=50"  # the default sort (name, ascending); --sort and --order add theirs
PAGE = 50
RATIO_BAR = 0.15
P99_BAR_MS = 10.0
TARGET_LABELS = {
    "bare": "bare aiohttp  GET /me",
    "body": "bare aiohttp  GET /body (same bytes)",
    "adsvc": "adsvc  GET {path}",
}


def list_path(sort: str, order: str) -> str:
    return LIST_PATH + ("" if (sort, order) == ("name", "asc") else f"&sort={sort}&order={order}")


# cProfile own time grouped by where the function lives, matched against "file:function" (first match wins)
PROFILE_GROUPS = (
    ("start-up (imports, compile)", ("<frozen ", "marshal.loads", "builtins.compile", "builtins.exec", "_ssl.")),
    ("pydantic (model validation, dump)", ("pydantic",)),
    ("asyncpg (pool, queries, row decoding)", ("asyncpg",)),
    ("dataclass __init__ (generated code)", ("<string>",)),
    ("adsvc.campaigns (view, queries, metrics)", ("adsvc/campaigns",)),
    ("adsvc other (auth, middleware, routing)", ("adsvc/",)),
    ("redis (revocation check)", ("redis",)),
    ("jwt / crypto", ("jwt", "cryptography", "hmac", "hashlib")),
    ("JSON (orjson, json)", ("orjson", "json")),
    ("decimal / datetime", ("decimal", "datetime")),
    ("aiohttp, multidict, yarl (HTTP)", ("aiohttp", "multidict", "yarl")),
    ("event loop (uvloop, asyncio)", ("uvloop", "asyncio", "selectors", "select")),
)


# ---- set-up --------------------------------------------------------------------------------------------------------


def connect_accounts(port: int, token: str, account_ids: list[str]) -> None:
    for account_id in account_ids:
        status, body = http_request(
            port,
            "POST",
            "/api/v1/ad-accounts",
            body=json.dumps({"account_id": f"act_{account_id}", "access_token": SANDBOX_ACCESS_TOKEN}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        if status not in (200, 201):
            raise BenchError(f"connecting act_{account_id} answered {status}: {body[:300]!r}")


async def run_worker_burst(env: dict[str, str]) -> dict[str, int]:
    """The worker's job functions (no crons) in burst mode: runs what connecting queued, then returns."""
    os.environ.update(env)  # jobs.context.startup reads its settings from the environment, as a worker does
    worker = Worker(
        functions=WorkerSettings.functions,
        cron_jobs=[],
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        redis_settings=RedisSettings.from_dsn(env["REDIS_URL"]),
        burst=True,
        poll_delay=0.05,
        handle_signals=False,
        max_jobs=4,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return {"complete": worker.jobs_complete, "failed": worker.jobs_failed, "retried": worker.jobs_retried}


class Explaining:
    """Stands in for the pool `list_campaigns` is given: runs its exact SQL and arguments under EXPLAIN ANALYZE."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[Any] = []

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.plans.append(await explain(self.conn, query, *args))
        return []


def endpoint_defaults(user_id: int, sort: str = "name", order: str = "asc") -> dict[str, Any]:
    """list_campaigns' arguments for `?limit=50` (the view's defaults: sort by name ascending, unless --sort or
    --order say otherwise; it asks one extra)."""
    return {
        "user_id": user_id,
        "account_id": None,
        "statuses": None,
        "effective_statuses": None,
        "search": None,
        "sort": sort,
        "descending": order == "desc",
        "after": None,
        "limit": PAGE + 1,
    }


async def inspect_database(
    database_url: str, user_id: int, repeats: int, sort: str = "name", order: str = "asc"
) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        await init_connection(conn)
        runs = [
            dict(row)
            for row in await conn.fetch(
                "select account_id, kind, status, count(*) as runs, sum(graph_calls) as graph_calls, "
                "sum(rows_written) as rows from sync_runs group by 1, 2, 3 order by 1, 2, 3"
            )
        ]
        counts = {
            "campaigns": await conn.fetchval("select count(*) from campaigns"),
            "insights_rows": await conn.fetchval("select count(*) from insights_daily"),
            "campaign_rows_last_7d": await conn.fetchval(
                "select count(*) from insights_daily where level = 'campaign' and date >= current_date - 8"
            ),
        }
        explaining = Explaining(conn)
        for _ in range(3):  # the last of three: caches warm, as under load
            await queries.list_campaigns(explaining, **endpoint_defaults(user_id, sort, order))  # type: ignore[arg-type]
        plan = explaining.plans[-1][0]
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            rows = await queries.list_campaigns(conn, **endpoint_defaults(user_id, sort, order))
            timings.append((time.perf_counter() - started) * 1000)
        # the ad set and ad lists' SQL with the same sort (not loaded over HTTP: timed alone, like the above)
        levels = {}
        for level in ("adset", "ad"):
            level_timings = []
            for _ in range(max(1, repeats // 4)):
                started = time.perf_counter()
                await queries.list_objects(conn, level=level, **endpoint_defaults(user_id, sort, order))
                level_timings.append((time.perf_counter() - started) * 1000)
            levels[level] = {"median": round(median(level_timings), 3), "samples": len(level_timings)}
        counts["adsets"] = await conn.fetchval("select count(*) from adsets")
        counts["ads"] = await conn.fetchval("select count(*) from ads")
    finally:
        await conn.close()
    return {
        "sync_runs": runs,
        "counts": counts,
        "page_rows": len(rows),
        "query_ms": {"median": round(median(timings), 3), "min": round(min(timings), 3), "samples": len(timings)},
        "level_query_ms": levels,
        "explain": {
            "execution_ms": plan.get("Execution Time"),
            "planning_ms": plan.get("Planning Time"),
            "plan": list(plan_lines(plan["Plan"])),
        },
    }


def check_synced(database: dict[str, Any], account_ids: list[str]) -> None:
    succeeded = {(run["account_id"], run["kind"]) for run in database["sync_runs"] if run["status"] == "succeeded"}
    missing = [(a, k) for a in account_ids for k in ("structure", "insights") if (a, k) not in succeeded]
    if missing:
        raise BenchError(f"syncs that did not succeed: {missing}; sync_runs: {database['sync_runs']}")


# ---- profile -------------------------------------------------------------------------------------------------------


def profile_server(
    children: Children,
    env: dict[str, str],
    placement: Placement,
    client: LoadClient,
    headers: tuple[str, ...],
    work_dir: Path,
    seconds: int,
    path: str = LIST_PATH,
) -> dict[str, Any]:
    """A second `adsvc serve` under cProfile, loaded like the measured one, stopped with SIGINT; where time goes."""
    port, output = free_port(), work_dir / "adsvc.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(output), "-m", "adsvc", "serve", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    process = children.spawn("adsvc-profiled", argv, env=env, cpus=placement.server)
    wait_until_serving("adsvc serve (cProfile)", process, port, children.log_path("adsvc-profiled"))
    measured = client.run(f"http://127.0.0.1:{port}{path}", seconds, headers, process.pid)
    children.stop(process, sig=signal.SIGINT)
    if not output.exists():
        raise BenchError(f"the profiled server wrote no profile; see {children.log_path('adsvc-profiled')}")
    raw: dict[Any, Any] = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    groups: Counter[str] = Counter()
    own, ours = [], []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in raw.items():
        where = f"{_short(filename)}:{line}({name})"
        group = next((label for label, keys in PROFILE_GROUPS if any(key in f"{filename}:{name}" for key in keys)),
                     "other")  # fmt: skip
        groups[group] += tottime
        own.append((tottime, cumtime, calls, where))
        if "adsvc/" in filename and "/cli.py" not in filename and "/app.py" not in filename:
            ours.append((cumtime, tottime, calls, where))
    own.sort(reverse=True)
    ours.sort(reverse=True)
    requests = max(1, measured.requests)
    return {
        "rps_under_profile": measured.rps,
        "requests": measured.requests,
        "total_s": round(total, 3),
        "groups": {label: round(value / total, 4) for label, value in groups.most_common()},
        "top_own": [
            {"function": where, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3), "calls": calls}
            for tt, ct, calls, where in own[:12]
        ],
        "adsvc_per_request": [
            {"function": where, "cum_ms_per_request": round(ct * 1000 / requests, 3), "calls": calls}
            for ct, _, calls, where in ours[:14]
        ],
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ---- the run -------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    placement = Placement.choose(not args.no_pin)
    placement.apply_to_this_process()
    client = choose_client(args.client, args.connections)
    print(f"load client: {client.label}", flush=True)
    path = list_path(args.sort, args.order)
    with contextlib.ExitStack() as stack:
        work_dir = stack.enter_context(work_folder())
        stores: Stores = stack.enter_context(backing_stores(work_dir / "data"))
        progress(f"{'embedded' if stores.embedded else 'external'} PostgreSQL and Redis up; applying migrations")
        apply_migrations(stores.database_url, REPO_ROOT / "migrations")
        children = Children(work_dir)
        stack.callback(children.stop_all)
        sandbox_port = free_port()
        start_sandbox(children, cpus=frozenset(), port=sandbox_port)
        account_ids = [row["account_id"] for row in get_json(sandbox_port, "/_sandbox/accounts")["data"]]
        env = service_env(stores, work_dir)
        env.update(
            FACEBOOK_GRAPH_URL=f"http://127.0.0.1:{sandbox_port}",
            GRAPH_POLL_INITIAL_SECONDS="0.02",
            GRAPH_POLL_MAX_SECONDS="0.05",
            GRAPH_PACING_TIME_SCALE="0.001",
            SYNC_RETRY_BASE_SECONDS="0.05",
        )
        email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18)
        create_user(env, email, password)
        adsvc_port = free_port()
        adsvc = children.spawn(
            "adsvc",
            [sys.executable, "-m", "adsvc", "serve", "--host", "127.0.0.1", "--port", str(adsvc_port)],
            env=env,
            cpus=placement.server,
        )
        wait_until_serving("adsvc serve", adsvc, adsvc_port, children.log_path("adsvc"))
        token = log_in(adsvc_port, email, password)
        auth = {"Authorization": f"Bearer {token}"}
        user_id = int(json.loads(http_request(adsvc_port, "GET", "/api/v1/auth/me", headers=auth)[1])["id"])
        progress(f"connecting {len(account_ids)} sandbox accounts and running the worker until their syncs are done")
        connect_accounts(adsvc_port, token, account_ids)
        started = time.perf_counter()
        jobs = run_async(run_worker_burst(env))
        sync_seconds = time.perf_counter() - started
        database = run_async(inspect_database(stores.database_url, user_id, args.query_repeats, args.sort, args.order))
        check_synced(database, account_ids)
        status, body = http_request(adsvc_port, "GET", path, headers=auth)
        page = json.loads(body) if status == 200 else {}
        if status != 200 or len(page.get("data", [])) != PAGE:
            raise BenchError(f"GET {path} answered {status} with {len(page.get('data', []))} rows: {body[:300]!r}")
        with_spend = sum(1 for row in page["data"] if float(row["last_7d"]["spend"]) > 0)
        body_file = work_dir / "campaigns.json"
        body_file.write_bytes(body)
        bare_port = free_port()
        bare = children.spawn(
            "bare",
            [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(bare_port), "--body-file", str(body_file)],
            env=env,
            cpus=placement.server,
        )
        wait_until_serving("bare_app", bare, bare_port, children.log_path("bare"))
        progress(
            f"synced in {sync_seconds:.1f} s ({jobs}); the list answers {len(body):,} bytes; "
            f"adsvc on :{adsvc_port} (pid {adsvc.pid}), bare on :{bare_port} (pid {bare.pid}); measuring"
        )
        header = (f"Authorization: Bearer {token}",)
        targets = [
            Target("bare", f"http://127.0.0.1:{bare_port}/me", (), bare.pid),
            Target("body", f"http://127.0.0.1:{bare_port}/body", (), bare.pid),
            Target("adsvc", f"http://127.0.0.1:{adsvc_port}{path}", header, adsvc.pid),
        ]
        measured = throughput(
            targets, client, duration=args.duration, warmup=args.warmup, runs=args.runs, db_pid=stores.postgres_pid()
        )
        for name, process in (("adsvc", adsvc), ("bare", bare)):
            if process.poll() is not None:
                raise BenchError(f"{name} exited with {process.returncode} during the run:\n"
                                 f"{tail(children.log_path(name))}")  # fmt: skip
        server_log = log_summary(children.log_path("adsvc"))
        profile = None
        if not args.no_profile:
            progress(f"profiling a second adsvc process under the same load for {args.profile_seconds} s")
            profile = profile_server(children, env, placement, client, header, work_dir, args.profile_seconds, path)

    medians = {name: result["median"] for name, result in measured.items()}
    per_request = {
        name: {
            "server_cpu_us": round(row["server_cpu_pct"] / 100 / row["rps"] * 1e6, 1),
            "db_cpu_us": round(row["db_cpu_pct"] / 100 / row["rps"] * 1e6, 1) if "db_cpu_pct" in row else None,
        }
        for name, row in medians.items()
    }
    ratio = medians["adsvc"]["rps"] / medians["bare"]["rps"]
    return {
        "config": {
            "client": client.label,
            "placement": placement.describe(),
            "stores": "embedded (temporary folder)" if stores.embedded else "DATABASE_URL / REDIS_URL",
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "runs": args.runs,
            "path": path,
        },
        "data": {
            "accounts": len(account_ids),
            "sync_seconds": round(sync_seconds, 3),
            "jobs": jobs,
            "body_bytes": len(body),
            "page_rows": len(page["data"]),
            "page_rows_with_spend_7d": with_spend,
            **database["counts"],
        },
        "throughput": measured,
        "per_request": per_request,
        "database": database,
        "profile": profile,
        "bars": {
            "ratio": round(ratio, 4),
            "ratio_vs_same_body": round(medians["adsvc"]["rps"] / medians["body"]["rps"], 4),
            "ratio_ok": ratio >= RATIO_BAR,
            "p99_ok": medians["adsvc"]["p99_ms"] <= P99_BAR_MS,
        },
        "server_log": server_log,
    }


# ---- report --------------------------------------------------------------------------------------------------------


def report(summary: dict[str, Any]) -> str:
    config, data, bars = summary["config"], summary["data"], summary["bars"]
    medians = {name: result["median"] for name, result in summary["throughput"].items()}
    labels = {name: label.format(path=config.get("path", LIST_PATH)) for name, label in TARGET_LABELS.items()}
    width = max(44, *(len(label) + 2 for label in labels.values()))
    lines = [
        "",
        f"load client : {config['client']}",
        f"pinning     : {config['placement']}",
        f"stores      : {config['stores']}",
        f"load        : {config['connections']} connections, {config['duration_s']} s per run after "
        f"{config['warmup_s']} s warm-up, {config['runs']} runs alternating, median reported",
        f"data        : {data['accounts']} sandbox accounts connected by the user and synced (structure + 28-day "
        f"lookback) in {data['sync_seconds']:.1f} s: {data['campaigns']} campaigns, {data['insights_rows']:,} "
        f"insight rows; the page: {data['page_rows']} campaigns ({data['page_rows_with_spend_7d']} with 7-day "
        f"spend), {data['body_bytes']:,} bytes",
        "",
        f"{'target':<{width}}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'srv CPU':>8}{'PG CPU':>8}"
        f"{'cli CPU':>8}{'srv us/req':>11}{'PG us/req':>10}",
    ]
    for name in ("bare", "body", "adsvc"):
        row, cost = medians[name], summary["per_request"][name]
        db = f"{row['db_cpu_pct']:>7.0f}%" if "db_cpu_pct" in row else f"{'-':>8}"
        db_us = f"{cost['db_cpu_us']:>10.0f}" if cost["db_cpu_us"] is not None else f"{'-':>10}"
        lines.append(
            f"{labels[name]:<{width}}{row['rps']:>9,.0f}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
            f"{row['errors']:>7.0f}{row['server_cpu_pct']:>7.0f}%{db}{row['client_cpu_pct']:>7.0f}%"
            f"{cost['server_cpu_us']:>11.0f}{db_us}"
        )
    database = summary["database"]
    lines += [
        "(us/req = CPU microseconds per request: the server process's, and PostgreSQL's (postmaster + backends))",
        "",
        f"ratio adsvc/bare req/s     : {bars['ratio']:.3f}   (bar >= {RATIO_BAR:.2f}: {verdict(bars['ratio_ok'])})",
        f"ratio adsvc/same-body bare : {bars['ratio_vs_same_body']:.3f}",
        f"adsvc p99                  : {medians['adsvc']['p99_ms']:.2f} ms (bar <= {P99_BAR_MS:.0f} ms at "
        f"{config['connections']} connections: {verdict(bars['p99_ok'])})",
        "",
        f"the list's SQL alone (list_campaigns on one connection, {database['query_ms']['samples']} times): median "
        f"{database['query_ms']['median']:.2f} ms, min {database['query_ms']['min']:.2f} ms",
        f"EXPLAIN ANALYZE of that SQL (the endpoint's defaults): execution {database['explain']['execution_ms']:.2f} "
        f"ms, planning {database['explain']['planning_ms']:.2f} ms",
    ]
    lines.extend(f"  {line}" for line in database["explain"]["plan"])
    levels = database.get("level_query_ms", {})
    if levels:
        lines.append(
            f"the same sort over the ad sets ({data.get('adsets', '?')}) and ads ({data.get('ads', '?')}), SQL alone: "
            + ", ".join(f"{level} median {value['median']:.2f} ms" for level, value in levels.items())
        )
    profile = summary.get("profile")
    if profile:
        lines += [
            "",
            f"cProfile of a second adsvc process under the same load ({profile['requests']:,} requests at "
            f"{profile['rps_under_profile']:,.0f} req/s under the profiler, which inflates Python-level work; "
            "start-up included):",
            "  own time by library:",
        ]
        lines.extend(f"    {share:>6.1%}  {label}" for label, share in profile["groups"].items())
        lines.append("  adsvc functions by cumulative time, ms per request (nested: a caller includes its callees):")
        lines.extend(
            f"    {f['cum_ms_per_request']:>7.3f}  {f['function']}  ({f['calls']:,} calls)"
            for f in profile["adsvc_per_request"]
        )
        lines.append("  top functions by own time (s own / s cumulative / calls):")
        lines.extend(
            f"    {f['tottime_s']:>6.2f} {f['cumtime_s']:>7.2f} {f['calls']:>9,}  {f['function']}"
            for f in profile["top_own"]
        )
    server_log = summary["server_log"]
    lines.append(
        f"\nadsvc log (LOG_LEVEL=WARNING): {server_log['warnings']} WARNING, {server_log['errors']} ERROR lines"
    )
    lines.extend(f"  {line}" for line in server_log["tail"])
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=f"adsvc GET {LIST_PATH} against a bare aiohttp handler, with the data of a synced sandbox. "
        "Uses DATABASE_URL and REDIS_URL when both are set, else embedded PostgreSQL and Redis."
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per target; the median is reported")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target before the runs")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto", help="load client")
    parser.add_argument("--query-repeats", type=int, default=200, help="times the list's SQL is timed alone")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile phase")
    parser.add_argument("--profile-seconds", type=int, default=8, help="seconds of load on the profiled server")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--sort", choices=SORT_KEYS, default="name", help="the list's sort key (default name)")
    parser.add_argument("--order", choices=("asc", "desc"), default="asc", help="the list's order (default asc)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


if __name__ == "__main__":
    main("bench_campaigns", build_parser(), run, report)

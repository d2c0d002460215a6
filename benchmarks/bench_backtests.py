"""Event-loop responsiveness while backtests run: GET /health latency on one server process with nothing else
running, and while 4 clients each send backtests over the whole sandbox history back to back.

    python benchmarks/bench_backtests.py [--runs 3] [--seconds 8] [--backtests 4] [--json out.json]

What it does:

1. The setup of bench_rules.py, through bench_sync's functions: PostgreSQL and Redis (DATABASE_URL and REDIS_URL
   when both are set, else embedded), migrations, `python -m adsvc sandbox` with the default SandboxConfig() (3
   accounts, 400 days), and a full sync through the real jobs (not timed).
2. A user (`python -m adsvc create-user`) made owner of every account, and bench_rules' four rules per account stored
   with `insert_rule`. The backtests are the heaviest of them (most objects in scope: the ad-level rules, then the
   ad set ones), each over the whole stored history (up to runner.MAX_BACKTEST_DAYS).
3. Two `python -m adsvc serve` processes on the same stores, pinned to one CPU (this process, PostgreSQL and Redis
   on the others), with the request limits raised out of the way (THROTTLE_BACKTESTS=100000,100000/60):
   - `bounded`: the defaults, BACKTEST_CONCURRENCY=2 (the others wait for a slot);
   - `unbounded`: BACKTEST_CONCURRENCY equal to --backtests (all of them replaying at once, still in threads).
4. Per round, each server in turn (alternating): `quiet`, /health probed every 5 ms (open loop, as bench_auth's
   storm probe) for --seconds; then `backtests`, the same probe while --backtests clients each POST their backtest
   and send the next as soon as it is answered, until --seconds are up (the backtests in flight then finish and
   count). Medians over the rounds.

/health touches nothing, so its latency is the time the request waits for the event loop plus the network round
trip: the loop-lag proxy of bench_auth. Bar (DESIGN.md): p99 <= 10 ms while 4 backtests run. The ratio printed is
the backtests phase against the quiet one on the same server in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from bench_rules import SYNC_OPTIONS, history, rule_specs
from bench_sync import sandbox_stack, sync_all
from benchlib import (
    BenchError,
    Children,
    Placement,
    create_user,
    log_in,
    log_summary,
    main,
    median,
    progress,
    run_async,
    verdict,
    wait_until_serving,
)
from loadgen import probe_until, summary

from adsvc.accounts.queries import account_by_id
from adsvc.automation import queries as rule_queries
from adsvc.automation.runner import rule_spec, scope_objects
from adsvc.contexts import create_pg_pool
from adsvc.embedded import free_port
from adsvc.settings import Settings

LAG_BAR_MS = 10.0
PROBE_INTERVAL_S = 0.005
PHASES = ("quiet", "backtests")


# ---- setup ---------------------------------------------------------------------------------------------------------


async def prepare(env: dict[str, str], email: str, backtests: int) -> list[dict[str, Any]]:
    """Owner rights for the user on every account, the rules, and the backtests to send (heaviest first)."""
    settings = Settings.from_env({**env, "DB_TIMEOUT_SECONDS": "60"})
    pool = await create_pg_pool(settings)
    try:
        user_id = await pool.fetchval("select id from users where email = $1", email)
        account_ids = [row["id"] for row in await pool.fetch("select id from ad_accounts order by id")]
        candidates: list[dict[str, Any]] = []
        for account_id in account_ids:
            await pool.execute(
                "insert into ad_account_members (account_id, user_id, role) values ($1, $2, 'owner')",
                account_id,
                user_id,
            )
            account = await account_by_id(pool, account_id=account_id)
            assert account is not None
            span = await history(pool, account_id, account.timezone_name)
            daily = await pool.fetchval(
                """select percentile_disc(0.5) within group (order by spend) from insights_daily
                   where account_id = $1 and level = 'account'""",
                account_id,
            )
            for name, spec in rule_specs(Decimal(daily).quantize(Decimal(1))).items():
                async with pool.acquire() as conn:
                    rule = await rule_queries.insert_rule(
                        conn, account_id=account_id, name=f"bench: {name}", enabled=False,
                        spec=spec.model_dump(mode="json", exclude_none=True), next_run_at=None, created_by=user_id,
                    )  # fmt: skip
                objects = len(await scope_objects(pool, rule_spec(rule), account_id))
                candidates.append({
                    "rule_id": rule.id, "account_id": account_id, "rule": name, "objects": objects,
                    "since": span["since"].isoformat(), "until": span["until"].isoformat(), "days": span["days"],
                })  # fmt: skip
    finally:
        await pool.close()
    candidates.sort(key=lambda item: item["objects"] * item["days"], reverse=True)
    if len(candidates) < backtests:
        raise BenchError(f"only {len(candidates)} rules to backtest; --backtests {backtests} asks for more")
    return candidates[:backtests]


def start_server(
    children: Children, name: str, env: dict[str, str], placement: Placement, concurrency: int
) -> tuple[int, Any]:
    port = free_port()
    server_env = {
        **env,
        "BACKTEST_CONCURRENCY": str(concurrency),
        "BACKTEST_QUEUE_SECONDS": "300",
        "THROTTLE_BACKTESTS": "100000,100000/60",
        "DB_TIMEOUT_SECONDS": "60",
    }
    argv = [sys.executable, "-m", "adsvc", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = children.spawn(name, argv, env=server_env, cpus=placement.server)
    wait_until_serving(name, process, port, children.log_path(name))
    return port, process


# ---- measurement ---------------------------------------------------------------------------------------------------


async def _backtest_loop(
    session: aiohttp.ClientSession, base: str, token: str, item: dict[str, Any], until: float, out: list[Any]
) -> None:
    url = f"{base}/api/v1/automation/rules/{item['rule_id']}/backtest"
    body = {"since": item["since"], "until": item["until"]}
    headers = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() < until:
        started = time.perf_counter()
        async with session.post(url, json=body, headers=headers) as response:
            payload = await response.json()
            out.append((response.status, time.perf_counter() - started, payload.get("actions")))


async def measure_server(port: int, token: str, items: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    health = base + "/health"
    timeout = aiohttp.ClientTimeout(total=600)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as probes,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=len(items)), timeout=timeout) as load,
    ):
        async with probes.get(health) as response:  # a warm connection before the clock starts
            await response.read()
        quiet_stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, quiet_stop.set)
        quiet = await probe_until(probes, health, PROBE_INTERVAL_S, quiet_stop)

        answers: list[Any] = []
        started = time.perf_counter()
        clients = asyncio.gather(
            *(_backtest_loop(load, base, token, item, started + seconds, answers) for item in items)
        )
        busy_stop = asyncio.Event()
        clients.add_done_callback(lambda _: busy_stop.set())
        busy = await probe_until(probes, health, PROBE_INTERVAL_S, busy_stop)
        await clients
        wall = time.perf_counter() - started
    statuses = Counter(str(status) for status, _, _ in answers)
    return {
        "quiet": quiet,
        "backtests": busy,
        "backtest_phase_seconds": round(wall, 3),
        "backtests_answered": len(answers),
        "backtest_statuses": dict(statuses),
        "backtest_latency": summary([latency for _, latency, _ in answers]),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.runs < 1 or args.backtests < 1 or args.seconds <= 0:
        raise BenchError("--runs and --backtests must be at least 1, --seconds above 0")
    placement = Placement.choose(not args.no_pin)
    with contextlib.ExitStack() as stack:
        served = sandbox_stack(stack, SYNC_OPTIONS)
        listing, env, stores, children = served.listing, served.env, served.stores, served.children
        synced = run_async(sync_all(env, listing["data"], SYNC_OPTIONS))
        progress(f"synced in {synced['wall_seconds']:.1f} s (not timed)")
        email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18)
        create_user(env, email, password)
        items = run_async(prepare(env, email, args.backtests))
        progress("backtests: " + "; ".join(f"{i['rule']} on {i['account_id']} ({i['objects']} objects x "
                                           f"{i['days']} days)" for i in items))  # fmt: skip
        placement.apply_to_this_process()
        servers = {
            "bounded": start_server(children, "bounded", env, placement, Settings().backtest_concurrency),
            "unbounded": start_server(children, "unbounded", env, placement, args.backtests),
        }
        token = log_in(servers["bounded"][0], email, password)
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for number in range(1, args.runs + 1):
            for name, (port, _) in servers.items():
                result = run_async(measure_server(port, token, items, args.seconds))
                rounds[name].append(result)
                progress(
                    f"round {number}/{args.runs} {name}: /health quiet p99 {result['quiet']['p99_ms']:.2f} ms; "
                    f"with backtests p50 {result['backtests']['p50_ms']:.2f} p99 {result['backtests']['p99_ms']:.2f}"
                    f" max {result['backtests']['max_ms']:.2f} ms; {result['backtests_answered']} backtests "
                    f"{result['backtest_statuses']}"
                )
        logs = {name: log_summary(children.log_path(name)) for name in servers}
    return summarise(args, placement, items, rounds, logs, stores.embedded)


# ---- summary -------------------------------------------------------------------------------------------------------


def summarise(
    args: argparse.Namespace,
    placement: Placement,
    items: list[dict[str, Any]],
    rounds: dict[str, list[dict[str, Any]]],
    logs: dict[str, Any],
    embedded: bool,
) -> dict[str, Any]:
    medians: dict[str, Any] = {}
    for name, results in rounds.items():
        medians[name] = {
            phase: {key: median([r[phase][key] for r in results]) for key in ("p50_ms", "p99_ms", "max_ms")}
            for phase in PHASES
        } | {
            "backtests_answered": median([r["backtests_answered"] for r in results]),
            "backtest_p50_ms": median([r["backtest_latency"]["p50_ms"] for r in results]),
            "all_backtests_ok": all(set(r["backtest_statuses"]) == {"200"} for r in results),
        }
        medians[name]["p99_ratio"] = round(medians[name]["backtests"]["p99_ms"] / medians[name]["quiet"]["p99_ms"], 2)
    bounded = medians["bounded"]
    return {
        "config": {
            "runs": args.runs,
            "seconds": args.seconds,
            "backtests": args.backtests,
            "placement": placement.describe(),
            "stores": "embedded" if embedded else "external",
            "bounded_concurrency": Settings().backtest_concurrency,
        },
        "backtests": items,
        "rounds": rounds,
        "median": medians,
        "logs": logs,
        "bars": {"lag_ok": bounded["backtests"]["p99_ms"] <= LAG_BAR_MS and bounded["all_backtests_ok"]},
    }


def report(summary_: dict[str, Any]) -> str:
    config, medians = summary_["config"], summary_["median"]
    lines = [
        "bench_backtests: GET /health latency (loop-lag proxy, probe every 5 ms) on one server process, quiet and "
        f"while {config['backtests']} clients send backtests back to back; median of {config['runs']} rounds of "
        f"{config['seconds']:g} s per phase",
        f"placement: {config['placement']}; stores: {config['stores']}",
        "backtests: "
        + "; ".join(
            f"{i['rule']} on {i['account_id']}: {i['objects']} objects x {i['days']} days"
            for i in summary_["backtests"]
        ),
        "",
        f"{'server':<34} {'quiet p50/p99':>16} {'backtests p50/p99/max':>24} {'p99 ratio':>10} {'answered':>9} "
        f"{'backtest p50':>13}",
    ]
    labels = {
        "bounded": f"bounded (BACKTEST_CONCURRENCY={config['bounded_concurrency']})",
        "unbounded": f"unbounded (all {config['backtests']} at once)",
    }
    for name, figures in medians.items():
        quiet, busy = figures["quiet"], figures["backtests"]
        lines.append(
            f"{labels[name]:<34} {quiet['p50_ms']:>7.2f}/{quiet['p99_ms']:<7.2f}ms "
            f"{busy['p50_ms']:>7.2f}/{busy['p99_ms']:.2f}/{busy['max_ms']:<7.2f}ms {figures['p99_ratio']:>9.2f}x "
            f"{figures['backtests_answered']:>9.0f} {figures['backtest_p50_ms']:>10.0f} ms"
            + ("" if figures["all_backtests_ok"] else "  <- not every backtest answered 200")
        )
    lines += [
        "",
        f"loop lag proxy p99 with {config['backtests']} backtests (bounded): "
        f"{medians['bounded']['backtests']['p99_ms']:.2f} ms (bar <= {LAG_BAR_MS:.0f} ms: "
        f"{verdict(summary_['bars']['lag_ok'])})",
    ]
    for name, log in summary_["logs"].items():
        if log["warnings"] or log["errors"]:
            lines.append(f"{name} logged {log['warnings']} warnings, {log['errors']} errors: {log['tail']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="rounds per server; medians are reported (default 3)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per phase (default 8)")
    parser.add_argument("--backtests", type=int, default=4, help="concurrent backtest clients (default 4)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers to one CPU")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    return parser


if __name__ == "__main__":
    main("bench_backtests", build_parser(), run, report)

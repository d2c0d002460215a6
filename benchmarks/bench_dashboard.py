"""The dashboard page's server time (p50, p99) on the default sandbox data, next to the JSON dashboard endpoint in the
same run.

    python benchmarks/bench_dashboard.py [--duration 5] [--connections 1] [--runs 3] [--json out.json]

What it does, in order:

1. PostgreSQL and Redis (DATABASE_URL and REDIS_URL when both are set, else embedded), migrations; the sandbox
   (`python -m adsvc sandbox`, default data: 3 accounts in BRL, USD and EUR, 40 campaigns each, 400 days).
2. `adsvc serve` on the sandbox; a user is created, logs in to the API (a bearer token) and connects every sandbox
   account; an arq worker in burst mode runs the structure and insights syncs that connecting queued (as
   bench_campaigns does); the same user signs in to the pages through the sign-in form (a session cookie).
3. Targets, loaded alike by wrk (or benchmarks/loadgen.py) over keep-alive connections, one connection by default
   so that the latency is the server's time for one request and no queueing: the JSON dashboard
   (`GET /api/v1/analytics/dashboard`, all accounts and one account, default period last_7d) and the pages
   (`GET /dashboard` and `GET /dashboard/{account}`), which also rank campaigns, draw the charts and count
   suggestions. Warm-up, then alternating runs, medians (benchlib.throughput).

Bar (DESIGN.md, "Quality bars"): the dashboard page answers in <= 50 ms p50 server time on the default sandbox data.
Every process it starts is stopped on the way out, on error, Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import pstats
import re
import secrets
import signal
import sys
import time
import urllib.parse
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from bench_campaigns import connect_accounts, run_worker_burst
from benchlib import (
    BenchError,
    Children,
    Placement,
    Stores,
    Target,
    backing_stores,
    choose_client,
    create_user,
    get_json,
    http_request,
    log_in,
    log_summary,
    main,
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

from adsvc.embedded import free_port
from adsvc.migrations import apply_migrations
from adsvc.pages.sessions import COOKIE_NAME
from adsvc.settings import REPO_ROOT

P50_BAR_MS = 50.0
JSON_PATH = "/api/v1/analytics/dashboard"
PAGE_PATH = "/dashboard"
_CSRF_FIELD = re.compile(r'name="_csrf" value="([^"]+)"')


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def sign_in_pages(port: int, email: str, password: str) -> str:
    """The sign-in form as a browser fills it in; returns the `Cookie` header of the signed-in session."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/login")
        response = connection.getresponse()
        html = response.read().decode()
        cookies = _cookies(response)
        token = _CSRF_FIELD.search(html)
        if response.status != 200 or token is None:
            raise BenchError(f"GET /login answered {response.status} without a form token")
        form = urllib.parse.urlencode({"_csrf": token.group(1), "email": email, "password": password})
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        connection.request("POST", "/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})  # fmt: skip
        response = connection.getresponse()
        response.read()
        session = _cookies(response).get(COOKIE_NAME)
        if response.status != 303 or not session:
            raise BenchError(f"POST /login answered {response.status} without a session cookie")
        return f"{COOKIE_NAME}={session}"
    finally:
        connection.close()


def check_page(port: int, path: str, cookie: str) -> int:
    status, body = http_request(port, "GET", path, headers={"Cookie": cookie})
    html = body.decode(errors="replace")
    if status != 200 or 'class="kpis"' not in html or 'role="img"' not in html:
        raise BenchError(f"GET {path} answered {status} without KPI cards and charts: {html[:300]!r}")
    return len(body)


def run(args: argparse.Namespace) -> dict[str, Any]:
    placement = Placement.choose(not args.no_pin)
    placement.apply_to_this_process()
    client = choose_client(args.client, args.connections)
    print(f"load client: {client.label}", flush=True)
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
        port = free_port()
        adsvc = children.spawn(
            "adsvc",
            [sys.executable, "-m", "adsvc", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cpus=placement.server,
        )
        wait_until_serving("adsvc serve", adsvc, port, children.log_path("adsvc"))
        token = log_in(port, email, password)
        progress(f"connecting {len(account_ids)} sandbox accounts and running the worker until their syncs are done")
        connect_accounts(port, token, account_ids)
        started = time.perf_counter()
        jobs = run_async(run_worker_burst(env))
        sync_seconds = time.perf_counter() - started
        auth = {"Authorization": f"Bearer {token}"}
        status, body = http_request(port, "GET", JSON_PATH, headers=auth)
        dashboard = json.loads(body) if status == 200 else {}
        groups = dashboard.get("by_currency", [])
        if status != 200 or len(groups) != len(account_ids) or any(Decimal(g["current"]["spend"]) <= 0
                                                                    for g in groups):  # fmt: skip
            raise BenchError(f"GET {JSON_PATH} answered {status} without spend in every account: {body[:300]!r}")
        cookie = sign_in_pages(port, email, password)
        one = account_ids[0]
        sizes = {"page_all": check_page(port, PAGE_PATH, cookie), "page_one": check_page(port, f"{PAGE_PATH}/{one}",
                                                                                          cookie)}  # fmt: skip
        progress(f"synced in {sync_seconds:.1f} s ({jobs}); pages of {sizes['page_all']:,} and "
                 f"{sizes['page_one']:,} bytes; measuring")  # fmt: skip
        bearer = (f"Authorization: Bearer {token}",)
        cookie_header = (f"Cookie: {cookie}",)
        base = f"http://127.0.0.1:{port}"
        targets = [
            Target("json_all", f"{base}{JSON_PATH}", bearer, adsvc.pid),
            Target("page_all", f"{base}{PAGE_PATH}", cookie_header, adsvc.pid),
            Target("json_one", f"{base}{JSON_PATH}?account_id={one}", bearer, adsvc.pid),
            Target("page_one", f"{base}{PAGE_PATH}/{one}", cookie_header, adsvc.pid),
        ]
        measured = throughput(
            targets, client, duration=args.duration, warmup=args.warmup, runs=args.runs, db_pid=stores.postgres_pid()
        )
        if adsvc.poll() is not None:
            raise BenchError(
                f"adsvc exited with {adsvc.returncode} during the run:\n{tail(children.log_path('adsvc'))}"
            )
        server_log = log_summary(children.log_path("adsvc"))
        profile = None
        if args.profile_seconds > 0:
            progress(
                f"profiling a second adsvc process under the all-accounts page's load for {args.profile_seconds} s"
            )
            profile = profile_server(children, env, placement, client, cookie_header, work_dir, args.profile_seconds)
    medians = {name: result["median"] for name, result in measured.items()}
    return {
        "config": {"client": client.label, "placement": placement.describe(), "connections": args.connections,
                   "duration_s": args.duration, "warmup_s": args.warmup, "runs": args.runs,
                   "stores": "embedded (temporary folder)" if stores.embedded else "DATABASE_URL / REDIS_URL"},
        "data": {"accounts": len(account_ids), "currencies": [g["currency"] for g in groups],
                 "sync_seconds": round(sync_seconds, 1), "jobs": jobs, "page_bytes": sizes},
        "throughput": measured,
        "bars": {
            "page_all_p50_ok": medians["page_all"]["p50_ms"] <= P50_BAR_MS,
            "page_one_p50_ok": medians["page_one"]["p50_ms"] <= P50_BAR_MS,
            "page_over_json_all": round(medians["page_all"]["p50_ms"] / medians["json_all"]["p50_ms"], 2),
            "page_over_json_one": round(medians["page_one"]["p50_ms"] / medians["json_one"]["p50_ms"], 2),
        },
        "server_log": server_log,
        "profile": profile,
    }  # fmt: skip


LABELS = {
    "json_all": f"JSON  GET {JSON_PATH}",
    "page_all": f"page  GET {PAGE_PATH}",
    "json_one": f"JSON  GET {JSON_PATH}?account_id=...",
    "page_one": f"page  GET {PAGE_PATH}/{{account}}",
}


def profile_server(
    children: Children, env: dict[str, str], placement: Placement, client: Any, headers: tuple[str, ...],
    work_dir: Path, seconds: int,
) -> dict[str, Any]:  # fmt: skip
    """A second `adsvc serve` under cProfile loaded with GET /dashboard, stopped with SIGINT: where the time goes."""
    port, output = free_port(), work_dir / "adsvc.prof"
    argv = [sys.executable, "-m", "cProfile", "-o", str(output), "-m", "adsvc", "serve", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    process = children.spawn("adsvc-profiled", argv, env=env, cpus=placement.server)
    wait_until_serving("adsvc serve (cProfile)", process, port, children.log_path("adsvc-profiled"))
    measured = client.run(f"http://127.0.0.1:{port}{PAGE_PATH}", seconds, headers, process.pid)
    children.stop(process, sig=signal.SIGINT)
    if not output.exists():
        raise BenchError(f"the profiled server wrote no profile; see {children.log_path('adsvc-profiled')}")
    raw: dict[Any, Any] = pstats.Stats(str(output)).stats  # type: ignore[attr-defined]
    requests = max(1, measured.requests)
    own, ours = [], []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in raw.items():
        where = f"{filename.split('site-packages/')[-1].split(str(REPO_ROOT) + '/')[-1]}:{line}({name})"
        own.append((tottime, calls, where))
        if "/adsvc/" in filename and "/cli.py" not in filename and "/app.py" not in filename:
            ours.append((cumtime, calls, where))
    own.sort(reverse=True)
    ours.sort(reverse=True)
    return {
        "requests": measured.requests,
        "adsvc_per_request": [{"function": w, "cum_ms_per_request": round(c * 1000 / requests, 3), "calls": n}
                              for c, n, w in ours[:16]],
        "top_own": [{"function": w, "own_ms_per_request": round(t * 1000 / requests, 3), "calls": n}
                    for t, n, w in own[:14]],
    }  # fmt: skip


def report(summary: dict[str, Any]) -> str:
    config, data, bars = summary["config"], summary["data"], summary["bars"]
    medians = {name: result["median"] for name, result in summary["throughput"].items()}
    lines = [
        "",
        f"load client : {config['client']}",
        f"pinning     : {config['placement']}",
        f"stores      : {config['stores']}",
        f"load        : {config['connections']} connection(s), {config['duration_s']} s per run after "
        f"{config['warmup_s']} s warm-up, {config['runs']} runs alternating, median reported",
        f"data        : {data['accounts']} sandbox accounts ({', '.join(data['currencies'])}) synced in "
        f"{data['sync_seconds']} s; default period last_7d; pages of {data['page_bytes']['page_all']:,} (all) and "
        f"{data['page_bytes']['page_one']:,} (one account) bytes",
        "",
        f"{'target':<54}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>7}{'srv CPU':>8}{'PG CPU':>8}",
    ]
    for name in ("json_all", "page_all", "json_one", "page_one"):
        row = medians[name]
        db = f"{row['db_cpu_pct']:>7.0f}%" if "db_cpu_pct" in row else f"{'-':>8}"
        lines.append(f"{LABELS[name]:<54}{row['rps']:>9,.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
                     f"{row['errors']:>7.0f}{row['server_cpu_pct']:>7.0f}%{db}")  # fmt: skip
    lines += [
        "",
        f"page p50 / JSON p50 (all accounts) : {bars['page_over_json_all']:.2f}",
        f"page p50 / JSON p50 (one account)  : {bars['page_over_json_one']:.2f}",
        f"dashboard page p50, all accounts   : {medians['page_all']['p50_ms']:.2f} ms (bar <= {P50_BAR_MS:.0f} ms: "
        f"{verdict(bars['page_all_p50_ok'])})",
        f"dashboard page p50, one account    : {medians['page_one']['p50_ms']:.2f} ms (bar <= {P50_BAR_MS:.0f} ms: "
        f"{verdict(bars['page_one_p50_ok'])})",
    ]
    profile = summary.get("profile")
    if profile:
        lines += ["", f"cProfile of a second adsvc process loaded with GET {PAGE_PATH} ({profile['requests']:,} "
                  "requests; the profiler inflates Python-level work; start-up included):",
                  "  adsvc functions by cumulative time, ms per request:"]  # fmt: skip
        lines.extend(f"    {f['cum_ms_per_request']:>7.3f}  {f['function']}  ({f['calls']:,} calls)"
                     for f in profile["adsvc_per_request"])  # fmt: skip
        lines.append("  functions by own time, ms per request:")
        lines.extend(f"    {f['own_ms_per_request']:>7.3f}  {f['function']}  ({f['calls']:,} calls)"
                     for f in profile["top_own"])  # fmt: skip
    server_log = summary["server_log"]
    lines.append(
        f"\nadsvc log (LOG_LEVEL=WARNING): {server_log['warnings']} WARNING, {server_log['errors']} ERROR lines"
    )
    lines.extend(f"  {line}" for line in server_log["tail"])
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="The dashboard page's server time next to the JSON dashboard endpoint, on synced sandbox data. "
        "Uses DATABASE_URL and REDIS_URL when both are set, else embedded PostgreSQL and Redis."
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run (default 5)")
    parser.add_argument("--connections", type=int, default=1, help="keep-alive connections (default 1: no queueing)")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per target; the median is reported")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target before the runs")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto", help="load client")
    parser.add_argument("--profile-seconds", type=int, default=0, help="then profile the page this long (0: no)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


if __name__ == "__main__":
    main("bench_dashboard", build_parser(), run, report)

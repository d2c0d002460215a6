"""The Python load client of `bench_auth.py`, run as a process of its own so it never shares a loop with a server.

Two modes, each printing one JSON object on standard output:

    python benchmarks/loadgen.py load URL --connections 16 --duration 10 [--header 'Authorization: Bearer ...']
        N workers, one keep-alive connection each, send GETs back to back until the duration is up; every request's
        latency is recorded. Prints requests, errors, status counts, req/s, p50 and p99 (ms).

    python benchmarks/loadgen.py storm BASE_URL --email E --password P [--logins 20] [--interval 0.005]
        Fires GET /health every `interval` seconds (open loop: one probe per tick, whether or not the previous one
        has answered) first for `--quiet-seconds` with nothing else running, then while `--logins` concurrent logins
        are in flight. Prints the probe latencies of both phases and the logins' outcomes.

It is the fallback when `wrk` is not installed; the storm mode is always used, since wrk cannot run two schedules.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp


def percentile_ms(latencies: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of latencies given in seconds, in milliseconds; None without samples."""
    if not latencies:
        return None
    ordered = sorted(latencies)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return round(ordered[index] * 1000, 3)


def summary(latencies: Sequence[float]) -> dict[str, Any]:
    return {
        "samples": len(latencies),
        "p50_ms": percentile_ms(latencies, 0.50),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": round(max(latencies) * 1000, 3) if latencies else None,
    }


def parse_headers(raw: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep:
            raise SystemExit(f"loadgen: header {item!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


# ---- load ----------------------------------------------------------------------------------------------------------


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    deadline: float,
    latencies: list[float],
    statuses: Counter[int],
    failures: Counter[str],
) -> None:
    clock = time.perf_counter
    while clock() < deadline:
        started = clock()
        try:
            async with session.get(url) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            failures[type(exc).__name__] += 1
            continue
        latencies.append(clock() - started)
        statuses[status] += 1


async def run_load(url: str, *, connections: int, duration: float, headers: dict[str, str]) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:
        # one request per connection first, so every worker starts on an open keep-alive connection
        await asyncio.gather(*(_prime(session, url) for _ in range(connections)))
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(_worker(session, url, deadline, latencies, statuses, failures) for _ in range(connections))
        )
        elapsed = time.perf_counter() - started
    ok = statuses.get(200, 0)
    return {
        "requests": len(latencies),
        "errors": len(latencies) - ok + sum(failures.values()),
        "status_counts": {str(status): count for status, count in sorted(statuses.items())},
        "failures": dict(failures),
        "elapsed_s": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        **summary(latencies),
    }


async def _prime(session: aiohttp.ClientSession, url: str) -> None:
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with session.get(url) as response:
            await response.read()


# ---- storm ---------------------------------------------------------------------------------------------------------


async def _probe_once(session: aiohttp.ClientSession, url: str, latencies: list[float], failures: Counter[str]) -> None:
    started = time.perf_counter()
    try:
        async with session.get(url) as response:
            await response.read()
            if response.status != 200:
                failures[f"status {response.status}"] += 1
                return
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        failures[type(exc).__name__] += 1
        return
    latencies.append(time.perf_counter() - started)


async def probe_until(session: aiohttp.ClientSession, url: str, interval: float, stop: asyncio.Event) -> dict[str, Any]:
    """One probe per tick, on schedule, until `stop` is set; then wait for the probes still in flight."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    in_flight: set[asyncio.Task[None]] = set()
    late_ticks = 0
    next_tick = loop.time()
    while not stop.is_set():
        task = asyncio.create_task(_probe_once(session, url, latencies, failures))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        next_tick += interval
        delay = next_tick - loop.time()
        if delay < 0:
            late_ticks += 1  # the client itself fell behind its schedule; reported, so it is not blamed on the server
            next_tick = loop.time()
            delay = 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
    await asyncio.gather(*in_flight)
    return {**summary(latencies), "failures": dict(failures), "late_ticks": late_ticks}


async def _login(session: aiohttp.ClientSession, url: str, email: str, password: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.post(url, json={"email": email, "password": password}) as response:
        await response.read()
        return response.status, time.perf_counter() - started


async def run_storm(
    base: str, *, email: str, password: str, logins: int, interval: float, quiet_seconds: float
) -> dict[str, Any]:
    health = base + "/health"
    timeout = aiohttp.ClientTimeout(total=120)
    # probes and logins on separate pools, so a probe never waits for a connection a login holds
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=timeout) as probes,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=logins), timeout=timeout) as storm,
    ):
        await _prime(probes, health)
        quiet_stop = asyncio.Event()
        asyncio.get_running_loop().call_later(quiet_seconds, quiet_stop.set)
        quiet = await probe_until(probes, health, interval, quiet_stop)

        storm_stop = asyncio.Event()
        started = time.perf_counter()
        login_url = base + "/api/v1/auth/login"
        login_tasks = [asyncio.create_task(_login(storm, login_url, email, password)) for _ in range(logins)]
        gathered = asyncio.gather(*login_tasks, return_exceptions=True)
        gathered.add_done_callback(lambda _: storm_stop.set())
        during = await probe_until(probes, health, interval, storm_stop)
        outcomes = await gathered
        storm_seconds = time.perf_counter() - started
    statuses: Counter[str] = Counter()
    login_latencies: list[float] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            statuses[type(outcome).__name__] += 1
        else:
            statuses[str(outcome[0])] += 1
            login_latencies.append(outcome[1])
    return {
        "quiet": quiet,
        "storm": during,
        "storm_seconds": round(storm_seconds, 3),
        "logins": {"count": logins, "statuses": dict(statuses), **summary(login_latencies)},
    }


# ---- entry point ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    modes = parser.add_subparsers(dest="mode", required=True)
    load = modes.add_parser("load", help="closed-loop keep-alive GET load")
    load.add_argument("url")
    load.add_argument("--connections", type=int, default=16)
    load.add_argument("--duration", type=float, default=10.0)
    load.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    storm = modes.add_parser("storm", help="GET /health probes during concurrent logins")
    storm.add_argument("base_url")
    storm.add_argument("--email", required=True)
    storm.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    storm.add_argument("--logins", type=int, default=20)
    storm.add_argument("--interval", type=float, default=0.005)
    storm.add_argument("--quiet-seconds", type=float, default=3.0)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    try:
        import uvloop
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    if args.mode == "load":
        result = runner(
            run_load(args.url, connections=args.connections, duration=args.duration, headers=parse_headers(args.header))
        )
    else:
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else ""
        result = runner(
            run_storm(
                args.base_url.rstrip("/"),
                email=args.email,
                password=password,
                logins=args.logins,
                interval=args.interval,
                quiet_seconds=args.quiet_seconds,
            )
        )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

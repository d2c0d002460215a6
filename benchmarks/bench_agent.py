"""The cost of a cached agent: a warm `AgentCache.get` next to a dict lookup, a cold creation over HTTP, single-flight.

    python benchmarks/bench_agent.py [--batches 200] [--batch-size 1000] [--cold 20] [--concurrent 100] [--runs 3]

What it does:

1. Embedded PostgreSQL (or DATABASE_URL), migrations, and `python -m adsvc sandbox` on a free local port; one sandbox
   account is stored in ad_accounts with its token sealed by `adsvc.crypto.TokenBox`, as connecting it would.
2. Two caches for that account, on uvloop (as `adsvc serve` runs) when it is installed:
   - "service": `adsvc.contexts.create_agent_cache(...)` exactly as the web app builds it: the AgentFactory reads the
     sealed token from PostgreSQL, decrypts it and calls `create_agent` (one Graph read of the account to validate
     the token), with the app's Prometheus `Metrics` as the hit/miss observer, TTL 3600 s;
   - "bare": `AgentCache(ttl_seconds=3600, create=...)` around `adsvc.graph.agent.create_agent` with the token in
     memory and no observer.
3. Warm gets: `await cache.get(account_id)` `--batch-size` times per batch, `--batches` batches; the per-call time of
   each batch, then the median (and p99) over batches. Baselines measured the same way in the same run: a plain
   dict lookup, and `await` of a coroutine that returns a dict value (the floor for any async `get`).
   Rounds alternate the targets; medians of `--runs` rounds.
4. Cold creations: `--cold` times, invalidate then get (a real HTTP round trip to the sandbox; the HTTP session is
   kept, as the app's is): median and p95 in ms, for both caches.
5. Single-flight: `--concurrent` gets at once on a cold service cache; the cache's creation_count and the Graph calls
   the sandbox received for it must both be 1. Done `--runs` times.

Every process it starts (sandbox, embedded PostgreSQL) is stopped on the way out, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import (
    Children,
    backing_stores,
    fernet_key,
    get_json,
    main,
    median,
    progress,
    run_async,
    start_sandbox,
    verdict,
    work_folder,
)

from adsvc.contexts import create_agent_cache, create_pg_pool
from adsvc.crypto import TokenBox
from adsvc.embedded import free_port
from adsvc.graph.agent import FacebookAdsAgent, create_agent
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.cache import AgentCache
from adsvc.metrics import Metrics
from adsvc.migrations import apply_migrations
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN
from adsvc.settings import REPO_ROOT, Settings

TTL_SECONDS = 3600
WARM_TARGETS = ("dict lookup", "await coroutine -> dict", "AgentCache.get (bare)", "AgentCache.get (service)")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


# ---- measurements --------------------------------------------------------------------------------------------------


async def per_call_ns(get: Callable[[], Awaitable[Any]] | None, lookup: dict[str, Any], key: str, *,
                      batches: int, batch_size: int) -> list[float]:  # fmt: skip
    """Nanoseconds per call of each batch; `get=None` times the plain dict lookup itself."""
    clock = time.perf_counter_ns
    results = []
    calls = range(batch_size)
    for _ in range(batches):
        if get is None:
            started = clock()
            for _ in calls:
                lookup.get(key)
            elapsed = clock() - started
        else:
            started = clock()
            for _ in calls:
                await get()
            elapsed = clock() - started
        results.append(elapsed / batch_size)
    return results


async def cold_creations(cache: AgentCache[FacebookAdsAgent], key: str, times: int) -> list[float]:
    """Milliseconds of `times` cold gets (invalidate, then get: one creation each)."""
    results = []
    for _ in range(times):
        cache.invalidate(key)
        started = time.perf_counter()
        await cache.get(key)
        results.append((time.perf_counter() - started) * 1000)
    return results


async def single_flight(
    cache: AgentCache[FacebookAdsAgent], key: str, concurrent: int, sandbox_calls: Callable[[], Awaitable[int]]
) -> dict[str, Any]:
    cache.invalidate(key)
    creations_before, calls_before = cache.creation_count.get(key, 0), await sandbox_calls()
    started = time.perf_counter()
    agents = await asyncio.gather(*(cache.get(key) for _ in range(concurrent)))
    elapsed = (time.perf_counter() - started) * 1000
    return {
        "gets": concurrent,
        "creations": cache.creation_count.get(key, 0) - creations_before,
        "graph_calls": await sandbox_calls() - calls_before,
        "distinct_agents": len({id(agent) for agent in agents}),
        "ms_for_all": round(elapsed, 3),
    }


# ---- the run -------------------------------------------------------------------------------------------------------


async def measure(database_url: str, sandbox_port: int, account: dict[str, Any], args: argparse.Namespace) -> dict:
    key = fernet_key()
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": key,
            "FACEBOOK_GRAPH_URL": f"http://127.0.0.1:{sandbox_port}",
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "2",
        }
    )
    account_id = account["account_id"]
    pool = await create_pg_pool(settings)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=5))
    try:
        await pool.execute(
            """insert into ad_accounts (id, name, currency, timezone_name, token_ciphertext, token_status)
               values ($1, $2, $3, $4, $5, 'valid')""",
            account_id,
            account["name"],
            account["currency"],
            account["timezone_name"],
            TokenBox(key).seal(SANDBOX_ACCESS_TOKEN),
        )
        breakers = BreakerRegistry(settings.breaker_failure_threshold, settings.breaker_recovery_seconds)
        service = create_agent_cache(
            settings, pg=pool, session=session, breakers=breakers, ttl_seconds=TTL_SECONDS, metrics=Metrics(),
            interactive=True,
        )  # fmt: skip

        async def create(account: str) -> FacebookAdsAgent:
            return await create_agent(
                settings, session=session, breakers=breakers, account_id=account,
                access_token=SANDBOX_ACCESS_TOKEN, interactive=True,
            )  # fmt: skip

        bare: AgentCache[FacebookAdsAgent] = AgentCache(ttl_seconds=TTL_SECONDS, create=create)

        async def sandbox_calls() -> int:
            async with session.get(f"http://127.0.0.1:{sandbox_port}/_sandbox/stats") as response:
                stats = await response.json()
            return int(stats["by_account"].get(account_id, 0))

        # warm both caches (this also opens the keep-alive connection to the sandbox)
        for cache in (service, bare):
            await cache.get(account_id)
        lookup = {account_id: await service.get(account_id)}

        async def via_coroutine() -> Any:
            return lookup.get(account_id)

        getters: dict[str, Callable[[], Awaitable[Any]] | None] = {
            "dict lookup": None,
            "await coroutine -> dict": via_coroutine,
            "AgentCache.get (bare)": lambda: bare.get(account_id),
            "AgentCache.get (service)": lambda: service.get(account_id),
        }
        warm: dict[str, list[dict[str, float]]] = {name: [] for name in WARM_TARGETS}
        cold: dict[str, list[list[float]]] = {"bare": [], "service": []}
        flights = []
        for round_number in range(1, args.runs + 1):
            for name in WARM_TARGETS:
                # creations in between expire nothing: the TTL is an hour, so every call here is a hit
                values = await per_call_ns(getters[name], lookup, account_id, batches=args.batches,
                                           batch_size=args.batch_size)  # fmt: skip
                warm[name].append({"median_ns": median(values), "p99_ns": percentile(values, 0.99)})
            for name, cache in (("bare", bare), ("service", service)):
                cold[name].append(await cold_creations(cache, account_id, args.cold))
            flights.append(await single_flight(service, account_id, args.concurrent, sandbox_calls))
            service_ns = warm["AgentCache.get (service)"][-1]["median_ns"]
            dict_ns = warm["dict lookup"][-1]["median_ns"]
            progress(
                f"round {round_number}/{args.runs}: warm service get {service_ns:.0f} ns, dict {dict_ns:.0f} ns; cold "
                f"service {median(cold['service'][-1]):.2f} ms; {args.concurrent} concurrent cold gets -> "
                f"{flights[-1]['creations']} creation(s), {flights[-1]['graph_calls']} Graph call(s)"
            )
        service_stats = service.stats(account_id)
    finally:
        await session.close()
        await pool.close()
    return {"warm": warm, "cold": cold, "single_flight": flights, "service_cache_stats": service_stats}


def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401  (adsvc serve runs on it; run_async picks it up)

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    with contextlib.ExitStack() as stack:
        work_dir = stack.enter_context(work_folder())
        stores = stack.enter_context(backing_stores(work_dir / "data", redis=False))
        progress(f"{'embedded' if stores.embedded else 'external'} PostgreSQL up; applying migrations")
        apply_migrations(stores.database_url, REPO_ROOT / "migrations")
        children = Children(work_dir)
        stack.callback(children.stop_all)
        port = free_port()
        start_sandbox(children, cpus=frozenset(), port=port, args=("--accounts", "1", "--campaigns", "1"))
        account = get_json(port, "/_sandbox/accounts")["data"][0]
        progress(f"sandbox on :{port}; measuring account {account['account_id']}")
        measured = run_async(measure(stores.database_url, port, account, args), use_uvloop=True)
        if not stores.embedded:
            progress(f"left ad_accounts row {account['account_id']} in DATABASE_URL")

    warm = {
        name: {key: round(median([run[key] for run in runs]), 1) for key in ("median_ns", "p99_ns")}
        for name, runs in measured["warm"].items()
    }
    cold = {}
    for name, runs in measured["cold"].items():
        values = [value for run in runs for value in run]
        cold[name] = {
            "median_ms": round(median([median(run) for run in runs]), 3),
            "p95_ms": round(percentile(values, 0.95), 3),
            "min_ms": round(min(values), 3),
            "samples": len(values),
        }
    flights = measured["single_flight"]
    service_warm_ns = warm["AgentCache.get (service)"]["median_ns"]
    return {
        "config": {
            "loop": loop,
            "batches": args.batches,
            "batch_size": args.batch_size,
            "cold": args.cold,
            "concurrent": args.concurrent,
            "runs": args.runs,
            "ttl_seconds": TTL_SECONDS,
        },
        "warm": warm,
        "cold": cold,
        "single_flight": flights,
        "service_cache_stats": measured["service_cache_stats"],
        "ratios": {
            "warm_service_vs_dict": round(service_warm_ns / warm["dict lookup"]["median_ns"], 1),
            "warm_service_vs_await": round(service_warm_ns / warm["await coroutine -> dict"]["median_ns"], 2),
            "cold_vs_warm_service": round(cold["service"]["median_ms"] * 1e6 / service_warm_ns),
        },
        "bars": {
            "warm_microseconds": service_warm_ns < 10_000,
            "one_creation": all(f["creations"] == 1 and f["graph_calls"] == 1 for f in flights),
        },
    }


# ---- report --------------------------------------------------------------------------------------------------------


def report(summary: dict[str, Any]) -> str:
    config, warm, cold, ratios, bars = (summary[k] for k in ("config", "warm", "cold", "ratios", "bars"))
    lines = [
        "",
        f"loop        : {config['loop']}; warm: {config['batches']} batches x {config['batch_size']:,} calls, per-call "
        f"time of each batch, median (p99) over batches, median of {config['runs']} alternating rounds",
        "",
        f"{'warm lookup':<52}{'median':>12}{'p99':>12}{'x dict':>9}",
    ]
    dict_ns = warm["dict lookup"]["median_ns"]
    labels = {
        "dict lookup": "plain dict lookup (baseline)",
        "await coroutine -> dict": "await coroutine returning a dict value",
        "AgentCache.get (bare)": "await AgentCache.get, no observer",
        "AgentCache.get (service)": "await AgentCache.get as the web app builds it",
    }
    for name in WARM_TARGETS:
        row = warm[name]
        lines.append(
            f"{labels[name]:<52}{row['median_ns'] / 1000:>9.3f} us{row['p99_ns'] / 1000:>9.3f} us"
            f"{row['median_ns'] / dict_ns:>9.1f}"
        )
    lines += [
        "  (the web app's cache = create_agent_cache(): AgentFactory + Prometheus Metrics observer on every hit)",
        "",
        f"{'cold creation (invalidate + get)':<52}{'median':>12}{'p95':>12}{'min':>12}",
    ]
    cold_labels = {
        "bare": "create_agent: 1 Graph read over HTTP",
        "service": "AgentFactory: token from PostgreSQL + decrypt + same",
    }
    for name in ("bare", "service"):
        row = cold[name]
        lines.append(
            f"{cold_labels[name]:<52}{row['median_ms']:>9.2f} ms{row['p95_ms']:>9.2f} ms{row['min_ms']:>9.2f} ms"
        )
    lines += [
        "  (against the local sandbox; the older service paid 300-500 ms for this against Meta, on every request)",
        f"a cold creation costs {ratios['cold_vs_warm_service']:,}x a warm get",
        "",
        f"single-flight: {config['concurrent']} concurrent gets on a cold cache, {config['runs']} times:",
    ]
    for flight in summary["single_flight"]:
        lines.append(
            f"  creations {flight['creations']}, Graph calls {flight['graph_calls']}, distinct agents returned "
            f"{flight['distinct_agents']}, {flight['ms_for_all']:.2f} ms for all {flight['gets']}"
        )
    stats = summary["service_cache_stats"]
    lines += [
        f"service cache stats at the end: creation_count {stats['creation_count']}, hits {stats['hits']:,}, "
        f"misses {stats['misses']:,}, last creation {stats['last_creation_ms']} ms",
        "",
        f"warm get costs microseconds: {warm['AgentCache.get (service)']['median_ns'] / 1000:.3f} us "
        f"({ratios['warm_service_vs_dict']}x a dict lookup, {ratios['warm_service_vs_await']}x a bare await) "
        f"(bar: microseconds: {verdict(bars['warm_microseconds'])})",
        f"one creation for {config['concurrent']} concurrent cold gets: {verdict(bars['one_creation'])}",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="A warm AgentCache.get against a dict lookup, a cold agent creation over HTTP against the "
        "sandbox, and single-flight creation. Uses DATABASE_URL when set, else an embedded PostgreSQL."
    )
    parser.add_argument("--batches", type=int, default=200, help="warm batches per target per round (default 200)")
    parser.add_argument("--batch-size", type=int, default=1000, help="calls per warm batch (default 1000)")
    parser.add_argument("--cold", type=int, default=20, help="cold creations per cache per round (default 20)")
    parser.add_argument("--concurrent", type=int, default=100, help="concurrent cold gets (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


if __name__ == "__main__":
    main("bench_agent", build_parser(), run, report)

"""Insights ingest rows/s through the real code path, next to a raw COPY of the same rows, in the same run.

    python benchmarks/bench_ingest.py [--ads 500] [--days 400] [--chunk-days N] [--runs 3] [--json out.json]

Real path = what the collection jobs run for each (level, window) answer from Meta:
`adsvc.collection.records.insight_records("ad", api_rows)` (API-shaped dicts: numeric strings, `actions` arrays)
then `adsvc.collection.queries.upsert_insights(conn, ...)` inside a transaction (COPY into a temporary text table,
one INSERT ... ON CONFLICT DO UPDATE into insights_daily, then a DELETE of the window's rows Meta no longer reports).
The rows are split into the same windows, newest first, as `backfill_insights` (adsvc.collection.plan.
backfill_chunks with its own default chunk size, unless --chunk-days says otherwise; 0 = the whole range as one
window).

Three real-path scenarios per round: the first insert of N rows, a re-ingest of identical rows (every row is stored
as it arrives: the upsert's anti-join leaves it out, nothing is written) and a restatement re-ingest where the rows
of the newest 10% of the days carry more purchases (as Meta's 28-day attribution restates them).

Baselines: `conn.copy_records_to_table` of the same rows, already typed (date, int, Decimal, JSON text), with every
column insights_daily has, into (a) a plain table (no primary key, no index, no constraint but NOT NULL) and
(b) a table with insights_daily's primary key, its secondary indexes and its check constraint (no foreign key).

Each round runs: raw COPY plain, raw COPY indexed, real first insert, re-ingest, restatement, then the round's rows are
deleted and the table vacuumed, so every round starts alike. Medians of `--runs` rounds. Then, unless --no-explain,
one more pass runs the same real path with each INSERT and DELETE wrapped in EXPLAIN (ANALYZE, FORMAT JSON) to show
where the SQL's time goes (scan + casts + jsonb parsing, heap/index writes, foreign-key triggers, JIT, the DELETE).
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from benchlib import (
    BenchError,
    backing_stores,
    explain,
    main,
    median,
    plan_lines,
    process_cpu_seconds,
    progress,
    rate,
    run_async,
    verdict,
    work_folder,
)

from adsvc.collection.plan import Window, backfill_chunks
from adsvc.collection.queries import upsert_insights
from adsvc.collection.records import INSIGHT_COLUMNS, insight_records
from adsvc.contexts import init_connection
from adsvc.migrations import apply_migrations
from adsvc.sandbox.data import (
    ACTION_TYPES,
    InsightsQuery,
    SandboxConfig,
    SandboxData,
    mix64,
    money,
    number_string,
    ratio,
)
from adsvc.settings import REPO_ROOT
from jobs.collection import insights_params

# DESIGN.md, "Quality bars": the real path reaches 80% of the raw COPY into a table with insights_daily's indexes
INDEXED_RATIO_BAR = 0.80
# the purchase types of an account whose website purchases Meta reports three times over (equal counts)
_VALUE_TYPES = ("purchase", "offsite_conversion.fb_pixel_purchase", "omni_purchase")
LEVEL = "ad"
RESTATED_SHARE = 0.10
# every column of insights_daily but fetched_at (its default, now(), fills it for the baseline as for the real path)
RAW_COLUMNS = (*INSIGHT_COLUMNS[:13], "conversions", "conversion_value", *INSIGHT_COLUMNS[13:15])
RAW_TABLES = {"plain": "bench_raw_insights_plain", "indexed": "bench_raw_insights_indexed"}
SCENARIOS = ("first", "reingest", "restatement")
SCENARIO_SHORT = {"first": "first insert", "reingest": "re-ingest", "restatement": "restatement"}
SCENARIO_LABELS = {
    "first": "real path: first insert",
    "reingest": "real path: re-ingest, identical rows",
    "restatement": "real path: restatement re-ingest",
}
CPU_KEYS = ("client_cpu_s", "server_cpu_s")
PHASES = ("convert", "create", "copy", "insert", "delete", "commit")
PHASE_LABELS = {
    "convert": "insight_records() (Python)",
    "create": "create temporary table",
    "copy": "COPY into the temporary table",
    "insert": "INSERT ... ON CONFLICT DO UPDATE",
    "delete": "DELETE rows Meta no longer reports",
    "commit": "commit",
}


# ---- API-shaped rows -----------------------------------------------------------------------------------------------


class Rows:
    """N ad-level insight rows shaped like the Graph API's (and the sandbox's) answers, deterministic per seed.

    `ads` ads in 4-ad ad sets in 4-ad-set campaigns, each with a row on each of `days` days ending `until`.
    Values come from a stable hash: impressions, clicks, spend and reach as numeric strings, `actions` with the
    funnel (link clicks, landing page views, add to cart, checkout, purchases, leads and their pixel twins) and
    `action_values`. `bump` adds purchases (and value) to a row: the restated version of the same row.
    """

    def __init__(self, *, ads: int, days: int, until: date, account_id: str, seed: int = 7) -> None:
        self.ads, self.days, self.until, self.account_id = ads, days, until, account_id
        self.since = until - timedelta(days=days - 1)
        self.seed = seed
        base = 120_200_000_000_000_000 + seed * 10**9
        self.ids = [
            (str(base + 100_000_000 + ad // 16), str(base + 200_000_000 + ad // 4), str(base + 300_000_000 + ad))
            for ad in range(ads)
        ]
        self._days: dict[tuple[date, int], list[dict[str, Any]]] = {}

    def row(self, ad: int, day: date, bump: int = 0) -> dict[str, Any]:
        campaign_id, adset_id, ad_id = self.ids[ad]
        h = mix64((self.seed << 48) ^ (ad << 24) ^ day.toordinal())
        impressions = 400 + h % 25_000
        clicks = impressions * (5 + (h >> 16) % 40) // 1000
        link = clicks * (700 + (h >> 24) % 200) // 1000
        lpv = link * (550 + (h >> 32) % 300) // 1000
        atc = lpv * ((h >> 40) % 120) // 1000
        checkout = atc * (450 + (h >> 44) % 250) // 1000
        purchases = checkout * (400 + (h >> 48) % 400) // 1000 + bump
        leads = lpv * ((h >> 52) % 60) // 1000 if ad % 3 == 1 else 0
        spend = max(1, impressions * (900 + (h >> 56) % 1800) // 1000)  # minor units
        reach = max(1, impressions * (780 + (h >> 20) % 180) // 1000)
        values = {"link_click": link, "landing_page_view": lpv, "add_to_cart": atc, "initiate_checkout": checkout,
                  "lead": leads, "purchase": purchases}  # fmt: skip
        counts = {name: values.get(name.removeprefix("offsite_conversion.fb_pixel_").removeprefix("omni_"), 0)
                  for name, _, _ in ACTION_TYPES["omni"] if name != "onsite_web_purchase"}  # fmt: skip
        order_value = 4500 + (h >> 8) % 20_000
        row: dict[str, Any] = {
            "account_id": self.account_id,
            "campaign_id": campaign_id,
            "adset_id": adset_id,
            "ad_id": ad_id,
            "ad_name": f"Video {ad % 4 + 1} - Bench",
            "impressions": str(impressions),
            "clicks": str(clicks),
            "spend": number_string(money(spend)),
            "reach": str(reach),
            "frequency": number_string(ratio(impressions, reach)),
            "inline_link_clicks": str(link),
            "actions": [{"action_type": name, "value": str(count)} for name, count in counts.items() if count],
            "date_start": day.isoformat(),
            "date_stop": day.isoformat(),
        }
        if purchases:
            value = number_string(money(purchases * order_value))
            row["action_values"] = [{"action_type": name, "value": value} for name in _VALUE_TYPES]
        return row

    def day(self, day: date, bump: int) -> list[dict[str, Any]]:
        """Every ad's row of one day (built once; the restated answers share the unchanged days' rows)."""
        rows = self._days.get((day, bump))
        if rows is None:
            rows = self._days[(day, bump)] = [self.row(ad, day, bump) for ad in range(self.ads)]
        return rows

    def windows(self, chunk_days: int | None) -> list[Window]:
        """The windows a backfill of these days asks Meta for, newest first (backfill_chunks' own chunk size when
        chunk_days is None, one window when it is 0)."""
        if chunk_days is None:
            return backfill_chunks(self.until, self.days)
        if chunk_days <= 0:
            return [Window(self.since, self.until)]
        return backfill_chunks(self.until, self.days, chunk_days=chunk_days)

    def answers(self, windows: Sequence[Window], *, restated_days: int = 0) -> list[tuple[Window, list[dict]]]:
        """Each window's rows in the order a report run returns them (day by day, ads in id order)."""
        restated_from = self.until - timedelta(days=restated_days - 1) if restated_days else None
        result = []
        for window in windows:
            rows = []
            day = window.since
            while day <= window.until:
                rows.extend(self.day(day, 1 if restated_from is not None and day >= restated_from else 0))
                day += timedelta(days=1)
            result.append((window, rows))
        return result


def sandbox_shape() -> tuple[set[str], set[str]]:
    """The keys of a real sandbox ad-level row for the job's own insights parameters, and its action keys."""
    data = SandboxData(SandboxConfig(accounts=1, campaigns_per_account=1, days=30))
    account = next(iter(data.accounts.values()))
    ads = sorted(data.level_objects(account.account_id, LEVEL), key=lambda obj: int(obj.id))
    fields = insights_params(LEVEL, Window(date.fromordinal(data.first_day), date.fromordinal(data.last_day)))
    query = InsightsQuery(
        account_id=account.account_id,
        level=LEVEL,
        object_ids=tuple(obj.id for obj in ads),
        buckets=tuple((day, day) for day in range(data.first_day, data.last_day + 1)),
        fields=tuple(fields["fields"]),
    )
    rows = data.insights_rows(query, data.insights_keys(query))
    keys = set().union(*(row.keys() for row in rows))
    action_keys = {key for row in rows for item in row.get("actions", []) for key in item}
    return keys, action_keys


def typed(records: Sequence[tuple[str | None, ...]]) -> list[tuple[Any, ...]]:
    """The records as the values PostgreSQL stores (what the upsert's casts produce), in RAW_COLUMNS order."""
    out = []
    for record in records:
        level, object_id, day, account_id, campaign_id, adset_id, ad_id = record[:7]
        impressions, clicks, link, reach, frequency, spend, actions, action_values, conv, conv_value = record[7:]
        assert actions is not None and action_values is not None
        conversions, conversion_value = Decimal(str(conv)), Decimal(str(conv_value))
        out.append(
            (level, object_id, date.fromisoformat(str(day)), account_id, campaign_id, adset_id, ad_id,
             int(str(impressions)), int(str(clicks)), int(str(link)), int(reach) if reach else None,
             Decimal(frequency) if frequency else None, Decimal(str(spend)), conversions, conversion_value,
             actions, action_values)
        )  # fmt: skip
    return out


# ---- timing the real path ------------------------------------------------------------------------------------------


class TimedConnection:
    """Stands in for the connection `upsert_insights` is given: forwards every call and times it by statement kind.

    With `plans` set, each INSERT and DELETE is run as EXPLAIN (ANALYZE, FORMAT JSON) of the very statement and
    arguments the real code sent (so it still executes), and the plan is kept; right after the INSERT, while the
    staged rows still exist, the projection probes run over them too.
    """

    def __init__(self, conn: asyncpg.Connection, phases: Counter[str], plans: list[tuple[str, Any]] | None) -> None:
        self._conn = conn
        self._phases = phases
        self._plans = plans
        self._staged: str | None = None

    async def execute(self, query: str, *args: Any) -> str:
        kind = query.split(None, 1)[0].lower()
        if kind == "create" and " temporary table " in query:
            self._staged = query.split(" temporary table ", 1)[1].split(None, 1)[0]
        started = time.perf_counter()
        try:
            if self._plans is not None and kind in ("insert", "delete"):
                self._plans.append((kind, await explain(self._conn, query, *args)))
                return f"{kind.upper()} 0 0"
            return str(await self._conn.execute(query, *args))
        finally:
            self._phases[kind] += time.perf_counter() - started
            if self._plans is not None and kind == "insert" and self._staged:
                for name, probe in PROBES.items():
                    self._plans.append((f"probe:{name}", await explain(self._conn, probe.format(t=self._staged))))

    async def copy_records_to_table(self, table: str, **kwargs: Any) -> str:
        started = time.perf_counter()
        try:
            return str(await self._conn.copy_records_to_table(table, **kwargs))
        finally:
            self._phases["copy"] += time.perf_counter() - started
            if self._plans is not None:
                # a temporary table lives in temp_buffers (8 MB by default); past that it goes through files
                size = await self._conn.fetchval("select pg_total_relation_size($1::regclass)", table)
                self._plans.append(("staged", {"bytes": size, "rows": len(kwargs.get("records", ()))}))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


# What the INSERT's SELECT list costs, piece by piece, over the staged text rows (EXPLAIN ANALYZE computes the
# target list of every row). Conversions arrive precomputed by insight_records, so they are plain casts now.
PROBES = {
    "scan, text columns only": "select i.level, i.object_id, i.account_id, i.campaign_id, i.adset_id, i.ad_id "
    "from {t} i",
    "date/bigint/numeric casts": "select i.date::date, i.impressions::bigint, i.clicks::bigint, "
    "i.inline_link_clicks::bigint, i.reach::bigint, i.frequency::numeric, i.spend::numeric from {t} i",
    "actions, action_values ::jsonb": "select i.actions::jsonb, i.action_values::jsonb from {t} i",
    "conversions, conversion_value": "select i.conversions::numeric, i.conversion_value::numeric from {t} i",
}


class Cpu:
    """CPU seconds of this process (the client: Python and asyncpg) and of one PostgreSQL backend."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._backend = conn.get_server_pid()
        self._at = self._now()

    def _now(self) -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime, process_cpu_seconds(self._backend)

    def spent(self) -> dict[str, float]:
        client, server = self._now()
        return {"client_cpu_s": round(client - self._at[0], 3), "server_cpu_s": round(server - self._at[1], 3)}


async def real_path(
    conn: asyncpg.Connection,
    account_id: str,
    answers: Sequence[tuple[Window, list[dict[str, Any]]]],
    plans: list[tuple[str, Any]] | None = None,
) -> dict[str, Any]:
    """insight_records + upsert_insights per window, each window in its own transaction, as the jobs do."""
    phases: Counter[str] = Counter()
    rows = changed = 0
    cpu = Cpu(conn)
    started = time.perf_counter()
    for window, api_rows in answers:
        converting = time.perf_counter()
        records = insight_records(LEVEL, api_rows)
        phases["convert"] += time.perf_counter() - converting
        async with conn.transaction():
            changed += await upsert_insights(
                TimedConnection(conn, phases, plans),  # type: ignore[arg-type]
                level=LEVEL,
                account_id=account_id,
                since=window.since,
                until=window.until,
                records=records,
            )
            committing = time.perf_counter()
        phases["commit"] += time.perf_counter() - committing
        rows += len(records)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "changed": changed,
        "seconds": round(seconds, 4),
        "rows_per_s": round(rate(rows, seconds)),
        **cpu.spent(),
        "phases": {name: round(phases.get(name, 0.0), 4) for name in PHASES},
    }


async def raw_copy(conn: asyncpg.Connection, table: str, records: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    await conn.execute(f"truncate {table}")
    cpu = Cpu(conn)
    started = time.perf_counter()
    await conn.copy_records_to_table(table, records=records, columns=list(RAW_COLUMNS))
    seconds = time.perf_counter() - started
    return {
        "rows": len(records),
        "seconds": round(seconds, 4),
        "rows_per_s": round(rate(len(records), seconds)),
        **cpu.spent(),
    }


# ---- database set-up -----------------------------------------------------------------------------------------------


async def create_account(conn: asyncpg.Connection, account_id: str) -> None:
    await conn.execute(
        """insert into ad_accounts (id, name, currency, timezone_name, token_ciphertext, token_status)
           values ($1, 'Ingest benchmark', 'BRL', 'America/Sao_Paulo', '\\x00', 'invalid')""",
        account_id,
    )


async def drop_account(conn: asyncpg.Connection, account_id: str) -> None:
    """Its insights go with it (a delete trigger on ad_accounts); VACUUM so the next round starts from a clean table."""
    await conn.execute("delete from ad_accounts where id = $1", account_id)
    await conn.execute("vacuum insights_daily")


async def create_raw_tables(conn: asyncpg.Connection) -> None:
    await conn.execute(f"create table {RAW_TABLES['plain']} (like insights_daily including defaults)")
    await conn.execute(f"create table {RAW_TABLES['indexed']} (like insights_daily including all)")


async def drop_raw_tables(conn: asyncpg.Connection) -> None:
    for table in RAW_TABLES.values():
        await conn.execute(f"drop table if exists {table}")


# ---- EXPLAIN ANALYZE summary ---------------------------------------------------------------------------------------


def summarise_plans(plans: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Sum the plans of one scenario: INSERT split into scan/casts, writes, FK triggers, JIT; DELETE total."""
    totals: Counter[str] = Counter()
    triggers: Counter[str] = Counter()
    shapes: dict[str, list[str]] = {}
    probes: Counter[str] = Counter()
    staged: dict[str, Any] = {}
    for kind, explained in plans:
        if kind == "staged":
            staged = explained
            continue
        top = explained[0]
        if kind.startswith("probe:"):
            probes[kind.removeprefix("probe:")] += top.get("Execution Time", 0.0)
            continue
        plan = top["Plan"]
        children = sum(child.get("Actual Total Time", 0.0) for child in plan.get("Plans", []))
        jit = (top.get("JIT") or {}).get("Timing", {}).get("Total", 0.0)
        totals[f"{kind}_execution_ms"] += top.get("Execution Time", 0.0)
        totals[f"{kind}_planning_ms"] += top.get("Planning Time", 0.0)
        totals[f"{kind}_jit_ms"] += jit
        if kind == "insert":
            totals["insert_scan_cast_ms"] += children
            totals["insert_write_ms"] += plan.get("Actual Total Time", 0.0) - children
            totals["tuples_inserted"] += plan.get("Tuples Inserted", 0)
            totals["conflicting_tuples"] += plan.get("Conflicting Tuples", 0)
            totals["conflict_filtered"] += plan.get("Rows Removed by Conflict Filter", 0)
        for trigger in top.get("Triggers", []):
            name = trigger.get("Constraint Name") or trigger.get("Trigger Name", "trigger")
            triggers[f"{kind}: {name}"] += trigger.get("Time", 0.0)
            totals[f"{kind}_trigger_ms"] += trigger.get("Time", 0.0)
        shapes[kind] = list(plan_lines(plan))  # the last window: the fullest table
    return {
        "totals": {key: round(value, 1) for key, value in totals.items()},
        "triggers": {key: round(value, 1) for key, value in triggers.items()},
        "probes_ms": {key: round(value, 1) for key, value in probes.items()},
        "staged": staged,
        "statements": Counter(kind for kind, _ in plans if not kind.startswith("probe:")),
        "plan_shapes": shapes,
    }


# ---- the run -------------------------------------------------------------------------------------------------------


async def measure(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    until = date.today() - timedelta(days=1)
    progress("checking the row shape against the sandbox's own rows")
    sandbox_keys, sandbox_action_keys = sandbox_shape()
    # one account for every round: its rows are deleted (and the table vacuumed) after each round
    account_id = str(900_000_000_000_000 + int(time.time()) % 100_000)
    rows = Rows(ads=args.ads, days=args.days, until=until, account_id=account_id)
    windows = rows.windows(args.chunk_days)
    restated_days = max(1, round(args.days * RESTATED_SHARE))
    progress(f"generating {args.ads * args.days:,} API-shaped rows (and the restated days)")
    answers, restated = rows.answers(windows), rows.answers(windows, restated_days=restated_days)
    sample = answers[0][1][: args.ads]
    shape = set().union(*(row.keys() for row in sample))
    action_keys = {key for row in sample for item in row["actions"] for key in item}
    if shape != sandbox_keys or action_keys != sandbox_action_keys:
        raise BenchError(f"generated rows {sorted(shape)} differ from the sandbox's {sorted(sandbox_keys)}")
    records = typed([record for _, api_rows in answers for record in insight_records(LEVEL, api_rows)])

    conn = await asyncpg.connect(database_url)
    # asyncpg's own codecs: binary COPY of jsonb needs its binary encoder, which the service's text codec replaces
    raw_conn = await asyncpg.connect(database_url)
    created = False
    try:
        await init_connection(conn)  # the service pool's codecs, as the jobs' connections have
        await drop_raw_tables(conn)
        await create_raw_tables(conn)
        rounds: list[dict[str, Any]] = []
        for round_number in range(1, args.runs + 1):
            await create_account(conn, account_id)
            created = True
            measured: dict[str, Any] = {}
            for name, table in RAW_TABLES.items():
                measured[f"raw_{name}"] = await raw_copy(raw_conn, table, records)
            measured["first"] = await real_path(conn, account_id, answers)
            measured["reingest"] = await real_path(conn, account_id, answers)
            measured["restatement"] = await real_path(conn, account_id, restated)
            stored = await conn.fetchval("select count(*) from insights_daily where account_id = $1", account_id)
            if stored != len(records):
                raise BenchError(f"insights_daily holds {stored} rows of the account, expected {len(records)}")
            rounds.append(measured)
            progress(
                f"round {round_number}/{args.runs}: raw COPY plain {measured['raw_plain']['rows_per_s']:,}/s, "
                f"indexed {measured['raw_indexed']['rows_per_s']:,}/s; real first {measured['first']['rows_per_s']:,}"
                f"/s, re-ingest {measured['reingest']['rows_per_s']:,}/s (changed {measured['reingest']['changed']}),"
                f" restatement {measured['restatement']['rows_per_s']:,}/s "
                f"(changed {measured['restatement']['changed']:,})"
            )
            await drop_account(conn, account_id)
            created = False
        explained: dict[str, Any] | None = None
        if not args.no_explain:
            await create_account(conn, account_id)
            created = True
            explained = {"temp_buffers": await conn.fetchval("show temp_buffers")}
            # the newest window only (it holds the restated days): enough to see where the time goes, and quick
            for scenario, scenario_rows in (("first", answers), ("reingest", answers), ("restatement", restated)):
                progress(f"EXPLAIN ANALYZE pass: {scenario}")
                plans: list[tuple[str, Any]] = []
                timed = await real_path(conn, account_id, scenario_rows[:1], plans)
                explained[scenario] = {"timed_under_explain": timed, **summarise_plans(plans)}
    finally:
        with contextlib.suppress(Exception):
            if created:
                await drop_account(conn, account_id)
            await drop_raw_tables(conn)
        await raw_conn.close()
        await conn.close()
    return {
        "rounds": rounds,
        "explain": explained,
        "windows": len(windows),
        "window_days": max(window.days for window in windows),
        "restated_days": restated_days,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.ads < 1 or args.days < 1 or args.runs < 1:
        raise BenchError("--ads, --days and --runs must be at least 1")
    with contextlib.ExitStack() as stack:
        work_dir = stack.enter_context(work_folder())
        stores = stack.enter_context(backing_stores(work_dir / "data", redis=False))
        progress(f"{'embedded' if stores.embedded else 'external'} PostgreSQL up; applying migrations")
        apply_migrations(stores.database_url, REPO_ROOT / "migrations")
        measured = run_async(measure(stores.database_url, args))
    rounds = measured["rounds"]
    med: dict[str, Any] = {}
    for key in ("raw_plain", "raw_indexed", *SCENARIOS):
        med[key] = {
            "rows_per_s": round(median([r[key]["rows_per_s"] for r in rounds])),
            **{name: round(median([r[key][name] for r in rounds]), 4) for name in ("seconds", *CPU_KEYS)},
        }
        if key in SCENARIOS:
            med[key]["changed"] = round(median([r[key]["changed"] for r in rounds]))
            med[key]["phases"] = {p: round(median([r[key]["phases"][p] for r in rounds]), 4) for p in PHASES}
    raw = med["raw_plain"]["rows_per_s"]
    indexed = med["raw_indexed"]["rows_per_s"]
    return {
        "config": {
            "rows": args.ads * args.days,
            "ads": args.ads,
            "days": args.days,
            "level": LEVEL,
            "window_days": measured["window_days"],
            "windows": measured["windows"],
            "restated_days": measured["restated_days"],
            "runs": args.runs,
            "stores": "embedded PostgreSQL (temporary folder)" if stores.embedded else "DATABASE_URL",
        },
        "rounds": rounds,
        "median": med,
        "ratios_to_raw_copy": {key: round(med[key]["rows_per_s"] / raw, 3) for key in ("raw_indexed", *SCENARIOS)},
        "bars": {
            "x_raw_indexed_bar": INDEXED_RATIO_BAR,
            **{f"{s}_x_raw_indexed": round(med[s]["rows_per_s"] / indexed, 3) for s in SCENARIOS},
            **{f"{s}_ok": med[s]["rows_per_s"] >= INDEXED_RATIO_BAR * indexed for s in SCENARIOS},
        },
        "explain": measured["explain"],
    }


# ---- report --------------------------------------------------------------------------------------------------------


def report(summary: dict[str, Any]) -> str:
    config, med, ratios = summary["config"], summary["median"], summary["ratios_to_raw_copy"]
    rows = config["rows"]
    window_text = (
        f"{config['windows']} windows of up to {config['window_days']} days (as backfill_insights), one transaction "
        "each"
        if config["windows"] > 1
        else f"one window of {config['window_days']} days, one transaction"
    )
    lines = [
        "",
        f"rows        : {rows:,} ad-level rows ({config['ads']} ads x {config['days']} days), API-shaped "
        "(numeric strings, actions arrays; keys checked against the sandbox's rows)",
        f"real path   : insight_records + upsert_insights in {window_text}",
        f"restatement : the newest {config['restated_days']} days' rows carry one more purchase "
        f"({config['restated_days'] * config['ads']:,} rows, {config['restated_days'] / config['days']:.0%})",
        f"stores      : {config['stores']}; medians of {config['runs']} alternating rounds",
        "",
        f"{'ingest':<53}{'rows/s':>9}{'seconds':>9}{'client CPU':>12}{'PG CPU':>8}{'changed':>9}{'x raw':>7}",
    ]
    labels = (
        ("raw_plain", "raw COPY typed tuples, plain table (no PK/index)"),
        ("raw_indexed", "raw COPY typed tuples, with insights_daily's indexes"),
        *((key, SCENARIO_LABELS[key]) for key in SCENARIOS),
    )
    for key, label in labels:
        row = med[key]
        changed = f"{row['changed']:,}" if "changed" in row else ""
        ratio_text = "1.000" if key == "raw_plain" else f"{ratios[key]:.3f}"
        lines.append(
            f"{label:<53}{row['rows_per_s']:>9,}{row['seconds']:>9.2f}{row['client_cpu_s']:>10.2f} s"
            f"{row['server_cpu_s']:>6.2f} s{changed:>9}{ratio_text:>7}"
        )
    lines += [
        "(client CPU: this process, Python + asyncpg encoding; PG CPU: the one PostgreSQL backend doing the work)",
        "",
        "where the real path's time goes (median seconds per phase, summed over the windows):",
        f"{'phase':<40}" + "".join(f"{SCENARIO_SHORT[s]:>18}" for s in SCENARIOS),
    ]
    for phase in PHASES:
        cells = "".join(
            f"{med[s]['phases'][phase]:>10.3f} s {100 * med[s]['phases'][phase] / med[s]['seconds']:>3.0f}%"
            for s in SCENARIOS
        )
        lines.append(f"{PHASE_LABELS[phase]:<40}{cells}")
    convert = med["first"]["phases"]["convert"]
    lines.append(f"insight_records alone: {rate(rows, convert):,.0f} rows/s")
    explain = summary.get("explain")
    if explain:
        staged = explain["first"]["staged"]
        window_rows = staged.get("rows") or rows
        lines += [
            "",
            f"EXPLAIN (ANALYZE) of the same statements for the newest window ({window_rows:,} rows; ms; EXPLAIN adds "
            "overhead):",
        ]
        keys = (
            ("insert_execution_ms", "INSERT execution"),
            ("insert_scan_cast_ms", "  scan staged rows + casts + jsonb parsing"),
            ("insert_write_ms", "  heap + PK conflict check + index inserts"),
            ("insert_trigger_ms", "  FK trigger (insights -> ad_accounts)"),
            ("insert_jit_ms", "  JIT"),
            ("delete_execution_ms", "DELETE execution"),
            ("tuples_inserted", "tuples inserted"),
            ("conflicting_tuples", "conflicting tuples"),
            ("conflict_filtered", "  of which unchanged (IS DISTINCT FROM)"),
        )
        lines.append(f"{'':<42}" + "".join(f"{SCENARIO_SHORT[s]:>14}" for s in SCENARIOS))
        for index, (key, label) in enumerate(keys):
            values = [explain[s]["totals"].get(key, 0) for s in SCENARIOS]
            line = f"{label:<42}" + "".join(f"{value:>14,.1f}" for value in values)
            if index < 6:  # times: per row too
                line += "   us/row:" + "".join(f"{1000 * value / window_rows:>7.2f}" for value in values)
            lines.append(line)
        probes = explain["first"]["probes_ms"]
        if probes:
            scan = probes.get("scan, text columns only", 0.0)
            lines.append(
                "the INSERT's SELECT list, piece by piece (EXPLAIN ANALYZE of a SELECT over the staged rows, ms; "
                "extra = over the bare scan):"
            )
            for name, value in probes.items():
                per_row = 1000 * (value - scan) / window_rows
                extra = "" if value == scan else f"  extra {value - scan:,.1f} ms = {per_row:.2f} us/row"
                lines.append(f"  {name:<40}{value:>10,.1f}{extra}")
        lines.append(
            f"staged per window: {window_rows:,} rows = {staged.get('bytes', 0) / 2**20:.1f} MB in the temporary table "
            f"(temp_buffers = {explain['temp_buffers']}; beyond it the temporary table spills to files)"
        )
        lines.append("plan of that window's INSERT and DELETE (first insert):")
        for kind, shape in explain["first"]["plan_shapes"].items():
            lines.extend(f"  {kind}: {line}" if i == 0 else f"  {' ' * len(kind)}  {line}" for i, line in
                         enumerate(shape))  # fmt: skip
    bars = summary["bars"]
    lines.append("")
    for key in SCENARIOS:
        lines.append(
            f"{SCENARIO_LABELS[key]:<46}{med[key]['rows_per_s']:>10,} rows/s = {bars[f'{key}_x_raw_indexed']:.3f}x "
            f"the raw COPY with indexes (bar >= {INDEXED_RATIO_BAR:.2f}x: {verdict(bars[f'{key}_ok'])})"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Insights ingest rows/s through insight_records + upsert_insights, next to a raw COPY. Uses "
        "DATABASE_URL when set (it creates and drops its own account and two bench_raw_* tables), else an "
        "embedded PostgreSQL."
    )
    parser.add_argument("--ads", type=int, default=500, help="ads (default 500)")
    parser.add_argument("--days", type=int, default=400, help="days per ad (default 400): rows = ads x days")
    parser.add_argument(
        "--chunk-days", type=int, default=None, help="days per window (default: backfill_chunks' own; 0: one window)"
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median is reported (default 3)")
    parser.add_argument("--no-explain", action="store_true", help="skip the EXPLAIN ANALYZE pass")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every number to this JSON file")
    return parser


if __name__ == "__main__":
    main("bench_ingest", build_parser(), run, report)

